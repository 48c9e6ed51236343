"""Who serves one request at a Gateway, and why: the resolution behind ``gwwatch explain``.

Pure: it reads a :class:`~gwwatch.engine.graph.ConflictGraph` and answers with an
:class:`Explanation`. It re-implements no rule: the listener comes from
``conflicts.choose_listener``, the candidates from the graph's claims, their order and the words
for it from ``precedence`` (and ``conflicts``' basis wording) — the same code that writes the
findings' messages, so ``explain`` and a finding can never disagree about who wins or why.

Steps, as a Gateway does them:

1. the listeners of the Gateway (its own and those of the ListenerSets it accepted) on the port,
   whose protocol carries the request (HTTP/HTTPS for HTTP and gRPC, TLS/HTTPS for TLS, TCP, UDP);
2. among them the one with the most specific hostname covering the request's hostname (the SNI
   for TLS); over HTTPS, when the SNI and the Host header pick different listeners, the request
   is misdirected (HTTP 421). gateway_types.go (Listener.Hostname): "If another Listener has an
   exact match or more specific wildcard entry, the Gateway SHOULD return a 421"; when the SNI's
   listener does not match the Host and "no other Listener matches the Host, the Gateway MUST
   return a 404" — here: routing goes on on the SNI's listener, where no route can match;
3. the routes of the kind that attached to that listener, each with the most specific of its
   hostnames there that matches the request, and their matches that accept the request;
4. the first of those in precedence order serves it; every other one lost on some step.

What the answer rests on besides the objects is in ``Explanation.assumptions``: for HTTP and
gRPC, whether the Gateway's implementation isolates listeners (its GatewayClass'
``status.supportedFeatures``, ``GatewayHTTPListenerIsolation``). Without isolation, step 3 takes
the routes of every listener on the port whose hostname covers the request's.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Final

from gwwatch.engine import conflicts, hostnames, precedence
from gwwatch.engine.model import Backend, Listener, ObjectRef
from gwwatch.engine.precedence import Candidate, Comparison, Request
from gwwatch.engine.vocabulary import ROUTE_KINDS, Protocol, RouteKind, RouteKindSpec

if TYPE_CHECKING:  # the graph calls explain(); explain only reads the graph's public queries
    from gwwatch.engine.graph import ConflictGraph

__all__ = [
    "MISDIRECTED",
    "NO_ROUTE",
    "SERVED",
    "Explanation",
    "default_port",
    "explain",
    "normalise_host",
]

# The request protocols ``explain`` takes, one per route kind ("http", "grpc", "tls", ...).
_SPECS: Final[dict[str, RouteKindSpec]] = {s.request_protocol: s for s in ROUTE_KINDS.values()}
PROTOCOLS: Final = tuple(_SPECS)

# Outcomes
SERVED: Final = "served"  # a route rule serves the request
NO_ROUTE: Final = "no-route"  # a listener takes it, no route match accepts it (HTTP 404)
NO_LISTENER: Final = "no-listener"  # no listener on the port takes it
MISDIRECTED: Final = "misdirected"  # HTTPS: SNI and Host select different listeners (HTTP 421)


@dataclass(frozen=True, slots=True)
class Lost:
    """A candidate that accepts the request but ranks below the winner, and the deciding step."""

    candidate: Candidate
    comparison: Comparison


@dataclass(frozen=True, slots=True)
class Explanation:
    gateway: ObjectRef
    port: int
    protocol: str  # one of PROTOCOLS
    host: str | None  # the request's hostname (SNI for TLS); None: by address
    sni: str | None  # HTTPS: the SNI that selected the listener
    outcome: str  # SERVED | NO_ROUTE | NO_LISTENER | MISDIRECTED
    listener: Listener | None
    listener_basis: str  # why this listener (or why none)
    winner: Candidate | None
    basis: str  # why the winner won (or why nothing did)
    lost: tuple[Lost, ...]  # the other candidates, in precedence order
    # what the answer takes the implementation to do (listener isolation), and why: one
    # sentence each
    assumptions: tuple[str, ...] = ()

    @property
    def backends(self) -> tuple[Backend, ...]:
        if self.winner is None:
            return ()
        return self.winner.route.rules[self.winner.rule].backends


def normalise_host(host: str | None) -> str | None:
    """The hostname routing sees: lower case, without ``:port``; an IP address counts as none.

    ``Port value within the Host header MUST not be considered`` (HTTPRouteHostnameIntersection);
    a request by IP address reaches only listeners and routes without hostnames.
    """
    if host is None:
        return None
    text = host.strip().lower().rstrip(".")
    if text.startswith("["):  # [v6]:port
        return None
    if text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return text or None
    return None


def default_port(graph: ConflictGraph, gateway: ObjectRef) -> int | None:
    """The port of the Gateway's first listener (how the conformance suite picks it, too)."""
    gw = graph.gateway(gateway)
    return gw.listeners[0].port if gw is not None and gw.listeners else None


