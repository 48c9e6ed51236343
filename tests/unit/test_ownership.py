"""Tenants and hostname ownership (docs/architecture.md, "Tenants and ownership").

- a tenant is a namespace, or the value of the tenant label (default
  ``capsule.clastix.io/tenant``, configurable) shared by several namespaces;
- the owner of a hostname: an explicit claim (the platform's ownership file, which overrides
  ``gwwatch.io/hostnames`` Namespace annotations; annotations can be distrusted), the most
  specific claim winning; otherwise the tenant of the oldest route claiming the hostname
  (ties: ``{namespace}/{name}``, the spec's own tie-break);
- two tenants claiming the same hostname: a ``Posture``/``ConflictingClaims`` finding and no
  claim wins (``owner()`` says so; the findings follow the oldest route);
- annotation claims add, never subtract: where a claim and the oldest route disagree, the
  findings of both readings and a ``Posture``/``ContestedClaim`` finding;
- an unlabelled namespace is never the label-value tenant of the same spelling;
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


# --- annotation claims add, never subtract (issue 11) ------------------------------------------

HOST = "api.example.com"
VICTIM = b.route_ref("billing", "victim")
INTRUDER = b.route_ref("grab", "attacker")


def _victim_route(**kw: object) -> dict[str, object]:
    args: dict[str, object] = {"hostnames": [HOST], "created": b.ts(1),
                               "matches": [b.match("/")]}
    args.update(kw)
    return b.http_route("billing", "victim", **args)  # type: ignore[arg-type]


def _intruder_route(**kw: object) -> dict[str, object]:
    args: dict[str, object] = {"hostnames": [HOST], "created": b.ts(2),
                               "matches": [b.match("/v1/charge")]}
    args.update(kw)
    return b.http_route("grab", "attacker", **args)  # type: ignore[arg-type]


def _hijackers(n: int) -> list[dict[str, object]]:
    """``n`` routes of ``n`` other tenants, each taking a longer prefix of the victim's ``/``."""
    return [b.http_route(f"h{i}", f"crowd-{i}", hostnames=[HOST], created=b.ts(3),
                         matches=[b.match(f"/p{i}")]) for i in range(n)]


def _pairs(graph: ConflictGraph, kind: str) -> set[tuple[object, object, str]]:
    return {(f.route, f.other, str(f.severity)) for f in b.findings(graph, kind)}


