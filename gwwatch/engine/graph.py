"""The conflict graph: who claims which hostname where, kept current one object at a time.

A *claim* is a route holding a hostname on a listener. Claims live in *arenas* — (Gateway,
port, route kind): only claims in one arena compete for requests. Within an arena the unit of
analysis is a *slice*: the requests for one hostname ``H`` that some claim names, contested by
every claim whose hostname covers ``H`` on the listener that ``H``'s requests reach.

HTTPRoutes and GRPCRoutes on one listener also compete for hostnames as wholes (cross serving,
:meth:`ConflictGraph._resolve_cross`): where their hostnames intersect, the older route is
accepted and the newer one is not attached to that listener at all.

When one object changes the graph attaches again only the routes that can depend on it,
and analyses again only the slices whose claims or owner can have changed: the cost follows the
claims that share hostnames with the change, not the size of the cluster.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

from gwwatch.engine import conflicts, hostnames, ownership
from gwwatch.engine import explain as explaining
from gwwatch.engine.attachment import (
    Attached,
    Features,
    GatewayListeners,
    ParentStatus,
    Topology,
    attach,
)
from gwwatch.engine.findings import Diff, Finding, diff
from gwwatch.engine.model import (
    Gateway,
    GatewayClass,
    Invalid,
    Listener,
    ListenerSet,
    NamespaceInfo,
    ObjectRef,
    Parsed,
    Route,
)
from gwwatch.engine.precedence import Request
from gwwatch.engine.vocabulary import (
    ROUTE_KINDS,
    FindingKind,
    Protocol,
    Reason,
    RouteKind,
    Severity,
    age_key,
)

__all__ = ["ConflictGraph", "analyse"]

Arena = tuple[ObjectRef, int, str]  # (gateway, port, route kind)
# Route kind → the listener protocols whose traffic it competes for, as a plain dict: looked up
# for every slice analysed.
_TRAFFIC_PROTOCOLS: dict[str, tuple[Protocol, ...]] = {
    str(k): spec.traffic_protocols for k, spec in ROUTE_KINDS.items()}
Slice = tuple[Arena, str]
ListenerKey = tuple[ObjectRef, ObjectRef, str]  # (gateway, listener owner, listener name)
CrossPair = tuple[ListenerKey, ObjectRef]  # a listener and a route it rejects (cross serving)
# The kinds that serve each other's requests on one listener (grpcroute_types.go,
# GRPCRouteSpec.Hostnames): only one of two intersecting routes of these kinds is accepted.
_CROSS_KINDS: frozenset[str] = frozenset((RouteKind.HTTP, RouteKind.GRPC))
# Kinds whose requests an implementation without listener isolation may route through a less
# specific listener's routes (GatewayHTTPListenerIsolation is about HTTP listeners).
_UNISOLATED_KINDS: frozenset[str] = _CROSS_KINDS


@dataclass(frozen=True, slots=True)
class Claim:
    route: ObjectRef
    listener: Listener
    hostname: str

    @property
    def arena(self) -> Arena:
        assert self.listener.gateway is not None
        return (self.listener.gateway, self.listener.port, self.route.kind)


class _HostIndex:
    """Hostnames → claims, with a suffix index so a wildcard finds what it covers."""

    __slots__ = ("by_host", "by_suffix")

    def __init__(self) -> None:
        self.by_host: dict[str, set[Claim]] = {}
        self.by_suffix: dict[str, set[str]] = {}

    def add(self, claim: Claim) -> None:
        bucket = self.by_host.get(claim.hostname)
        if bucket is None:
            bucket = self.by_host[claim.hostname] = set()
            for parent in hostnames.parents(claim.hostname):
                self.by_suffix.setdefault(parent, set()).add(claim.hostname)
        bucket.add(claim)

    def remove(self, claim: Claim) -> None:
        bucket = self.by_host.get(claim.hostname)
        if bucket is None:
            return
        bucket.discard(claim)
        if not bucket:
            del self.by_host[claim.hostname]
            for parent in hostnames.parents(claim.hostname):
                names = self.by_suffix.get(parent)
                if names is not None:
                    names.discard(claim.hostname)
                    if not names:
                        del self.by_suffix[parent]

    def covered(self, hostname: str) -> set[str]:
        """Hostnames present here that ``hostname`` covers (itself included when present)."""
        if hostname == hostnames.ANY:
            return set(self.by_host)
        if hostnames.is_wildcard(hostname):
            return set(self.by_suffix.get(hostnames.base(hostname), ()))
        return {hostname} if hostname in self.by_host else set()

    def covering(self, hostname: str) -> Iterator[Claim]:
        for h in hostnames.covering(hostname):
            yield from self.by_host.get(h, ())


class ConflictGraph:
    """Current objects, attachments, claims and findings; ``upsert``/``delete`` return the diff."""

    def __init__(self, policy: ownership.Policy | None = None) -> None:
        self._policy = policy or ownership.Policy()
        self._intra_tenant_severity = Severity(self._policy.intra_tenant_severity)
        self._topology = Topology()
        self._routes: dict[ObjectRef, Route] = {}
        self._invalid: dict[ObjectRef, Invalid] = {}
        self._status: dict[ObjectRef, tuple[ParentStatus, ...]] = {}
        self._routes_by_target: dict[ObjectRef, set[ObjectRef]] = {}
        self._routes_by_ns: dict[str, set[ObjectRef]] = {}
        self._claims_by_route: dict[ObjectRef, tuple[Claim, ...]] = {}
        self._arenas: dict[Arena, _HostIndex] = {}
        self._global = _HostIndex()
        self._arenas_by_host: dict[str, Counter[Arena]] = {}
        self._slices: dict[Slice, tuple[Finding, ...]] = {}
        self._slices_by_host: dict[str, set[Slice]] = {}
        self._sharing: dict[str, set[str]] = {}  # owner tenant → tenants it shares with
        self._posture: dict[tuple[str, object], tuple[Finding, ...]] = {}
        self._tenants = ownership.Tenants(self._policy.tenant_label)
        # the ownership file's hostnames by the spelling of their tenant (lower case, without
        # "ns:"): what to analyse again when that spelling starts or stops being a label value
        self._file_hosts: dict[str, set[str]] = {}
        for t, hs in self._policy.ownership.items():
            bare = t.removeprefix(ownership.NAMESPACE_PREFIX).lower()
            self._file_hosts.setdefault(bare, set()).update(h.lower() for h in hs)
        self._file_claims = self._build_file_claims()
        self._annotation_claims = ownership.Claims("namespace annotation")
        self._claims_stale = False  # annotation claims and sharing wait for their next reader
        self._file_claims_stale = False  # tenant names changed under the file's claims
        self._listener_namespaces: dict[tuple[ObjectRef, ObjectRef, str], Counter[str]] = {}
        # Cross serving: what attach() said before it (route → statuses), the HTTPRoutes and
        # GRPCRoutes on each listener with the hostnames they get there, the routes each
        # listener rejects (rejected → the route that caused it), the listeners to resolve
        # again, and whether every listener's cross-serving findings must be said again.
        self._raw_status: dict[ObjectRef, tuple[ParentStatus, ...]] = {}
        self._cross_members: dict[ListenerKey, dict[ObjectRef, tuple[str, ...]]] = {}
        self._cross_keys_of: dict[ObjectRef, frozenset[ListenerKey]] = {}
        self._rejections: dict[ListenerKey, dict[ObjectRef, ObjectRef]] = {}
        self._rejected: dict[ObjectRef, dict[ListenerKey, ObjectRef]] = {}
        # the hostnames of each (listener, rejected route), and the reverse: whose findings to
        # say again when the owner of a hostname may have changed
        self._cross_names: dict[CrossPair, tuple[str, ...]] = {}
        self._cross_pairs_by_name: dict[str, set[CrossPair]] = {}
        self._cross_pending: set[ListenerKey] = set()
        self._cross_touched: set[ObjectRef] = set()  # routes attached again since resolved
        self._cross_changed: set[CrossPair] = set()
        self._cross_all = False
        self._deferred: tuple[set[Slice], set[ObjectRef], set[str]] | None = None
        self._findings: dict[tuple[object, ...], Finding] = {}
        # route → its findings (as ``route`` or ``other``), by identity; mirrors _findings
        self._findings_by_route: dict[ObjectRef, dict[tuple[object, ...], Finding]] = {}

    # --- queries (read-only) ---------------------------------------------------------------

    @property
    def policy(self) -> ownership.Policy:
        return self._policy

    def findings(self) -> list[Finding]:
        """Every current finding, most severe first (``Finding.sort_key``)."""
        return sorted(self._findings.values(), key=Finding.sort_key)

    def findings_of(self, route: ObjectRef) -> tuple[Finding, ...]:
        """The findings naming ``route`` as their ``route`` or their ``other``, sorted."""
        found = self._findings_by_route.get(route)
        if not found:
            return ()
        return tuple(sorted(found.values(), key=Finding.sort_key))

    def route(self, ref: ObjectRef) -> Route | None:
        return self._routes.get(ref)

    def route_refs(self) -> list[ObjectRef]:
        """Every valid route, sorted."""
        return sorted(self._routes)

    def route_count(self) -> int:
        return len(self._routes)

    def parents_of(self, ref: ObjectRef) -> tuple[ParentStatus, ...]:
        """What each parentRef of route ``ref`` resolved to, in the route's order."""
        return self._status.get(ref, ())

    def parent_statuses(self) -> Iterator[tuple[ObjectRef, tuple[ParentStatus, ...]]]:
        """(route, its parent statuses) for every valid route, in no particular order."""
        return iter(list(self._status.items()))

    def invalid_objects(self) -> list[Invalid]:
        """The malformed objects (reported, never analysed), sorted by reference.

        One without a name is keyed by its source: ``ObjectRef(kind, namespace, "<source>")``.
        """
        return [inv for _, inv in sorted(self._invalid.items())]

    def gateway(self, ref: ObjectRef) -> Gateway | None:
        return self._topology.gateways.get(ref)

    def gateways(self) -> list[ObjectRef]:
        """Every Gateway, sorted."""
        return sorted(self._topology.gateways)

    def listener_set(self, ref: ObjectRef) -> ListenerSet | None:
        return self._topology.listener_sets.get(ref)

    def gateway_class(self, name: str) -> GatewayClass | None:
        return self._topology.classes.get(name)

    def features(self, gateway: ObjectRef) -> Features:
        """What the engine takes ``gateway``'s implementation to do (listener isolation), from
        its GatewayClass' ``status.supportedFeatures``, and the sentences saying so."""
        return self._topology.features(gateway)

    def rejected_on(self, listener: Listener) -> list[tuple[ObjectRef, tuple[str, ...], ObjectRef]]:
        """Cross serving: the routes ``listener`` rejects, each with the hostnames it would get
        there and the route that caused it, sorted."""
        if listener.gateway is None:
            return []
        key = _listener_key(listener)
        members = self._cross_members.get(key, {})
        return [(ref, members.get(ref, ()), cause)
                for ref, cause in sorted(self._rejections.get(key, {}).items())]

    def rejected_by(self, route: ObjectRef) -> dict[tuple[ObjectRef, str], ObjectRef]:
        """Cross serving: (listener owner, listener name) → the route of the other kind whose
        intersecting hostnames got ``route`` rejected on that listener."""
        return {(key[1], key[2]): cause
                for key, cause in sorted(self._rejected.get(route, {}).items())}

    def listener_sets(self) -> list[ObjectRef]:
        """Every ListenerSet, sorted."""
        return sorted(self._topology.listener_sets)

    def namespace(self, name: str) -> NamespaceInfo:
        """The Namespace as seen, or as the API server would create it when not seen."""
        return self._topology.namespace(name)

    def listeners(self, gateway: ObjectRef) -> GatewayListeners | None:
        """A Gateway's live listeners (its own, then its accepted ListenerSets'), the
        listeners dropped for a conflict and the state of each ListenerSet asking to join."""
        return self._topology.listeners(gateway)

    def attachments(self, gateway: ObjectRef) -> dict[tuple[ObjectRef, str], list[ObjectRef]]:
        """Routes attached to each live listener of ``gateway``: (listener owner, listener
        name) → sorted routes. A listener no route attaches to is absent."""
        state = self._topology.listeners(gateway)
        if state is None:
            return {}
        referring = set(self._routes_by_target.get(gateway, ()))
        for ls in self._topology.listener_sets_of(gateway):
            referring |= self._routes_by_target.get(ls, set())
        out: dict[tuple[ObjectRef, str], set[ObjectRef]] = {}
        for ref in referring:
            for st in self._status.get(ref, ()):
                if st.gateway != gateway:
                    continue
                for att in st.attached:
                    out.setdefault((att.listener.owner, att.listener.name), set()).add(ref)
        return {key: sorted(refs) for key, refs in sorted(out.items())}

    def explain(self, *, gateway: ObjectRef, port: int, protocol: str,
                request: Request, sni: str | None = None) -> explaining.Explanation:
        """Who serves ``request`` at ``gateway``:``port``, and why (see
        :func:`gwwatch.engine.explain.explain`)."""
        return explaining.explain(self, gateway=gateway, port=port, protocol=protocol,
                                  request=request, sni=sni)

    # --- changes ---------------------------------------------------------------------------

    def upsert(self, obj: Parsed) -> Diff:
        """Add or replace one parsed object (an :class:`Invalid` replaces a valid version)."""
        if isinstance(obj, Invalid):
            ref = ObjectRef(obj.kind, obj.namespace, obj.name)
            if not obj.name:  # nothing names it (no metadata, not a mapping): its source does
                self._invalid[_key_of(obj)] = obj
                return Diff((), (), ())
            d = self._change(ref, None)
            self._invalid[ref] = obj
            return d
        ref = _ref_of(obj)
        self._invalid.pop(ref, None)
        return self._change(ref, obj)

    def delete(self, ref: ObjectRef) -> Diff:
        """Forget an object; for a Namespace the ref is ``ObjectRef("Namespace", "", name)``."""
        self._invalid.pop(ref, None)
        return self._change(ref, None)

    def claims(self, gateway: ObjectRef, port: int, kind: str) -> list[Claim]:
        index = self._arenas.get((gateway, port, kind))
        if index is None:
            return []
        return [c for bucket in index.by_host.values() for c in bucket]

    def claimed_under(self, hostname: str) -> int:
        """How many hostnames routes hold on listeners that ``hostname`` covers (itself
        included; ``ANY``: all of them): the slices a change claiming ``hostname`` has analysed
        again, so what it costs (the admission webhook bounds its decisions by this)."""
        if hostname == hostnames.ANY:
            return len(self._global.by_host)
        if hostnames.is_wildcard(hostname):
            return len(self._global.by_suffix.get(hostnames.base(hostname), ()))
        return 1 if hostname in self._global.by_host else 0

    def tenant(self, namespace: str) -> str:
        """The name of the tenant ``namespace`` belongs to: its tenant label's value, else the
        namespace's name (``ns:NAME`` while a label value is spelled ``NAME``)."""
        return self._tenants.name(self._topology.namespace(namespace))

    def owner(self, hostname: str, arena: Arena | None = None) -> ownership.Owner | None:
        """Who owns ``hostname`` by the first rule that applies: a platform claim, an
        annotation claim, else the oldest route claiming it. Where the annotation claim and the
        oldest route disagree, findings follow both (:meth:`owners`).

        A route without hostnames on a listener without one (``ANY``: a catch-all, or any
        TCPRoute/UDPRoute) claims no hostname in particular: it owns only ``ANY`` itself, and
        only among the routes of its own arena (Gateway, port, kind).
        """
        self._refresh_claims()
        for claims in (self._file_claims, self._annotation_claims):
            found = claims.owner(hostname)
            if found is not None:
                return found
        return self._evidence(hostname, arena)

    def owners(self, hostname: str, arena: Arena | None = None) -> ownership.Readings:
        """The owners ``hostname``'s findings are computed for: the platform claim alone; else
        the annotation claim and the oldest route, both when they disagree (contested)."""
        self._refresh_claims()
        platform = self._file_claims.owner(hostname)
        if platform is not None:
            return ownership.Readings((platform,))
        return ownership.readings(None, self._annotation_claims.owner(hostname),
                                  self._evidence(hostname, arena))

    def _evidence(self, hostname: str, arena: Arena | None) -> ownership.Owner | None:
        """The tenant of the oldest route claiming ``hostname``."""
        if hostname == hostnames.ANY:
            index = self._arenas.get(arena) if arena is not None else None
            candidates: Iterable[Claim] = index.by_host.get(hostname, ()) if index else ()
        else:
            candidates = (c for c in self._global.covering(hostname)
                          if c.hostname != hostnames.ANY)
        oldest: tuple[object, Claim] | None = None
        for claim in candidates:
            route = self._routes[claim.route]
            key = age_key(route.created, route.ref)
            if oldest is None or key < oldest[0]:  # type: ignore[operator]
                oldest = (key, claim)
        if oldest is None:
            return None
        route_ref = oldest[1].route
        return ownership.Owner(self.tenant(route_ref.namespace), "oldest route", str(route_ref))

    def shares(self, owner_tenant: str, other_tenant: str) -> bool:
        """Whether a namespace of the owner's tenant lists ``other_tenant`` in shared-with."""
        self._refresh_claims()
        return other_tenant.lower() in self._sharing.get(owner_tenant, ())

    # --- change propagation ----------------------------------------------------------------

    def _change(self, ref: ObjectRef, obj: Parsed | None) -> Diff:
        dirty: set[Slice] = set()
        gateways: set[ObjectRef] = set()
        reattach: set[ObjectRef] = set()
        hosts: set[str] = set()
        if ref.kind in ROUTE_KINDS:
            reattach.add(ref)
            self._put_route(ref, obj if isinstance(obj, Route) else None)
        elif ref.kind == "Gateway":
            gateways |= self._topology.put_gateway(ref, obj if isinstance(obj, Gateway) else None)
        elif ref.kind == "GatewayClass":
            gateways |= self._topology.put_class(
                ref.name, obj if isinstance(obj, GatewayClass) else None)
        elif ref.kind == "ListenerSet":
            gateways |= self._topology.put_listener_set(
                ref, obj if isinstance(obj, ListenerSet) else None)
            reattach |= self._routes_by_target.get(ref, set())
        elif ref.kind == "Namespace":
            old = self._topology.namespaces.get(ref.name)
            new = obj if isinstance(obj, NamespaceInfo) else None
            tenant_before = self.tenant(ref.name)
            gateways |= self._topology.put_namespace(ref.name, new)
            renamed = self._tenants.put(old, new)
            hosts |= self._namespace_hosts(old) | self._namespace_hosts(new)
            hosts |= self._sharing_hosts(ref.name, tenant_before, old, new)
            self._claims_stale = True
            self._cross_all = True  # owners, tenants and opt-ins the findings name may change
            # An unlabelled namespace spelled like a label value that came or went is named
            # differently now: whatever names its tenant is said again, and the file's claims
            # and the opt-ins that name it by that spelling may mean another tenant.
            for name in {ref.name} | renamed:
                reattach |= self._routes_by_ns.get(name, set())
                gateways |= {gw for gw in self._topology.gateways if gw.namespace == name}
            for name in renamed:
                hosts |= self._namespace_hosts(self._topology.namespaces.get(name))
                hosts |= self._file_hosts.get(name, set())
            if renamed and self._file_hosts:
                self._file_claims_stale = True
        for gw in gateways:
            reattach |= self._routes_by_target.get(gw, set())
            for ls in self._topology.listener_sets_of(gw):
                reattach |= self._routes_by_target.get(ls, set())
        for route_ref in reattach:
            for claim in self._claims_by_route.get(route_ref, ()):
                hosts.add(claim.hostname)
                gateways.add(claim.arena[0])
            self._reattach(route_ref)
            for claim in self._claims_by_route.get(route_ref, ()):
                hosts.add(claim.hostname)
                gateways.add(claim.arena[0])
        if self._deferred is None:
            self._resolve_cross(gateways, hosts)
        if self._deferred is not None:
            self._deferred[1].update(gateways)
            self._deferred[2].update(hosts)
            return Diff((), (), ())
        for h in hosts:
            dirty |= self._slices_under(h)
        return self._reanalyse(dirty, gateways, hosts)

    def load(self, objects: Iterable[Parsed]) -> Diff:
        """Upsert many objects, analysing once at the end (a cold start or a re-list)."""
        return self.apply(objects, ())

    def apply(self, upserts: Iterable[Parsed] = (), deletes: Iterable[ObjectRef] = ()) -> Diff:
        """One batch: ``deletes`` first, then ``upserts``, analysed once at the end.

        The diff is the one of the batch as a whole (a finding that comes and goes inside it is
        not reported). The cyclic garbage collector is paused meanwhile: the graph is millions
        of small acyclic objects, and generation-2 passes over them cost 40 % of a 100k-route
        load.
        """
        if self._deferred is not None:
            raise RuntimeError("apply() inside a batch")
        collecting = gc.isenabled()
        gc.disable()
        self._deferred = (set(), set(), set())
        try:
            for ref in deletes:
                self.delete(ref)
            for obj in upserts:
                self.upsert(obj)
            _, gateways, hosts = self._deferred
            self._deferred = None
            self._resolve_cross(gateways, hosts)
            dirty: set[Slice] = set()
            for h in hosts:
                dirty |= self._slices_under(h)
            return self._reanalyse(dirty, gateways, hosts)
        finally:
            self._deferred = None
            if collecting:
                gc.enable()

    def what_if(self, upserts: Iterable[Parsed] = (), deletes: Iterable[ObjectRef] = ()) -> Diff:
        """The findings that :meth:`apply` of this batch would add, remove and change, leaving
        the graph as it was: the batch is applied, then the objects it replaced are put back,
        each step incremental (the cost of two changes, not of a full analysis)."""
        if self._deferred is not None:
            raise RuntimeError("what_if() inside a batch")
        upserts = list(upserts)
        deletes = list(deletes)
        prior: dict[ObjectRef, Parsed | None] = {}
        for ref in (*deletes, *(_key_of(obj) for obj in upserts)):
            if ref not in prior:
                prior[ref] = self._current(ref)
        try:
            return self.apply(upserts, deletes)
        finally:
            self.apply([obj for obj in prior.values() if obj is not None],
                       [ref for ref, obj in prior.items() if obj is None])

    def _current(self, ref: ObjectRef) -> Parsed | None:
        """The object the graph holds under ``ref`` (as :meth:`upsert` keys it), if any."""
        invalid = self._invalid.get(ref)
        if invalid is not None:
            return invalid
        if ref.kind == "Gateway":
            return self._topology.gateways.get(ref)
        if ref.kind == "ListenerSet":
            return self._topology.listener_sets.get(ref)
        if ref.kind == "GatewayClass":
            return self._topology.classes.get(ref.name)
        if ref.kind == "Namespace":
            return self._topology.namespaces.get(ref.name)
        return self._routes.get(ref)

    def _put_route(self, ref: ObjectRef, route: Route | None) -> None:
        old = self._routes.pop(ref, None)
        if old is not None:
            for pr in old.parent_refs:
                self._routes_by_target.get(pr.target, set()).discard(ref)
            self._routes_by_ns.get(ref.namespace, set()).discard(ref)
        if route is not None:
            self._routes[ref] = route
            for pr in route.parent_refs:
                self._routes_by_target.setdefault(pr.target, set()).add(ref)
            self._routes_by_ns.setdefault(ref.namespace, set()).add(ref)

    def _reattach(self, ref: ObjectRef) -> None:
        route = self._routes.get(ref)
        raw = attach(route, self._topology) if route is not None else ()
        if route is None:
            self._raw_status.pop(ref, None)
        else:
            self._raw_status[ref] = raw
        if ref.kind in _CROSS_KINDS:
            members: dict[ListenerKey, list[str]] = {}
            for st in raw:
                for att in st.attached:
                    if att.listener.gateway is not None:
                        hosts = members.setdefault(_listener_key(att.listener), [])
                        hosts += [h for h in att.hostnames if h not in hosts]
            old_keys = self._cross_keys_of.pop(ref, frozenset())
            for key in old_keys:
                on = self._cross_members.get(key)
                if on is not None:
                    on.pop(ref, None)
                    if not on:
                        del self._cross_members[key]
            for key, hosts in members.items():
                self._cross_members.setdefault(key, {})[ref] = tuple(hosts)
            if members:
                self._cross_keys_of[ref] = frozenset(members)
            self._cross_pending |= old_keys | set(members)
            self._cross_touched.add(ref)
        self._install(ref)

    def _install(self, ref: ObjectRef) -> None:
        """The route's statuses and claims: what attach() said, less the listeners that reject
        it for cross serving."""
        self._drop_claims(ref)
        route = self._routes.get(ref)
        if route is None:
            self._status.pop(ref, None)
            return
        statuses = self._raw_status.get(ref, ())
        rejected = self._rejected.get(ref)
        if rejected:
            statuses = tuple(_without(st, rejected) for st in statuses)
        self._status[ref] = statuses
        claims: list[Claim] = []
        for st in statuses:
            for att in st.attached:
                if att.listener.gateway is None:
                    continue
                for h in att.hostnames:
                    claim = Claim(ref, att.listener, h)
                    if claim not in claims:
                        claims.append(claim)
        for claim in claims:
            key = (claim.arena[0], claim.listener.owner, claim.listener.name)
            self._listener_namespaces.setdefault(key, Counter())[ref.namespace] += 1
            self._arenas.setdefault(claim.arena, _HostIndex()).add(claim)
            self._global.add(claim)
            self._arenas_by_host.setdefault(claim.hostname, Counter())[claim.arena] += 1
        self._claims_by_route[ref] = tuple(claims)

    def _drop_claims(self, ref: ObjectRef) -> None:
        for claim in self._claims_by_route.pop(ref, ()):
            key = (claim.arena[0], claim.listener.owner, claim.listener.name)
            per_ns = self._listener_namespaces[key]
            per_ns[ref.namespace] -= 1
            if per_ns[ref.namespace] <= 0:
                del per_ns[ref.namespace]
            if not per_ns:
                del self._listener_namespaces[key]
            self._arenas[claim.arena].remove(claim)
            if not self._arenas[claim.arena].by_host:
                del self._arenas[claim.arena]
            self._global.remove(claim)
            counter = self._arenas_by_host[claim.hostname]
            counter[claim.arena] -= 1
            if counter[claim.arena] <= 0:
                del counter[claim.arena]
            if not counter:
                del self._arenas_by_host[claim.hostname]

    def _resolve_cross(self, gateways: set[ObjectRef], hosts: set[str]) -> None:
        """Cross serving on every listener whose HTTPRoutes or GRPCRoutes changed: which routes
        it rejects, and the claims of each route whose rejection changed (their hostnames and
        Gateways join ``hosts`` and ``gateways``, for analysis).

        A listener carrying one kind only rejects nothing and costs a look-up; one carrying
        both costs a pass over its routes, oldest first (linear in them, times their hostnames).
        """
        pending, self._cross_pending = self._cross_pending, set()
        touched, self._cross_touched = self._cross_touched, set()
        for key in pending:
            members = self._cross_members.get(key, {})
            new = _cross_rejections(members, self._routes) if len(
                {ref.kind for ref in members}) > 1 else {}
            old = self._rejections.pop(key, {})
            if new:
                self._rejections[key] = new
            for ref in {*old, *new}:
                cause = new.get(ref)
                if cause != old.get(ref) or ref in touched or cause in touched:
                    # its finding names these routes' hostnames: say it again
                    self._cross_changed.add((key, ref))
                    self._index_cross_names((key, ref), members.get(ref, ()) if cause else ())
                if old.get(ref) == cause:
                    continue
                per_route = self._rejected.setdefault(ref, {})
                if ref in new:
                    per_route[key] = new[ref]
                else:
                    per_route.pop(key, None)
                if not per_route:
                    del self._rejected[ref]
                for claim in self._claims_by_route.get(ref, ()):
                    hosts.add(claim.hostname)
                    gateways.add(claim.arena[0])
                if ref in self._routes:
                    self._install(ref)
                for claim in self._claims_by_route.get(ref, ()):
                    hosts.add(claim.hostname)
                    gateways.add(claim.arena[0])
                hosts.update(members.get(ref, ()))

    def _index_cross_names(self, pair: CrossPair, names: tuple[str, ...]) -> None:
        old = self._cross_names.pop(pair, ())
        if names:
            self._cross_names[pair] = names
        for h in set(old) - set(names):
            pairs = self._cross_pairs_by_name[h]
            pairs.discard(pair)
            if not pairs:
                del self._cross_pairs_by_name[h]
        for h in set(names) - set(old):
            self._cross_pairs_by_name.setdefault(h, set()).add(pair)

    def _cross_keys(self, hosts: Iterable[str]) -> set[CrossPair]:
        """(listener, rejected route) pairs whose cross-serving findings name a hostname that
        one of ``hosts`` intersects: their owner may have changed."""
        if self._cross_all:
            self._cross_all = False
            return {(key, ref) for key, rejected in self._rejections.items() for ref in rejected}
        by_name = self._cross_pairs_by_name
        if not by_name:
            return set()
        out: set[CrossPair] = set()
        for h in hosts:
            for c in hostnames.covering(h):  # names that cover h (h itself included)
                out |= by_name.get(c, set())
            if hostnames.is_wildcard(h) or h == hostnames.ANY:  # names that h covers
                for name, pairs in by_name.items():
                    if hostnames.covers(h, name):
                        out |= pairs
        return out

    def _slices_under(self, hostname: str) -> set[Slice]:
        """Every slice whose hostname ``hostname`` covers, in every arena (ownership is global)."""
        out: set[Slice] = set()
        for h in self._global.covered(hostname) | {hostname}:
            for arena in self._arenas_by_host.get(h, ()):
                out.add((arena, h))
            for arena_h in self._stale_slices(h):
                out.add(arena_h)
        return out

    def _stale_slices(self, hostname: str) -> Iterable[Slice]:
        # Slices that had findings but whose hostname has just left every arena.
        return list(self._slices_by_host.get(hostname, ()))

    def _namespace_hosts(self, ns: NamespaceInfo | None) -> set[str]:
        if ns is None:
            return set()
        out = set(ownership.parse_list(ns.annotations.get(ownership.HOSTNAMES_ANNOTATION)))
        for route_ref in self._routes_by_ns.get(ns.name, ()):
            out |= {c.hostname for c in self._claims_by_route.get(route_ref, ())}
        return out

    def _sharing_hosts(self, namespace: str, tenant_before: str, old: NamespaceInfo | None,
                       new: NamespaceInfo | None) -> set[str]:
        """Hostnames whose findings a namespace's opt-in can lower: those of every namespace of
        its tenant, before and after, when what it shares, or with whom, changed."""
        listed_old = _shared_with(old)
        listed_new = _shared_with(new)
        tenant_after = self.tenant(namespace)
        if listed_old == listed_new and (not listed_new or tenant_before == tenant_after):
            return set()
        out: set[str] = set()
        for t in {tenant_before, tenant_after}:
            for member in self._tenants.namespaces(t) | {namespace}:
                for route_ref in self._routes_by_ns.get(member, ()):
                    out |= {c.hostname for c in self._claims_by_route.get(route_ref, ())}
        return out

    def _build_file_claims(self) -> ownership.Claims:
        return ownership.Claims.build(
            "ownership file",
            ((self._tenants.canonical(t), h.lower())
             for t, hs in self._policy.ownership.items() for h in hs),
        )

    def _refresh_claims(self) -> None:
        if not self._claims_stale:
            return
        self._claims_stale = False
        if self._file_claims_stale:
            self._file_claims_stale = False
            self._file_claims = self._build_file_claims()
        self._sharing = {}
        for ns in self._topology.namespaces.values():
            listed = _shared_with(ns)
            if listed:
                self._sharing.setdefault(self.tenant(ns.name), set()).update(
                    self._tenants.canonical(t).lower() for t in listed)
        pairs: list[tuple[str, str]] = []
        if self._policy.trust_annotations:
            for ns in self._topology.namespaces.values():
                tenant = self.tenant(ns.name)
                for pattern in ownership.parse_list(
                    ns.annotations.get(ownership.HOSTNAMES_ANNOTATION)
                ):
                    pairs.append((tenant, pattern))
        self._annotation_claims = ownership.Claims.build("namespace annotation", pairs)

    # --- analysis --------------------------------------------------------------------------

    def _reanalyse(self, dirty: set[Slice], gateways: set[ObjectRef], hosts: set[str]) -> Diff:
        before: list[Finding] = []
        after: list[Finding] = []
        for sl in dirty:
            old = self._slices.pop(sl, ())
            before.extend(old)
            self._slices_by_host.get(sl[1], set()).discard(sl)
            new = tuple(self._analyse_slice(*sl))
            if new:
                self._slices[sl] = new
                self._slices_by_host.setdefault(sl[1], set()).add(sl)
            after.extend(new)
        posture_keys: set[tuple[str, object]] = {("gateway", gw) for gw in gateways}
        posture_keys |= {("hostname", h) for h in hosts if not hostnames.is_wildcard(h)}
        # whose owner can have changed: every hostname analysed again, and every one named
        # by the change (a hostname whose last route went has no slice left)
        posture_keys |= {("contested", h) for h in {sl[1] for sl in dirty} | hosts
                         if h != hostnames.ANY}
        posture_keys.add(("claims", None))
        cross = self._cross_changed | self._cross_keys(hosts | {sl[1] for sl in dirty})
        self._cross_changed = set()
        posture_keys |= {("cross", key) for key in cross}
        for key in posture_keys:
            before.extend(self._posture.pop(key, ()))
            new = tuple(self._analyse_posture(key))
            if new:
                self._posture[key] = new
            after.extend(new)
        d = diff(before, after)
        for f in d.removed:
            self._forget(f.identity)
        # an identity can move between slices: keep whatever the new analysis produced
        for f in after:
            self._remember(f)
        return d

    def _remember(self, f: Finding) -> None:
        identity = f.identity
        self._findings[identity] = f
        for ref in (f.route, f.other):
            if ref is not None:
                self._findings_by_route.setdefault(ref, {})[identity] = f

    def _forget(self, identity: tuple[object, ...]) -> None:
        f = self._findings.pop(identity, None)
        if f is None:
            return
        for ref in (f.route, f.other):
            if ref is None:
                continue
            found = self._findings_by_route.get(ref)
            if found is not None:
                found.pop(identity, None)
                if not found:
                    del self._findings_by_route[ref]

    def _analyse_slice(self, arena: Arena, hostname: str) -> list[Finding]:
        index = self._arenas.get(arena)
        if index is None or hostname not in index.by_host:
            return []
        gateway, port, kind = arena
        state = self._topology.listeners(gateway)
        if state is None:
            return []
        traffic = _TRAFFIC_PROTOCOLS[kind]
        fitting = [li for li in state.on_port(port) if li.protocol in traffic]
        listener = conflicts.choose_listener(fitting, hostname)
        if listener is None:
            return []
        if kind in _UNISOLATED_KINDS and not self._topology.isolated(gateway):
            return self._analyse_unisolated(arena, hostname, listener, fitting, index)
        contenders = [
            (c.hostname, self._routes[c.route])
            for c in index.covering(hostname)
            if c.listener == listener
        ]
        reached = {route.ref for _, route in contenders}
        elsewhere = {c.route: c.listener for c in index.by_host[hostname]
                     if c.listener != listener and c.route not in reached}
        unreachable = conflicts.unreachable_claims(
            claims=[(ref, li, self.tenant(ref.namespace)) for ref, li in sorted(
                elsewhere.items(), key=lambda item: item[0])],
            gateway=gateway, hostname=hostname, listener=listener)
        stranded: dict[ObjectRef, Claim] = {}  # routes whose requests for hostname go elsewhere
        if contenders and len(state.on_port(port)) > 1:
            for c in index.covering(hostname):
                if c.listener != listener and c.route not in reached and c.route not in stranded:
                    stranded[c.route] = c  # covering() yields the most specific claim first
        alone = len({route.ref for _, route in contenders}) < 2  # contests nothing
        if not stranded and alone:
            return unreachable
        # One analysis per reading of who owns the hostname: two when it is contested.
        by_reading: list[list[Finding]] = []
        for owner in self.owners(hostname, arena).owners or (None,):
            found: list[Finding] = []
            if stranded:
                found += conflicts.listener_hijacks(
                    kind=kind, gateway=gateway, listener=listener, hostname=hostname,
                    contenders=contenders, owner=owner, tenant=self.tenant,
                    intra_tenant_severity=self._intra_tenant_severity,
                    shares=self.shares, stranded=[(self._routes[ref], c.listener, c.hostname)
                                                  for ref, c in sorted(stranded.items())])
            if not alone:
                found += conflicts.analyse_slice(
                    kind=kind, gateway=gateway, listener=listener.name,
                    listener_owner=listener.owner, hostname=hostname,
                    contenders=contenders, owner=owner, tenant=self.tenant,
                    shares=self.shares, intra_tenant_severity=self._intra_tenant_severity,
                )
            by_reading.append(found)
        return unreachable + conflicts.merge_readings(by_reading)

    def _analyse_unisolated(self, arena: Arena, hostname: str, listener: Listener,
                            fitting: list[Listener], index: _HostIndex) -> list[Finding]:
        """A slice at a Gateway whose implementation does not claim listener isolation: the
        routes of every listener on the port whose hostname covers ``hostname`` may serve its
        requests, so they compete in one precedence order (no route is ListenerShadowed; one
        on a less specific listener can hijack the owner's on the most specific one)."""
        gateway, _, kind = arena
        reach = {li for li in fitting
                 if hostnames.covers(li.hostname or hostnames.ANY, hostname)}
        contenders: list[tuple[str, Route]] = []
        seen: set[ObjectRef] = set()
        for c in index.covering(hostname):  # the most specific claim of each route first
            if c.listener in reach and c.route not in seen:
                seen.add(c.route)
                contenders.append((c.hostname, self._routes[c.route]))
        if len(contenders) < 2:
            return []
        by_reading: list[list[Finding]] = []
        for owner in self.owners(hostname, arena).owners or (None,):
            by_reading.append(conflicts.analyse_slice(
                kind=kind, gateway=gateway, listener=listener.name,
                listener_owner=listener.owner, hostname=hostname,
                contenders=contenders, owner=owner, tenant=self.tenant,
                shares=self.shares, intra_tenant_severity=self._intra_tenant_severity,
            ))
        found = conflicts.merge_readings(by_reading)
        if len(reach) < 2:
            return found
        # say why routes of other listeners take part: the message is what users act on
        note = " (" + self._topology.features(gateway).assumptions[0] + ": " + ", ".join(
            f"listener {conflicts.safe(li.name)} ({conflicts.safe(li.hostname or 'no hostname')})"
            for li in sorted(reach, key=lambda li: (li.owner, li.name))) + ")"
        return [replace(f, message=f.message + note) for f in found]

    def _analyse_cross(self, pair: CrossPair) -> list[Finding]:
        """Cross-serving findings of one route rejected on one listener: per hostname it shares
        with the route that got it rejected."""
        key, ref = pair
        cause = self._rejections.get(key, {}).get(ref)
        state = self._topology.listeners(key[0])
        if cause is None or state is None:
            return []
        listener = next((li for li in state.live if (li.owner, li.name) == key[1:]), None)
        if listener is None:
            return []
        members = self._cross_members.get(key, {})
        out: list[Finding] = []
        shared = sorted({both for a in members.get(ref, ()) for b in members.get(cause, ())
                         if (both := hostnames.intersect(a, b)) is not None})
        for h in shared:
            arena = (key[0], listener.port, ref.kind)
            readings = [
                conflicts.cross_serving(
                    gateway=key[0], listener=listener, hostname=h,
                    rejected=self._routes[ref], cause=self._routes[cause], owner=owner,
                    tenant=self.tenant, shares=self.shares,
                    intra_tenant_severity=self._intra_tenant_severity)
                for owner in self.owners(h, arena).owners or (None,)]
            # a contested owner: the reading that finds a Hijack says all there is
            hijacks = [f for f in readings if f.kind == FindingKind.HIJACK]
            out += conflicts.merge_readings([[f] for f in hijacks or readings])
        return out

    def _analyse_posture(self, key: tuple[str, object]) -> list[Finding]:
        what, subject = key
        if what == "cross":
            return self._analyse_cross(subject)  # type: ignore[arg-type]
        if what == "gateway":
            assert isinstance(subject, ObjectRef)
            state = self._topology.listeners(subject)
            if state is None:
                return []
            tenants_by_listener: dict[tuple[ObjectRef, str], set[str]] = {}
            for li in state.live:
                per_ns = self._listener_namespaces.get((subject, li.owner, li.name))
                if per_ns:
                    tenants_by_listener[(li.owner, li.name)] = {self.tenant(ns) for ns in per_ns}
            return conflicts.gateway_posture(
                gateway=subject, listeners=state.live, tenants_by_listener=tenants_by_listener,
                gateway_tenant=self.tenant(subject.namespace),
            )
        if what == "contested":
            assert isinstance(subject, str)
            if subject not in self._global.by_host:  # no route holds it: nothing to contest
                return []
            self._refresh_claims()
            claimed = self._annotation_claims.owner(subject)
            if claimed is None or claimed.tenant is None:  # only a claim can contest (cheap)
                return []
            found = self.owners(subject)
            if not found.contested:
                return []
            claimed, evidence = found.owners
            return [conflicts.contested_claim(hostname=subject, claimed=claimed,
                                              evidence=evidence)]
        if what == "hostname":
            assert isinstance(subject, str)
            gateways: dict[ObjectRef, set[str]] = {}
            for c in self._global.by_host.get(subject, ()):
                gateways.setdefault(c.arena[0], set()).add(self.tenant(c.route.namespace))
            return conflicts.hostname_posture(
                hostname=subject, gateways=gateways, gateway_tenant=self.tenant)
        self._refresh_claims()
        return conflicts.claims_posture(
            self._file_claims if self._file_claims else self._annotation_claims)


