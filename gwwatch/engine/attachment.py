"""Which listeners a route attaches to, and the spec's reason when it does not.

:class:`Topology` holds the objects attachment depends on (Gateways, ListenerSets, Namespaces)
and works out, per Gateway, which listeners are live: the Gateway's own first, then those of
the ListenerSets it accepts (oldest first), a listener that conflicts with an earlier one on its
port dropped. :func:`attach` resolves each parentRef of a route against it. It also holds the
GatewayClasses, for what a Gateway's implementation says it supports (:meth:`Topology.features`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from gwwatch.engine import hostnames
from gwwatch.engine.model import (
    Gateway,
    GatewayClass,
    LabelSelector,
    Listener,
    ListenerSet,
    NamespaceInfo,
    ObjectRef,
    ParentRef,
    Route,
)
from gwwatch.engine.vocabulary import GROUP, HOSTNAME_KINDS, age_key, may_share_port

__all__ = [
    "ACCEPTED",
    "NOT_ALLOWED_BY_LISTENERS",
    "NO_MATCHING_LISTENER_HOSTNAME",
    "NO_MATCHING_PARENT",
    "UNSUPPORTED_VALUE",
    "Features",
    "GatewayListeners",
    "ParentStatus",
    "Topology",
    "attach",
]

ACCEPTED: Final = "Accepted"
NOT_ALLOWED_BY_LISTENERS: Final = "NotAllowedByListeners"
NO_MATCHING_LISTENER_HOSTNAME: Final = "NoMatchingListenerHostname"
NO_MATCHING_PARENT: Final = "NoMatchingParent"
UNSUPPORTED_VALUE: Final = "UnsupportedValue"
# pkg/features/gateway.go: the Extended feature of listener isolation (gateway_types.go,
# GatewaySpec.Listeners, "General Listener behavior").
LISTENER_ISOLATION: Final = "GatewayHTTPListenerIsolation"


@dataclass(frozen=True, slots=True)
class Features:
    """What the engine takes a Gateway's implementation to do, and on what it rests that."""

    isolation: bool  # requests for a hostname reach only the most specific listener's routes
    assumptions: tuple[str, ...]  # one sentence per assumption, for ``explain``


@dataclass(frozen=True, slots=True)
class Attached:
    """A route on one listener, with the hostnames it gets there (``hostnames.ANY``: any)."""

    listener: Listener
    hostnames: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ParentStatus:
    parent_ref: ParentRef
    parent: ObjectRef  # the Gateway or ListenerSet named
    gateway: ObjectRef | None  # the Gateway whose listeners carry the traffic
    accepted: bool
    reason: str
    message: str
    attached: tuple[Attached, ...]


@dataclass(frozen=True, slots=True)
class GatewayListeners:
    """A Gateway's live listeners and the state of the ListenerSets that asked to join it."""

    gateway: ObjectRef
    live: tuple[Listener, ...]  # in priority order: Gateway's own, then accepted ListenerSets'
    # (listener owner, name) → why it is not live (ProtocolConflict, HostnameConflict)
    conflicted: Mapping[tuple[ObjectRef, str], str] = field(hash=False, compare=False)
    # every ListenerSet asking to join → Accepted | NotAllowed | ListenersNotValid
    listener_sets: Mapping[ObjectRef, str] = field(hash=False, compare=False)

    def for_owner(self, owner: ObjectRef) -> list[Listener]:
        return [ls for ls in self.live if ls.owner == owner]

    def on_port(self, port: int) -> list[Listener]:
        return [ls for ls in self.live if ls.port == port]


def _namespace_selected(
    from_: str, selector: LabelSelector | None, own_ns: str, ns: NamespaceInfo
) -> bool:
    if from_ == "All":
        return True
    if from_ == "Same":
        return ns.name == own_ns
    if from_ == "Selector":
        return selector is not None and selector.selects(ns.labels)
    return False


