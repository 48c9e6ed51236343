"""Reading manifest and ownership files for ``gwwatch scan`` and ``gwwatch explain``.

Manifests: files, directories (recursively ``*.yaml``, ``*.yml``, ``*.json``) or ``-`` for
standard input; multi-document YAML, ``kind: List``. Every object comes back with
``file:line`` so a report can point at it. The ownership file (also a ``.yaml``/``.json`` key of
the ownership ConfigMap) maps each tenant to a list of hostnames.

Inputs are untrusted (a pull request's files): each file is read up to :data:`MAX_BYTES`,
nesting stops at :data:`MAX_DEPTH`, YAML aliases may add at most :data:`MAX_ALIAS_NODES` nodes
to a document (an alias bomb fails at once instead of growing to gigabytes), and every malformed
input is a :class:`ManifestError` whose message is one line naming the file (and line, where
known). An unquoted ``creationTimestamp`` (a YAML timestamp) is read as the RFC 3339 string the
API server would have written.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import stat
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

__all__ = [
    "MAX_ALIAS_NODES",
    "MAX_BYTES",
    "MAX_DEPTH",
    "STDIN",
    "ManifestError",
    "Source",
    "load",
    "load_ownership",
    "parse_ownership",
]

MAX_BYTES: Final = 64 * 1024 * 1024  # per file; a cluster dump of 100k routes is ~25 MiB
MAX_DEPTH: Final = 100  # Kubernetes objects (CRD schemas included) nest far less
MAX_ALIAS_NODES: Final = 100_000  # nodes that aliases may add to one YAML document
STDIN: Final = "-"
KUSTOMIZATIONS: Final = ("kustomization.yaml", "kustomization.yml", "Kustomization")

_SUFFIXES: Final = (".yaml", ".yml", ".json")
_STR: Final = "tag:yaml.org,2002:str"
_INT: Final = "tag:yaml.org,2002:int"
_NULL: Final = "tag:yaml.org,2002:null"
_MERGE: Final = "tag:yaml.org,2002:merge"
_SURROGATE: Final = re.compile("[\ud800-\udfff]")
# Text whose scalars need a look: an escape that could be a surrogate, or a long number (text
# decoded from UTF-8 holds no surrogate of its own).
_SUSPECT: Final = re.compile(r"\\[uU]|\d{1000}")


class ManifestError(Exception):
    """Unreadable input: the message is one line naming the file (and line, where known)."""


@dataclass(frozen=True, slots=True)
class Source:
    obj: object
    where: str  # "path:line"


def _timestamp(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> str:
    """A YAML timestamp as the API server writes one (RFC 3339, UTC, whole seconds)."""
    value = yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    if not isinstance(value, dt.datetime):  # a date alone: midnight UTC
        value = dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    elif value.tzinfo is None:  # YAML: no time zone means UTC
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when built with it


class _Loader(_Base):  # type: ignore[misc]
    pass


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _yaml_error(where: str, exc: yaml.YAMLError, text: str) -> ManifestError:
    line = ""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        what = exc.problem or exc.context or "syntax error"
    elif isinstance(exc, yaml.reader.ReaderError):  # a character YAML does not allow
        line = f":{text.count(chr(10), 0, max(exc.position, 0)) + 1}"
        char = exc.character if isinstance(exc.character, int) else ord(exc.character[:1] or " ")
        what = f"character #x{char:04x} is not allowed ({exc.reason})"
    else:
        what = str(exc)
    return ManifestError(f"{where}{line}: invalid YAML: {_one_line(what)}")


def _surrogate(value: str) -> str:
    shown = ascii(value)
    return f"a lone surrogate in {shown if len(shown) <= 60 else shown[:57] + '...'} is not text"


def _check_yaml(node: yaml.Node, where: str, *, scalars: bool = True) -> None:
    """Refuse a document whose aliases expand too far or refer to themselves, that nests
    deeper than :data:`MAX_DEPTH`, or (``scalars``) holds a lone surrogate or an integer
    Python refuses. One pass over the distinct nodes, however far aliases would expand."""
    size: dict[int, int] = {}  # of every collection node done, as if aliases were expanded
    height: dict[int, int] = {}
    open_: set[int] = set()  # collections on the path from the root
    stack: list[tuple[yaml.Node, int]] = [(node, 1)]
    nodes = 0
    max_digits = sys.get_int_max_str_digits()
    while stack:
        current, depth = stack.pop()
        key = id(current)
        value = current.value
        if depth < 0:  # every child done
            open_.discard(key)
            if isinstance(current, yaml.MappingNode):
                value = [n for pair in value for n in pair]
            size[key] = 1 + sum(size.get(id(c), 1) for c in value)
            height[key] = 1 + max((height.get(id(c), 1) for c in value), default=0)
            if height[key] > MAX_DEPTH:  # deeper through aliases than any path in the text
                raise ManifestError(f"{where}:{current.start_mark.line + 1}: nested deeper "
                                    f"than {MAX_DEPTH} levels (through aliases)")
            continue
        if not isinstance(value, list):  # a scalar
            nodes += 1
            if scalars and isinstance(value, str):
                if _SURROGATE.search(value):
                    raise ManifestError(f"{where}:{current.start_mark.line + 1}: "
                                        f"{_surrogate(value)}")
                if current.tag == _INT and len(value) > max_digits > 0:
                    raise ManifestError(f"{where}:{current.start_mark.line + 1}: an integer "
                                        f"of {len(value)} digits")
            continue
        if key in size:  # an alias of a collection already counted
            continue
        if key in open_:
            raise ManifestError(f"{where}:{current.start_mark.line + 1}: an alias refers to "
                                "the node that contains it")
        if depth > MAX_DEPTH:
            raise ManifestError(f"{where}:{current.start_mark.line + 1}: nested deeper than "
                                f"{MAX_DEPTH} levels")
        nodes += 1
        open_.add(key)
        stack.append((current, -depth))
        if isinstance(current, yaml.MappingNode):
            _unique_keys(current, where)
            for k, v in value:
                stack.append((k, depth + 1))
                stack.append((v, depth + 1))
        else:
            stack.extend([(c, depth + 1) for c in value])
    added = size.get(id(node), 1) - nodes
    if added > MAX_ALIAS_NODES:
        raise ManifestError(f"{where}:{node.start_mark.line + 1}: YAML aliases expand this "
                            f"document by {added} nodes (more than {MAX_ALIAS_NODES}; an alias "
                            "bomb?)")


def _unique_keys(node: yaml.MappingNode, where: str) -> None:
    """A key twice in one mapping is refused, as the API server's decoder refuses it (YAML
    loaders keep the last one silently: files joined without ``---`` become one object)."""
    keys = [(k.tag, k.value) for k, _ in node.value if type(k) is yaml.ScalarNode]
    if len(set(keys)) == len(keys):
        return
    seen: set[tuple[str, object]] = set()
    for k, _ in node.value:
        if type(k) is yaml.ScalarNode and (k.tag, k.value) in seen and k.tag != _MERGE:
            raise ManifestError(f"{where}:{k.start_mark.line + 1}: key {_key_words(k.value)} "
                                "twice in one mapping (two documents without --- between "
                                "them?)")
        seen.add((k.tag, k.value))


def _key_words(value: object) -> str:
    shown = ascii(str(value))
    return shown if len(shown) <= 60 else shown[:57] + "..."


def _check_depth(node: yaml.Node, where: str) -> None:
    """:data:`MAX_DEPTH` alone: what :func:`_check_yaml` checks of a document without anchors
    or suspect scalars, in a quarter of the time."""
    scalar, mapping = yaml.ScalarNode, yaml.MappingNode
    stack: list[tuple[yaml.Node, int]] = [(node, 1)]
    while stack:
        current, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ManifestError(f"{where}:{current.start_mark.line + 1}: nested deeper than "
                                f"{MAX_DEPTH} levels")
        if type(current) is mapping:
            _unique_keys(current, where)
            for k, v in current.value:
                if type(v) is not scalar:
                    stack.append((v, depth + 1))
                if type(k) is not scalar:
                    stack.append((k, depth + 1))
        elif type(current) is not scalar:
            stack.extend([(c, depth + 1) for c in current.value if type(c) is not scalar])


def _check_json(doc: object, where: str) -> None:
    stack: list[tuple[object, int]] = [(doc, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ManifestError(f"{where}: nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, str):
            if _SURROGATE.search(value):
                raise ManifestError(f"{where}: {_surrogate(value)}")
        elif isinstance(value, dict):
            stack.extend((k, depth + 1) for k in value)
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)


def _yaml_documents(text: str, where: str) -> Iterator[tuple[object, int]]:
    scalars = _SUSPECT.search(text) is not None
    anchors = "&" in text
    loader = _Loader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            line = node.start_mark.line + 1
            if anchors or scalars:
                _check_yaml(node, where, scalars=scalars)
            else:
                _check_depth(node, where)
            try:
                doc = loader.construct_document(node)
            except ValueError as exc:  # int() refusing what the walk did not see
                raise ManifestError(f"{where}:{line}: {_one_line(exc)}") from exc
            yield doc, line
    except yaml.YAMLError as exc:
        raise _yaml_error(where, exc, text) from exc
    except RecursionError as exc:  # the pure-Python loader, without libyaml's depth limit
        raise ManifestError(f"{where}: nested too deep") from exc
    finally:
        loader.dispose()


class _DuplicateKey(ValueError):
    pass


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return out


def _json_documents(text: str, where: str) -> Iterator[tuple[object, int]]:
    try:
        doc = json.loads(text, object_pairs_hook=_json_object)
    except _DuplicateKey as exc:
        raise ManifestError(f"{where}: key {_key_words(exc.args[0])} twice in one object") from exc
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{where}:{exc.lineno}: invalid JSON: {exc.msg}") from exc
    except ValueError as exc:  # an integer over sys.get_int_max_str_digits() digits
        raise ManifestError(f"{where}: invalid JSON: an integer of more than "
                            f"{sys.get_int_max_str_digits()} digits") from exc
    except RecursionError as exc:
        raise ManifestError(f"{where}: invalid JSON: nested too deep") from exc
    _check_json(doc, where)
    yield doc, 1


def _decode(data: bytes, where: str) -> str:
    if len(data) > MAX_BYTES:
        raise ManifestError(f"{where}: larger than {MAX_BYTES // (1024 * 1024)} MiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ManifestError(f"{where}:{line}: not UTF-8 text (byte {data[exc.start]:#04x}); "
                            "a binary file?") from exc


def _read(path: Path) -> str:
    try:
        with path.open("rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    return _decode(data, str(path))


def _read_stdin() -> str:
    try:
        data = sys.stdin.buffer.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ManifestError(f"<stdin>: cannot read: {exc.strerror or exc}") from exc
    return _decode(data, "<stdin>")


def _kustomize_hint(directory: Path) -> ManifestError:
    return ManifestError(
        f"{directory}: a Kustomize directory (it holds a kustomization file); its files are "
        f"not what it renders: run `kubectl kustomize {directory} | gwwatch scan -`")


def _walk(root: Path) -> Iterator[Path]:
    """Manifest files under ``root`` in name order; an unreadable directory is an error."""

    def fail(exc: OSError) -> None:
        raise ManifestError(f"{exc.filename or root}: cannot read: {exc.strerror or exc}")

    for top, dirs, files in os.walk(root, onerror=fail):
        if any(name in files for name in KUSTOMIZATIONS):
            raise _kustomize_hint(Path(top))
        dirs.sort()
        yield from (Path(top) / name for name in sorted(files) if name.endswith(_SUFFIXES))


def _inputs(paths: Sequence[str]) -> Iterator[str]:
    """Each input once: ``-``, or a file found under the paths given (a path named twice, or a
    file also under a directory given, is read once)."""
    seen: set[str] = set()
    for raw in paths:
        if raw == STDIN:
            if STDIN not in seen:
                seen.add(STDIN)
                yield STDIN
            continue
        path = Path(raw)
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            raise ManifestError(f"{raw}: no such file or directory") from None
        except OSError as exc:  # a parent directory we may not enter, a loop of links
            raise ManifestError(f"{raw}: cannot read: {exc.strerror or exc}") from exc
        found: Iterator[Path]
        if stat.S_ISDIR(mode):
            found = _walk(path)
        else:  # a file, or a pipe such as <(kubectl kustomize overlay)
            if path.name in KUSTOMIZATIONS:
                raise _kustomize_hint(path.parent)
            found = iter((path,))
        for file in found:
            key = os.path.realpath(file)
            if key not in seen:
                seen.add(key)
                yield str(file)


def _documents(name: str) -> Iterator[tuple[object, int]]:
    if name == STDIN:
        return _yaml_documents(_read_stdin(), "<stdin>")
    path = Path(name)
    if path.suffix == ".json":
        return _json_documents(_read(path), name)
    return _yaml_documents(_read(path), name)


def load(paths: Sequence[str]) -> list[Source]:
    """Every object in ``paths``, ``kind: List`` flattened; raises :class:`ManifestError`."""
    out: list[Source] = []
    for name in _inputs(paths):
        label = "<stdin>" if name == STDIN else name
        for doc, line in _documents(name):
            if doc is None:
                continue
            where = f"{label}:{line}"
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
    except yaml.YAMLError as exc:
        raise _yaml_error(where, exc, text) from exc
    finally:
        loader.dispose()
    if node is None:
        return {}
    _check_yaml(node, where)
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
    """:func:`parse_ownership` of a file (``-``: standard input)."""
    if path == STDIN:
        return parse_ownership(_read_stdin(), "<stdin>")
    file = Path(path)
    try:
        if stat.S_ISDIR(file.stat().st_mode):
            raise ManifestError(f"{path}: a directory, not an ownership file")
    except FileNotFoundError:
        raise ManifestError(f"{path}: no such file") from None
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    return parse_ownership(_read(file), path)