def _listener_key(li: Listener) -> ListenerKey:
    assert li.gateway is not None
    return (li.gateway, li.owner, li.name)


def _without(st: ParentStatus, rejected: dict[ListenerKey, ObjectRef]) -> ParentStatus:
    """``st`` less the listeners that reject the route for cross serving; not accepted when
    none is left (grpcroute_types.go: "The rejected Route MUST raise an 'Accepted' condition
    with a status of 'False' in the corresponding RouteParentStatus")."""
    kept: list[Attached] = []
    causes: list[str] = []
    for att in st.attached:
        cause = rejected.get(_listener_key(att.listener)) if att.listener.gateway else None
        if cause is None:
            kept.append(att)
        else:
            causes.append(f"listener {att.listener.name}: {cause.kind} {cause}")
    if not causes:
        return st
    if kept:
        return ParentStatus(st.parent_ref, st.parent, st.gateway, st.accepted, st.reason,
                            st.message, tuple(kept))
    return ParentStatus(
        st.parent_ref, st.parent, st.gateway, False, Reason.REJECTED_BY_OTHER_KIND,
        "an older route of the other kind has intersecting hostnames on the listener ("
        + "; ".join(causes) + ")", ())


class _Names:
    """The hostnames of the routes of one kind accepted on a listener so far (oldest first),
    found by intersection."""

    __slots__ = ("by_host", "by_suffix", "first")

    def __init__(self) -> None:
        self.by_host: dict[str, ObjectRef] = {}  # hostname → the oldest route holding it
        self.by_suffix: dict[str, set[str]] = {}
        self.first: ObjectRef | None = None

    def add(self, ref: ObjectRef, names: Iterable[str]) -> None:
        if self.first is None:
            self.first = ref
        for h in names:
            if h not in self.by_host:
                self.by_host[h] = ref
                for parent in hostnames.parents(h):
                    self.by_suffix.setdefault(parent, set()).add(h)

    def intersecting(self, h: str) -> Iterator[ObjectRef]:
        """Routes holding a hostname that intersects ``h``."""
        if h == hostnames.ANY:
            if self.first is not None:
                yield self.first  # the oldest of all: every hostname intersects ANY
            return
        for c in hostnames.covering(h):
            found = self.by_host.get(c)
            if found is not None:
                yield found
        if hostnames.is_wildcard(h):
            for name in self.by_suffix.get(hostnames.base(h), ()):
                yield self.by_host[name]


