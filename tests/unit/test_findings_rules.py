"""Findings: Hijack, Shadowed, SharedHostname, Posture, and their severities (docs/architecture.md).

- ``Hijack`` (critical): a route of tenant B wins request space a route of the owning tenant A
  would otherwise serve. Includes a hostname-less route inheriting a listener hostname, and a
  more specific hostname taking subdomains from A's wildcard route. Inside one tenant it is
  never critical; an owner's ``shared-with`` lowers it to warning.
- Disjoint request space on one hostname is ``SharedHostname`` (warning), not ``Hijack``.
- ``Shadowed``: a rule that can never win any request; names the winner and the basis.
- Messages name both routes, the hostname, the request space (``PathPrefix /v1/charge``) and
  the precedence basis (``longer path prefix``, ``older route``, ``more specific hostname``).
- ``Posture``: open listeners without hostname, shared ``from: All`` listeners, selectors on
  forgeable labels, one hostname on Gateways of several tenants, conflicting claims.
- Malformed objects are reported as invalid and the rest of the analysis goes on.
"""

from __future__ import annotations

from typing import Any

import pytest

from gwwatch.engine import ConflictGraph, Policy
from gwwatch.engine.findings import Finding, diff
from gwwatch.engine.model import ObjectRef
from gwwatch.engine.vocabulary import Severity, at_or_above
from tests.unit import builders as b

HOST = "api.example.com"
SHARED = b.gateway(listeners=[b.listener("https", port=443, protocol="HTTPS",
                                         hostname="*.example.com")])
OWNER = b.route_ref("billing", "team-a")
TAKER = b.route_ref("dash", "team-b")


def owner_route(*matches: dict[str, Any], hostnames: list[str] | None = None,
                created: str = b.ts(1), ns: str = "team-a") -> dict[str, Any]:
    return b.http_route("billing", ns, hostnames=[HOST] if hostnames is None else hostnames,
                        created=created, matches=list(matches) or [b.match("/")])


