"""Kubernetes objects as plain dicts, for every test, bench/ and the examples: the one set.

Each factory returns what an API server (or a manifest) hands the engine: nested dicts and
lists, nothing parsed, so the same object can be fed to ``gwwatch.engine.parse`` or POSTed to
the test control plane. Defaults describe the common case: one shared Gateway ``infra/gw`` and
routes in tenant namespaces that point at it. Pure: this module imports nothing but the
standard library (tests/unit/builders.py adds helpers that run the engine on these objects).

    from tests import builders as b
    b.http_route("api", "team-a", hostnames=["api.example.com"], matches=[b.match("/v1")])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "GROUP",
    "GW_NAME",
    "GW_NS",
    "TLS_TERMINATE",
    "V1",
    "Obj",
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
    "parent",
    "rule",
    "ts",
]

GROUP = "gateway.networking.k8s.io"
V1 = f"{GROUP}/v1"
GW_NS = "infra"
GW_NAME = "gw"
# What an API server requires of an HTTPS (or TLS Terminate) listener; the engine ignores it.
TLS_TERMINATE: Mapping[str, Any] = {"mode": "Terminate", "certificateRefs": [{"name": "cert"}]}

Obj = dict[str, Any]


def ts(n: int) -> str:
    """The n-th creationTimestamp of a day: ts(1) is older than ts(2)."""
    return f"2026-01-01T{n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d}Z"


def _meta(name: str, namespace: str | None, created: str | None = None,
          labels: Mapping[str, str] | None = None,
          annotations: Mapping[str, str] | None = None,
          resource_version: str | None = None) -> Obj:
    meta: Obj = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    if created is not None:
        meta["creationTimestamp"] = created
    if resource_version is not None:
        meta["resourceVersion"] = resource_version
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
             kinds: Sequence[str | Mapping[str, str]] | None = None,
             tls: Mapping[str, Any] | None = None) -> Obj:
    """``from_=None`` leaves ``allowedRoutes`` out entirely (the CRD default, ``from: Same``).
    An API server wants ``tls`` on HTTPS and TLS-terminate listeners (:data:`TLS_TERMINATE`);
    the engine does not read it."""
    out: Obj = {"name": name, "port": port, "protocol": protocol}
    if hostname is not None:
        out["hostname"] = hostname
    if tls is not None:
        out["tls"] = dict(tls)
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


def gateway(name: str = GW_NAME, namespace: str | None = GW_NS, *,
            listeners: Sequence[Obj] | None = None,
            allowed_listeners: Mapping[str, Any] | None = None,
            created: str | None = None, api_version: str = V1,
            gateway_class: str = "test") -> Obj:
    """``namespace=None`` leaves it out (the API server takes it from the request path)."""
    spec: Obj = {"gatewayClassName": gateway_class,
                 "listeners": list(listeners) if listeners is not None else [listener()]}
    if allowed_listeners is not None:
        spec["allowedListeners"] = {"namespaces": dict(allowed_listeners)}
    return {"apiVersion": api_version, "kind": "Gateway",
            "metadata": _meta(name, namespace, created), "spec": spec}


def gateway_class(name: str = "test", *, features: Sequence[str] | None = None,
                  controller: str = "example.com/gateway", created: str | None = None) -> Obj:
    """A GatewayClass (cluster-scoped); ``features`` fills ``status.supportedFeatures``
    (``None``: no status at all, as before the implementation reports)."""
    out: Obj = {"apiVersion": V1, "kind": "GatewayClass",
                "metadata": _meta(name, None, created), "spec": {"controllerName": controller}}
    if features is not None:
        out["status"] = {"supportedFeatures": [{"name": f} for f in sorted(features)]}
    return out


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


def rule(*matches: Obj, name: str | None = None, backend: str = "svc", port: int = 80) -> Obj:
    out: Obj = {"backendRefs": [{"name": backend, "port": port}]}
    if matches:
        out["matches"] = list(matches)
    if name is not None:
        out["name"] = name
    return out


def http_route(name: str, namespace: str | None = "team-a", *,
               hostnames: Sequence[str] | None = None,
               parents: Sequence[Obj] | None = None,
               rules: Sequence[Obj] | None = None,
               matches: Sequence[Obj] | None = None,
               created: str | None = None, api_version: str = V1,
               resource_version: str | None = None) -> Obj:
    """An HTTPRoute on ``infra/gw``; ``matches`` is shorthand for one rule with those matches.
    ``namespace=None`` leaves it out (the API server takes it from the request path)."""
    spec: Obj = {"parentRefs": list(parents) if parents is not None else [parent()]}
    if hostnames is not None:
        spec["hostnames"] = list(hostnames)
    if rules is not None:
        spec["rules"] = list(rules)
    elif matches is not None:
        spec["rules"] = [rule(*matches)]
    return {"apiVersion": api_version, "kind": "HTTPRoute",
            "metadata": _meta(name, namespace, created, resource_version=resource_version),
            "spec": spec}


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


def grpc_route(name: str, namespace: str | None = "team-a", *,
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


def l4_route(kind: str, name: str, namespace: str | None = "team-a", *,
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
