"""Findings from one slice of request space, and posture findings from Gateways and claims.

Pure functions over what the graph hands them; the graph decides *when* to call them.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Final

from gwwatch.engine import hostnames, precedence, regex
from gwwatch.engine.findings import Finding
from gwwatch.engine.model import Listener, Match, ObjectRef, Route
from gwwatch.engine.ownership import Claims, Owner
from gwwatch.engine.precedence import Candidate, Comparison
from gwwatch.engine.vocabulary import (
    HOSTNAME_KINDS,
    HOSTNAME_PROTOCOLS,
    FindingKind,
    Protocol,
    Reason,
    RouteKind,
    Severity,
    age_key,
    severity_rank,
)

__all__ = [
    "analyse_slice",
    "choose_listener",
    "claims_posture",
    "contested_claim",
    "cross_serving",
    "describe_basis",
    "gateway_posture",
    "hostname_posture",
    "listener_hijacks",
    "merge_readings",
    "safe",
    "unreachable_claims",
]

_FIELD_LIMIT: Final = 256
_NAME_LABEL: Final = "kubernetes.io/metadata.name"
_REGEX_NOTE: Final = " (may overlap: RegularExpression precedence is implementation-specific)"
_BOUNDED_NOTE: Final = " (may overlap: analysis bounded)"
_HTTP: Final = RouteKind.HTTP
_GRPC: Final = RouteKind.GRPC
# The work one phase of one slice's analysis may do (see _Slice): a fixed allowance plus a
# share per match, so the bound grows linearly with the slice, never with its square.
_BUDGET_BASE: Final = 20_000
_BUDGET_PER_MATCH: Final = 32
_SCAN_PER_OP: Final = 16  # positions listed per unit of work
_REGEX_STEPS_PER_OP: Final = 4  # automaton steps per unit of work
_COARSE_VICTIMS: Final = 16  # owner's matches a bounded analysis tries per route
_HOSTNAME_NOTE: Final = (
    " (hostname precedence taken from the hostname the route gets on the listener; "
    "upstream gateway-api issue 5120 is still open)"
)


def safe(text: object, limit: int = _FIELD_LIMIT) -> str:
    """Tenant-supplied text made inert for a message: one line, printable, bounded."""
    value = str(text)
    if not value.isprintable():
        value = "".join(ch if ch.isprintable() else "?" for ch in value)
    return value if len(value) <= limit else value[: limit - 3] + "..."


def _route(ref: ObjectRef) -> str:
    return f"{ref.kind} {safe(ref)}"


def _ownership(owner: Owner) -> str:
    """How ``owner`` came to own the hostname, and what contests it, for a message."""
    text = f"{owner.rule} {safe(owner.claim)}"
    if owner.contested:
        text += f"; contested: {safe(owner.contested, 2 * _FIELD_LIMIT)}"
    return text


def _listener_rank(li: Listener) -> tuple[tuple[int, int], bool, str, str, str]:
    # Most specific hostname first; on a tie (only a TLS and an HTTPS listener for one hostname
    # can tie: any other pair on a port conflicts) the TLS listener, whose routes compete for
    # the SNI's traffic as TLSRoutes; then by owner and name, never by list order.
    spec = hostnames.specificity(li.hostname or hostnames.ANY)
    return ((-spec[0], -spec[1]), li.protocol != Protocol.TLS, li.owner.namespace,
            li.owner.name, li.name)


def choose_listener(listeners: Iterable[Listener], hostname: str | None) -> Listener | None:
    """The listener that requests for ``hostname`` reach: the most specific that covers it.

    ``hostname=None`` is a request without a hostname: only a listener without one serves it.
    The choice never depends on the order of ``listeners``.
    """
    best: Listener | None = None
    for li in listeners:
        own = li.hostname or hostnames.ANY
        fits = own == hostnames.ANY if hostname is None else hostnames.covers(own, hostname)
        if fits and (best is None or _listener_rank(li) < _listener_rank(best)):
            best = li
    return best


def _own_hostname(c: Candidate) -> str:
    """The route's own hostname behind the one it got on the listener (``ANY`` if none)."""
    own = [h for h in c.route.hostnames if hostnames.covers(h, c.hostname)]
    return max(own, key=hostnames.specificity) if own else hostnames.ANY


def _own_rank(c: Candidate) -> tuple[int, int]:
    """Hostname precedence by the route's own hostname; 0 for kinds without hostnames."""
    if c.route.kind not in HOSTNAME_KINDS:
        return (0, 0)
    own = _own_hostname(c)
    return (hostnames.precise_length(own), 0 if own == hostnames.ANY else len(own))


