"""Kubernetes objects as the engine sees them: frozen, slotted records parsed from plain dicts.

``parse(obj, source=...)`` never raises: an object gwwatch does not care about gives ``None``,
a malformed one an :class:`Invalid` record that says why. Everything downstream works on these
records only, never on raw dicts.
"""

from __future__ import annotations

import re
import reprlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from gwwatch.engine import hostnames, regex
from gwwatch.engine.vocabulary import (
    GROUP,
    HOSTNAME_KINDS,
    MATCH_KINDS,
    READABLE_API_VERSIONS,
    RouteKind,
    kinds_for_protocol,
)

__all__ = [
    "Backend",
    "Gateway",
    "GatewayClass",
    "HeaderMatch",
    "Invalid",
    "LabelSelector",
    "Listener",
    "ListenerSet",
    "Match",
    "NamespaceInfo",
    "ObjectRef",
    "ParentRef",
    "Parsed",
    "Route",
    "RouteRule",
    "parse",
]

# Limits from the CRDs of the pinned release (v1.6.1): a longer list is malformed input.
_MAX_LISTENERS: Final = 64
_MAX_HOSTNAMES: Final = 16
_MAX_PARENT_REFS: Final = 32
_MAX_RULES: Final = 16
_MAX_MATCHES_PER_RULE: Final = 64
_MAX_MATCHES_PER_ROUTE: Final = 128
_MAX_HEADER_MATCHES: Final = 16
_MAX_BACKENDS: Final = 16
# Lists and maps nested deeper than this (counting spec, or the metadata field, as one) are
# malformed: a valid object nests under 10, and str()/repr() of the values the parser copies
# into labels and messages recurse, so a value ~1,000 deep raised RecursionError.
_MAX_DEPTH: Final = 32
_SCALARS: Final = frozenset({str, int, float, bool, type(None)})
_NAME_RE: Final = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_HEADER_NAME_RE: Final = re.compile(r"^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$")
# HTTPMethod enum (httproute_types.go); any other value is UnsupportedValue.
_HTTP: Final = RouteKind.HTTP  # bound once: an Enum member read off its class is slow
_HTTP_METHODS: Final = ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE",
                        "PATCH")


@dataclass(frozen=True, slots=True, order=True)
class ObjectRef:
    """A namespaced object's identity; ``str()`` gives ``namespace/name``."""

    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class SelectorRequirement:
    key: str
    operator: str  # In, NotIn, Exists, DoesNotExist
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LabelSelector:
    match_labels: tuple[tuple[str, str], ...]
    match_expressions: tuple[SelectorRequirement, ...]

    def selects(self, labels: Mapping[str, str]) -> bool:
        """Kubernetes label-selector semantics; an empty selector selects everything."""
        if any(labels.get(k) != v for k, v in self.match_labels):
            return False
        for req in self.match_expressions:
            present = req.key in labels
            if req.operator == "In" and not (present and labels[req.key] in req.values):
                return False
            if req.operator == "NotIn" and present and labels[req.key] in req.values:
                return False
            if req.operator == "Exists" and not present:
                return False
            if req.operator == "DoesNotExist" and present:
                return False
        return True

    def keys(self) -> frozenset[str]:
        return frozenset(k for k, _ in self.match_labels) | {r.key for r in self.match_expressions}


@dataclass(frozen=True, slots=True)
class NamespaceInfo:
    name: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]

    @staticmethod
    def implied(name: str) -> NamespaceInfo:
        """A namespace we have not seen: only the label the API server always sets."""
        return NamespaceInfo(name, {"kubernetes.io/metadata.name": name}, {})


@dataclass(frozen=True, slots=True)
class Listener:
    """One listener, declared by a Gateway or a ListenerSet (``owner``), serving on ``gateway``."""

    owner: ObjectRef
    gateway: ObjectRef | None  # None: a ListenerSet whose parentRef is not a Gateway
    name: str
    port: int
    protocol: str
    hostname: str | None
    allowed_from: str  # All | Same | Selector | None
    selector: LabelSelector | None
    kinds: tuple[str, ...]  # route kinds this listener admits (explicit ∩ protocol, or inferred)
    invalid_kinds: tuple[str, ...]  # explicitly listed kinds it cannot admit


