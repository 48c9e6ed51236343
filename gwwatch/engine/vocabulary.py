"""The Gateway API and gwwatch vocabulary, each word defined here once.

Route kinds with their API group, the versions the engine parses, whether they carry hostnames
and which listener protocols take them; listener protocols; finding severities, kinds and
reasons; the "oldest first" ordering. Every layer imports these names instead of spelling the
strings out again. The enums are ``StrEnum``: a member equals, hashes and formats as its string,
so comparing with the plain strings found in Kubernetes objects keeps working.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final

__all__ = [
    "CONTEXT_KINDS",
    "FAIL_ON_CHOICES",
    "GROUP",
    "HOSTNAME_KINDS",
    "HOSTNAME_PROTOCOLS",
    "INTRA_TENANT_SEVERITIES",
    "MATCH_KINDS",
    "READABLE_API_VERSIONS",
    "READABLE_KINDS",
    "ROUTE_KINDS",
    "FindingKind",
    "Protocol",
    "Reason",
    "RouteKind",
    "RouteKindSpec",
    "Severity",
    "age_key",
    "at_or_above",
    "group_of",
    "kinds_for_protocol",
    "may_share_port",
    "readable_versions",
    "route_kind_spec",
    "severity_rank",
]

GROUP: Final = "gateway.networking.k8s.io"


class RouteKind(StrEnum):
    HTTP = "HTTPRoute"
    GRPC = "GRPCRoute"
    TLS = "TLSRoute"
    TCP = "TCPRoute"
    UDP = "UDPRoute"


class Protocol(StrEnum):
    """Listener protocols the engine knows (a Gateway may name others: they take no route)."""

    HTTP = "HTTP"
    HTTPS = "HTTPS"
    TLS = "TLS"
    TCP = "TCP"
    UDP = "UDP"


@dataclass(frozen=True, slots=True)
class RouteKindSpec:
    """What the engine knows about one route kind."""

    kind: RouteKind
    group: str
    served_versions: tuple[str, ...]  # the versions the engine parses, newest first
    carries_hostnames: bool  # spec.hostnames exists and routing depends on it
    protocols: frozenset[Protocol]  # listener protocols that admit the kind
    # Listener protocols whose listeners receive this kind's requests, in the order messages
    # name them. A TLS connection reaching an HTTPS listener is terminated there (no TLSRoute
    # attaches to it), yet it is still the listener the SNI selects, so it competes for it.
    traffic_protocols: tuple[Protocol, ...]
    has_matches: bool  # rules carry request matches (HTTP, gRPC); otherwise a rule takes all
    request_protocol: str  # how ``gwwatch explain`` names a request of this kind


def _spec(kind: RouteKind, versions: tuple[str, ...], *, hostnames: bool,
          protocols: tuple[Protocol, ...], traffic: tuple[Protocol, ...], matches: bool,
          request: str) -> RouteKindSpec:
    return RouteKindSpec(kind, GROUP, versions, hostnames, frozenset(protocols), traffic,
                         matches, request)


_HTTP_FAMILY: Final = (Protocol.HTTP, Protocol.HTTPS)

# Versions from the CRDs of the pinned release (v1.6.1), which serves (and stores) TCPRoute and
# UDPRoute as v1 in both channels. Order is the order of the enum.
ROUTE_KINDS: Final[Mapping[RouteKind, RouteKindSpec]] = MappingProxyType({
    RouteKind.HTTP: _spec(RouteKind.HTTP, ("v1", "v1beta1"), hostnames=True,
                          protocols=_HTTP_FAMILY, traffic=_HTTP_FAMILY, matches=True,
                          request="http"),
    RouteKind.GRPC: _spec(RouteKind.GRPC, ("v1",), hostnames=True,
                          protocols=_HTTP_FAMILY, traffic=_HTTP_FAMILY, matches=True,
                          request="grpc"),
    RouteKind.TLS: _spec(RouteKind.TLS, ("v1", "v1alpha3", "v1alpha2"), hostnames=True,
                         protocols=(Protocol.TLS,), traffic=(Protocol.TLS, Protocol.HTTPS),
                         matches=False, request="tls"),
    RouteKind.TCP: _spec(RouteKind.TCP, ("v1", "v1alpha2"), hostnames=False,
                         protocols=(Protocol.TCP,), traffic=(Protocol.TCP,), matches=False,
                         request="tcp"),
    RouteKind.UDP: _spec(RouteKind.UDP, ("v1", "v1alpha2"), hostnames=False,
                         protocols=(Protocol.UDP,), traffic=(Protocol.UDP,), matches=False,
                         request="udp"),
})

_SPECS_BY_NAME: Final = frozenset(str(k) for k in ROUTE_KINDS)

# Every kind the engine reads: (API group, versions it parses, newest first). "" is the core group.
_READABLE: Final[Mapping[str, tuple[str, tuple[str, ...]]]] = MappingProxyType({
    "Gateway": (GROUP, ("v1", "v1beta1")),
    "GatewayClass": (GROUP, ("v1", "v1beta1")),  # cluster-scoped: its supportedFeatures
    "ListenerSet": (GROUP, ("v1",)),
    "Namespace": ("", ("v1",)),
    **{str(k): (s.group, s.served_versions) for k, s in ROUTE_KINDS.items()},
})

# Every kind the engine reads, and those of them that are not routes: the objects routes attach
# through (GatewayClass, Gateway, ListenerSet) and the Namespaces that allowedRoutes select.
READABLE_KINDS: Final = tuple(_READABLE)
CONTEXT_KINDS: Final = frozenset(k for k in _READABLE if k not in _SPECS_BY_NAME)

# (kind, apiVersion) of every object the engine parses, as it appears in the object.
READABLE_API_VERSIONS: Final = frozenset(
    (kind, f"{group}/{version}" if group else version)
    for kind, (group, versions) in _READABLE.items() for version in versions)

_KINDS_BY_PROTOCOL: Final[Mapping[str, tuple[RouteKind, ...]]] = MappingProxyType({
    p: tuple(k for k, s in ROUTE_KINDS.items() if p in s.protocols) for p in Protocol
})

_SPECS: Final[Mapping[str, RouteKindSpec]] = MappingProxyType(
    {str(k): s for k, s in ROUTE_KINDS.items()})
# Route kinds whose routing depends on hostnames, and those whose rules carry request matches.
HOSTNAME_KINDS: Final = frozenset(k for k, s in ROUTE_KINDS.items() if s.carries_hostnames)
MATCH_KINDS: Final = frozenset(k for k, s in ROUTE_KINDS.items() if s.has_matches)

# Listener protocols on which a hostname means something (they take a kind carrying hostnames).
HOSTNAME_PROTOCOLS: Final = frozenset(
    p for s in ROUTE_KINDS.values() if s.carries_hostnames for p in s.protocols)

# Listeners on one port must agree on how the port is used: HTTPS and TLS may share it (both
# select by SNI); UDP is another transport and shares a port number with any TCP-based one.
_PORT_FAMILY: Final[Mapping[str, str]] = MappingProxyType({
    Protocol.HTTP: "http", Protocol.HTTPS: "tls", Protocol.TLS: "tls", Protocol.TCP: "tcp",
})


def route_kind_spec(kind: str) -> RouteKindSpec | None:
    """The spec of a route kind, ``None`` for anything that is not one."""
    return _SPECS.get(kind)


def readable_versions(kind: str) -> tuple[str, ...]:
    """Versions of ``kind`` the engine parses, newest first; empty for a kind it ignores."""
    entry = _READABLE.get(kind)
    return entry[1] if entry is not None else ()


def group_of(kind: str) -> str | None:
    """The API group the engine reads ``kind`` from ("" for core); ``None``: not read."""
    entry = _READABLE.get(kind)
    return entry[0] if entry is not None else None


def kinds_for_protocol(protocol: str) -> tuple[RouteKind, ...]:
    """Route kinds a listener of ``protocol`` admits when it does not list kinds."""
    return _KINDS_BY_PROTOCOL.get(protocol, ())


def may_share_port(a: str, b: str) -> bool:
    """Whether listeners of protocols ``a`` and ``b`` may share a port number."""
    if Protocol.UDP in (a, b):
        return True  # UDP and the TCP-based protocols use different transports
    return _PORT_FAMILY.get(a, a) == _PORT_FAMILY.get(b, b)


# --- findings --------------------------------------------------------------------------------


class Severity(StrEnum):
    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"


_SEVERITY_RANK: Final[Mapping[str, int]] = MappingProxyType(
    {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.INFO: 2})
# ``--fail-on``: the lowest severity that fails a scan; "never" fails none.
FAIL_ON_CHOICES: Final = (*Severity, "never")
# A Hijack between namespaces of one tenant is a mistake, not an attack: never critical.
INTRA_TENANT_SEVERITIES: Final = (Severity.WARNING, Severity.INFO)


def severity_rank(severity: str) -> int:
    """0 for the most severe; a string that is no severity ranks after every one."""
    return _SEVERITY_RANK.get(severity, len(_SEVERITY_RANK))


def at_or_above(severity: str, threshold: str) -> bool:
    """Whether ``severity`` reaches ``threshold`` (one of FAIL_ON_CHOICES; info is lowest)."""
    if threshold == "never":
        return False
    return _SEVERITY_RANK[severity] <= _SEVERITY_RANK[threshold]


class FindingKind(StrEnum):
    HIJACK = "Hijack"
    SHADOWED = "Shadowed"
    SHARED_HOSTNAME = "SharedHostname"
    POSTURE = "Posture"


class Reason(StrEnum):
    """Every reason a finding carries; status conditions, Events and metrics show this one."""

    HIJACKS_TRAFFIC = "HijacksTraffic"  # Hijack
    SHADOWED = "Shadowed"  # Shadowed: a stronger match of another route takes every request
    LISTENER_SHADOWED = "ListenerShadowed"  # Shadowed: a more specific listener takes them
    SHARES_HOSTNAME = "SharesHostname"  # SharedHostname
    OPEN_LISTENER_WITHOUT_HOSTNAME = "OpenListenerWithoutHostname"  # Posture
    SHARED_OPEN_LISTENER = "SharedOpenListener"  # Posture
    SELECTOR_ON_CUSTOM_LABEL = "SelectorOnCustomLabel"  # Posture
    HOSTNAME_ACROSS_GATEWAYS = "HostnameAcrossGateways"  # Posture
    CONFLICTING_CLAIMS = "ConflictingClaims"  # Posture
    CONTESTED_CLAIM = "ContestedClaim"  # Posture: an annotation claim and the oldest route differ
    # Shadowed: an older route of the other kind (HTTPRoute/GRPCRoute) on the listener shares a
    # hostname, so the implementation rejects this one there (cross serving)
    REJECTED_BY_OTHER_KIND = "RejectedByOtherKind"
    # Posture: listeners on one port with one hostname and different protocols (TLS and HTTPS)
    AMBIGUOUS_LISTENERS = "AmbiguousListeners"


# --- ordering --------------------------------------------------------------------------------


def age_key(created: str | None, ref: object = "") -> tuple[bool, str, str]:
    """The one "oldest first, then namespace/name" sort key.

    ``created`` is the RFC 3339 creationTimestamp, which sorts as text; an object without one
    (a manifest never applied) counts as the newest. ``ref`` is an ``ObjectRef`` (its ``str``
    is ``namespace/name``); leave it out to compare by age alone.
    """
    return (created is None, created or "", str(ref))