def taker_route(*matches: dict[str, Any], hostnames: list[str] | None = None,
                created: str = b.ts(2), ns: str = "team-b",
                parents: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return b.http_route("dash", ns, hostnames=[HOST] if hostnames is None else hostnames,
                        created=created, parents=parents,
                        matches=list(matches) or [b.match("/v1/charge")])


def hijacks(graph: ConflictGraph) -> list[Finding]:
    return b.findings(graph, "Hijack")


def only_hijack(graph: ConflictGraph) -> Finding:
    found = hijacks(graph)
    assert len(found) == 1, [f.message for f in graph.findings()]
    return found[0]


def about(graph: ConflictGraph, route: ObjectRef, kind: str | None = None) -> list[Finding]:
    return [f for f in graph.findings() if f.route == route and (kind is None or f.kind == kind)]


class TestHijack:
    """A route of another tenant wins requests the owner's route would serve."""

    def test_longer_prefix(self) -> None:
        """The techresolve incident, in miniature."""
        f = only_hijack(b.scan(SHARED, owner_route(), taker_route()))
        assert (f.severity, f.route, f.other, f.hostname) == (Severity.CRITICAL, TAKER, OWNER, HOST)
        assert (f.gateway, f.listener, f.reason) == (b.GW, "https", "HijacksTraffic")
        assert (f.tenant, f.other_tenant) == ("team-b", "team-a")
        assert f.request_space == "PathPrefix /v1/charge"
        assert f.basis == "longer path prefix"
        for words in ("team-b/dash", "team-a/billing", HOST, "PathPrefix /v1/charge",
                      "longer path prefix"):
            assert words in f.message

    @pytest.mark.parametrize(("taker_match", "word"), [
        pytest.param(b.match("/", type="Exact"), "exact", id="exact-over-prefix"),
        pytest.param(b.match("/", method="POST"), "method", id="method"),
        pytest.param(b.match("/", headers={"x-debug": "1"}), "header", id="header"),
        pytest.param(b.match("/", query={"debug": "1"}), "query", id="query"),
        pytest.param(b.match("/v1/charge/", type="PathPrefix"), "longer path prefix",
                     id="prefix-trailing-slash"),
    ])
    def test_each_precedence_basis(self, taker_match: dict[str, Any], word: str) -> None:
        """Every HTTP step that can let a newer route win is a hijack of the owner's space."""
        f = only_hijack(b.scan(SHARED, owner_route(), taker_route(taker_match)))
        assert (f.severity, f.route, f.other) == (Severity.CRITICAL, TAKER, OWNER)
        assert word in f.basis.lower()
        assert word in f.message.lower()

    def test_older_route_of_a_non_owner(self) -> None:
        """With an explicit claim, an older route of another tenant takes everything."""
        ns = b.namespace("team-a", hostnames=HOST)
        f = only_hijack(b.scan(SHARED, ns, owner_route(created=b.ts(2)),
                               taker_route(b.match("/"), created=b.ts(1))))
        assert (f.severity, f.route, f.other, f.basis) == (
            Severity.CRITICAL, TAKER, OWNER, "older route")
        assert "namespace annotation" in f.message

    def test_hostname_less_route_inherits_listener_hostname(self) -> None:
        """A route without hostnames on a listener for ``api.example.com`` gets that hostname,
        equal to the owner's, and competes on path."""
        gw = b.gateway(listeners=[b.listener("api", hostname=HOST)])
        f = only_hijack(b.scan(gw, owner_route(), taker_route(hostnames=[])))
        assert (f.severity, f.route, f.other, f.hostname) == (Severity.CRITICAL, TAKER, OWNER, HOST)
        assert f.basis == "longer path prefix"

    def test_hostname_less_route_says_hostname_precedence_is_a_choice(self) -> None:
        """Ranked by the route's own hostnames (gateway-api PR 5212), the hostname-less route
        would lose to the owner's precise hostname: the finding depends on the intersected-
        hostname choice, and the message must say so (docs/architecture.md)."""
        gw = b.gateway(listeners=[b.listener("api", hostname=HOST)])
        f = only_hijack(b.scan(gw, owner_route(), taker_route(hostnames=[])))
        assert "5120" in f.message

    def test_more_specific_hostname_takes_subdomain_of_older_wildcard(self) -> None:
        owner = owner_route(hostnames=["*.example.com"])
        taker = taker_route(b.match("/"), hostnames=["shop.example.com"])
        f = only_hijack(b.scan(SHARED, owner, taker))
        assert (f.severity, f.route, f.other) == (Severity.CRITICAL, TAKER, OWNER)
        assert f.hostname == "shop.example.com"
        assert f.basis == "more specific hostname"
        assert "shop.example.com" in f.message and "*.example.com" in f.message

    def test_more_specific_hostname_under_wildcard_claim(self) -> None:
        """An older route under another tenant's wildcard claim still takes its subdomain."""
        ns = b.namespace("team-a", hostnames="*.example.com")
        owner = owner_route(hostnames=["*.example.com"], created=b.ts(2))
        taker = taker_route(b.match("/"), hostnames=["shop.example.com"], created=b.ts(1))
        f = only_hijack(b.scan(SHARED, ns, owner, taker))
        assert (f.severity, f.route, f.other, f.hostname) == (
            Severity.CRITICAL, TAKER, OWNER, "shop.example.com")

    def test_one_intruder_does_not_hide_another(self) -> None:
        """Owner ``/``, intruders ``/v1`` and ``/v1/charge`` (two other tenants): both take
        requests the owner's route would serve; the second is not a disjoint SharedHostname."""
        third = b.http_route("ops", "team-c", hostnames=[HOST], created=b.ts(3),
                             matches=[b.match("/v1/charge")])
        graph = b.scan(SHARED, owner_route(), taker_route(b.match("/v1")), third)
        assert {(f.route, f.other, f.severity) for f in hijacks(graph)} == {
            (TAKER, OWNER, Severity.CRITICAL),
            (b.route_ref("ops", "team-c"), OWNER, Severity.CRITICAL)}
        assert not b.findings(graph, "SharedHostname")

    def test_owner_winning_is_no_hijack(self) -> None:
        """The newer route with an equal match loses to the older owner: nothing is taken."""
        graph = b.scan(SHARED, owner_route(), taker_route(b.match("/")))
        assert not hijacks(graph)

    def test_ownership_file_decides_the_victim(self) -> None:
        """The file says team-a owns the hostname although team-b's route is older and its
        Namespace claims it: team-b's longer prefix is then the hijack."""
        policy = Policy(ownership={"team-a": (HOST,)})
        objs = [SHARED, b.namespace("team-b", hostnames=HOST),
                owner_route(created=b.ts(2)), taker_route(created=b.ts(1))]
        f = only_hijack(b.scan(*objs, policy=policy))
        assert (f.severity, f.route, f.other) == (Severity.CRITICAL, TAKER, OWNER)
        assert "ownership file" in f.message
        assert not hijacks(b.scan(*objs))  # by the annotation team-b owns it

    def test_distrusted_annotation_falls_back_to_oldest_route(self) -> None:
        """Trusted or not, the offender's claim on the owner's hostname does not silence the
        Hijack ("an annotation claim can add protection but cannot silence what the evidence
        (the oldest route) shows", docs/architecture.md; issue 11 changed the trusted case:
        the claim used to erase it). Distrusted, the claim is not even a Posture finding."""
        objs = [SHARED, b.namespace("team-b", hostnames=HOST), owner_route(), taker_route()]
        trusted = b.scan(*objs)
        f = only_hijack(trusted)
        assert (f.route, f.other, f.severity) == (TAKER, OWNER, Severity.CRITICAL)
        assert b.findings(trusted, "Posture", reason="ContestedClaim")
        distrusted = b.scan(*objs, policy=Policy(trust_annotations=False))
        f = only_hijack(distrusted)
        assert (f.route, f.other, f.severity) == (TAKER, OWNER, Severity.CRITICAL)
        assert not b.findings(distrusted, "Posture", reason="ContestedClaim")

    def test_conflicting_claims_leave_the_oldest_route_owner(self) -> None:
        """"Two tenants claiming one name is ConflictingClaims, and neither claim wins"
        (docs/architecture.md): the evidence still stands, so the Hijack against the oldest
        route is reported (issue 11: it used to vanish with every other Hijack there)."""
        objs = [SHARED, b.namespace("team-a", hostnames=HOST),
                b.namespace("team-b", hostnames=HOST), owner_route(), taker_route()]
        graph = b.scan(*objs)
        f = only_hijack(graph)
        assert (f.route, f.other, f.severity) == (TAKER, OWNER, Severity.CRITICAL)
        assert "conflicting namespace annotations" in f.message
        assert b.findings(graph, "Posture", reason="ConflictingClaims")

    def test_regex_may_overlap(self) -> None:
        """RegularExpression precedence is implementation-specific: the finding says so."""
        owner = owner_route(b.match("/v1/.*", type="RegularExpression"))
        f = only_hijack(b.scan(SHARED, owner, taker_route(b.match("/v1"))))
        assert (f.route, f.other) == (TAKER, OWNER)
        assert "may overlap" in f.message

    def test_regex_taker_is_reported_as_may_overlap(self) -> None:
        owner = owner_route(b.match("/"))
        taker = taker_route(b.match("/v1/.*", type="RegularExpression"))
        graph = b.scan(SHARED, owner, taker)
        involved = [f for f in graph.findings() if TAKER in (f.route, f.other)]
        assert involved
        assert all("may overlap" in f.message for f in involved)

    def test_one_finding_per_route_pair(self) -> None:
        """Several overlapping matches of one pair are one finding (stable identity)."""
        taker = taker_route(b.match("/v1/charge"), b.match("/v1/refund"), b.match("/v2"))
        only_hijack(b.scan(SHARED, owner_route(), taker))

    def test_gateway_admission_is_not_bypassed(self) -> None:
        """A route the listener refuses takes nothing."""
        gw = b.gateway(listeners=[b.listener("https", port=443, protocol="HTTPS",
                                             hostname="*.example.com", from_="Selector",
                                             selector={"matchLabels": {
                                                 "kubernetes.io/metadata.name": "team-a"}})])
        assert not hijacks(b.scan(gw, owner_route(), taker_route()))

    def test_different_ports_do_not_compete(self) -> None:
        gw = b.gateway(listeners=[b.listener("https", port=443, protocol="HTTPS",
                                             hostname="*.example.com"),
                                  b.listener("http", port=80, hostname="*.example.com")])
        owner = b.http_route("billing", "team-a", hostnames=[HOST], created=b.ts(1),
                             parents=[b.parent(section="https")])
        taker = taker_route(parents=[b.parent(section="http")])
        assert not hijacks(b.scan(gw, owner, taker))

    def test_most_specific_listener_isolates(self) -> None:
        """Requests for ``api.example.com`` reach the ``api`` listener only; a route attached
        to the wildcard listener with that hostname never receives them."""
        gw = b.gateway(listeners=[
            b.listener("api", hostname=HOST, from_="Selector", selector={"matchLabels": {
                "kubernetes.io/metadata.name": "team-a"}}),
            b.listener("wild", hostname="*.example.com")])
        graph = b.scan(gw, owner_route(), taker_route())
        assert not hijacks(graph)
        assert about(graph, TAKER, "Shadowed")

    def test_more_specific_listener_of_a_listener_set(self) -> None:
        """Requests go to the most specific listener first: a tenant whose ListenerSet adds a
        listener for the owner's hostname takes every request the owner's route (on the
        Gateway's wildcard listener) would serve."""
        gw = b.gateway(listeners=[b.listener("https", hostname="*.example.com")],
                       allowed_listeners={"from": "All"})
        ls = b.listener_set("steal", "team-b", listeners=[
            b.listener("api", hostname=HOST, from_="Same")])
        taker = taker_route(b.match("/"), parents=[b.parent("steal", "team-b",
                                                            kind="ListenerSet")])
        graph = b.scan(gw, owner_route(), ls, taker)
        f = only_hijack(graph)
        assert (f.severity, f.route, f.other, f.hostname) == (Severity.CRITICAL, TAKER, OWNER, HOST)
        assert f.listener == "api"
        assert "listener" in f.basis
        for words in ("team-b/dash", "team-a/billing", HOST, "api", "https"):
            assert words in f.message
        assert about(graph, OWNER, "Shadowed")  # and the owner's route is told it is cut off

    def test_more_specific_gateway_listener_open_to_another_tenant(self) -> None:
        gw = b.gateway(listeners=[
            b.listener("https", hostname="*.example.com"),
            b.listener("api", hostname=HOST, from_="Selector", selector={"matchLabels": {
                "kubernetes.io/metadata.name": "team-b"}})])
        f = only_hijack(b.scan(gw, owner_route(), taker_route(b.match("/v1"))))
        assert (f.severity, f.route, f.other, f.listener) == (
            Severity.CRITICAL, TAKER, OWNER, "api")
        assert "PathPrefix /v1" in f.message

    def test_more_specific_listener_takes_from_a_wildcard_route(self) -> None:
        gw = b.gateway(listeners=[
            b.listener("https", hostname="*.example.com"),
            b.listener("shop", hostname="shop.example.com")])
        owner = b.http_route("billing", "team-a", hostnames=["*.example.com"], created=b.ts(1),
                             parents=[b.parent(section="https")])
        taker = taker_route(b.match("/"), hostnames=["shop.example.com"],
                            parents=[b.parent(section="shop")])
        f = only_hijack(b.scan(gw, owner, taker))
        assert (f.severity, f.route, f.other, f.hostname) == (
            Severity.CRITICAL, TAKER, OWNER, "shop.example.com")

    def test_more_specific_listener_same_tenant_is_not_critical(self) -> None:
        gw = b.gateway(listeners=[b.listener("https", hostname="*.example.com"),
                                  b.listener("api", hostname=HOST)])
        label = {"capsule.clastix.io/tenant": "acme"}
        graph = b.scan(gw, b.namespace("team-a", labels=label),
                       b.namespace("team-b", labels=label), owner_route(),
                       taker_route(b.match("/"), parents=[b.parent(section="api")]))
        assert not [f for f in graph.findings() if f.severity == Severity.CRITICAL]

    def test_disjoint_on_the_more_specific_listener_is_no_hijack(self) -> None:
        """The owner's requests reach the other listener, but no route there accepts them."""
        gw = b.gateway(listeners=[b.listener("https", hostname="*.example.com"),
                                  b.listener("api", hostname=HOST)])
        graph = b.scan(gw, owner_route(b.match("/billing")),
                       taker_route(b.match("/metrics"), parents=[b.parent(section="api")]))
        assert not hijacks(graph)

    def test_grpc_longer_method(self) -> None:
        owner = b.grpc_route("billing", "team-a", hostnames=[HOST], created=b.ts(1),
                             matches=[b.grpc_match("pkg.Billing")])
        taker = b.grpc_route("dash", "team-b", hostnames=[HOST], created=b.ts(2),
                             matches=[b.grpc_match("pkg.Billing", "Charge")])
        (f,) = hijacks(b.scan(SHARED, owner, taker))
        assert (f.severity, f.route, f.other) == (
            Severity.CRITICAL, b.route_ref("dash", "team-b", "GRPCRoute"),
            b.route_ref("billing", "team-a", "GRPCRoute"))
        assert "method" in f.basis

    def test_grpc_other_service_is_disjoint(self) -> None:
        owner = b.grpc_route("billing", "team-a", hostnames=[HOST], created=b.ts(1),
                             matches=[b.grpc_match("pkg.Billing")])
        taker = b.grpc_route("dash", "team-b", hostnames=[HOST], created=b.ts(2),
                             matches=[b.grpc_match("pkg.Metrics")])
        graph = b.scan(SHARED, owner, taker)
        assert not hijacks(graph)
        assert b.findings(graph, "SharedHostname")


class TestSeverity:
    """Cross-tenant hijacks are critical; inside one tenant or with sharing, never."""

    def test_same_tenant_label_is_never_critical(self) -> None:
        label = {"capsule.clastix.io/tenant": "acme"}
        graph = b.scan(SHARED, b.namespace("team-a", labels=label),
                       b.namespace("team-b", labels=label), owner_route(), taker_route())
        assert not [f for f in graph.findings() if f.severity == Severity.CRITICAL]
        for f in hijacks(graph):
            assert f.severity in (Severity.WARNING, Severity.INFO)
            assert f.tenant == f.other_tenant == "acme"

    def test_configured_tenant_label(self) -> None:
        label = {"example.io/tenant": "acme"}
        objs = [SHARED, b.namespace("team-a", labels=label),
                b.namespace("team-b", labels=label), owner_route(), taker_route()]
        assert only_hijack(b.scan(*objs)).severity == Severity.CRITICAL
        graph = b.scan(*objs, policy=Policy(tenant_label="example.io/tenant"))
        assert not [f for f in graph.findings() if f.severity == Severity.CRITICAL]

    @pytest.mark.parametrize("severity", [Severity.WARNING, Severity.INFO])
    def test_intra_tenant_severity_is_configurable(self, severity: str) -> None:
        """The policy sets an intra-tenant Hijack's severity; cross-tenant stays critical."""
        label = {"capsule.clastix.io/tenant": "acme"}
        policy = Policy(intra_tenant_severity=severity)
        same = b.scan(SHARED, b.namespace("team-a", labels=label),
                      b.namespace("team-b", labels=label), owner_route(), taker_route(),
                      policy=policy)
        assert only_hijack(same).severity == severity
        assert only_hijack(b.scan(SHARED, owner_route(), taker_route(),
                                  policy=policy)).severity == Severity.CRITICAL

    def test_intra_tenant_severity_is_never_critical(self) -> None:
        with pytest.raises(ValueError, match="intra_tenant_severity"):
            Policy(intra_tenant_severity=Severity.CRITICAL)

    def test_same_namespace_is_never_critical(self) -> None:
        graph = b.scan(SHARED, owner_route(), taker_route(ns="team-a"))
        assert not [f for f in graph.findings() if f.severity == Severity.CRITICAL]

    def test_owner_sharing_lowers_to_warning(self) -> None:
        graph = b.scan(SHARED, b.namespace("team-a", shared_with="team-b"), owner_route(),
                       taker_route())
        f = only_hijack(graph)
        assert (f.severity, f.route, f.other) == (Severity.WARNING, TAKER, OWNER)
        assert "shares" in f.message

    def test_offender_cannot_lower_its_own_hijack(self) -> None:
        """``shared-with`` on the offender's namespace does not make the owner share."""
        graph = b.scan(SHARED, b.namespace("team-b", shared_with="team-a"), owner_route(),
                       taker_route())
        assert only_hijack(graph).severity == Severity.CRITICAL

    @pytest.mark.parametrize(("severity", "threshold", "expected"), [
        (Severity.CRITICAL, "critical", True), (Severity.WARNING, "critical", False),
        (Severity.INFO, "critical", False),
        (Severity.CRITICAL, "warning", True), (Severity.WARNING, "warning", True),
        (Severity.INFO, "warning", False),
        (Severity.CRITICAL, "info", True), (Severity.WARNING, "info", True),
        (Severity.INFO, "info", True),
        (Severity.CRITICAL, "never", False), (Severity.INFO, "never", False),
    ])
    def test_at_or_above(self, severity: str, threshold: str, expected: bool) -> None:
        assert at_or_above(severity, threshold) is expected


class TestSharedHostname:
    """Two tenants serving disjoint requests on one hostname, without an opt-in."""

    @pytest.mark.parametrize(("owner_match", "taker_match"), [
        pytest.param(b.match("/billing"), b.match("/metrics"), id="paths"),
        pytest.param(b.match("/abc"), b.match("/abcd"), id="element-wise-prefix"),
        pytest.param(b.match("/", method="GET"), b.match("/", method="POST"), id="methods"),
        pytest.param(b.match("/", headers={"env": "prod"}), b.match("/", headers={"env": "dev"}),
                     id="header-values"),
        pytest.param(b.match("/a", type="Exact"), b.match("/a/", type="Exact"), id="exact"),
    ])
    def test_disjoint_is_not_hijack(self, owner_match: dict[str, Any],
                                    taker_match: dict[str, Any]) -> None:
        graph = b.scan(SHARED, owner_route(owner_match), taker_route(taker_match))
        assert not hijacks(graph)
        (f,) = b.findings(graph, "SharedHostname")
        assert (f.severity, f.route, f.other, f.hostname) == (Severity.WARNING, TAKER, OWNER, HOST)
        assert "team-b/dash" in f.message and "team-a/billing" in f.message

    def test_sharing_opt_in_silences(self) -> None:
        graph = b.scan(SHARED, b.namespace("team-a", shared_with="team-b"),
                       owner_route(b.match("/billing")), taker_route(b.match("/metrics")))
        assert not b.findings(graph, "SharedHostname")

    def test_same_tenant_is_silent(self) -> None:
        label = {"capsule.clastix.io/tenant": "acme"}
        graph = b.scan(SHARED, b.namespace("team-a", labels=label),
                       b.namespace("team-b", labels=label),
                       owner_route(b.match("/billing")), taker_route(b.match("/metrics")))
        assert not b.findings(graph, "SharedHostname")


class TestShadowed:
    """A rule that can never win names the winner and the basis."""

    def test_equal_match_newer_route(self) -> None:
        graph = b.scan(SHARED, owner_route(), taker_route(b.match("/")))
        (f,) = about(graph, TAKER, "Shadowed")
        assert (f.other, f.severity, f.basis) == (OWNER, Severity.WARNING, "older route")
        assert "team-a/billing" in f.message and "older route" in f.message

    def test_same_age_alphabetical(self) -> None:
        graph = b.scan(SHARED, owner_route(created=b.ts(1)),
                       taker_route(b.match("/"), created=b.ts(1)))
        (f,) = about(graph, TAKER, "Shadowed")
        assert f.other == OWNER
        assert "alphabetical" in f.basis

    def test_same_tenant_is_info(self) -> None:
        graph = b.scan(SHARED, owner_route(), taker_route(b.match("/"), ns="team-a"))
        (f,) = about(graph, b.route_ref("dash", "team-a"), "Shadowed")
        assert f.severity == Severity.INFO

    def test_hostname_precedence_uses_the_intersected_hostname(self) -> None:
        """``*.com`` on a ``*.example.com`` listener gets ``*.example.com``, ties with a route on
        ``*.example.com``, and the older wins; the message says the outcome rests on that
        choice (gateway-api issue 5120; docs/architecture.md, "Which hostname ranks a route")."""
        older = owner_route(hostnames=["*.com"], created=b.ts(1))
        newer = taker_route(b.match("/"), hostnames=["*.example.com"], created=b.ts(2))
        graph = b.scan(SHARED, older, newer)
        (f,) = about(graph, TAKER, "Shadowed")
        assert (f.other, f.basis, f.hostname) == (OWNER, "older route", "*.example.com")
        assert "5120" in f.message

    def test_rule_winning_some_requests_is_not_shadowed(self) -> None:
        """Matches of a rule are ORed: one match that wins is enough."""
        graph = b.scan(SHARED, owner_route(b.match("/a")),
                       taker_route(b.match("/a"), b.match("/b")))
        assert not about(graph, TAKER, "Shadowed")

    def test_stronger_match_is_not_shadowed(self) -> None:
        graph = b.scan(SHARED, owner_route(b.match("/a")), taker_route(b.match("/a/b")))
        assert not about(graph, TAKER, "Shadowed")

    def test_header_restricted_winner_does_not_shadow(self) -> None:
        """A stronger match that needs a header leaves requests without it to the other."""
        graph = b.scan(SHARED, owner_route(b.match("/a")),
                       taker_route(b.match("/a", headers={"x": "1"}), created=b.ts(0)))
        assert not about(graph, OWNER, "Shadowed")

    def test_wildcard_route_still_serves_other_subdomains(self) -> None:
        """Losing ``api.example.com`` to a precise route is not losing ``*.example.com``."""
        wild = b.http_route("wild", "team-b", hostnames=["*.example.com"], created=b.ts(2),
                            matches=[b.match("/")])
        graph = b.scan(SHARED, owner_route(), wild)
        assert not about(graph, b.route_ref("wild", "team-b"), "Shadowed")

    def test_own_rules_are_not_reported(self) -> None:
        """A rule shadowed by an earlier rule of the same route is the route's own business."""
        route = b.http_route("r", "team-a", hostnames=[HOST],
                             rules=[b.rule(b.match("/")), b.rule(b.match("/"))])
        assert not b.findings(b.scan(SHARED, route), "Shadowed")

    @pytest.mark.parametrize("kind", ["TCPRoute", "UDPRoute"])
    def test_l4_newer_route_never_wins(self, kind: str) -> None:
        """TCPRoute/UDPRoute on one listener: the oldest takes all."""
        gw = b.gateway(listeners=[b.listener("l4", port=5432, protocol=kind[:3])])
        old = b.l4_route(kind, "old", "team-a", created=b.ts(1))
        new = b.l4_route(kind, "new", "team-b", created=b.ts(2))
        graph = b.scan(gw, old, new)
        (f,) = about(graph, b.route_ref("new", "team-b", kind), "Shadowed")
        assert f.other == b.route_ref("old", "team-a", kind)
        assert f.basis == "older route"

    def test_tls_more_specific_sni_wins(self) -> None:
        gw = b.gateway(listeners=[b.listener("tls", port=443, protocol="TLS")])
        wild = b.l4_route("TLSRoute", "wild", "team-a", hostnames=["*.example.com"],
                          created=b.ts(1))
        precise = b.l4_route("TLSRoute", "db", "team-b", hostnames=["db.example.com"],
                             created=b.ts(2))
        (f,) = hijacks(b.scan(gw, wild, precise))
        assert (f.route, f.other, f.hostname, f.basis) == (
            b.route_ref("db", "team-b", "TLSRoute"), b.route_ref("wild", "team-a", "TLSRoute"),
            "db.example.com", "more specific hostname")


class TestPosture:
    def test_open_listener_without_hostname(self) -> None:
        gw = b.gateway(listeners=[b.listener("open"), b.listener("closed", port=81,
                                                                    from_="Same")])
        (f,) = b.findings(b.scan(gw), "Posture", reason="OpenListenerWithoutHostname")
        assert (f.severity, f.listener, f.gateway) == (Severity.WARNING, "open", b.GW)

    def test_shared_open_listener(self) -> None:
        graph = b.scan(SHARED, owner_route(b.match("/billing")), taker_route(b.match("/x")))
        (f,) = b.findings(graph, "Posture", reason="SharedOpenListener")
        assert (f.severity, f.listener) == (Severity.INFO, "https")
        one = b.scan(SHARED, owner_route())
        assert not b.findings(one, "Posture", reason="SharedOpenListener")

    @pytest.mark.parametrize(("selector", "flagged"), [
        ({"matchLabels": {"team": "billing"}}, True),
        ({"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In",
                                "values": ["team-a"]}]}, False),
    ])
    def test_selector_on_custom_label(self, selector: dict[str, Any], flagged: bool) -> None:
        gw = b.gateway(listeners=[b.listener(hostname="*.example.com", from_="Selector",
                                             selector=selector)])
        got = b.findings(b.scan(gw), "Posture", reason="SelectorOnCustomLabel")
        assert bool(got) is flagged

    def test_hostname_on_gateways_of_two_tenants(self) -> None:
        gw_a = b.gateway("gw", "team-a", listeners=[b.listener(from_="Same")])
        gw_b = b.gateway("gw", "team-b", listeners=[b.listener(from_="Same")])
        graph = b.scan(gw_a, gw_b,
                       b.http_route("r", "team-a", hostnames=[HOST], parents=[{"name": "gw"}]),
                       b.http_route("r", "team-b", hostnames=[HOST], parents=[{"name": "gw"}]))
        assert not hijacks(graph)
        (f,) = b.findings(graph, "Posture", reason="HostnameAcrossGateways")
        assert (f.severity, f.hostname) == (Severity.WARNING, HOST)
        assert "team-a" in f.message and "team-b" in f.message


