"""The layers of gwwatch and what each may import (docs/architecture.md, "Layers").

Read from the source with ``ast``, not by importing: an import inside a function (a lazy
import) or an ``importlib.import_module("...")`` with a literal name counts as much as one at
the top of the module.

- ``gwwatch.engine`` is pure: the standard library (minus I/O and concurrency), itself, and
  RE2 (``re2``, only in ``engine/regex.py``: tenant regular expressions in linear time).
- ``gwwatch.settings``, ``manifests``, ``metrics``, ``logs`` sit on the engine: never the
  runtime or the CLI.
- ``gwwatch.runtime`` sits on those: never the CLI.
- Nothing in ``gwwatch`` imports ``tests``, ``bench`` or ``examples``.
- Outside ``gwwatch/engine``, nobody reads a conflict graph's private attributes
  (``graph._routes``): the graph's public, read-only methods are the API.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "gwwatch"

# Standard-library modules the engine must not use: I/O, processes, files, the clock and
# chance (time and randomness come in as data), concurrency. (Everything outside the standard
# library is refused anyway.)
ENGINE_REFUSED_STDLIB = frozenset({
    "asyncio", "concurrent", "multiprocessing", "threading", "_thread", "selectors", "signal",
    "socket", "ssl", "http", "urllib", "subprocess", "shutil", "tempfile", "logging",
    "os", "io", "pathlib", "time", "random",
})
# Named in the contract, so a failure says so plainly even if they were ever stdlib-looking.
ENGINE_REFUSED = frozenset({"kr8s", "httpx", "prometheus_client", "anyio", "structlog",
                            "gwwatch.runtime", "gwwatch.cli", "gwwatch.metrics"})
# Third-party modules the engine may use, and the one engine module that may import each.
ENGINE_THIRD_PARTY = {"re2": "gwwatch.engine.regex"}
SUPPORT = ("gwwatch.settings", "gwwatch.manifests", "gwwatch.metrics", "gwwatch.logs")


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(under: Path) -> list[Path]:
    return sorted(p for p in under.rglob("*.py") if "__pycache__" not in p.parts)


@cache
def tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def imports(path: Path, root: Path = ROOT) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import anywhere in the module."""
    here = module_name(path, root)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    for node in ast.walk(tree(path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                prefix = ".".join(base)
                mod = f"{prefix}.{node.module}" if node.module else prefix
            else:
                mod = node.module or ""
            yield node.lineno, mod
            for alias in node.names:  # `from gwwatch import cli` imports gwwatch.cli
                yield node.lineno, f"{mod}.{alias.name}"
        elif (isinstance(node, ast.Call) and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
              and ((isinstance(node.func, ast.Name) and node.func.id == "__import__")
                   or (isinstance(node.func, ast.Attribute)
                   and node.func.attr == "import_module"))):
            yield node.lineno, node.args[0].value


def within(name: str, prefixes: frozenset[str] | tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def violations(paths: list[Path], refused: tuple[str, ...] | frozenset[str],
               root: Path = ROOT) -> list[str]:
    """One message per offending import statement (``path:line imports name``)."""
    found: dict[str, str] = {}
    for p in paths:
        for line, name in imports(p, root):
            if within(name, refused):
                found.setdefault(f"{p.relative_to(root)}:{line}", name)
    return [f"{where} imports {name}" for where, name in found.items()]


ENGINE = modules(PACKAGE / "engine")


def test_the_engine_is_there() -> None:
    names = {module_name(p) for p in ENGINE}
    assert {"gwwatch.engine", "gwwatch.engine.graph", "gwwatch.engine.model"} <= names


def test_engine_imports_nothing_impure() -> None:
    assert violations(ENGINE, ENGINE_REFUSED | ENGINE_REFUSED_STDLIB) == []


def test_engine_imports_only_the_standard_library_and_itself() -> None:
    outside = []
    for path in ENGINE:
        for line, name in imports(path):
            top = name.split(".")[0]
            if top == "__future__" or within(name, ("gwwatch.engine",)):
                continue
            if ENGINE_THIRD_PARTY.get(top) == module_name(path):
                continue
            if top == "gwwatch" or top not in sys.stdlib_module_names:
                outside.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert outside == []


def test_support_modules_stay_below_runtime_and_cli() -> None:
    paths = [p for p in modules(PACKAGE) if module_name(p) in SUPPORT]
    assert len(paths) == len(SUPPORT), "a support module moved: update this test and the doc"
    assert violations(paths, ("gwwatch.runtime", "gwwatch.cli")) == []


def test_runtime_does_not_import_the_cli() -> None:
    assert violations(modules(PACKAGE / "runtime"), ("gwwatch.cli",)) == []


def test_the_package_never_imports_the_repository_around_it() -> None:
    assert violations(modules(PACKAGE), ("tests", "bench", "examples")) == []


def test_builders_need_only_the_standard_library() -> None:
    """tests/builders.py serves bench/ and the demo too: it must not drag the engine in."""
    path = ROOT / "tests" / "builders.py"
    used = {name.split(".")[0] for _, name in imports(path)} - {"__future__"}
    assert used <= set(sys.stdlib_module_names), used - set(sys.stdlib_module_names)


# --------------------------------------------------------------------------- private state


def private_graph_reads(path: Path, root: Path = ROOT) -> list[str]:
    """``x._name`` where ``x`` is a name or attribute whose identifier mentions "graph"."""
    found = []
    for node in ast.walk(tree(path)):
        if not (isinstance(node, ast.Attribute) and node.attr.startswith("_")
                and not node.attr.startswith("__")):
            continue
        owner = node.value
        ident = (owner.id if isinstance(owner, ast.Name)
                 else owner.attr if isinstance(owner, ast.Attribute) else "")
        if "graph" in ident.lower():
            found.append(f"{path.relative_to(root)}:{node.lineno} reads {ident}.{node.attr}")
    return found


def outside_engine() -> list[Path]:
    paths = [p for p in modules(PACKAGE) if not p.is_relative_to(PACKAGE / "engine")]
    for folder in ("bench", "examples"):
        paths += modules(ROOT / folder)
    return paths


def test_nobody_outside_the_engine_reads_private_graph_state() -> None:
    assert [r for p in outside_engine() for r in private_graph_reads(p)] == []


@pytest.mark.parametrize("source", [
    "graph._routes[ref]",
    "self.graph._status.get(ref)",
    "for f in worker._graph._findings: pass",
    "def f(g):\n    import gwwatch.runtime\n",
    "from ..runtime import app",
    "from gwwatch import cli",
    "import importlib\nimportlib.import_module('prometheus_client')",
    "def f():\n    from kr8s.asyncio import api\n",
])
def test_the_checks_see_what_they_must(tmp_path: Path, source: str) -> None:
    """Controls: a private read, or an import hidden in a function, relative or by name, is
    caught (once)."""
    path = tmp_path / "gwwatch" / "engine" / "probe.py"
    path.parent.mkdir(parents=True)
    path.write_text(source)
    caught = private_graph_reads(path, tmp_path) + violations([path], ENGINE_REFUSED, tmp_path)
    assert len(caught) == 1, caught


def test_a_public_read_is_not_a_private_one(tmp_path: Path) -> None:
    path = tmp_path / "probe.py"
    path.write_text("graph.findings()\ngraph.__class__\nself._cache.graph")
    assert private_graph_reads(path, tmp_path) == []