def _cross_rejections(members: dict[ObjectRef, tuple[str, ...]],
                      routes: dict[ObjectRef, Route]) -> dict[ObjectRef, ObjectRef]:
    """Cross serving on one listener (grpcroute_types.go, GRPCRouteSpec.Hostnames): of an
    HTTPRoute and a GRPCRoute whose hostnames there intersect, the implementation "MUST accept
    exactly one", the oldest, then the first by namespace/name. Routes are taken oldest first;
    one is rejected when an accepted route of the other kind intersects it (a route that is
    itself rejected rejects nothing). Rejected → the oldest accepted route that caused it."""
    order = sorted(members, key=lambda r: age_key(routes[r].created, r))
    rank = {ref: i for i, ref in enumerate(order)}
    last = {ref.kind: i for i, ref in enumerate(order)}  # the newest route of each kind
    accepted = {RouteKind.HTTP.value: _Names(), RouteKind.GRPC.value: _Names()}
    out: dict[ObjectRef, ObjectRef] = {}
    for i, ref in enumerate(order):
        other_kind = RouteKind.GRPC if ref.kind == RouteKind.HTTP else RouteKind.HTTP
        other = accepted[other_kind]
        cause: ObjectRef | None = None
        if other.first is not None:  # nothing to intersect until the other kind has a route
            for h in members[ref]:
                for found in other.intersecting(h):
                    if cause is None or rank[found] < rank[cause]:
                        cause = found
        if cause is not None:
            out[ref] = cause
        elif i < last.get(other_kind, -1):  # only a newer route of the other kind asks
            accepted[ref.kind].add(ref, members[ref])
    return out


def _shared_with(ns: NamespaceInfo | None) -> tuple[str, ...]:
    if ns is None:
        return ()
    return ownership.parse_list(ns.annotations.get(ownership.SHARED_WITH_ANNOTATION))


def _ref_of(obj: Gateway | GatewayClass | ListenerSet | Route | NamespaceInfo) -> ObjectRef:
    if isinstance(obj, NamespaceInfo):
        return ObjectRef("Namespace", "", obj.name)
    return obj.ref


def _key_of(obj: Parsed) -> ObjectRef:
    """The key :meth:`ConflictGraph.upsert` files ``obj`` under."""
    if isinstance(obj, Invalid):
        name = obj.name or f"<{obj.source}>"
        return ObjectRef(obj.kind, obj.namespace, name)
    return _ref_of(obj)


def analyse(objects: Iterable[Parsed], policy: ownership.Policy | None = None) -> ConflictGraph:
    """A graph built from scratch: Namespaces and parents first, routes last (one pass each)."""
    graph = ConflictGraph(policy)
    order = {NamespaceInfo: 0, GatewayClass: 1, Gateway: 1, ListenerSet: 2, Route: 3,
             Invalid: 4}
    graph.load(sorted(objects, key=lambda o: order[type(o)]))
    return graph