class Topology:
    """Gateways, ListenerSets and Namespaces by key, with per-Gateway listener resolution cached.

    Mutators return the Gateways whose live listeners may have changed, so an incremental caller
    knows which routes to attach again.
    """

    __slots__ = ("_cache", "_sets_by_gateway", "classes", "gateways", "listener_sets",
                 "namespaces")

    def __init__(self) -> None:
        self.gateways: dict[ObjectRef, Gateway] = {}
        self.classes: dict[str, GatewayClass] = {}
        self.listener_sets: dict[ObjectRef, ListenerSet] = {}
        self.namespaces: dict[str, NamespaceInfo] = {}
        self._sets_by_gateway: dict[ObjectRef, set[ObjectRef]] = {}
        self._cache: dict[ObjectRef, GatewayListeners] = {}

    # --- mutation --------------------------------------------------------------------------

    def put_gateway(self, ref: ObjectRef, gw: Gateway | None) -> set[ObjectRef]:
        if gw is None:
            self.gateways.pop(ref, None)
        else:
            self.gateways[ref] = gw
        self._cache.pop(ref, None)
        return {ref}

    def put_class(self, name: str, cls: GatewayClass | None) -> set[ObjectRef]:
        """Add, replace or (``None``) forget a GatewayClass: the Gateways of that class."""
        if cls is None:
            self.classes.pop(name, None)
        else:
            self.classes[name] = cls
        return {ref for ref, gw in self.gateways.items() if gw.class_name == name}

    def put_listener_set(self, ref: ObjectRef, ls: ListenerSet | None) -> set[ObjectRef]:
        touched: set[ObjectRef] = set()
        old = self.listener_sets.pop(ref, None)
        if old is not None and old.parent is not None:
            self._sets_by_gateway.get(old.parent, set()).discard(ref)
            touched.add(old.parent)
        if ls is not None:
            self.listener_sets[ref] = ls
            if ls.parent is not None:
                self._sets_by_gateway.setdefault(ls.parent, set()).add(ref)
                touched.add(ls.parent)
        for gw in touched:
            self._cache.pop(gw, None)
        return touched

    def put_namespace(self, name: str, ns: NamespaceInfo | None) -> set[ObjectRef]:
        if ns is None:
            self.namespaces.pop(name, None)
        else:
            self.namespaces[name] = ns
        # ListenerSet admission may depend on namespace labels.
        touched = {
            ls.parent for ls in self.listener_sets.values()
            if ls.parent is not None and ls.ref.namespace == name
        }
        for gw in touched:
            self._cache.pop(gw, None)
        return touched

    # --- queries ---------------------------------------------------------------------------

    def namespace(self, name: str) -> NamespaceInfo:
        return self.namespaces.get(name) or NamespaceInfo.implied(name)

    def isolated(self, gateway: ObjectRef) -> bool:
        """Whether requests at ``gateway`` reach only the most specific listener's routes: false
        only when its GatewayClass publishes supported features without listener isolation."""
        gw = self.gateways.get(gateway)
        cls = self.classes.get(gw.class_name) if gw is not None else None
        return cls is None or cls.features is None or LISTENER_ISOLATION in cls.features

    def features(self, gateway: ObjectRef) -> Features:
        """:meth:`isolated` with the sentence saying what it rests on."""
        gw = self.gateways.get(gateway)
        if gw is None:
            return Features(True, ())
        name = gw.class_name
        cls = self.classes.get(name)
        if cls is None:
            why = (f"GatewayClass {name} is not known: listener isolation "
                   f"({LISTENER_ISOLATION}) assumed")
        elif cls.features is None:
            why = (f"GatewayClass {name} publishes no status.supportedFeatures: listener "
                   f"isolation ({LISTENER_ISOLATION}) assumed")
        elif LISTENER_ISOLATION in cls.features:
            why = (f"GatewayClass {name} supports listener isolation ({LISTENER_ISOLATION}): "
                   f"a request reaches only the routes of the most specific listener covering "
                   f"its hostname")
        else:
            return Features(False, (
                f"GatewayClass {name} does not claim {LISTENER_ISOLATION}: a request may reach "
                f"the routes of every listener on the port whose hostname covers it, so they "
                f"compete in one precedence order",))
        return Features(True, (why,))

    def listener_sets_of(self, gateway: ObjectRef) -> set[ObjectRef]:
        return set(self._sets_by_gateway.get(gateway, ()))

    def listeners(self, gateway: ObjectRef) -> GatewayListeners | None:
        gw = self.gateways.get(gateway)
        if gw is None:
            return None
        cached = self._cache.get(gateway)
        if cached is None:
            cached = self._cache[gateway] = self._resolve(gw)
        return cached

    def _resolve(self, gw: Gateway) -> GatewayListeners:
        states: dict[ObjectRef, str] = {}
        admitted: list[ListenerSet] = []
        for ref in self._sets_by_gateway.get(gw.ref, ()):
            ls = self.listener_sets[ref]
            ns = self.namespace(ls.ref.namespace)
            if _namespace_selected(gw.allowed_listeners_from, gw.allowed_listeners_selector,
                                   gw.ref.namespace, ns):
                admitted.append(ls)
            else:
                states[ref] = "NotAllowed"
        admitted.sort(key=lambda ls: age_key(ls.created, ls.ref))
        live: list[Listener] = []
        conflicted: dict[tuple[ObjectRef, str], str] = {}
        for owner_listeners in (gw.listeners, *(ls.listeners for ls in admitted)):
            for listener in owner_listeners:
                reason = _conflict(listener, live)
                if reason is None:
                    live.append(listener)
                else:
                    conflicted[(listener.owner, listener.name)] = reason
        for ls in admitted:
            ok = any(li.owner == ls.ref for li in live)
            states[ls.ref] = "Accepted" if ok else "ListenersNotValid"
        return GatewayListeners(gw.ref, tuple(live), MappingProxyType(conflicted),
                                MappingProxyType(states))


