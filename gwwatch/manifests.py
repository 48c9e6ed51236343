"""Reading manifest files for ``gwwatch scan`` and ``gwwatch explain`` (the only file I/O).

Files or directories (recursively ``*.yaml``, ``*.yml``, ``*.json``), multi-document YAML,
``kind: List``. Every object comes back with ``file:line`` so a report can point at it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["ManifestError", "Source", "load"]

try:
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # PyYAML built without libyaml
    _Loader = yaml.SafeLoader

_SUFFIXES = (".yaml", ".yml", ".json")


class ManifestError(Exception):
    """Unreadable input: the message names the file (and line, for a syntax error)."""


@dataclass(frozen=True, slots=True)
class Source:
    obj: object
    where: str  # "path:line"


def _files(paths: Sequence[str]) -> Iterator[Path]:
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in _SUFFIXES)
        elif path.is_file():
            yield path
        else:
            raise ManifestError(f"{raw}: no such file or directory")


def _documents(path: Path) -> Iterator[tuple[object, int]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: cannot read: {exc}") from exc
    if path.suffix == ".json":
        try:
            yield json.loads(text), 1
        except json.JSONDecodeError as exc:
            raise ManifestError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from exc
        return
    loader = _Loader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            yield loader.construct_document(node), node.start_mark.line + 1
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ManifestError(f"{path}{line}: invalid YAML: {exc.problem or exc}") from exc
    except yaml.YAMLError as exc:
        raise ManifestError(f"{path}: invalid YAML: {exc}") from exc
    finally:
        loader.dispose()


def load(paths: Sequence[str]) -> list[Source]:
    """Every object in ``paths``, ``kind: List`` flattened; raises :class:`ManifestError`."""
    out: list[Source] = []
    for path in _files(paths):
        for doc, line in _documents(path):
            if doc is None:
                continue
            where = f"{path}:{line}"
            if isinstance(doc, dict) and doc.get("kind") == "List" and isinstance(
                doc.get("items"), list
            ):
                out.extend(Source(item, f"{where} (items[{i}])")
                           for i, item in enumerate(doc["items"]))
            else:
                out.append(Source(doc, where))
    return out