@dataclass(frozen=True, slots=True)
class Gateway:
    ref: ObjectRef
    class_name: str
    listeners: tuple[Listener, ...]
    allowed_listeners_from: str  # None (default) | Same | All | Selector
    allowed_listeners_selector: LabelSelector | None
    created: str | None


@dataclass(frozen=True, slots=True)
class GatewayClass:
    """A GatewayClass (cluster-scoped): what its implementation says it supports.

    ``features`` is ``status.supportedFeatures`` by name; ``None`` when the class publishes
    none (no status yet, or an implementation that does not fill the field): the engine then
    assumes what it assumes for a Gateway whose class it has not seen.
    """

    name: str
    controller: str
    features: frozenset[str] | None

    @property
    def ref(self) -> ObjectRef:
        return ObjectRef("GatewayClass", "", self.name)


@dataclass(frozen=True, slots=True)
class ListenerSet:
    ref: ObjectRef
    parent: ObjectRef | None  # the Gateway it asks to join (None: parentRef not a Gateway)
    listeners: tuple[Listener, ...]
    created: str | None


@dataclass(frozen=True, slots=True)
class ParentRef:
    group: str
    kind: str
    namespace: str
    name: str
    section_name: str | None
    port: int | None

    @property
    def target(self) -> ObjectRef:
        return ObjectRef(self.kind, self.namespace, self.name)

    def describe(self) -> str:
        extra = "".join(
            f" {k}={v}" for k, v in (("sectionName", self.section_name), ("port", self.port)) if v
        )
        return f"{self.kind} {self.namespace}/{self.name}{extra}"


@dataclass(frozen=True, slots=True)
class HeaderMatch:
    """A header (lower-cased name) or query-parameter condition."""

    name: str
    type: str  # Exact | RegularExpression
    value: str


@dataclass(frozen=True, slots=True)
class Match:
    """One match of a rule. HTTP: path/method/headers/query; gRPC: service/method/headers.

    TLS/TCP/UDP rules carry a single match with every field empty: it matches all traffic.
    """

    path_type: str | None = None  # Exact | PathPrefix | RegularExpression (HTTP only)
    path: str | None = None
    method: str | None = None  # HTTP method, or gRPC method name
    headers: tuple[HeaderMatch, ...] = ()
    query: tuple[HeaderMatch, ...] = ()
    grpc_type: str | None = None  # Exact | RegularExpression (gRPC only)
    service: str | None = None  # gRPC service

    def describe(self) -> str:
        """The request space in the words a person uses: ``PathPrefix /v1/charge``."""
        parts: list[str] = []
        if self.path_type is not None:
            parts.append(f"{self.path_type} {self.path}")
        if self.service is not None or (self.grpc_type is not None and self.method is not None):
            regex = " (regex)" if self.grpc_type == "RegularExpression" else ""
            parts.append(f"gRPC {self.service or '*'}/{self.method or '*'}{regex}")
        elif self.method is not None:
            parts.append(f"method {self.method}")
        for h in self.headers:
            op = "~" if h.type == "RegularExpression" else "="
            parts.append(f"header {h.name}{op}{h.value}")
        for q in self.query:
            op = "~" if q.type == "RegularExpression" else "="
            parts.append(f"query {q.name}{op}{q.value}")
        return ", ".join(parts) if parts else "all requests"


@dataclass(frozen=True, slots=True)
class Backend:
    kind: str
    namespace: str
    name: str
    port: int | None
    weight: int


@dataclass(frozen=True, slots=True)
class RouteRule:
    name: str | None
    matches: tuple[Match, ...]
    backends: tuple[Backend, ...]


@dataclass(frozen=True, slots=True)
class Route:
    ref: ObjectRef  # ref.kind is the route kind
    created: str | None  # RFC 3339 creationTimestamp; None in manifests never applied
    hostnames: tuple[str, ...]
    parent_refs: tuple[ParentRef, ...]
    rules: tuple[RouteRule, ...]
    unsupported: str | None  # why the route as a whole uses a value the spec lets us refuse

    @property
    def kind(self) -> str:
        return self.ref.kind


@dataclass(frozen=True, slots=True)
class Invalid:
    """A malformed object: reported, never analysed."""

    kind: str
    namespace: str
    name: str
    source: str
    reason: str