def _conflict(listener: Listener, live: Iterable[Listener]) -> str | None:
    """Why ``listener`` cannot join ``live``, if it cannot. Listeners are distinct when they
    differ in port, protocol or hostname (gateway_types.go, "Distinct Listeners": listeners
    "that all share a protocol value MUST have _different_ values for _at least one_ of these
    fields": port, hostname): a TLS and an HTTPS listener for one hostname on one port are both
    live (``conflicts.gateway_posture`` reports the pair as ambiguous for clients)."""
    for other in live:
        if other.port != listener.port:
            continue
        if not may_share_port(other.protocol, listener.protocol):
            return "ProtocolConflict"
        if other.hostname == listener.hostname and other.protocol == listener.protocol:
            return "HostnameConflict"
    return None


def effective_hostnames(route: Route, listener: Listener) -> tuple[str, ...]:
    """The hostnames ``route`` gets on ``listener``; empty when they do not intersect."""
    if route.kind not in HOSTNAME_KINDS:
        return (hostnames.ANY,)
    own = listener.hostname or hostnames.ANY
    if not route.hostnames:
        return (own,)
    out = []
    for h in route.hostnames:
        both = hostnames.intersect(own, h)
        if both is not None and both not in out:
            out.append(both)
    return tuple(out)


def _refuse(pr: ParentRef, parent: ObjectRef, gateway: ObjectRef | None, reason: str,
            message: str) -> ParentStatus:
    return ParentStatus(pr, parent, gateway, False, reason, message, ())


def attach(route: Route, topology: Topology) -> tuple[ParentStatus, ...]:
    """One status per parentRef of ``route``, in the route's order."""
    return tuple(_attach_one(route, pr, topology) for pr in route.parent_refs)


def _attach_one(route: Route, pr: ParentRef, topology: Topology) -> ParentStatus:
    target = pr.target
    if pr.group != GROUP or pr.kind not in ("Gateway", "ListenerSet"):
        return _refuse(pr, target, None, NO_MATCHING_PARENT,
                       f"parentRef kind {pr.group}/{pr.kind} is not a Gateway or ListenerSet")
    if pr.kind == "Gateway":
        gateway: ObjectRef | None = target
        state = topology.listeners(target)
        if state is None:
            return _refuse(pr, target, None, NO_MATCHING_PARENT, f"Gateway {target} not found")
        candidates = state.for_owner(target)
    else:
        ls = topology.listener_sets.get(target)
        if ls is None or ls.parent is None:
            return _refuse(pr, target, None, NO_MATCHING_PARENT, f"ListenerSet {target} not found")
        gateway = ls.parent
        state = topology.listeners(ls.parent)
        if state is None:
            return _refuse(pr, target, gateway, NO_MATCHING_PARENT,
                           f"ListenerSet {target}'s Gateway {ls.parent} not found")
        if state.listener_sets.get(target) != "Accepted":
            return _refuse(pr, target, gateway, NO_MATCHING_PARENT,
                           f"ListenerSet {target} is not accepted by Gateway {ls.parent}")
        candidates = state.for_owner(target)
    if route.unsupported is not None:
        return _refuse(pr, target, gateway, UNSUPPORTED_VALUE, route.unsupported)
    candidates = [
        li for li in candidates
        if (pr.section_name is None or li.name == pr.section_name)
        and (pr.port is None or li.port == pr.port)
    ]
    if not candidates:
        return _refuse(pr, target, gateway, NO_MATCHING_PARENT,
                       f"no listener of {pr.describe()} matches sectionName/port")
    ns = topology.namespace(route.ref.namespace)
    allowed = [
        li for li in candidates
        if route.kind in li.kinds
        and _namespace_selected(li.allowed_from, li.selector, li.owner.namespace, ns)
    ]
    if not allowed:
        return _refuse(pr, target, gateway, NOT_ALLOWED_BY_LISTENERS,
                       f"no listener of {pr.describe()} allows {route.kind} from namespace "
                       f"{route.ref.namespace}")
    attached = []
    for li in allowed:
        hosts = effective_hostnames(route, li)
        if hosts:
            attached.append(Attached(li, hosts))
    if not attached:
        return _refuse(pr, target, gateway, NO_MATCHING_LISTENER_HOSTNAME,
                       f"no hostname of the route intersects a listener of {pr.describe()}")
    return ParentStatus(pr, target, gateway, True, ACCEPTED, "Accepted", tuple(attached))
