"""Small factories for Kubernetes objects as plain dicts, so test tables stay short.

Every factory returns what the API server (or a manifest) would hand the engine: nested dicts
and lists, nothing parsed. Defaults describe the common case of these tests: one shared Gateway
``infra/gw`` and routes in tenant namespaces that point at it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from gwwatch.engine import ConflictGraph, Policy, analyse, parse
from gwwatch.engine.attachment import ParentStatus
from gwwatch.engine.findings import Finding
from gwwatch.engine.model import ObjectRef, Parsed

GROUP = "gateway.networking.k8s.io"
V1 = f"{GROUP}/v1"
GW_NS = "infra"
GW_NAME = "gw"

Obj = dict[str, Any]


def ts(n: int) -> str:
    """The n-th creationTimestamp of a day: ts(1) is older than ts(2)."""
    return f"2026-01-01T{n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d}Z"


def _meta(name: str, namespace: str | None, created: str | None = None,
          labels: Mapping[str, str] | None = None,
          annotations: Mapping[str, str] | None = None) -> Obj:
    meta: Obj = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    if created is not None:
        meta["creationTimestamp"] = created
    if labels:
        meta["labels"] = dict(labels)
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def namespace(name: str, *, labels: Mapping[str, str] | None = None,
              annotations: Mapping[str, str] | None = None,
              hostnames: str | None = None, shared_with: str | None = None) -> Obj:
    notes = dict(annotations or {})
    if hostnames is not None:
        notes["gwwatch.io/hostnames"] = hostnames
    if shared_with is not None:
        notes["gwwatch.io/shared-with"] = shared_with
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": _meta(name, None, labels=labels, annotations=notes)}


def listener(name: str = "http", *, port: int = 80, protocol: str = "HTTP",
             hostname: str | None = None, from_: str | None = "All",
             selector: Mapping[str, Any] | None = None,
             kinds: Sequence[str | Mapping[str, str]] | None = None) -> Obj:
    """``from_=None`` leaves ``allowedRoutes`` out entirely (the CRD default, ``from: Same``)."""
    out: Obj = {"name": name, "port": port, "protocol": protocol}
    if hostname is not None:
        out["hostname"] = hostname
    allowed: Obj = {}
    if from_ is not None:
        ns: Obj = {"from": from_}
        if selector is not None:
            ns["selector"] = dict(selector)
        allowed["namespaces"] = ns
    if kinds is not None:
        allowed["kinds"] = [{"kind": k} if isinstance(k, str) else dict(k) for k in kinds]
    if allowed:
        out["allowedRoutes"] = allowed
    return out


def gateway(name: str = GW_NAME, namespace: str = GW_NS, *,
            listeners: Sequence[Obj] | None = None,
            allowed_listeners: Mapping[str, Any] | None = None,
            created: str | None = None, api_version: str = V1) -> Obj:
    spec: Obj = {"gatewayClassName": "test",
                 "listeners": list(listeners) if listeners is not None else [listener()]}
    if allowed_listeners is not None:
        spec["allowedListeners"] = {"namespaces": dict(allowed_listeners)}
    return {"apiVersion": api_version, "kind": "Gateway",
            "metadata": _meta(name, namespace, created), "spec": spec}


def listener_set(name: str, namespace: str, *, listeners: Sequence[Obj],
                 parent: str = GW_NAME, parent_namespace: str | None = GW_NS,
                 created: str | None = None) -> Obj:
    ref: Obj = {"name": parent}
    if parent_namespace is not None:
        ref["namespace"] = parent_namespace
    return {"apiVersion": V1, "kind": "ListenerSet",
            "metadata": _meta(name, namespace, created),
            "spec": {"parentRef": ref, "listeners": list(listeners)}}


def parent(name: str = GW_NAME, namespace: str | None = GW_NS, *,
           section: str | None = None, port: int | None = None,
           kind: str | None = None, group: str | None = None) -> Obj:
    out: Obj = {"name": name}
    for key, value in (("namespace", namespace), ("sectionName", section), ("port", port),
                       ("kind", kind), ("group", group)):
        if value is not None:
            out[key] = value
    return out


def match(path: str | None = "/", *, type: str = "PathPrefix", method: str | None = None,
          headers: Mapping[str, str] | Sequence[Obj] | None = None,
          query: Mapping[str, str] | Sequence[Obj] | None = None) -> Obj:
    """An HTTPRouteMatch; ``path=None`` leaves the path out (the CRD default, PathPrefix /)."""
    out: Obj = {}
    if path is not None:
        out["path"] = {"type": type, "value": path}
    if method is not None:
        out["method"] = method
    for key, given in (("headers", headers), ("queryParams", query)):
        if given is None:
            continue
        if isinstance(given, Mapping):
            out[key] = [{"name": k, "value": v} for k, v in given.items()]
        else:
            out[key] = [dict(h) for h in given]
    return out


def rule(*matches: Obj, name: str | None = None, backend: str = "svc") -> Obj:
    out: Obj = {"backendRefs": [{"name": backend, "port": 80}]}
    if matches:
        out["matches"] = list(matches)
    if name is not None:
        out["name"] = name
    return out


def http_route(name: str, namespace: str = "team-a", *,
               hostnames: Sequence[str] | None = None,
               parents: Sequence[Obj] | None = None,
               rules: Sequence[Obj] | None = None,
               matches: Sequence[Obj] | None = None,
               created: str | None = None, api_version: str = V1) -> Obj:
    """An HTTPRoute on ``infra/gw``; ``matches`` is shorthand for one rule with those matches."""
    spec: Obj = {"parentRefs": list(parents) if parents is not None else [parent()]}
    if hostnames is not None:
        spec["hostnames"] = list(hostnames)
    if rules is not None:
        spec["rules"] = list(rules)
    elif matches is not None:
        spec["rules"] = [rule(*matches)]
    return {"apiVersion": api_version, "kind": "HTTPRoute",
            "metadata": _meta(name, namespace, created), "spec": spec}


def grpc_match(service: str | None = None, method: str | None = None, *,
               type: str | None = None, headers: Mapping[str, str] | None = None) -> Obj:
    out: Obj = {}
    if service is not None or method is not None or type is not None:
        m: Obj = {}
        if type is not None:
            m["type"] = type
        if service is not None:
            m["service"] = service
        if method is not None:
            m["method"] = method
        out["method"] = m
    if headers:
        out["headers"] = [{"name": k, "value": v} for k, v in headers.items()]
    return out


def grpc_route(name: str, namespace: str = "team-a", *,
               hostnames: Sequence[str] | None = None,
               parents: Sequence[Obj] | None = None,
               matches: Sequence[Obj] | None = None,
               created: str | None = None) -> Obj:
    spec: Obj = {"parentRefs": list(parents) if parents is not None else [parent()]}
    if hostnames is not None:
        spec["hostnames"] = list(hostnames)
    r: Obj = {"backendRefs": [{"name": "svc", "port": 80}]}
    if matches is not None:
        r["matches"] = list(matches)
    spec["rules"] = [r]
    return {"apiVersion": V1, "kind": "GRPCRoute",
            "metadata": _meta(name, namespace, created), "spec": spec}


def l4_route(kind: str, name: str, namespace: str = "team-a", *,
             hostnames: Sequence[str] | None = None,
             parents: Sequence[Obj] | None = None,
             created: str | None = None, api_version: str = V1) -> Obj:
    """A TLSRoute, TCPRoute or UDPRoute with one rule."""
    spec: Obj = {"parentRefs": list(parents) if parents is not None else [parent()],
                 "rules": [{"backendRefs": [{"name": "svc", "port": 80}]}]}
    if hostnames is not None:
        spec["hostnames"] = list(hostnames)
    return {"apiVersion": api_version, "kind": kind,
            "metadata": _meta(name, namespace, created), "spec": spec}


# --- running the engine ------------------------------------------------------------------


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
    return graph.status[ObjectRef(kind, namespace, name)]


def only_status(graph: ConflictGraph, name: str, namespace: str = "team-a",
                kind: str = "HTTPRoute") -> ParentStatus:
    (st,) = status(graph, name, namespace, kind)
    return st


def findings(graph: ConflictGraph, kind: str | None = None, *,
             reason: str | None = None) -> list[Finding]:
    return [f for f in graph.findings()
            if (kind is None or f.kind == kind) and (reason is None or f.reason == reason)]
