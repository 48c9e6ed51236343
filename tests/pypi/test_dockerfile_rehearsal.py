"""The image recipe really builds: the builder stage's own RUN lines, executed here.

No container engine runs in the tests, so this *rehearses* the Dockerfile: it executes the
builder stage's commands (paths moved into a temporary directory, ``python`` being this
interpreter) against the committed locks, installing from PyPI as a ``docker build`` would,
then checks what the runtime stage would ship. It needs PyPI (or the index pip is configured
with); tests/unit/test_dockerfile.py checks the recipe as text, offline.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from tests.dockerfile import (
    DOCKERFILE,
    PYPROJECT,
    ROOT,
    Stage,
    key_values,
    locked,
    marker_applies,
    parse_dockerfile,
)


@pytest.fixture(scope="module")
def dockerfile() -> tuple[dict[str, str], list[Stage]]:
    return parse_dockerfile(DOCKERFILE.read_text())


_SANDBOXED = re.compile(r"(?<![\w./-])/(opt|wheels|src)(?=/|\b)")


@pytest.mark.usefixtures("package_index")
def test_builder_stage_rehearsal(
    dockerfile: tuple[dict[str, str], list[Stage]], tmp_path: Path
) -> None:
    """Run the builder stage's own commands here (with PyPI, as a docker build would) and check
    the venv the runtime stage copies: gwwatch runs, nothing but the locked packages is in it,
    and running it writes nothing into it."""
    builder = dockerfile[1][0]
    root = tmp_path / "root"
    root.mkdir()
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "python").symlink_to(sys.executable)

    def sandbox(text: str) -> str:
        return _SANDBOXED.sub(lambda m: f"{root}/{m.group(1)}", text)

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON"))}
    env.pop("VIRTUAL_ENV", None)
    env["PATH"] = f"{shim}:{env.get('PATH', '/usr/bin:/bin')}"
    cwd = root
    for ins in builder.instructions:
        if ins.keyword == "ENV":
            env.update({k: sandbox(v) for k, v in key_values(ins.args).items()})
        elif ins.keyword == "WORKDIR":
            cwd = Path(sandbox(ins.args))
            cwd.mkdir(parents=True, exist_ok=True)
        elif ins.keyword == "COPY":
            *srcs, dest = ins.args.split()
            target = cwd / dest
            for src in srcs:
                s = ROOT / src
                if s.is_dir():
                    shutil.copytree(s, target, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    shutil.copy(s, target)
        elif ins.keyword == "RUN":
            proc = subprocess.run(
                ["/bin/sh", "-c", sandbox(ins.args)],
                cwd=cwd, env=env, capture_output=True, text=True, timeout=540, check=False,
            )
            assert proc.returncode == 0, (
                f"Dockerfile:{ins.line} RUN failed ({proc.returncode}):\n"
                f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
            )
        else:
            pytest.fail(f"Dockerfile:{ins.line}: the rehearsal does not know {ins.keyword}")

    venv = root / "opt" / "gwwatch"
    python = venv / "bin" / "python"
    out = subprocess.run(
        [str(python), "-c",
         "import importlib.metadata as m, json; "
         "print(json.dumps(sorted((d.metadata['Name'], d.version) for d in m.distributions())))"],
        capture_output=True, text=True, check=True,
    ).stdout
    shipped = {canonicalize_name(n): v for n, v in json.loads(out)}
    pins = locked(ROOT / "requirements.lock")
    expected = {n: v for n, (v, _) in pins.items() if marker_applies(n)}
    expected[canonicalize_name(PYPROJECT["project"]["name"])] = PYPROJECT["project"]["version"]
    assert shipped == expected, "the runtime venv must hold exactly the lock plus gwwatch"

    # The runtime stage's environment, as the ENTRYPOINT sees it.
    final = dockerfile[1][-1]
    run_env = {"PATH": "/usr/bin:/bin"}
    for e in final.all("ENV"):
        run_env.update({k: sandbox(v).replace("${PATH}", "/usr/bin:/bin")
                        for k, v in key_values(e.args).items()})
    run_env["HOME"] = run_env["TMPDIR"] = str(tmp_path)
    before = sorted(str(p) for p in venv.rglob("*"))
    (entrypoint,) = json.loads(final.all("ENTRYPOINT")[0].args)
    version = subprocess.run(
        [entrypoint, "--version"], env=run_env, capture_output=True, text=True, check=True
    ).stdout
    assert version.split() == ["gwwatch", PYPROJECT["project"]["version"]]
    (cmd,) = json.loads(final.all("CMD")[0].args)
    help_ = subprocess.run(
        [entrypoint, cmd, "--help"], env=run_env, capture_output=True, text=True, check=False
    )
    assert help_.returncode == 0, f"`gwwatch {cmd} --help` failed: {help_.stderr[-2000:]}"
    # Every module imports with only the locked packages: nothing leans on a dev-only one.
    imports = subprocess.run(
        [str(python), "-c",
         "import importlib, pkgutil, gwwatch\n"
         "for m in pkgutil.walk_packages(gwwatch.__path__, 'gwwatch.'):\n"
         "    if not m.name.endswith('.__main__'):\n"
         "        importlib.import_module(m.name)"],
        env=run_env, capture_output=True, text=True, check=False,
    )
    assert imports.returncode == 0, imports.stderr[-3000:]
    assert sorted(str(p) for p in venv.rglob("*")) == before, "running gwwatch wrote to /opt"
    # Bytecode was compiled at install time, so a read-only root costs no start-up time.
    (package,) = (venv / "lib").glob("python*/site-packages/gwwatch")
    sources = list(package.rglob("*.py"))
    assert sources
    uncompiled = [str(p.relative_to(package)) for p in sources
                  if not any((p.parent / "__pycache__").glob(f"{p.stem}.*.pyc"))]
    assert uncompiled == [], "modules without bytecode in the image"