class TestRobustness:
    """Malformed input is reported and the rest is still analysed."""

    @pytest.mark.parametrize("bad", [
        pytest.param(b.http_route("bad", "team-c", hostnames=["not a hostname"]),
                     id="bad-hostname"),
        pytest.param({"apiVersion": b.V1, "kind": "HTTPRoute", "metadata": {"name": "bad",
                                                                          "namespace": "team-c"}},
                     id="missing-spec"),
        pytest.param({**b.http_route("bad", "team-c"), "spec": {"rules": "everything"}},
                     id="wrong-type"),
        pytest.param(b.http_route("bad", "team-c", hostnames=[f"h{i}.example.com"
                                                             for i in range(17)]),
                     id="over-crd-limit"),
        pytest.param({**b.gateway("bad"), "spec": {"listeners": [{"port": 80}]}},
                     id="bad-gateway"),
        pytest.param(["not", "an", "object"], id="non-mapping"),
    ])
    def test_invalid_does_not_stop_analysis(self, bad: object) -> None:
        graph = b.scan(SHARED, bad, owner_route(), taker_route())
        assert only_hijack(graph).severity == Severity.CRITICAL
        (inv,) = graph.invalid_objects()
        assert inv.reason

    def test_finding_identity_and_diff(self) -> None:
        before = b.scan(SHARED, owner_route(), taker_route()).findings()
        after = b.scan(SHARED, owner_route(), taker_route(b.match("/v1/charge/x"))).findings()
        d = diff(before, after)
        assert not d.added and not d.removed
        assert [f.kind for f in d.changed] == ["Hijack"]
        gone = diff(before, b.scan(SHARED, owner_route()).findings())
        assert "Hijack" in [f.kind for f in gone.removed] and not gone.added


class TestListenerIdentity:
    def test_same_listener_name_on_gateway_and_listener_set_are_two_findings(self) -> None:
        """A ListenerSet may reuse a Gateway listener's name: the findings on each stay apart
        (their identity names who declares the listener), and each says which one it is."""
        gw = b.gateway(listeners=[b.listener("web", hostname="*.example.com")],
                       allowed_listeners={"from": "All"})
        ls = b.listener_set("extra", "infra", listeners=[
            b.listener("web", port=8080, hostname="*.example.com")])

        parents = [b.parent(), b.parent("extra", kind="ListenerSet")]
        graph = b.scan(
            gw, ls,
            b.http_route("api", "team-a", hostnames=["api.example.com"], created=b.ts(1),
                         parents=parents),
            b.http_route("grab", "team-b", hostnames=["api.example.com"], created=b.ts(2),
                         parents=parents, matches=[b.match("/v1")]))
        hijacks = b.findings(graph, "Hijack")
        assert sorted((f.listener, f.listener_owner.kind if f.listener_owner else None)
                      for f in hijacks) == [("web", "Gateway"), ("web", "ListenerSet")]
        assert len({f.identity for f in hijacks}) == 2