Parsed = Gateway | GatewayClass | ListenerSet | Route | NamespaceInfo | Invalid


class _Malformed(Exception):
    """Raised inside the parser only; ``parse`` turns it into an :class:`Invalid`."""


def parse(obj: object, *, source: str = "") -> Parsed | None:
    """Parse one Kubernetes object; ``None`` for kinds and groups gwwatch does not analyse."""
    if not isinstance(obj, Mapping):
        return Invalid("", "", "", source, "object is not a mapping")
    kind = obj.get("kind")
    api_version = obj.get("apiVersion")
    if not isinstance(kind, str) or not isinstance(api_version, str):
        return None
    if (kind, api_version) not in READABLE_API_VERSIONS:
        return None
    meta = obj.get("metadata")
    namespace = ""
    name = ""
    if isinstance(meta, Mapping):
        raw_ns, raw_name = meta.get("namespace"), meta.get("name")
        namespace = raw_ns if isinstance(raw_ns, str) else ""
        name = raw_name if isinstance(raw_name, str) else ""
    try:
        if not isinstance(meta, Mapping):
            raise _Malformed("metadata is missing")
        for part in (meta.get("name"), meta.get("labels"), meta.get("annotations"),
                     obj.get("spec")):
            if _too_deep(part):
                raise _Malformed(f"a value is nested deeper than {_MAX_DEPTH} levels")
        if not name or not _NAME_RE.match(name) or len(name) > 253:
            raise _Malformed(f"metadata.name {_show(meta.get('name'))} is not a valid name")
        if kind == "Namespace":
            # The API server always sets this label to the name; manifests usually omit it.
            labels = {**_str_map(meta, "labels"), "kubernetes.io/metadata.name": name}
            return NamespaceInfo(name, labels, _str_map(meta, "annotations"))
        if kind == "GatewayClass":  # cluster-scoped: no namespace, no default
            return _parse_gateway_class(name, obj)
        if not namespace:
            namespace = "default"  # manifests often omit it; kubectl applies to "default"
        created = meta.get("creationTimestamp")
        created = created if isinstance(created, str) and created else None
        spec = obj.get("spec")
        if not isinstance(spec, Mapping):
            raise _Malformed("spec is missing or not an object")
        ref = ObjectRef(kind, namespace, name)
        if kind == "Gateway":
            return _parse_gateway(ref, spec, created)
        if kind == "ListenerSet":
            return _parse_listener_set(ref, spec, created)
        return _parse_route(ref, spec, created)
    except _Malformed as exc:
        return Invalid(kind, namespace, name, source, str(exc))
    except (TypeError, ValueError, AttributeError, KeyError) as exc:  # defence in depth
        return Invalid(kind, namespace, name, source, f"cannot parse: {exc}")


# --- helpers -------------------------------------------------------------------------------


def _too_deep(value: object) -> bool:
    """Whether lists and maps nest more than ``_MAX_DEPTH`` deep in ``value``: one level at a
    time, without recursion."""
    level = [value]
    for _ in range(_MAX_DEPTH):
        below: list[object] = []
        for item in level:
            kind = type(item)
            if kind is dict:  # the common cases first: isinstance() of an ABC is slow
                children: Iterable[object] = item.values()  # type: ignore[attr-defined]
            elif kind is list or kind is tuple:
                children = item  # type: ignore[assignment]
            elif isinstance(item, Mapping):
                children = item.values()
            else:
                continue
            below += [child for child in children if type(child) not in _SCALARS]
        if not below:
            return False
        if len(below) > 64:
            # A wide level is de-duplicated: a value shared by several parents (YAML aliases)
            # would be walked once per path, and shared values make exponentially many paths.
            below = list({id(child): child for child in below}.values())
        level = below
    return any(isinstance(item, dict | list | tuple | Mapping) for item in level)


# Renders a value for a label or a message with bounded work: repr() and str() of a list of
# aliased lists (what YAML aliases build) visit every path, seconds for one object.
_RENDER: Final = reprlib.Repr()
_RENDER.maxlevel, _RENDER.maxlist, _RENDER.maxdict, _RENDER.maxtuple = 4, 8, 8, 8
_RENDER.maxstring = _RENDER.maxother = _RENDER.maxlong = 256


