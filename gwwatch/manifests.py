"""Reading manifest and ownership files for ``gwwatch scan`` and ``gwwatch explain``.

Manifests: files or directories (recursively ``*.yaml``, ``*.yml``, ``*.json``), multi-document
YAML, ``kind: List``. Every object comes back with ``file:line`` so a report can point at it.
The ownership file (also a ``.yaml``/``.json`` key of the ownership ConfigMap) maps each tenant
to a list of hostnames; anything else is refused with one line naming where.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["ManifestError", "Source", "load", "load_ownership", "parse_ownership"]

try:
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # PyYAML built without libyaml
    _Loader = yaml.SafeLoader

_SUFFIXES = (".yaml", ".yml", ".json")
_STR = "tag:yaml.org,2002:str"
_NULL = "tag:yaml.org,2002:null"


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


def parse_ownership(text: str, where: str) -> dict[str, tuple[str, ...]]:
    """The ownership file's claims (tenant → hostnames, lower case, in order, once each);
    :class:`ManifestError` naming ``where`` and the line when it is anything else."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ManifestError(f"{where}{line}: invalid YAML: {exc.problem or exc}") from exc
    except yaml.YAMLError as exc:
        raise ManifestError(f"{where}: invalid YAML: {exc}") from exc
    finally:
        loader.dispose()
    if node is None:
        return {}
    expected = "expected a mapping tenant -> list of hostnames"
    if not isinstance(node, yaml.MappingNode):
        raise ManifestError(f"{where}:{node.start_mark.line + 1}: {expected}")
    out: dict[str, tuple[str, ...]] = {}
    for key, value in node.value:
        line = f"{where}:{key.start_mark.line + 1}"
        if not isinstance(key, yaml.ScalarNode) or key.tag == _NULL or not key.value.strip():
            raise ManifestError(f"{line}: a tenant must be a name; {expected}")
        tenant = key.value.strip()
        if not isinstance(value, yaml.SequenceNode):
            raise ManifestError(f"{line}: tenant {tenant!r}: {expected}")
        hosts = out.get(tenant, ())
        for item in value.value:
            if (not isinstance(item, yaml.ScalarNode) or item.tag != _STR
                    or not item.value.strip() or any(c.isspace() for c in item.value.strip())):
                raise ManifestError(f"{where}:{item.start_mark.line + 1}: tenant {tenant!r}: "
                                    f"not a hostname; {expected}")
            hosts += (item.value.strip().lower(),)
        out[tenant] = tuple(dict.fromkeys(hosts))
    return out


def load_ownership(path: str) -> dict[str, tuple[str, ...]]:
    """:func:`parse_ownership` of a file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: cannot read ownership file: {exc}") from exc
    return parse_ownership(text, path)
