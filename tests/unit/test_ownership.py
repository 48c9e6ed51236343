"""Tenants and hostname ownership (docs/architecture.md, "Tenants and ownership").

- a tenant is a namespace, or the value of the tenant label (default
  ``capsule.clastix.io/tenant``, configurable) shared by several namespaces;
- the owner of a hostname: an explicit claim (the platform's ownership file, which overrides
  ``gwwatch.io/hostnames`` Namespace annotations; annotations can be distrusted), the most
  specific claim winning; otherwise the tenant of the oldest route claiming the hostname
  (ties: ``{namespace}/{name}``, the spec's own tie-break);
- two tenants claiming the same hostname: a ``Posture``/``ConflictingClaims`` finding and no
  owner;
- ``gwwatch.io/shared-with`` on the owner's namespace names the tenants it shares with.
"""

from __future__ import annotations

import pytest

from gwwatch.engine import ConflictGraph, Policy
from gwwatch.engine.model import NamespaceInfo
from gwwatch.engine.ownership import parse_list, tenant_of
from tests.unit import builders as b

WILD = b.gateway(listeners=[b.listener(hostname="*.example.com")])


def _owner(graph: ConflictGraph, hostname: str) -> tuple[str | None, str] | None:
    owner = graph.owner(hostname)
    return None if owner is None else (owner.tenant, owner.rule)


class TestTenants:
    @pytest.mark.parametrize(("labels", "policy", "tenant"), [
        pytest.param({}, Policy(), "team-a", id="namespace-by-default"),
        pytest.param({"capsule.clastix.io/tenant": "acme"}, Policy(), "acme",
                     id="capsule-label-by-default"),
        pytest.param({"example.io/tenant": "acme"}, Policy(), "team-a",
                     id="other-label-ignored"),
        pytest.param({"example.io/tenant": "acme"}, Policy(tenant_label="example.io/tenant"),
                     "acme", id="configured-label"),
        pytest.param({"capsule.clastix.io/tenant": "acme"}, Policy(tenant_label=None),
                     "team-a", id="no-label"),
        pytest.param({"capsule.clastix.io/tenant": ""}, Policy(), "team-a", id="empty-value"),
    ])
    def test_tenant_of(self, labels: dict[str, str], policy: Policy, tenant: str) -> None:
        assert tenant_of(NamespaceInfo("team-a", labels, {}), policy) == tenant

    def test_label_groups_namespaces(self) -> None:
        graph = b.scan(b.namespace("shop-prod", labels={"capsule.clastix.io/tenant": "shop"}),
                       b.namespace("shop-dev", labels={"capsule.clastix.io/tenant": "shop"}),
                       b.namespace("blog"))
        assert graph.tenant("shop-prod") == graph.tenant("shop-dev") == "shop"
        assert graph.tenant("blog") == "blog"
        assert graph.tenant("never-seen") == "never-seen"

    def test_parse_list(self) -> None:
        assert parse_list(" a.example.com, *.B.example.com,,a.example.com ") == (
            "a.example.com", "*.b.example.com")
        assert parse_list("") == ()
        assert parse_list(None) == ()


class TestOldestRoute:
    """Without explicit claims: the tenant of the oldest route claiming the hostname."""

    def test_oldest_route_owns(self) -> None:
        graph = b.scan(WILD,
                       b.http_route("new", "team-a", hostnames=["api.example.com"],
                                    created=b.ts(2)),
                       b.http_route("old", "team-b", hostnames=["api.example.com"],
                                    created=b.ts(1)))
        assert _owner(graph, "api.example.com") == ("team-b", "oldest route")

    def test_tie_broken_by_namespace_name(self) -> None:
        graph = b.scan(WILD,
                       b.http_route("r", "team-b", hostnames=["api.example.com"],
                                    created=b.ts(1)),
                       b.http_route("r", "team-a", hostnames=["api.example.com"],
                                    created=b.ts(1)))
        assert _owner(graph, "api.example.com") == ("team-a", "oldest route")

    def test_unclaimed_hostname_has_no_owner(self) -> None:
        graph = b.scan(WILD, b.http_route("r", hostnames=["api.example.com"]))
        assert graph.owner("www.example.com") is None

    def test_older_wildcard_route_owns_its_subdomains(self) -> None:
        """A route on ``*.example.com`` claims ``shop.example.com`` too: a more specific hostname
        taking subdomains from an older wildcard route is a Hijack (docs/architecture.md)."""
        graph = b.scan(WILD,
                       b.http_route("wild", "team-a", hostnames=["*.example.com"],
                                    created=b.ts(1)),
                       b.http_route("shop", "team-b", hostnames=["shop.example.com"],
                                    created=b.ts(2)))
        assert _owner(graph, "shop.example.com") == ("team-a", "oldest route")

    def test_hostname_less_route_claims_the_listener_hostname(self) -> None:
        gw = b.gateway(listeners=[b.listener(hostname="api.example.com")])
        graph = b.scan(gw, b.http_route("r", "team-a", created=b.ts(1)))
        assert _owner(graph, "api.example.com") == ("team-a", "oldest route")

    def test_unattached_route_claims_nothing(self) -> None:
        gw = b.gateway(listeners=[b.listener(hostname="*.example.com", from_="Same")])
        graph = b.scan(gw, b.http_route("r", "team-a", hostnames=["api.example.com"]))
        assert graph.owner("api.example.com") is None