def _show(value: object, limit: int = 80) -> str:
    text = repr(value[: limit + 1]) if isinstance(value, str) else _RENDER.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _text(value: object) -> str:
    """``str(value)`` for a string or a number (YAML reads ``tier: 1`` as one); a list or a map
    as a bounded rendering."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) or value is None:
        return str(value)
    return _RENDER.repr(value)


def _str_map(obj: Mapping[str, Any], key: str) -> dict[str, str]:
    value = obj.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _Malformed(f"metadata.{key} is not a map")
    return {_text(k): _text(v) for k, v in value.items()}


def _list(obj: Mapping[str, Any], key: str, where: str, limit: int) -> list[Any]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Malformed(f"{where}.{key} is not a list")
    if len(value) > limit:
        raise _Malformed(f"{where}.{key} has {len(value)} entries, more than the {limit} allowed")
    return value


def _mapping(value: object, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _Malformed(f"{where} is not an object")
    return value


def _opt_str(obj: Mapping[str, Any], key: str, where: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Malformed(f"{where}.{key} is not a string")
    return value


def _opt_int(obj: Mapping[str, Any], key: str, where: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Malformed(f"{where}.{key} is not an integer")
    return value


def _hostname(value: object, where: str) -> str:
    if not isinstance(value, str) or not hostnames.is_valid(value):
        raise _Malformed(f"{where} {_show(value)} is not a valid hostname")
    return value.lower()


def _selector(value: object, where: str) -> LabelSelector:
    sel = _mapping(value, where)
    labels = _mapping(sel.get("matchLabels"), f"{where}.matchLabels")
    exprs: list[SelectorRequirement] = []
    for i, raw in enumerate(_list(sel, "matchExpressions", where, 64)):
        item = _mapping(raw, f"{where}.matchExpressions[{i}]")
        op = item.get("operator")
        key = item.get("key")
        values = item.get("values") or []
        if op not in ("In", "NotIn", "Exists", "DoesNotExist") or not isinstance(key, str):
            raise _Malformed(f"{where}.matchExpressions[{i}] has operator {_show(op)}")
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise _Malformed(f"{where}.matchExpressions[{i}].values is not a list of strings")
        exprs.append(SelectorRequirement(key, op, tuple(values)))
    return LabelSelector(tuple((_text(k), _text(v)) for k, v in labels.items()), tuple(exprs))


def _parse_listener(
    raw: object, where: str, owner: ObjectRef, gateway: ObjectRef | None
) -> Listener:
    item = _mapping(raw, where)
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise _Malformed(f"{where}.name is missing")
    port = _opt_int(item, "port", where)
    if port is None or not 1 <= port <= 65535:
        raise _Malformed(f"{where}.port {_show(item.get('port'))} is not a port number")
    protocol = item.get("protocol")
    if not isinstance(protocol, str) or not protocol:
        raise _Malformed(f"{where}.protocol is missing")
    hostname = None
    if item.get("hostname") is not None:
        hostname = _hostname(item.get("hostname"), f"{where}.hostname")
    allowed = _mapping(item.get("allowedRoutes"), f"{where}.allowedRoutes")
    namespaces = _mapping(allowed.get("namespaces"), f"{where}.allowedRoutes.namespaces")
    allowed_from = namespaces.get("from", "Same")
    if allowed_from not in ("All", "Same", "Selector", "None"):
        raise _Malformed(f"{where}.allowedRoutes.namespaces.from {_show(allowed_from)} is unknown")
    selector = None
    if allowed_from == "Selector":
        selector = _selector(namespaces.get("selector"),
                             f"{where}.allowedRoutes.namespaces.selector")
    compatible = kinds_for_protocol(protocol)
    explicit = _list(allowed, "kinds", f"{where}.allowedRoutes", 8)
    if explicit:
        kinds: list[str] = []
        invalid: list[str] = []
        for i, raw_kind in enumerate(explicit):
            k = _mapping(raw_kind, f"{where}.allowedRoutes.kinds[{i}]")
            kind = k.get("kind")
            group = k.get("group", GROUP)
            if not isinstance(kind, str):
                raise _Malformed(f"{where}.allowedRoutes.kinds[{i}].kind is missing")
            if group == GROUP and kind in compatible:
                kinds.append(kind)
            else:
                invalid.append(kind if group == GROUP else f"{_text(group)}/{kind}")
        return Listener(owner, gateway, name, port, protocol, hostname, allowed_from, selector,
                        tuple(kinds), tuple(invalid))
    return Listener(owner, gateway, name, port, protocol, hostname, allowed_from, selector,
                    compatible, ())


def _parse_listeners(
    spec: Mapping[str, Any], owner: ObjectRef, gateway: ObjectRef | None
) -> tuple[Listener, ...]:
    listeners = []
    seen: set[str] = set()
    for i, raw in enumerate(_list(spec, "listeners", "spec", _MAX_LISTENERS)):
        listener = _parse_listener(raw, f"spec.listeners[{i}]", owner, gateway)
        if listener.name in seen:
            raise _Malformed(f"spec.listeners[{i}].name {listener.name!r} is not unique")
        seen.add(listener.name)
        listeners.append(listener)
    return tuple(listeners)


def _parse_gateway(ref: ObjectRef, spec: Mapping[str, Any], created: str | None) -> Gateway:
    class_name = spec.get("gatewayClassName")
    if not isinstance(class_name, str) or not class_name:
        raise _Malformed("spec.gatewayClassName is missing")
    listeners = _parse_listeners(spec, ref, ref)
    if not listeners:
        raise _Malformed("spec.listeners is empty")
    allowed = _mapping(spec.get("allowedListeners"), "spec.allowedListeners")
    namespaces = _mapping(allowed.get("namespaces"), "spec.allowedListeners.namespaces")
    from_ = namespaces.get("from", "None")
    if from_ not in ("All", "Same", "Selector", "None"):
        raise _Malformed(f"spec.allowedListeners.namespaces.from {_show(from_)} is unknown")
    selector = None
    if from_ == "Selector":
        selector = _selector(namespaces.get("selector"),
                             "spec.allowedListeners.namespaces.selector")
    return Gateway(ref, class_name, listeners, from_, selector, created)


# status.supportedFeatures holds at most 64 entries (the CRD's maxItems).
_MAX_FEATURES: Final = 64


def _parse_gateway_class(name: str, obj: Mapping[str, Any]) -> GatewayClass:
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        raise _Malformed("spec is missing or not an object")
    controller = spec.get("controllerName")
    if not isinstance(controller, str) or not controller:
        raise _Malformed("spec.controllerName is missing")
    status = _mapping(obj.get("status"), "status")
    raw = _list(status, "supportedFeatures", "status", _MAX_FEATURES)
    features: set[str] = set()
    for i, item in enumerate(raw):
        # {name: X} since v1.2; a plain string in the releases before it
        feature = item.get("name") if isinstance(item, Mapping) else item
        if not isinstance(feature, str) or not feature:
            raise _Malformed(f"status.supportedFeatures[{i}] has no name")
        features.add(feature)
    return GatewayClass(name, controller, frozenset(features) if features else None)


def _parse_listener_set(
    ref: ObjectRef, spec: Mapping[str, Any], created: str | None
) -> ListenerSet:
    parent_raw = _mapping(spec.get("parentRef"), "spec.parentRef")
    name = parent_raw.get("name")
    if not isinstance(name, str) or not name:
        raise _Malformed("spec.parentRef.name is missing")
    group = parent_raw.get("group", GROUP)
    kind = parent_raw.get("kind", "Gateway")
    namespace = parent_raw.get("namespace", ref.namespace)
    if not isinstance(namespace, str):
        raise _Malformed("spec.parentRef.namespace is not a string")
    parent = ObjectRef("Gateway", namespace, name) if (group, kind) == (
        GROUP, "Gateway") else None
    listeners = _parse_listeners(spec, ref, parent)
    if not listeners:
        raise _Malformed("spec.listeners is empty")
    return ListenerSet(ref, parent, listeners, created)


def _parse_parent_ref(raw: object, where: str, route_namespace: str) -> ParentRef:
    item = _mapping(raw, where)
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise _Malformed(f"{where}.name is missing")
    group = item.get("group", GROUP)
    kind = item.get("kind", "Gateway")
    namespace = item.get("namespace", route_namespace)
    if not all(isinstance(v, str) for v in (group, kind, namespace)):
        raise _Malformed(f"{where} has a non-string group, kind or namespace")
    port = _opt_int(item, "port", where)
    if port is not None and not 1 <= port <= 65535:
        raise _Malformed(f"{where}.port {port} is not a port number")
    # An explicit "" is the core API group (a mesh Service parent), not the default group.
    return ParentRef(group, kind, namespace, name,
                     _opt_str(item, "sectionName", where), port)


def _value_matches(
    raw: object, where: str, *, lower: bool, default_type: str = "Exact"
) -> tuple[tuple[HeaderMatch, ...], str | None]:
    """Header or query-param conditions; duplicates after the first are ignored, as specified."""
    if raw is None:
        return (), None
    if not isinstance(raw, list):
        raise _Malformed(f"{where} is not a list")
    if len(raw) > _MAX_HEADER_MATCHES:
        raise _Malformed(f"{where} has {len(raw)} entries, more than {_MAX_HEADER_MATCHES}")
    out: list[HeaderMatch] = []
    seen: set[str] = set()
    unsupported = None
    for i, entry in enumerate(raw):
        item = _mapping(entry, f"{where}[{i}]")
        name = item.get("name")
        value = item.get("value")
        type_ = item.get("type", default_type)
        if not isinstance(name, str) or not _HEADER_NAME_RE.match(name):
            raise _Malformed(f"{where}[{i}].name {_show(name)} is not a valid name")
        if not isinstance(value, str):
            raise _Malformed(f"{where}[{i}].value is not a string")
        if type_ not in ("Exact", "RegularExpression"):
            unsupported = f"{where}[{i}].type {_show(type_)} is not supported"
            continue
        if type_ == "RegularExpression":
            unsupported = unsupported or _refused_regex(value, f"{where}[{i}].value")
        key = name.lower() if lower else name
        if key in seen:
            continue
        seen.add(key)
        out.append(HeaderMatch(key, type_, value))
    return tuple(sorted(out, key=lambda h: h.name)), unsupported


def _refused_regex(pattern: str, where: str) -> str | None:
    """RegularExpression values are RE2 (as Envoy-based implementations compile them); one RE2
    refuses (a backreference, lookaround) is an unsupported value, never run elsewhere."""
    why = regex.refusal(pattern)
    return None if why is None else f"{where} {_show(pattern)} is not RE2 syntax: {why[:120]}"


def _parse_http_match(raw: object, where: str) -> tuple[Match, str | None]:
    item = _mapping(raw, where)
    path = _mapping(item.get("path"), f"{where}.path")
    path_type = path.get("type", "PathPrefix")
    path_value = path.get("value", "/")
    unsupported = None
    if not isinstance(path_value, str) or len(path_value) > 1024:
        raise _Malformed(f"{where}.path.value is not a string of at most 1024 characters")
    if path_type in ("Exact", "PathPrefix"):
        if not path_value.startswith("/"):
            raise _Malformed(f"{where}.path.value {_show(path_value)} must start with '/'")
        if "//" in path_value or "/./" in path_value or "/../" in path_value:
            raise _Malformed(f"{where}.path.value {_show(path_value)} is not a normalised path")
    elif path_type == "RegularExpression":
        unsupported = _refused_regex(path_value, f"{where}.path.value")
    else:
        unsupported = f"{where}.path.type {_show(path_type)} is not supported"
    method = _opt_str(item, "method", where)
    if method is not None and method not in _HTTP_METHODS:
        unsupported = unsupported or f"{where}.method {_show(method)} is not supported"
    headers, unsup_h = _value_matches(item.get("headers"), f"{where}.headers", lower=True)
    query, unsup_q = _value_matches(item.get("queryParams"), f"{where}.queryParams", lower=False)
    if path_type == "PathPrefix" and len(path_value) > 1 and path_value.endswith("/"):
        path_value = path_value.rstrip("/") or "/"  # "/foo/" and "/foo" match the same paths
    match = Match(path_type=_text(path_type), path=path_value, method=method,
                  headers=headers, query=query)
    return match, unsupported or unsup_h or unsup_q


def _parse_grpc_match(raw: object, where: str) -> tuple[Match, str | None]:
    item = _mapping(raw, where)
    method = _mapping(item.get("method"), f"{where}.method")
    grpc_type = None
    service = None
    name = None
    unsupported = None
    if method:
        grpc_type = method.get("type", "Exact")
        service = _opt_str(method, "service", f"{where}.method")
        name = _opt_str(method, "method", f"{where}.method")
        if grpc_type not in ("Exact", "RegularExpression"):
            unsupported = f"{where}.method.type {_show(grpc_type)} is not supported"
        elif grpc_type == "RegularExpression":
            unsupported = next((why for why in (
                _refused_regex(v, f"{where}.method") for v in (service, name)
                if isinstance(v, str)) if why is not None), None)
        if not service and not name:
            raise _Malformed(f"{where}.method needs a service or a method")
    headers, unsup_h = _value_matches(item.get("headers"), f"{where}.headers", lower=True)
    match = Match(grpc_type=grpc_type, service=service or None, method=name or None,
                  headers=headers)
    return match, unsupported or unsup_h


def _parse_backends(rule: Mapping[str, Any], where: str, namespace: str) -> tuple[Backend, ...]:
    out = []
    for i, raw in enumerate(_list(rule, "backendRefs", where, _MAX_BACKENDS)):
        item = _mapping(raw, f"{where}.backendRefs[{i}]")
        name = item.get("name")
        if not isinstance(name, str) or not name:
            raise _Malformed(f"{where}.backendRefs[{i}].name is missing")
        weight = _opt_int(item, "weight", f"{where}.backendRefs[{i}]")
        ns = item.get("namespace", namespace)
        out.append(Backend(_text(item.get("kind", "Service")), _text(ns), name,
                           _opt_int(item, "port", f"{where}.backendRefs[{i}]"),
                           1 if weight is None else weight))
    return tuple(out)


def _parse_route(ref: ObjectRef, spec: Mapping[str, Any], created: str | None) -> Route:
    hosts: list[str] = []
    if ref.kind in HOSTNAME_KINDS:
        for i, raw in enumerate(_list(spec, "hostnames", "spec", _MAX_HOSTNAMES)):
            hosts.append(_hostname(raw, f"spec.hostnames[{i}]"))
    parents = tuple(
        _parse_parent_ref(raw, f"spec.parentRefs[{i}]", ref.namespace)
        for i, raw in enumerate(_list(spec, "parentRefs", "spec", _MAX_PARENT_REFS))
    )
    rules: list[RouteRule] = []
    unsupported: str | None = None
    total_matches = 0
    for i, raw in enumerate(_list(spec, "rules", "spec", _MAX_RULES)):
        where = f"spec.rules[{i}]"
        rule = _mapping(raw, where)
        name = _opt_str(rule, "name", where)
        matches: list[Match] = []
        if ref.kind in MATCH_KINDS:
            raws = _list(rule, "matches", where, _MAX_MATCHES_PER_RULE)
            total_matches += len(raws)
            for j, m in enumerate(raws):
                parse_match = (_parse_http_match if ref.kind == _HTTP
                               else _parse_grpc_match)
                match, why = parse_match(m, f"{where}.matches[{j}]")
                unsupported = unsupported or why
                matches.append(match)
            if not raws:  # no matches: HTTP defaults to PathPrefix "/", gRPC matches everything
                matches.append(Match(path_type="PathPrefix", path="/")
                               if ref.kind == _HTTP else Match())
        else:
            matches.append(Match())
        rules.append(RouteRule(name, tuple(matches), _parse_backends(rule, where, ref.namespace)))
    if total_matches > _MAX_MATCHES_PER_ROUTE:
        raise _Malformed(f"spec.rules have {total_matches} matches, more than "
                         f"{_MAX_MATCHES_PER_ROUTE}")
    if not rules and ref.kind == _HTTP:
        # The CRD defaults rules to one PathPrefix "/" rule with no backends.
        rules.append(RouteRule(None, (Match(path_type="PathPrefix", path="/"),), ()))
    return Route(ref, created, tuple(dict.fromkeys(hosts)), parents, tuple(rules), unsupported)