def _listener_name(li: Listener) -> str:
    owner = "" if li.owner.kind == "Gateway" else f" of {li.owner.kind} {li.owner}"
    return f"{li.name}{owner} ({li.hostname or 'no hostname'})"


def _pick_listener(
    fitting: Sequence[Listener], host: str | None, *, port: int, what: str
) -> tuple[Listener | None, str]:
    """``conflicts.choose_listener`` plus the words for its choice."""
    chosen = conflicts.choose_listener(fitting, host)
    named = "a request without a hostname" if host is None else host
    if chosen is None:
        have = ", ".join(_listener_name(li) for li in fitting)
        if host is None:
            return None, f"no {what} listener on port {port} without a hostname ({have})"
        return None, f"no {what} listener on port {port} covers {host} ({have})"
    own = chosen.hostname or hostnames.ANY
    others = [
        li for li in fitting if li is not chosen
        and (li.hostname or hostnames.ANY) != own
        and (hostnames.matches(li.hostname or hostnames.ANY, host) if host is not None
             else li.hostname is None)
    ]
    if not others:
        basis = f"the only {what} listener on port {port} that takes {named}"
    else:
        over = ", ".join(_listener_name(li) for li in others)
        basis = f"the most specific listener hostname on port {port} covering {named} (over {over})"
    return chosen, basis


def _fail(gateway: ObjectRef, port: int, protocol: str, host: str | None, sni: str | None,
          outcome: str, listener: Listener | None, listener_basis: str, basis: str
          ) -> Explanation:
    return Explanation(gateway, port, protocol, host, sni, outcome, listener, listener_basis,
                       None, basis, ())


# Request kinds whose listener choice depends on the implementation's listener isolation.
_ISOLATION_KINDS: Final = frozenset((RouteKind.HTTP, RouteKind.GRPC))
_TLS_FAMILY: Final = frozenset((Protocol.TLS, Protocol.HTTPS))


def explain(
    graph: ConflictGraph,
    *,
    gateway: ObjectRef,
    port: int,
    protocol: str,
    request: Request,
    sni: str | None = None,
) -> Explanation:
    """Resolve ``request`` arriving at ``gateway``:``port``.

    ``request.host`` is the Host header (HTTP), ``:authority`` (gRPC) or the SNI (TLS); it is
    normalised with :func:`normalise_host`. ``sni`` matters only when HTTPS listeners take the
    request: ``None`` means the client sent the Host as SNI, as clients do.
    """
    spec = _SPECS.get(protocol)
    if spec is None:
        raise ValueError(f"unknown protocol {protocol!r}")
    if spec.kind not in _ISOLATION_KINDS:
        found = _explain(graph, spec, gateway=gateway, port=port, protocol=protocol,
                         request=request, sni=sni, isolated=True)
        assumed: tuple[str, ...] = ()
    else:
        features = graph.features(gateway)
        found = _explain(graph, spec, gateway=gateway, port=port, protocol=protocol,
                         request=request, sni=sni, isolated=features.isolation)
        assumed = features.assumptions
    return replace(found, assumptions=assumed + _twins(graph, found))


def _twins(graph: ConflictGraph, found: Explanation) -> tuple[str, ...]:
    """The assumption behind choosing one of a TLS and an HTTPS listener for one hostname."""
    li = found.listener
    state = graph.listeners(found.gateway)
    if li is None or state is None or li.protocol not in _TLS_FAMILY:
        return ()
    twins = [o for o in state.on_port(li.port) if o.hostname == li.hostname
             and o.protocol in _TLS_FAMILY and o.protocol != li.protocol]
    return tuple(
        f"listener {_listener_name(o)} ({o.protocol}) shares port {li.port} and hostname with "
        f"{_listener_name(li)} ({li.protocol}): which one a connection reaches is up to the "
        f"implementation; the answer takes it to reach {li.name}" for o in twins)