class TestAnnotations:
    """``gwwatch.io/hostnames`` on a Namespace: exact and wildcard claims."""

    def test_exact_claim_beats_oldest_route(self) -> None:
        graph = b.scan(WILD, b.namespace("team-b", hostnames="api.example.com"),
                       b.http_route("old", "team-a", hostnames=["api.example.com"],
                                    created=b.ts(1)))
        assert _owner(graph, "api.example.com") == ("team-b", "namespace annotation")

    @pytest.mark.parametrize(("host", "tenant"), [
        ("api.example.com", "team-b"),
        ("www.example.com", "team-a"),
        ("a.b.example.com", "team-a"),
        ("x.api.example.com", "team-c"),
        ("y.x.api.example.com", "team-c"),
        ("example.com", None),
    ])
    def test_more_specific_claim_wins(self, host: str, tenant: str | None) -> None:
        graph = b.scan(b.namespace("team-a", hostnames="*.example.com"),
                       b.namespace("team-b", hostnames="api.example.com"),
                       b.namespace("team-c", hostnames="*.api.example.com"))
        got = graph.owner(host)
        assert (got.tenant if got is not None else None) == tenant

    def test_claims_of_a_tenant_label(self) -> None:
        """A claim is made for the namespace's tenant, not the namespace."""
        graph = b.scan(b.namespace("shop-dev", labels={"capsule.clastix.io/tenant": "shop"},
                                   hostnames="shop.example.com"))
        assert _owner(graph, "shop.example.com") == ("shop", "namespace annotation")

    def test_invalid_entries_ignored_case_folded(self) -> None:
        graph = b.scan(b.namespace("team-a", hostnames="bad_host, API.Example.com, 10.0.0.1"))
        assert _owner(graph, "api.example.com") == ("team-a", "namespace annotation")
        assert graph.owner("bad_host") is None

    def test_conflicting_claims_have_no_owner(self) -> None:
        graph = b.scan(WILD, b.namespace("team-a", hostnames="api.example.com"),
                       b.namespace("team-b", hostnames="api.example.com"),
                       b.http_route("r", "team-a", hostnames=["api.example.com"],
                                    created=b.ts(1)))
        owner = graph.owner("api.example.com")
        assert owner is not None
        assert owner.tenant is None
        assert set(owner.contenders) == {"team-a", "team-b"}
        (posture,) = b.findings(graph, "Posture", reason="ConflictingClaims")
        assert posture.hostname == "api.example.com"
        assert "team-a" in posture.message and "team-b" in posture.message

    def test_one_tenant_claiming_twice_is_no_conflict(self) -> None:
        label = {"capsule.clastix.io/tenant": "shop"}
        graph = b.scan(b.namespace("shop-a", labels=label, hostnames="shop.example.com"),
                       b.namespace("shop-b", labels=label, hostnames="shop.example.com"))
        assert _owner(graph, "shop.example.com") == ("shop", "namespace annotation")
        assert not b.findings(graph, "Posture", reason="ConflictingClaims")

    def test_distrusted_annotations_are_ignored(self) -> None:
        objs = [WILD, b.namespace("team-b", hostnames="api.example.com"),
                b.http_route("old", "team-a", hostnames=["api.example.com"], created=b.ts(1))]
        graph = b.scan(*objs, policy=Policy(trust_annotations=False))
        assert _owner(graph, "api.example.com") == ("team-a", "oldest route")