def describe_basis(cmp: Comparison, winner: Candidate, loser: Candidate) -> str:
    """Why ``winner`` beats ``loser``, in the words findings and ``explain`` share."""
    text = cmp.basis
    if cmp.step.startswith("path") or cmp.step in ("method", "headers", "query"):
        text += f" ({winner.match.describe()} over {loser.match.describe()})"
    elif cmp.step.startswith("hostname"):
        text += f" ({winner.hostname} over {loser.hostname})" + _HOSTNAME_NOTE
    if not cmp.step.startswith("hostname") and _own_rank(loser) > _own_rank(winner):
        # Ranked by the routes' own hostnames (gateway-api PR 5212) the loser would win.
        text += (f" (both get {safe(winner.hostname)} on the listener; by their own hostnames, "
                 f"{safe(_own_hostname(loser))} over {safe(_own_hostname(winner))}, the other "
                 f"route would win: upstream gateway-api issue 5120 is still open)")
    if cmp.implementation_specific or precedence.involves_regex(winner.match) or (
        precedence.involves_regex(loser.match)
    ):
        text += _REGEX_NOTE
    return text


class Bounded(Exception):
    """A slice's analysis went past its work budget (see :class:`_Slice`)."""


class _Slice:
    """The ranked candidates of one slice, indexed so that "which candidates can accept this
    request" and "which can overlap this match" cost the candidates that share its path (its
    gRPC service and method), not every candidate of the slice.

    HTTP candidates are bucketed by path: ``Exact`` by the path, ``PathPrefix`` by the prefix
    (a request path finds its buckets by its element-wise prefixes: one look-up per path
    segment), ``RegularExpression`` in ``loose`` (tried on every request, in RE2). gRPC
    candidates by (service, method), ``None`` for "any"; regular expressions in ``loose``.
    Kinds without matches put every candidate in ``loose``. Bucket lists hold positions in
    precedence order, so merging them yields candidates in precedence order.

    ``ops`` counts the work (candidates tried, witnesses built, automaton steps); past
    ``budget`` the analysis raises :class:`Bounded`. Answers are memoised per request.
    """

    __slots__ = (
        "budget",
        "exact",
        "exact_keys",
        "kind",
        "loose",
        "memo",
        "ops",
        "prefix",
        "prefix_keys",
        "ranked",
        "regex_steps",
        "tenant",
        "tenants",
    )

    def __init__(self, kind: str, ranked: Sequence[Candidate],
                 tenant: Callable[[str], str]) -> None:
        self.kind = kind
        self.ranked = ranked
        self.tenant = tenant
        self.tenants: dict[str, str] = {}
        self.exact: dict[object, list[int]] = {}
        self.prefix: dict[str, list[int]] = {}
        self.loose: list[int] = []
        self.memo: dict[tuple[object, ...], int | None] = {}
        self.ops = 0
        self.budget = _BUDGET_BASE + _BUDGET_PER_MATCH * len(ranked)
        self.regex_steps = regex.steps()
        for pos, c in enumerate(ranked):
            m = c.match
            if kind == _HTTP and m.path is not None and m.path_type == "Exact":
                self.exact.setdefault(m.path, []).append(pos)
            elif kind == _HTTP and m.path is not None and m.path_type == "PathPrefix":
                self.prefix.setdefault(m.path, []).append(pos)
            elif kind == _GRPC and m.grpc_type != "RegularExpression":
                self.exact.setdefault((m.service, m.method), []).append(pos)
            else:
                self.loose.append(pos)
        self.exact_keys = sorted(k for k in self.exact if isinstance(k, str))
        self.prefix_keys = sorted(self.prefix)

    def charge(self, n: int = 1) -> None:
        self.ops += n
        if self.ops > self.budget:
            raise Bounded
        steps = regex.steps()
        if steps != self.regex_steps:  # automaton work done on this slice's behalf
            self.ops += (steps - self.regex_steps) // _REGEX_STEPS_PER_OP
            self.regex_steps = steps

    def tenant_of(self, c: Candidate) -> str:
        ns = c.route.ref.namespace
        found = self.tenants.get(ns)
        if found is None:
            found = self.tenants[ns] = self.tenant(ns)
        return found

    def _merge(self, lists: list[list[int]]) -> Iterator[int]:
        lists = [x for x in lists if x]
        if len(lists) == 1:
            return iter(lists[0])
        return heapq.merge(*lists)

    def accepting(self, req: precedence.Request) -> Iterator[int]:
        """Positions that may accept ``req``, in precedence order (a superset: the caller
        asks ``precedence.applies``)."""
        if self.kind == _HTTP:
            path = req.path
            lists = [self.exact.get(path, []), self.prefix.get("/", [])]
            for i, ch in enumerate(path):
                if ch == "/" and i > 0:
                    lists.append(self.prefix.get(path[:i], []))
            if path != "/":
                lists.append(self.prefix.get(path, []))
        elif self.kind == _GRPC:
            lists = [self.exact.get(key, []) for key in {
                (req.service, req.grpc_method), (req.service, None), (None, req.grpc_method),
                (None, None)}]
        else:
            lists = []
        lists.append(self.loose)
        return self._merge(lists)

    def overlapping(self, m: Match) -> list[int]:
        """Positions whose match may share a request with ``m`` (a superset), in order."""
        if self.kind != _HTTP or m.path is None or m.path_type not in ("Exact", "PathPrefix"):
            self.charge(len(self.ranked) // _SCAN_PER_OP)
            return list(range(len(self.ranked)))
        path = m.path
        lists = [self.exact.get(path, []), self.prefix.get(path, []), self.prefix.get("/", [])]
        for i, ch in enumerate(path):
            if ch == "/" and i > 0:
                lists.append(self.prefix.get(path[:i], []))
        if m.path_type == "PathPrefix":  # what lies under the prefix
            if path == "/":
                self.charge(len(self.ranked) // _SCAN_PER_OP)
                return list(range(len(self.ranked)))
            for keys, buckets in ((self.exact_keys, self.exact), (self.prefix_keys, self.prefix)):
                lo = bisect.bisect_left(keys, path + "/")
                hi = bisect.bisect_left(keys, path + "0")  # "0" follows "/"
                for key in keys[lo:hi]:
                    lists.append(buckets[key])
        lists.append(self.loose)
        out = sorted(set(self._merge(lists)))
        self.charge(len(out) // _SCAN_PER_OP + 1)
        return out

    def first(self, req: precedence.Request, *, owner: str | None = None,
              skip: ObjectRef | None = None) -> int | None:
        """The first candidate accepting ``req`` (of tenant ``owner``, not of route ``skip``,
        when given): whom the request goes to."""
        key = (req, owner, skip)
        if key in self.memo:
            return self.memo[key]
        found = None
        for pos in self.accepting(req):
            self.charge()
            c = self.ranked[pos]
            if skip is not None and c.route.ref == skip:
                continue
            if owner is not None and self.tenant_of(c) != owner:
                continue
            if precedence.applies(self.kind, c.match, req):
                found = pos
                break
        self.memo[key] = found
        return found

    def containers(self, c: Candidate, upto: int) -> Iterator[int]:
        """Positions before ``upto`` whose match may contain ``c``'s (a superset), in order."""
        m = c.match
        if self.kind == _HTTP and m.path is not None:
            path = m.path
            lists = [self.prefix.get("/", [])]
            if m.path_type in ("Exact", "PathPrefix"):
                for i, ch in enumerate(path):
                    if ch == "/" and i > 0:
                        lists.append(self.prefix.get(path[:i], []))
                if path != "/":
                    lists.append(self.prefix.get(path, []))
                if m.path_type == "Exact":
                    lists.append(self.exact.get(path, []))
            else:
                lists.append(self.loose)
        elif self.kind == _GRPC and m.grpc_type != "RegularExpression":
            lists = [self.exact.get(key, []) for key in {
                (m.service, m.method), (m.service, None), (None, m.method), (None, None)}]
        else:
            return iter(range(upto))
        return itertools.takewhile(lambda pos: pos < upto, self._merge(lists))


def _ranked(contenders: Sequence[tuple[str, Route]]) -> list[Candidate]:
    return precedence.select(
        Candidate(route, h, ri, mi, m)
        for h, route in contenders
        for ri, rule in enumerate(route.rules)
        for mi, m in enumerate(rule.matches)
    )


def _example(won: Candidate, req: precedence.Request) -> str:
    """The request space of a finding; with a concrete request when a regex is involved."""
    space = safe(won.match.describe())
    if precedence.involves_regex(won.match) and won.route.kind == _HTTP:
        space += f" (e.g. {safe(req.path)})"
    return space


def analyse_slice(
    *,
    kind: str,
    gateway: ObjectRef,
    listener: str,
    hostname: str,
    contenders: Sequence[tuple[str, Route]],
    owner: Owner | None,
    tenant: Callable[[str], str],
    shares: Callable[[str, str], bool],
    listener_owner: ObjectRef | None = None,
    intra_tenant_severity: Severity = Severity.WARNING,
) -> list[Finding]:
    """Hijack, Shadowed and SharedHostname findings among routes contesting ``hostname``.

    ``contenders`` are (the route's hostname on the listener, route) pairs, each covering
    ``hostname``.
    """
    ranked = _ranked(contenders)
    if not ranked:
        return []
    owner_tenant = owner.tenant if owner is not None else None
    out: list[Finding] = []
    hijackers: set[ObjectRef] = set()
    where = f"on Gateway {safe(gateway)} listener {safe(listener)}"
    idx = _Slice(kind, ranked, tenant)
    tenant_of = idx.tenant_of

    # Hijack: a route outside the victim's namespace wins requests the owner's route would serve.
    # For each of the owner's matches (the victim), in precedence order, the matches ranked above
    # it that can share a request with it (the taker), in precedence order: the first witness
    # request that the taker's route wins and that the victim's route would serve in its place
    # (other intruders do not count) makes the pair a Hijack.
    if owner is not None and owner_tenant is not None:
        found: set[tuple[ObjectRef, ObjectRef]] = set()
        victims = [j for j, c in enumerate(ranked) if tenant_of(c) == owner_tenant]
        done = 0
        try:
            for done, j in enumerate(victims):  # noqa: B007 (read after a Bounded)
                victim = ranked[j]
                for i in idx.overlapping(victim.match):
                    if i >= j:
                        break
                    taker = ranked[i]
                    pair = (taker.route.ref, victim.route.ref)
                    if taker.route.ref.namespace == victim.route.ref.namespace or pair in found:
                        continue
                    idx.charge()
                    reqs = precedence.witnesses(kind, victim.match, taker.match, hostname)
                    if not reqs and _undecided(victim.match, taker.match):
                        # the automata could not tell within their budget: the taker ranks
                        # above the victim and may share requests with it, so it is reported
                        found.add(pair)
                        hijackers.add(taker.route.ref)
                        cmp = precedence.compare(taker, victim)
                        out.append(_hijack(
                            gateway=gateway, listener=listener, listener_owner=listener_owner,
                            hostname=hostname, taker=taker.route.ref, victim=victim.route.ref,
                            space=safe(taker.match.describe()), owner=owner,
                            taker_tenant=tenant_of(taker), shares=shares, where=where,
                            intra_tenant_severity=intra_tenant_severity,
                            why=(describe_basis(cmp, taker, victim)
                                 + " (may overlap: regex analysis bounded)"),
                            basis=cmp.basis))
                        continue
                    for req in reqs:
                        w = idx.first(req)
                        if w is None or ranked[w].route.ref != taker.route.ref:
                            continue
                        v = idx.first(req, owner=owner_tenant, skip=taker.route.ref)
                        if v is None or ranked[v].route.ref != victim.route.ref:
                            continue
                        won, instead = ranked[w], ranked[v]
                        found.add(pair)
                        hijackers.add(taker.route.ref)
                        cmp = precedence.compare(won, instead)
                        out.append(_hijack(
                            gateway=gateway, listener=listener, listener_owner=listener_owner,
                            hostname=hostname,
                            taker=won.route.ref, victim=instead.route.ref,
                            space=_example(won, req), owner=owner,
                            taker_tenant=tenant_of(won), shares=shares, where=where,
                            intra_tenant_severity=intra_tenant_severity,
                            why=describe_basis(cmp, won, instead), basis=cmp.basis))
                        break
        except Bounded:
            out += _coarse_hijacks(
                idx, victims[done:], found, hijackers, hostname=hostname, gateway=gateway,
                listener=listener, listener_owner=listener_owner, owner=owner, shares=shares,
                where=where, intra_tenant_severity=intra_tenant_severity)
    # Shadowed: every request a rule's match accepts goes to a stronger match of another route.
    for route_ref, rules in _shadowed(idx, hostname).items():
        for other_ref, (loser, top) in rules.items():
            same = tenant_of(loser) == tenant_of(top)
            cmp = precedence.compare(top, loser)
            out.append(Finding(
                kind=FindingKind.SHADOWED, reason=Reason.SHADOWED,
                severity=Severity.INFO if same else Severity.WARNING,
                hostname=hostname, gateway=gateway, listener=listener,
                listener_owner=listener_owner, route=route_ref,
                other=other_ref,
                message=(f"{_route(route_ref)} rule {loser.rule} ({safe(loser.match.describe())})"
                         f" can never win {safe(hostname)} {where}: {_route(other_ref)} takes all "
                         f"of it with {describe_basis(cmp, top, loser)}"),
                request_space=safe(loser.match.describe()),
                basis=cmp.basis, tenant=tenant_of(loser), other_tenant=tenant_of(top)))
    # SharedHostname: another tenant serves disjoint requests on a hostname the owner serves.
    if owner is not None and owner_tenant is not None:
        owners = [c for c in ranked if tenant_of(c) == owner_tenant]
        if owners:
            owner_route = min((c.route for c in owners), key=lambda r: age_key(r.created, r.ref))
            seen: set[ObjectRef] = set()
            idx.ops = 0
            for c in ranked:
                t = tenant_of(c)
                ref = c.route.ref
                if t == owner_tenant or ref in hijackers or ref in seen or shares(owner_tenant, t):
                    continue
                try:
                    serves = _serves(idx, c, hostname)
                except Bounded:  # past the budget, a route serving the hostname is told
                    serves = True
                if serves:
                    seen.add(ref)
                    out.append(Finding(
                        kind=FindingKind.SHARED_HOSTNAME, reason=Reason.SHARES_HOSTNAME,
                        severity=Severity.WARNING,
                        hostname=hostname, gateway=gateway, listener=listener,
                        listener_owner=listener_owner, route=ref,
                        other=owner_route.ref,
                        message=(f"{_route(ref)} (tenant {safe(t)}) serves "
                                 f"{safe(c.match.describe())} on {safe(hostname)} {where}, a "
                                 f"hostname owned by tenant {safe(owner_tenant)} (by "
                                 f"{_ownership(owner)}) whose "
                                 f"{_route(owner_route.ref)} serves the rest; no request is "
                                 f"taken, but the tenants share the hostname without an opt-in"),
                        request_space=safe(c.match.describe()), basis="disjoint request space",
                        tenant=t, other_tenant=owner_tenant, contested=owner.annotation_reading))
    return out


def listener_hijacks(
    *,
    kind: str,
    gateway: ObjectRef,
    listener: Listener,
    hostname: str,
    contenders: Sequence[tuple[str, Route]],
    stranded: Sequence[tuple[Route, Listener, str]],
    owner: Owner | None,
    tenant: Callable[[str], str],
    shares: Callable[[str, str], bool],
    intra_tenant_severity: Severity = Severity.WARNING,
) -> list[Finding]:
    """Hijacks by listener specificity: requests for ``hostname`` reach ``listener`` (the most
    specific, perhaps a ListenerSet's), so the owner's routes left on a less specific listener
    (``stranded``: route, its listener, its hostname there) lose them to whoever serves them
    on ``listener``."""
    if owner is None or owner.tenant is None:
        return []
    ranked = _ranked(contenders)
    idx = _Slice(kind, ranked, tenant)
    out: list[Finding] = []
    for victim, attached_to, victim_host in stranded:
        if tenant(victim.ref.namespace) != owner.tenant:
            continue
        why = (f"requests for {safe(hostname)} reach listener {safe(listener.name)} of "
               f"{safe(listener.owner.kind)} {safe(listener.owner)} "
               f"({safe(listener.hostname or 'no hostname')}), more specific than listener "
               f"{safe(attached_to.name)} ({safe(attached_to.hostname or 'no hostname')}) that "
               f"{_route(victim.ref)} is attached to with {safe(victim_host)}")

        def told(c: Candidate, space: str, note: str = "",
                 victim: Route = victim, why: str = why) -> Finding:
            return _hijack(
                gateway=gateway, listener=listener.name, listener_owner=listener.owner,
                hostname=hostname, taker=c.route.ref, victim=victim.ref, space=space,
                owner=owner, taker_tenant=tenant(c.route.ref.namespace), shares=shares,
                intra_tenant_severity=intra_tenant_severity,
                where=f"on Gateway {safe(gateway)}", why=why + note,
                basis="more specific listener hostname")

        taken: set[ObjectRef] = set()
        try:
            for rule in victim.rules:
                for m in rule.matches:
                    for c in (ranked[pos] for pos in idx.overlapping(m)):
                        if c.route.ref in taken or c.route.ref.namespace == victim.ref.namespace:
                            continue
                        for req in precedence.witnesses(kind, m, c.match, hostname):
                            w = idx.first(req)
                            if w is None or ranked[w].route.ref != c.route.ref:
                                continue
                            taken.add(c.route.ref)
                            out.append(told(c, _example(c, req)))
                            break
        except Bounded:  # past the budget: every other route serving there may take them
            for c in ranked:
                if c.route.ref not in taken and c.route.ref.namespace != victim.ref.namespace:
                    taken.add(c.route.ref)
                    out.append(told(c, safe(c.match.describe()), _BOUNDED_NOTE))
    return out


def unreachable_claims(
    *,
    claims: Iterable[tuple[ObjectRef, Listener, str]],
    gateway: ObjectRef,
    hostname: str,
    listener: Listener,
) -> list[Finding]:
    """Routes attached to a listener that never sees ``hostname``: a more specific one takes it."""
    out = []
    for route, attached_to, route_tenant in claims:
        out.append(Finding(
            kind=FindingKind.SHADOWED, reason=Reason.LISTENER_SHADOWED, severity=Severity.WARNING,
            hostname=hostname,
            gateway=gateway, listener=attached_to.name, listener_owner=attached_to.owner,
            route=route, other=None,
            message=(f"{_route(route)} is attached to listener {safe(attached_to.name)} of "
                     f"Gateway {safe(gateway)} with hostname {safe(hostname)}, but requests for "
                     f"{safe(hostname)} reach listener {safe(listener.name)} "
                     f"({safe(listener.hostname or 'no hostname')}), the more specific one: "
                     f"the route never receives them"),
            basis="more specific listener hostname", tenant=route_tenant))
    return out


def cross_serving(
    *,
    gateway: ObjectRef,
    listener: Listener,
    hostname: str,
    rejected: Route,
    cause: Route,
    owner: Owner | None,
    tenant: Callable[[str], str],
    shares: Callable[[str, str], bool],
    intra_tenant_severity: Severity = Severity.WARNING,
) -> Finding:
    """``rejected`` (an HTTPRoute or GRPCRoute) is not accepted on ``listener`` because the
    older ``cause``, of the other kind, shares ``hostname`` there (grpcroute_types.go,
    GRPCRouteSpec.Hostnames). A Hijack when that takes the owner's traffic: the owner's route
    is rejected because of another namespace's route; otherwise ``rejected`` is Shadowed."""
    rejected_tenant = tenant(rejected.ref.namespace)
    cause_tenant = tenant(cause.ref.namespace)
    where = (f"on listener {safe(listener.name)} of {safe(listener.owner.kind)} "
             f"{safe(listener.owner)}")
    why = (f"an HTTPRoute and a GRPCRoute whose hostnames intersect on one listener are "
           f"not both accepted: the older, {_route(cause.ref)}, is accepted and "
           f"{_route(rejected.ref)} is rejected there (Accepted=False), so none of its rules "
           f"serve on that listener")
    if (owner is not None and owner.tenant == rejected_tenant
            and cause.ref.namespace != rejected.ref.namespace):
        return _hijack(
            gateway=gateway, listener=listener.name, listener_owner=listener.owner,
            hostname=hostname, taker=cause.ref, victim=rejected.ref,
            space=f"(every {safe(rejected.kind)} request)", owner=owner,
            taker_tenant=cause_tenant, shares=shares, where=where, why=why,
            basis="older route of the other kind (cross serving)",
            intra_tenant_severity=intra_tenant_severity)
    return Finding(
        kind=FindingKind.SHADOWED, reason=Reason.REJECTED_BY_OTHER_KIND,
        severity=Severity.INFO if rejected_tenant == cause_tenant else Severity.WARNING,
        hostname=hostname, gateway=gateway, listener=listener.name,
        listener_owner=listener.owner, route=rejected.ref, other=cause.ref,
        message=(f"{_route(rejected.ref)} shares {safe(hostname)} with the older "
                 f"{_route(cause.ref)} {where} of Gateway {safe(gateway)}: {why}"),
        request_space=f"(every {safe(rejected.kind)} request)",
        basis="older route of the other kind (cross serving)",
        tenant=rejected_tenant, other_tenant=cause_tenant)


def _hijack(*, gateway: ObjectRef, listener: str, listener_owner: ObjectRef | None,
            hostname: str, taker: ObjectRef,
            victim: ObjectRef, space: str, owner: Owner, taker_tenant: str,
            shares: Callable[[str, str], bool], where: str, why: str, basis: str,
            intra_tenant_severity: Severity = Severity.WARNING) -> Finding:
    """The one way a Hijack is worded and rated, whatever decided it (``why``)."""
    owner_tenant = owner.tenant or ""
    cross = taker_tenant != owner_tenant
    shared = cross and shares(owner_tenant, taker_tenant)
    note = ""
    if not cross:
        note = " (both routes belong to one tenant)"
    elif shared:
        note = f" (tenant {safe(owner_tenant)} shares the hostname with {safe(taker_tenant)})"
    return Finding(
        kind=FindingKind.HIJACK, reason=Reason.HIJACKS_TRAFFIC,
        severity=(intra_tenant_severity if not cross
                  else Severity.WARNING if shared else Severity.CRITICAL),
        hostname=hostname,
        gateway=gateway, listener=listener, listener_owner=listener_owner, route=taker,
        other=victim,
        message=(f"{_route(taker)} (tenant {safe(taker_tenant)}) takes {safe(hostname)} {space}"
                 f" from {_route(victim)} (tenant {safe(owner_tenant)}, owner of the hostname by "
                 f"{_ownership(owner)}) {where}: {why}{note}"),
        request_space=space, basis=basis, tenant=taker_tenant, other_tenant=owner_tenant,
        contested=owner.annotation_reading)


_BETWEEN_OWNER_AND_OTHERS: Final = (FindingKind.HIJACK, FindingKind.SHARED_HOSTNAME)


def merge_readings(readings: Sequence[Sequence[Finding]]) -> list[Finding]:
    """The findings of a slice analysed once per reading of who owns its hostname.

    What does not depend on the owner (``Shadowed``) is the same in every reading. A Hijack or
    SharedHostname is about a pair of routes: per pair, the findings of the reading that rates
    the pair most severely are kept (of each reading when they tie), so neither reading can
    lower, or hide, what the other finds. A finding that only the annotation reading of a
    contested hostname keeps stays ``contested``; one that another reading also finds as
    severely does not.
    """
    if len(readings) == 1:
        return list(readings[0])
    per_reading: list[dict[frozenset[ObjectRef | None], int]] = []
    best: dict[frozenset[ObjectRef | None], int] = {}
    for found in readings:
        ranks: dict[frozenset[ObjectRef | None], int] = {}
        for f in found:
            if f.kind in _BETWEEN_OWNER_AND_OTHERS:
                pair = frozenset((f.route, f.other))
                rank = severity_rank(f.severity)
                ranks[pair] = min(rank, ranks.get(pair, rank))
                best[pair] = min(rank, best.get(pair, rank))
        per_reading.append(ranks)
    out: dict[tuple[object, ...], Finding] = {}
    for found, ranks in zip(readings, per_reading, strict=True):
        for f in found:
            if f.kind in _BETWEEN_OWNER_AND_OTHERS:
                pair = frozenset((f.route, f.other))
                if ranks[pair] > best[pair]:
                    continue
            kept = out.get(f.identity)
            if kept is None or severity_rank(f.severity) < severity_rank(kept.severity):
                out[f.identity] = f
            elif kept.contested and not f.contested and f.severity == kept.severity:
                out[f.identity] = replace(kept, contested=False)  # the evidence bears it out
    return list(out.values())


def _shadowed(idx: _Slice, hostname: str
              ) -> dict[ObjectRef, dict[ObjectRef, tuple[Candidate, Candidate]]]:
    """Route → (shadowing route → (first shadowed candidate, its shadower)), own slice only.

    A candidate is shadowed by the first candidate above it, of another route, whose match
    contains its own; only the candidates that can contain it are tried (``_Slice.containers``).
    Past the budget the rest are left unjudged: a Shadowed finding is never invented.
    """
    out: dict[ObjectRef, dict[ObjectRef, tuple[Candidate, Candidate]]] = {}
    by_rule: dict[tuple[ObjectRef, int], list[tuple[Candidate, Candidate | None]]] = {}
    ranked, kind = idx.ranked, idx.kind
    idx.ops = 0
    for i, c in enumerate(ranked):
        if c.hostname != hostname:
            continue
        top = None
        try:
            for pos in idx.containers(c, i):
                idx.charge()
                y = ranked[pos]
                if y.route.ref != c.route.ref and precedence.contains(kind, y.match, c.match):
                    top = y
                    break
        except Bounded:
            top = None
        by_rule.setdefault((c.route.ref, c.rule), []).append((c, top))
    for (route_ref, _), entries in by_rule.items():
        if any(top is None for _, top in entries):
            continue
        loser, top = entries[0]
        assert top is not None
        out.setdefault(route_ref, {}).setdefault(top.route.ref, (loser, top))
    return out


def _undecided(a: Match, b: Match) -> bool:
    """Whether the automata could not decide if the two path spaces intersect."""
    overlap = precedence.path_overlap(a, b)
    return overlap is not None and not overlap.decided


def _serves(idx: _Slice, c: Candidate, hostname: str) -> bool:
    """Whether some request matching ``c`` is won by ``c``'s route."""
    for req in precedence.witnesses(idx.kind, c.match, c.match, hostname):
        first = idx.first(req)
        if first is not None and idx.ranked[first].route.ref == c.route.ref:
            return True
    return False


def _coarse_hijacks(
    idx: _Slice, victims: Sequence[int], found: set[tuple[ObjectRef, ObjectRef]],
    hijackers: set[ObjectRef], *, hostname: str, gateway: ObjectRef, listener: str,
    listener_owner: ObjectRef | None, owner: Owner, shares: Callable[[str, str], bool],
    where: str, intra_tenant_severity: Severity,
) -> list[Finding]:
    """Hijacks of a slice whose exact analysis went past its budget, for the owner's matches
    not yet analysed (``victims``): every route of another namespace ranked above one of them
    may take its requests. One finding per such route, against the first of the owner's
    matches below it that shares a witness request with it (of the next few; else the first),
    marked "may overlap (analysis bounded)". Linear in the slice: padding a hostname with
    matches cannot hide a hijack, it makes gwwatch report every possible one."""
    out: list[Finding] = []
    ranked, kind = idx.ranked, idx.kind
    for i, taker in enumerate(ranked):
        ref = taker.route.ref
        if ref in hijackers:
            continue
        after = bisect.bisect_right(victims, i)
        below = [ranked[j] for j in victims[after:after + 4 * _COARSE_VICTIMS]
                 if ranked[j].route.ref.namespace != ref.namespace][:_COARSE_VICTIMS]
        if not below:
            continue
        victim, req = below[0], None
        for cand in below:
            reqs = precedence.witnesses(kind, cand.match, taker.match, hostname)
            if reqs:
                victim, req = cand, reqs[0]
                break
        if (ref, victim.route.ref) in found:
            continue
        found.add((ref, victim.route.ref))
        hijackers.add(ref)
        space = safe(taker.match.describe()) if req is None else _example(taker, req)
        out.append(_hijack(
            gateway=gateway, listener=listener, listener_owner=listener_owner,
            hostname=hostname, taker=ref, victim=victim.route.ref, space=space, owner=owner,
            taker_tenant=idx.tenant_of(taker), shares=shares, where=where,
            intra_tenant_severity=intra_tenant_severity,
            why=(f"{safe(taker.match.describe())} ranks above {safe(victim.match.describe())}"
                 f" and {len(ranked)} matches contest {safe(hostname)}" + _BOUNDED_NOTE),
            basis="analysis bounded"))
    return out


# --- posture ---------------------------------------------------------------------------------


def gateway_posture(
    *,
    gateway: ObjectRef,
    listeners: Iterable[Listener],
    tenants_by_listener: Mapping[tuple[ObjectRef, str], set[str]],
    gateway_tenant: str,
) -> list[Finding]:
    out: list[Finding] = []

    def posture(reason: Reason, severity: Severity, li: Listener, message: str) -> None:
        out.append(Finding(
            kind=FindingKind.POSTURE, reason=reason, severity=severity,
            hostname=li.hostname or hostnames.ANY, gateway=gateway, listener=li.name,
            listener_owner=li.owner,
            route=None, other=None, message=message, tenant=gateway_tenant))

    listeners = list(listeners)
    twins: dict[tuple[int, str | None], list[Listener]] = {}
    for li in listeners:
        if li.protocol in (Protocol.TLS, Protocol.HTTPS):
            twins.setdefault((li.port, li.hostname), []).append(li)
    for li in listeners:
        name = f"listener {safe(li.name)} of {safe(li.owner.kind)} {safe(li.owner)}"
        others = [o for o in twins.get((li.port, li.hostname), ()) if o.protocol != li.protocol]
        if li in twins.get((li.port, li.hostname), ()) and others:
            # gateway_types.go, GatewaySpec.Listeners: distinct listeners let "the
            # implementation ... match inbound requests to a single distinct Listener", yet an
            # implementation may "not consider those cases compatible" when it "cannot mix
            # HTTPS and generic TLS listens on the same port".
            listed = ", ".join(f"{safe(o.name)} ({o.protocol}) of {safe(o.owner.kind)} "
                               f"{safe(o.owner)}" for o in sorted(
                                   others, key=lambda o: (o.owner, o.name)))
            posture(Reason.AMBIGUOUS_LISTENERS, Severity.WARNING, li,
                    f"{name} ({li.protocol}) shares port {li.port} and hostname "
                    f"{safe(li.hostname or 'none')} with {listed}: a client's SNI cannot tell "
                    f"them apart, so which one takes a connection (TLS passthrough or HTTPS "
                    f"termination) depends on the implementation, and one that cannot mix them "
                    f"on a port may refuse both")
        tenants = tenants_by_listener.get((li.owner, li.name), set())
        open_to_others = li.allowed_from in ("All", "Selector")
        if open_to_others and li.hostname is None and li.protocol in HOSTNAME_PROTOCOLS:
            posture(Reason.OPEN_LISTENER_WITHOUT_HOSTNAME, Severity.WARNING, li,
                    f"{name} has no hostname and admits routes from other namespaces "
                    f"(from: {li.allowed_from}): any of them can claim any hostname on port "
                    f"{li.port}")
        if li.allowed_from == "All" and len(tenants) > 1:
            posture(Reason.SHARED_OPEN_LISTENER, Severity.INFO, li,
                    f"{name} admits routes from all namespaces and carries routes of "
                    f"{len(tenants)} tenants ({safe(', '.join(sorted(tenants)))}); a Selector on "
                    f"{_NAME_LABEL} would name who may attach")
        if li.allowed_from == "Selector" and li.selector is not None and (
            _NAME_LABEL not in li.selector.keys()  # noqa: SIM118
        ):
            keys = ", ".join(sorted(li.selector.keys())) or "(empty selector)"
            posture(Reason.SELECTOR_ON_CUSTOM_LABEL, Severity.INFO, li,
                    f"{name} selects namespaces by {safe(keys)}, labels a namespace's own "
                    f"admins may be able to set; {_NAME_LABEL} cannot be forged")
    return out


def hostname_posture(
    *,
    hostname: str,
    gateways: Mapping[ObjectRef, set[str]],
    gateway_tenant: Callable[[str], str],
) -> list[Finding]:
    """The same hostname served through Gateways of different tenants (per-tenant Gateways)."""
    by_tenant: dict[str, list[ObjectRef]] = {}
    for gw in gateways:
        by_tenant.setdefault(gateway_tenant(gw.namespace), []).append(gw)
    route_tenants = set().union(*gateways.values()) if gateways else set()
    if len(by_tenant) < 2 or len(route_tenants) < 2:
        return []
    listing = "; ".join(f"tenant {safe(t)}: " + ", ".join(safe(g) for g in sorted(gws))
                        for t, gws in sorted(by_tenant.items()))
    return [Finding(
        kind=FindingKind.POSTURE, reason=Reason.HOSTNAME_ACROSS_GATEWAYS,
        severity=Severity.WARNING, hostname=hostname,
        gateway=None, listener=None, route=None, other=None,
        message=(f"{safe(hostname)} is served through Gateways of {len(by_tenant)} tenants "
                 f"({listing}): no request is taken at a Gateway, but DNS automation or ACME "
                 f"HTTP-01 issuance can flip between them"))]


def claims_posture(claims: Claims) -> list[Finding]:
    out = []
    for pattern, tenants in sorted(claims.patterns().items()):
        if len(tenants) > 1:
            out.append(Finding(
                kind=FindingKind.POSTURE, reason=Reason.CONFLICTING_CLAIMS,
                severity=Severity.WARNING, hostname=pattern,
                gateway=None, listener=None, route=None, other=None,
                message=(f"{safe(pattern)} is claimed by {len(tenants)} tenants "
                         f"({safe(', '.join(sorted(tenants)))}) through {claims.source}s; "
                         f"neither claim wins until one is removed"
                         + ("" if claims.source == "ownership file" else
                            " (meanwhile the oldest route's tenant owns what it covers)"))))
    return out


def contested_claim(*, hostname: str, claimed: Owner, evidence: Owner) -> Finding:
    """A hostname whose annotation claim and oldest route name different owners: findings of
    both readings are reported, and this names the claim that contests the evidence."""
    return Finding(
        kind=FindingKind.POSTURE, reason=Reason.CONTESTED_CLAIM, severity=Severity.WARNING,
        hostname=hostname, gateway=None, listener=None, route=None, other=None,
        message=(f"{safe(hostname)} is claimed for tenant {safe(claimed.tenant)} by "
                 f"{claimed.rule} {safe(claimed.claim)}, but the oldest route claiming it, "
                 f"{safe(evidence.claim)}, belongs to tenant {safe(evidence.tenant)}: findings "
                 f"of both readings are reported (a late owner's claim makes the older route a "
                 f"squatter; a false claim cannot hide the older route's findings). A platform "
                 f"claim (ownership file or ConfigMap) decides alone"),
        tenant=claimed.tenant, other_tenant=evidence.tenant)