class TestAnnotationsAddNeverSubtract:
    """docs/architecture.md, "Tenants and ownership": "Annotations add, never subtract. Whoever
    can annotate a Namespace can claim on paper, so an annotation claim can add protection but
    cannot silence what the evidence (the oldest route) shows. When the two readings name
    different owners, gwwatch reports the findings of both and a `Posture` finding naming the
    contested claim." Each vector below is one issue 11 measured."""

    def test_a_second_exact_claim_does_not_erase_every_hijack(self) -> None:
        """The victim claims its exact hostname and 300 routes of other tenants take parts of
        it; an attacker annotating its own namespace with the same name made every Hijack
        vanish (and the victim's TrafficHijacked go) behind one ConflictingClaims warning."""
        objs = [WILD, b.namespace("victim", hostnames=HOST), _victim_route(),
                _intruder_route(), *_hijackers(300)]
        before = b.scan(*objs)
        hijacks = _pairs(before, "Hijack")
        assert len(hijacks) == 301 and all(s == "critical" for _, _, s in hijacks)
        graph = ConflictGraph()
        graph.load(b.parse_all(objs))

        d = graph.upsert(b.parse_all([b.namespace("attacker", hostnames=HOST)])[0])

        assert not [f for f in d.removed if f.kind == "Hijack"]
        assert _pairs(graph, "Hijack") == hijacks
        assert {f.other for f in b.findings(graph, "Hijack")} == {VICTIM}
        (conflict,) = b.findings(graph, "Posture", reason="ConflictingClaims")
        assert "attacker" in conflict.message and "victim" in conflict.message
        assert not [f for f in graph.findings_of(VICTIM) if f.route == VICTIM]

    def test_an_exact_claim_on_an_unclaimed_hostname_does_not_move_the_victim(self) -> None:
        """Nobody claimed the hostname; the attacker's claim alone made the attacker its owner:
        the Hijacks against the victim went and its own route became the 'victim'."""
        objs = [WILD, _victim_route(), _intruder_route(), *_hijackers(3),
                b.namespace("attacker", hostnames=HOST)]
        graph = b.scan(*objs)
        assert (INTRUDER, VICTIM, "critical") in _pairs(graph, "Hijack")
        assert {(r, o) for r, o, _ in _pairs(graph, "Hijack") if o == VICTIM} == {
            (INTRUDER, VICTIM), *((b.route_ref(f"h{i}", f"crowd-{i}"), VICTIM) for i in range(3))}
        assert not [f for f in graph.findings_of(VICTIM)
                    if f.route == VICTIM and f.kind in ("Hijack", "SharedHostname")]
        (contested,) = b.findings(graph, "Posture", reason="ContestedClaim")
        assert contested.hostname == HOST
        assert (contested.tenant, contested.other_tenant) == ("attacker", "victim")
        assert "namespace annotation" in contested.message and "victim/billing" in contested.message

    def test_a_claim_under_the_victims_wildcard_claim_does_not_move_its_condition(self) -> None:
        """The victim claims ``*.example.com`` and serves ``/`` on api.example.com; the attacker
        claims api.example.com, more specific, and serves ``/v1/charge``. That made the attacker
        the owner: no Hijack, and SharesHostname on the victim's route instead."""
        objs = [WILD, b.namespace("victim", hostnames="*.example.com"), _victim_route(),
                _intruder_route(), b.namespace("attacker", hostnames=HOST)]
        graph = b.scan(*objs)
        assert _pairs(graph, "Hijack") == {(INTRUDER, VICTIM, "critical")}
        assert not [f for f in graph.findings_of(VICTIM) if f.route == VICTIM]
        assert b.findings(graph, "Posture", reason="ContestedClaim")

    def test_a_wildcard_route_keeps_its_subdomain(self) -> None:
        """The victim's older wildcard route and wildcard claim; the attacker claims and serves
        the more specific name: the more specific hostname taking the subdomain is a Hijack."""
        victim = _victim_route(hostnames=["*.example.com"])
        intruder = _intruder_route(matches=[b.match("/")])
        graph = b.scan(WILD, b.namespace("victim", hostnames="*.example.com"), victim, intruder,
                       b.namespace("attacker", hostnames=HOST))
        (f,) = b.findings(graph, "Hijack")
        assert (f.route, f.other, f.severity, f.basis) == (
            INTRUDER, VICTIM, "critical", "more specific hostname")

    def test_a_late_owners_claim_makes_the_squatter_a_hijack(self) -> None:
        """"So a legitimate late owner's claim still turns an early squatter into a Hijack":
        the squatter's route is older, the owner claims the hostname afterwards."""
        squatter = b.http_route("grab", "attacker", hostnames=[HOST], created=b.ts(1),
                                matches=[b.match("/")])
        owner = _victim_route(created=b.ts(2))
        graph = b.scan(WILD, squatter, owner, b.namespace("victim", hostnames=HOST))
        (f,) = b.findings(graph, "Hijack")
        assert (f.route, f.other, f.severity, f.basis) == (
            INTRUDER, VICTIM, "critical", "older route")
        assert "contested" in f.message
        (contested,) = b.findings(graph, "Posture", reason="ContestedClaim")
        assert (contested.tenant, contested.other_tenant) == ("victim", "attacker")

    def test_per_route_pair_the_more_severe_reading(self) -> None:
        """Per pair of routes the more severe reading's findings: the evidence's Hijack
        (critical) over the claim's SharedHostname (warning) for the same two routes."""
        graph = b.scan(WILD, _victim_route(), _intruder_route(),
                       b.namespace("attacker", hostnames=HOST))
        pairs = {(f.kind, f.route, f.other) for f in graph.findings()
                 if f.kind in ("Hijack", "SharedHostname")}
        assert pairs == {("Hijack", INTRUDER, VICTIM)}

    def test_agreeing_readings_are_not_contested(self) -> None:
        graph = b.scan(WILD, b.namespace("victim", hostnames=HOST), _victim_route(),
                       _intruder_route())
        assert _pairs(graph, "Hijack") == {(INTRUDER, VICTIM, "critical")}
        assert not b.findings(graph, "Posture", reason="ContestedClaim")
        assert graph.owners(HOST).owners == (graph.owner(HOST),)

    def test_platform_claims_decide_alone(self) -> None:
        """"Only platform claims (ownership file / ConfigMap) decide alone": the file names
        the attacker, so the victim's older route is the one that takes requests."""
        policy = Policy(ownership={"attacker": (HOST,)})
        graph = b.scan(WILD, b.namespace("victim", hostnames=HOST), _victim_route(),
                       _intruder_route(matches=[b.match("/")]), policy=policy)
        assert _pairs(graph, "Hijack") == {(VICTIM, INTRUDER, "critical")}
        assert not b.findings(graph, "Posture", reason="ContestedClaim")
        assert graph.owners(HOST).owners == (graph.owner(HOST),)

    def test_distrusted_annotations_contest_nothing(self) -> None:
        graph = b.scan(WILD, _victim_route(), _intruder_route(),
                       b.namespace("attacker", hostnames=HOST),
                       policy=Policy(trust_annotations=False))
        assert _pairs(graph, "Hijack") == {(INTRUDER, VICTIM, "critical")}
        assert not b.findings(graph, "Posture", reason="ContestedClaim")

    def test_the_contest_ends_with_the_claim(self) -> None:
        objs = b.parse_all([WILD, _victim_route(), _intruder_route(),
                            b.namespace("attacker", hostnames=HOST)])
        graph = ConflictGraph()
        graph.load(objs)
        (contested,) = b.findings(graph, "Posture", reason="ContestedClaim")

        d = graph.upsert(b.parse_all([b.namespace("attacker")])[0])

        assert d.removed == (contested,)
        assert _pairs(graph, "Hijack") == {(INTRUDER, VICTIM, "critical")}

    def test_a_contested_hostname_is_analysed_twice_at_most(
            self, monkeypatch: pytest.MonkeyPatch) -> None:
        """"A contested hostname is analysed twice at most, not per claim": twelve tenants claim
        names covering it (conflicting exact claims, wildcards of every depth), and a change of
        one route analyses its slice once per reading, two."""
        claims = [b.namespace(f"claim-{i}", hostnames=h) for i, h in enumerate(
            [HOST] * 6 + ["*.example.com"] * 3 + ["*.com", "*", HOST])]
        claims.append(b.namespace("attacker", hostnames="*.api.example.com,x.example.com"))
        graph = ConflictGraph()
        graph.load(b.parse_all([WILD, _victim_route(), _intruder_route(), *claims]))
        assert len(graph.owners(HOST).owners) <= 2
        from gwwatch.engine import conflicts
        calls: list[str] = []
        real = conflicts.analyse_slice

        def counting(**kw: object) -> object:
            calls.append(str(kw["hostname"]))
            return real(**kw)  # type: ignore[arg-type]

        monkeypatch.setattr(conflicts, "analyse_slice", counting)
        graph.upsert(b.parse_all([_intruder_route(matches=[b.match("/v2")])])[0])
        assert 1 <= calls.count(HOST) <= 2
        graph.upsert(b.parse_all([b.namespace("claim-0", hostnames="api.example.com")])[0])
        graph.upsert(b.parse_all([b.namespace("attacker", hostnames=HOST)])[0])
        assert calls.count(HOST) <= 6