class TestOwnershipFile:
    """The platform's file (tenant → hostnames) overrides Namespace annotations."""

    def test_file_beats_annotation(self) -> None:
        policy = Policy(ownership={"team-a": ("api.example.com",)})
        graph = b.scan(b.namespace("team-b", hostnames="api.example.com"), policy=policy)
        assert _owner(graph, "api.example.com") == ("team-a", "ownership file")
        assert not b.findings(graph, "Posture", reason="ConflictingClaims")

    def test_file_wildcard_beats_annotation(self) -> None:
        policy = Policy(ownership={"team-a": ("*.example.com",)})
        graph = b.scan(b.namespace("team-b", hostnames="api.example.com"), policy=policy)
        assert _owner(graph, "api.example.com") == ("team-a", "ownership file")

    def test_annotation_where_the_file_is_silent(self) -> None:
        """Only claims the file makes override; elsewhere annotations still count (switch
        them off with ``trust_annotations=False``)."""
        policy = Policy(ownership={"team-a": ("api.example.com",)})
        graph = b.scan(b.namespace("team-b", hostnames="blog.example.com"), policy=policy)
        assert _owner(graph, "blog.example.com") == ("team-b", "namespace annotation")

    def test_file_beats_oldest_route(self) -> None:
        policy = Policy(ownership={"team-b": ("api.example.com",)})
        graph = b.scan(WILD, b.http_route("old", "team-a", hostnames=["api.example.com"],
                                          created=b.ts(1)), policy=policy)
        assert _owner(graph, "api.example.com") == ("team-b", "ownership file")

    def test_two_tenants_in_the_file(self) -> None:
        policy = Policy(ownership={"team-a": ("api.example.com",),
                                   "team-b": ("API.example.com",)})
        graph = b.scan(policy=policy)
        owner = graph.owner("api.example.com")
        assert owner is not None and owner.tenant is None
        (posture,) = b.findings(graph, "Posture", reason="ConflictingClaims")
        assert posture.hostname == "api.example.com"


class TestSharedWith:
    """``gwwatch.io/shared-with`` on the owner's namespace lists the tenants it shares with."""

    def test_owner_opts_in(self) -> None:
        graph = b.scan(b.namespace("team-a", shared_with="team-b, Team-C"))
        assert graph.shares("team-a", "team-b")
        assert graph.shares("team-a", "team-c")
        assert not graph.shares("team-a", "team-d")

    def test_not_symmetric(self) -> None:
        """Listing someone else does not let them share your hostnames, nor you theirs."""
        graph = b.scan(b.namespace("team-b", shared_with="team-a"))
        assert not graph.shares("team-a", "team-b")
        assert graph.shares("team-b", "team-a")

    def test_by_tenant(self) -> None:
        label = {"capsule.clastix.io/tenant": "shop"}
        graph = b.scan(b.namespace("shop-dev", labels=label, shared_with="blog"))
        assert graph.shares("shop", "blog")


class TestCatchAllsOwnNoHostname:
    """A route without hostnames on a listener without one (or any TCP/UDP route) claims no
    hostname in particular: however old, it must not become the owner of every hostname."""

    def _gateway(self) -> object:
        return b.gateway(listeners=[
            b.listener("web", hostname="*.example.com"),
            b.listener("open", port=8080),
            b.listener("tcp", port=5432, protocol="TCP"),
        ])

    def test_old_tcp_route_does_not_hide_a_hijack(self) -> None:
        graph = b.scan(
            self._gateway(),
            b.l4_route("TCPRoute", "db", "team-z", created=b.ts(0),
                       parents=[b.parent(section="tcp")]),
            b.http_route("api", "team-a", hostnames=["api.example.com"], created=b.ts(1),
                         parents=[b.parent(section="web")]),
            b.http_route("grab", "team-b", hostnames=["api.example.com"], created=b.ts(2),
                         parents=[b.parent(section="web")],
                         matches=[b.match("/v1")]),
        )
        assert _owner(graph, "api.example.com") == ("team-a", "oldest route")
        hijacks = b.findings(graph, "Hijack")
        assert [(f.route, f.other) for f in hijacks] == [
            (b.route_ref("grab", "team-b"), b.route_ref("api", "team-a"))]

    def test_old_catch_all_owns_only_requests_without_a_hostname(self) -> None:
        graph = b.scan(
            self._gateway(),
            b.http_route("default", "team-z", created=b.ts(0),
                         parents=[b.parent(section="open")]),
            b.http_route("api", "team-a", hostnames=["api.example.com"], created=b.ts(1),
                         parents=[b.parent(section="web")]),
        )
        assert _owner(graph, "api.example.com") == ("team-a", "oldest route")
        arena = (b.GW, 8080, "HTTPRoute")
        owner = graph.owner("*", arena)
        assert owner is not None and owner.tenant == "team-z"