def _explain(graph: ConflictGraph, spec: RouteKindSpec, *, gateway: ObjectRef, port: int,
             protocol: str, request: Request, sni: str | None, isolated: bool) -> Explanation:
    kind = spec.kind
    # An HTTP-level request (HTTP, gRPC) carries a Host besides the TLS SNI.
    http_level = Protocol.HTTPS in spec.protocols
    host = normalise_host(request.host)
    if not spec.carries_hostnames:
        host = None
    request = Request(host=host, path=request.path, method=request.method,
                      headers=request.headers, query=request.query, service=request.service,
                      grpc_method=request.grpc_method)
    state = graph.listeners(gateway)
    if state is None:
        return _fail(gateway, port, protocol, host, None, NO_LISTENER, None,
                     f"Gateway {gateway} not found", "no Gateway")
    on_port = state.on_port(port)
    fitting = [li for li in on_port if li.protocol in spec.traffic_protocols]
    what = "/".join(spec.traffic_protocols)
    if not fitting:
        have = ", ".join(sorted({li.protocol for li in on_port}))
        why = (f"no {what} listener on port {port}" +
               (f" (only {have})" if have else ""))
        return _fail(gateway, port, protocol, host, None, NO_LISTENER, None, why,
                     "no listener takes the request")
    if not spec.carries_hostnames:
        # Hostnames mean nothing here; listeners of one protocol on a port would conflict.
        listener: Listener | None = fitting[0]
        listener_basis = f"the {fitting[0].protocol} listener on port {port}"
    else:
        https = http_level and all(li.protocol == Protocol.HTTPS for li in fitting)
        tls_name: str | None = None
        if https:
            tls_name = host if sni is None else normalise_host(sni)
        listener, listener_basis = _pick_listener(
            fitting, tls_name if https else host, port=port,
            what="/".join(sorted({li.protocol for li in fitting})))
        if https and listener is not None and tls_name != host:
            by_host = conflicts.choose_listener(fitting, host)
            if by_host is not None and by_host is not listener:
                return _fail(
                    gateway, port, protocol, host, tls_name, MISDIRECTED, listener,
                    f"SNI {tls_name or '(none)'} selects listener {_listener_name(listener)}",
                    f"misdirected request (HTTP 421): Host {host or '(address)'} belongs to "
                    f"listener {_listener_name(by_host)}, not to the one the SNI selected")
            listener_basis += f"; SNI {tls_name or '(none)'}, Host {host or '(address)'}"
        elif sni is not None and not https:
            listener_basis += f"; SNI {sni} ignored: no HTTPS listener on port {port}"
        sni = tls_name
    if listener is None:
        return _fail(gateway, port, protocol, host, sni, NO_LISTENER, None,
                     listener_basis, "no listener takes the request")
    if not http_level:
        sni = None
    reach: Collection[Listener] = {listener}
    if not isolated:  # every listener on the port whose hostname covers the request's
        reach = [li for li in fitting
                 if (hostnames.matches(li.hostname or hostnames.ANY, host) if host is not None
                     else li.hostname is None)]
        listener_basis += ("; without listener isolation the routes of "
                           + ", ".join(_listener_name(li) for li in reach) + " compete")
    candidates, attached, for_host = _candidates(graph, gateway, port, kind, reach, request)
    ranked = precedence.select(candidates)
    if not ranked:
        if not attached:
            why = f"no {kind} is attached to listener {listener.name}"
        elif not for_host:
            why = (f"none of the {attached} {kind}(s) on listener {listener.name} has a hostname "
                   f"matching {host or 'a request without a hostname'}")
        else:
            why = (f"{for_host} {kind}(s) on listener {listener.name} match the hostname, but "
                   f"none of their matches accepts the request")
        rejected = [f"{ref.kind} {ref} (older {cause.kind} {cause})"
                    for li in reach for ref, names, cause in graph.rejected_on(li)
                    if ref.kind == kind and precedence.best_hostname(list(names), host)]
        if rejected:
            why += ("; rejected on the listener because an older route of the other kind "
                    "shares a hostname (cross serving): " + ", ".join(rejected))
        return _fail(gateway, port, protocol, host, sni, NO_ROUTE, listener, listener_basis, why)
    winner, *rest = ranked
    lost: list[Lost] = []
    seen = {(winner.route.ref, winner.rule)}
    for c in rest:  # one entry per rule: its best match that accepts the request
        if (c.route.ref, c.rule) in seen:
            continue
        seen.add((c.route.ref, c.rule))
        lost.append(Lost(c, precedence.compare(winner, c)))
    if lost:
        # The findings' own wording of a comparison, so both say the same thing.
        basis = conflicts.describe_basis(lost[0].comparison, winner, lost[0].candidate)
    else:
        basis = f"the only {kind} match on the listener that accepts the request"
    return Explanation(gateway, port, protocol, host, sni, SERVED, listener, listener_basis,
                       winner, basis, tuple(lost))


def _candidates(graph: ConflictGraph, gateway: ObjectRef, port: int, kind: str,
                listeners: Collection[Listener], request: Request
                ) -> tuple[list[Candidate], int, int]:
    """Matches on ``listeners`` that accept ``request``; also how many routes are attached
    there and how many of them have a hostname matching the request."""
    hosts_by_route: dict[ObjectRef, list[str]] = {}
    for claim in graph.claims(gateway, port, kind):
        if claim.listener in listeners:
            hosts_by_route.setdefault(claim.route, []).append(claim.hostname)
    out: list[Candidate] = []
    for_host = 0
    for ref, hosts in sorted(hosts_by_route.items()):
        route = graph.route(ref)
        hostname = precedence.best_hostname(hosts, request.host)
        if route is None or hostname is None:
            continue
        for_host += 1
        for ri, rule in enumerate(route.rules):
            for mi, match in enumerate(rule.matches):
                if precedence.applies(kind, match, request):
                    out.append(Candidate(route, hostname, ri, mi, match))
    return out, len(hosts_by_route), for_host
