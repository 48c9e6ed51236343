"""Helpers that run the engine on objects from tests/builders.py, for tests/unit.

The object factories themselves live in tests/builders.py (one set for the tests, bench/ and
the examples); they are re-exported here so a unit test needs one import::

    from tests.unit import builders as b
    graph = b.scan(b.gateway(), b.http_route("api", hostnames=["api.example.com"]))
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import yaml

from gwwatch.engine import ConflictGraph, Policy, analyse, parse
from gwwatch.engine.attachment import ParentStatus
from gwwatch.engine.findings import Finding
from gwwatch.engine.model import ObjectRef, Parsed
from tests.builders import (
    GROUP,
    GW_NAME,
    GW_NS,
    TLS_TERMINATE,
    V1,
    Obj,
    gateway,
    gateway_class,
    grpc_match,
    grpc_route,
    http_route,
    l4_route,
    listener,
    listener_set,
    match,
    namespace,
    parent,
    rule,
    ts,
)

__all__ = [
    "GROUP",
    "GW",
    "GW_NAME",
    "GW_NS",
    "TLS_TERMINATE",
    "V1",
    "Obj",
    "findings",
    "gateway",
    "gateway_class",
    "grpc_match",
    "grpc_route",
    "http_route",
    "l4_route",
    "listener",
    "listener_set",
    "match",
    "namespace",
    "only_status",
    "parent",
    "parse_all",
    "ref",
    "route_ref",
    "rule",
    "scan",
    "starts",
    "status",
    "ts",
    "write",
]


def parse_all(objs: Iterable[object]) -> list[Parsed]:
    out = []
    for i, obj in enumerate(objs):
        parsed = parse(obj, source=f"test:{i + 1}")
        if parsed is not None:
            out.append(parsed)
    return out


def scan(*objs: object, policy: Policy | None = None) -> ConflictGraph:
    """``analyse`` over raw objects, as ``gwwatch scan`` does."""
    return analyse(parse_all(objs), policy)


def ref(kind: str, namespace: str, name: str) -> ObjectRef:
    return ObjectRef(kind, namespace, name)


def route_ref(name: str, namespace: str = "team-a", kind: str = "HTTPRoute") -> ObjectRef:
    return ObjectRef(kind, namespace, name)


GW = ObjectRef("Gateway", GW_NS, GW_NAME)


def status(graph: ConflictGraph, name: str, namespace: str = "team-a",
           kind: str = "HTTPRoute") -> tuple[ParentStatus, ...]:
    return graph.parents_of(ObjectRef(kind, namespace, name))


def only_status(graph: ConflictGraph, name: str, namespace: str = "team-a",
                kind: str = "HTTPRoute") -> ParentStatus:
    (st,) = status(graph, name, namespace, kind)
    return st


def findings(graph: ConflictGraph, kind: str | None = None, *,
             reason: str | None = None) -> list[Finding]:
    return [f for f in graph.findings()
            if (kind is None or f.kind == kind) and (reason is None or f.reason == reason)]


def write(path: Path, *docs: object) -> Path:
    """``docs`` as one YAML stream at ``path`` (the CLI tests' manifest files)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False), encoding="utf-8")
    return path


def starts(path: Path) -> list[int]:
    """The line each YAML document of ``path`` starts on."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [1] + [n + 2 for n, line in enumerate(lines) if line == "---"]