# --- tenant identity (issue 14 item 3) ---------------------------------------------------------

TENANT = "capsule.clastix.io/tenant"
BILLING = {TENANT: "billing"}


class TestTenantIdentity:
    """docs/architecture.md: "An unlabelled namespace is a tenant of its own, never equal to a
    label value of the same spelling." Issue 14: "Namespace names and label values must be
    distinct identities." Whoever may create a namespace of a chosen name must not join the
    tenant whose label value it spells, nor that tenant's opt-ins."""

    def _objs(self, **owner_ns: object) -> list[object]:
        return [WILD,
                b.namespace("shop", labels={TENANT: "shop"}, **owner_ns),  # type: ignore[arg-type]
                b.namespace("billing-prod", labels=BILLING),
                b.namespace("billing"),  # unlabelled: spelled like the label value
                b.http_route("api", "shop", hostnames=[HOST], created=b.ts(1),
                             matches=[b.match("/")])]

    def _taker(self, namespace: str) -> dict[str, object]:
        return b.http_route("grab", namespace, hostnames=[HOST], created=b.ts(2),
                            matches=[b.match("/v1")])

    def test_an_unlabelled_namespace_is_not_the_label_value(self) -> None:
        graph = b.scan(*self._objs(), b.namespace("billing-dev", labels=BILLING))
        assert graph.tenant("billing-prod") == graph.tenant("billing-dev") == "billing"
        assert graph.tenant("billing") == "ns:billing"
        assert graph.tenant("billing") != graph.tenant("billing-prod")

    def test_names_stay_as_they_were_without_a_clash(self) -> None:
        graph = b.scan(b.namespace("blog"), b.namespace("shop-dev", labels={TENANT: "shop"}))
        assert (graph.tenant("blog"), graph.tenant("shop-dev")) == ("blog", "shop")
        assert graph.tenant("never-seen") == "never-seen"

    def test_a_stranger_spelled_like_the_label_value_hijacks_across_tenants(self) -> None:
        """The owner is in the label-value tenant ``billing``; a route in the unlabelled
        namespace ``billing`` takes its requests: a cross-tenant Hijack, critical (it was rated
        a same-tenant warning)."""
        owner = b.http_route("api", "billing-prod", hostnames=[HOST], created=b.ts(1),
                             matches=[b.match("/")])
        graph = b.scan(WILD, b.namespace("billing-prod", labels=BILLING), b.namespace("billing"),
                       owner, self._taker("billing"))
        (f,) = b.findings(graph, "Hijack")
        assert f.severity == "critical"
        assert (f.tenant, f.other_tenant) == ("ns:billing", "billing")
        assert "(tenant ns:billing)" in f.message

    def test_the_owners_opt_in_does_not_reach_the_stranger(self) -> None:
        """The regression for the opt-in: ``shared-with: billing`` names the label-value tenant
        ``billing``, so its route's Hijack is lowered to warning and the stranger's is not."""
        objs = self._objs(shared_with="billing")
        stranger = b.scan(*objs, self._taker("billing"))
        (f,) = b.findings(stranger, "Hijack")
        assert f.severity == "critical"
        member = b.scan(*objs, self._taker("billing-prod"))
        (f,) = b.findings(member, "Hijack")
        assert f.severity == "warning"
        assert member.shares("shop", "billing") and not member.shares("shop", "ns:billing")

    def test_ns_prefix_names_the_unlabelled_namespace(self) -> None:
        """``shared-with: ns:billing`` names the unlabelled namespace, and only it."""
        objs = self._objs(shared_with="ns:billing")
        (f,) = b.findings(b.scan(*objs, self._taker("billing")), "Hijack")
        assert f.severity == "warning"
        (f,) = b.findings(b.scan(*objs, self._taker("billing-prod")), "Hijack")
        assert f.severity == "critical"

    def test_ns_prefix_without_a_clash_is_the_namespace(self) -> None:
        graph = b.scan(b.namespace("team-a", shared_with="ns:team-b"),
                       policy=Policy(tenant_label=None))
        assert graph.shares("team-a", "team-b")
        graph = b.scan(b.namespace("team-a", shared_with="ns:team-b"))
        assert graph.shares("team-a", "team-b")

    def test_the_ownership_file_names_them_apart(self) -> None:
        owner = b.http_route("api", "billing-prod", hostnames=[HOST], created=b.ts(2),
                             matches=[b.match("/")])
        stranger = self._taker("billing")
        objs = [WILD, b.namespace("billing-prod", labels=BILLING), b.namespace("billing"),
                owner, {**stranger, "metadata": {**stranger["metadata"],  # type: ignore[dict-item]
                                                 "creationTimestamp": b.ts(1)}}]
        label = b.scan(*objs, policy=Policy(ownership={"billing": (HOST,)}))
        assert label.owner(HOST).tenant == "billing"  # type: ignore[union-attr]
        assert {(f.tenant, f.severity) for f in b.findings(label, "Hijack")} == {
            ("ns:billing", "critical")}
        namespace = b.scan(*objs, policy=Policy(ownership={"ns:billing": (HOST,)}))
        assert namespace.owner(HOST).tenant == "ns:billing"  # type: ignore[union-attr]

    def test_the_clash_appearing_later_renames_and_splits(self) -> None:
        """The same analysis whether the labelled namespace arrives before or after."""
        owner = b.http_route("api", "billing-prod", hostnames=[HOST], created=b.ts(1),
                             matches=[b.match("/")])
        objs = b.parse_all([WILD, b.namespace("billing"), owner, self._taker("billing"),
                            b.namespace("billing-prod")])
        graph = ConflictGraph()
        graph.load(objs)
        (f,) = b.findings(graph, "Hijack")
        assert (f.tenant, f.severity) == ("billing", "critical")

        graph.upsert(b.parse_all([b.namespace("billing-prod", labels=BILLING)])[0])

        (f,) = b.findings(graph, "Hijack")
        assert (f.tenant, f.other_tenant, f.severity) == ("ns:billing", "billing", "critical")
        scratch = b.scan(WILD, b.namespace("billing"), owner, self._taker("billing"),
                         b.namespace("billing-prod", labels=BILLING))
        assert graph.findings() == scratch.findings()
