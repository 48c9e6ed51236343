"""Reading the image recipe: a small Dockerfile parser and the ``uv pip compile`` lock files.

Shared by tests/unit/test_dockerfile.py (the recipe as text, hadolint) and
tests/pypi/test_dockerfile_rehearsal.py (the builder stage run for real, from PyPI).
"""

from __future__ import annotations

import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

__all__ = ["DOCKERFILE", "PYPROJECT", "ROOT", "Instruction", "Stage", "key_values", "locked",
           "marker_applies", "parse_dockerfile"]


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


def locked(path: Path) -> dict[str, tuple[str, list[str]]]:
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


def marker_applies(name: str) -> bool:
    """Whether a lock line's environment marker holds on this interpreter."""
    for raw in (ROOT / "requirements.lock").read_text().splitlines():
        line = raw.strip().rstrip(" \\")
        if line.startswith("#") or line.startswith("--") or not line:
            continue
        req = Requirement(line)
        if canonicalize_name(req.name) == name:
            return req.marker is None or req.marker.evaluate()
    return False
