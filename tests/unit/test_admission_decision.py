"""The admission decision (gwwatch.engine.admission) on findings from the real conflict graph.

In scope: which change is refused (a new critical Hijack whose offender is the object under
review), what is only warned about, the modes, DELETE and Gateways, the pending overlay's
arithmetic (``attributable``), and the bounds on messages. The graph's ``what_if`` supplies the
findings, exactly as the webhook's runtime calls it; no server here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pytest

from gwwatch.engine import ConflictGraph, Policy, parse
from gwwatch.engine.admission import Decision, Mode, Outcome, attributable, decide, unchecked
from gwwatch.engine.findings import Diff, Finding
from gwwatch.engine.model import ObjectRef, Parsed
from gwwatch.engine.vocabulary import Severity
from tests.builders import (
    Obj,
    gateway,
    http_route,
    listener,
    listener_set,
    match,
    namespace,
    parent,
    ts,
)
from tests.unit.builders import GW, scan

HOST = "api.example.com"
OWNER = ("billing", "billing-api")
THIEF = ("analytics", "dashboard")


def owner_route(**kw: object) -> Obj:
    return http_route(OWNER[1], OWNER[0], hostnames=[HOST], matches=[match("/")],
                      created=ts(1), **kw)  # type: ignore[arg-type]


def thief_route(path: str = "/v1/charge", name: str = THIEF[1], ns: str = THIEF[0],
                created: str = ts(100)) -> Obj:
    return http_route(name, ns, hostnames=[HOST], matches=[match(path)], created=created)


def shared_gateway() -> Obj:
    return gateway(listeners=[listener("https", port=443, protocol="HTTPS",
                                       hostname="*.example.com")],
                   allowed_listeners={"from": "All"})


def parsed(obj: Obj) -> Parsed:
    out = parse(obj, source="test")
    assert out is not None
    return out


def ref_of(obj: Obj) -> ObjectRef:
    return ObjectRef(obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"])


def review(graph: ConflictGraph, obj: Obj, *, operation: str = "CREATE",
           mode: str = Mode.DENY, pending: Sequence[Obj] = ()) -> Decision:
    """What the webhook does: what-if of (pending + object), minus what pending adds alone."""
    overlay = [parsed(p) for p in pending]
    full = graph.what_if(upserts=[*overlay, parsed(obj)])
    base = graph.what_if(upserts=overlay) if overlay else None
    current = {f.identity: f for f in graph.findings()}
    added = attributable(full, base=base, previous=current.get)
    return decide(mode=mode, operation=operation, subject=ref_of(obj), added=added,
                  tenant=graph.tenant)


def incident(*extra: Obj, policy: Policy | None = None) -> ConflictGraph:
    return scan(namespace("infra"), namespace(OWNER[0]), namespace(THIEF[0]), shared_gateway(),
                owner_route(), *extra, policy=policy)


class TestRefused:
    def test_the_offenders_create_is_refused_with_the_findings_own_message(self) -> None:
        """The techresolve hijack: a longer prefix of another tenant on the owner's hostname."""
        graph = incident()
        d = review(graph, thief_route())
        assert not d.allowed and d.outcome == Outcome.DENIED
        (f,) = d.refusing
        assert (f.kind, f.severity, f.route, f.other) == (
            "Hijack", "critical", ObjectRef("HTTPRoute", *THIEF), ObjectRef("HTTPRoute", *OWNER))
        assert f.message in d.message
        assert "gwwatch.io/shared-with" in d.message and "billing" in d.message

    def test_the_graph_is_left_as_it_was(self) -> None:
        """A refused what-if leaves no trace: same routes, same findings."""
        graph = incident()
        before = (graph.route_refs(), graph.findings())
        review(graph, thief_route())
        assert (graph.route_refs(), graph.findings()) == before

    def test_an_update_that_starts_taking_requests_is_refused(self) -> None:
        """An existing, disjoint route of another tenant moved onto the owner's hostname."""
        graph = incident(http_route(THIEF[1], THIEF[0], hostnames=["other.example.com"],
                                    matches=[match("/v1/charge")], created=ts(100)))
        d = review(graph, thief_route(), operation="UPDATE")
        assert d.outcome == Outcome.DENIED

    def test_a_listener_set_whose_listener_takes_the_owners_requests_is_refused(self) -> None:
        """The requests for HOST reach the ListenerSet's more specific listener, where only
        the other tenant's route is attached."""
        waiting = http_route(THIEF[1], THIEF[0], hostnames=[HOST], matches=[match("/")],
                             parents=[parent("grab", THIEF[0], kind="ListenerSet")],
                             created=ts(100))
        graph = incident(waiting)
        ls = listener_set("grab", THIEF[0], listeners=[
            listener("exact", port=443, protocol="HTTPS", hostname=HOST)])
        d = review(graph, ls)
        assert d.outcome == Outcome.DENIED
        assert d.refusing[0].listener_owner == ObjectRef("ListenerSet", THIEF[0], "grab")

    def test_a_listener_set_of_the_owners_own_tenant_is_not_refused(self) -> None:
        """The owner adding a listener is the owner's change, whoever's route sits on it."""
        waiting = http_route(THIEF[1], THIEF[0], hostnames=[HOST], matches=[match("/")],
                             parents=[parent("mine", OWNER[0], kind="ListenerSet")],
                             created=ts(100))
        graph = incident(waiting)
        ls = listener_set("mine", OWNER[0], listeners=[
            listener("exact", port=443, protocol="HTTPS", hostname=HOST)])
        d = review(graph, ls)
        assert d.allowed
        assert any("Hijack" in w for w in d.warnings)


class TestAdmitted:
    def test_the_victims_own_update_goes_through_despite_the_hijack(self) -> None:
        """An admitted hijack exists; the owner changing its route is not refused for it."""
        graph = incident(thief_route())
        assert any(f.severity == "critical" for f in graph.findings())
        updated = owner_route(rules=None)
        updated["spec"]["rules"][0]["matches"] = [match("/"), match("/v2")]
        d = review(graph, updated, operation="UPDATE")
        assert d.allowed and not d.refusing

    def test_a_disjoint_route_of_an_opted_in_tenant_goes_through(self) -> None:
        """shared-with on the owner's namespace: no critical finding, nothing refused."""
        graph = scan(namespace("infra"), namespace(OWNER[0], shared_with=THIEF[0]),
                     namespace(THIEF[0]), shared_gateway(), owner_route())
        d = review(graph, thief_route())
        assert d.allowed and d.outcome in (Outcome.ALLOWED, Outcome.WARNED)
        assert not d.refusing

    def test_a_warning_level_change_is_admitted_with_the_warning(self) -> None:
        """Within one tenant a Hijack is a warning: admitted, and the warning says so."""
        policy = Policy(tenant_label="team")
        graph = scan(namespace("infra"), namespace(OWNER[0], labels={"team": "pay"}),
                     namespace(THIEF[0], labels={"team": "pay"}), shared_gateway(),
                     owner_route(), policy=policy)
        d = review(graph, thief_route())
        assert d.allowed and d.outcome == Outcome.WARNED
        assert any(w.startswith("gwwatch: warning Hijack:") for w in d.warnings)

    def test_a_route_on_its_own_hostname_is_admitted_silently(self) -> None:
        graph = incident()
        d = review(graph, http_route("mine", THIEF[0], hostnames=["mine.example.com"],
                                     matches=[match("/")], created=ts(100)))
        assert d == Decision(True, Outcome.ALLOWED)

    def test_a_gateway_change_gets_warnings_only(self) -> None:
        """Opening a listener lets a waiting route in and hijack: warned, never refused."""
        closed = gateway(listeners=[listener("https", port=443, protocol="HTTPS",
                                             hostname="*.example.com", from_="Same")])
        waiting = thief_route()
        graph = scan(namespace("infra"), namespace(OWNER[0]), namespace(THIEF[0]), closed,
                     owner_route(), waiting)
        assert not [f for f in graph.findings() if f.kind == "Hijack"]
        d = review(graph, shared_gateway(), operation="UPDATE")
        assert d.allowed and d.outcome == Outcome.WARNED
        assert any("would be refused" not in w and "Hijack" in w for w in d.warnings)
        assert ref_of(shared_gateway()) == GW

    @pytest.mark.parametrize("operation", ["DELETE", "CONNECT"])
    def test_delete_is_never_refused(self, operation: str) -> None:
        graph = incident()
        d = decide(mode=Mode.DENY, operation=operation, subject=ObjectRef("HTTPRoute", *THIEF),
                   added=review(graph, thief_route()).refusing)
        assert d == Decision(True, Outcome.ALLOWED)


class TestContestedClaims:
    """An annotation claim adds protection, never a veto: a tenant that annotates its namespace
    with another tenant's hostname must not get that tenant's own updates refused."""

    @staticmethod
    def claimed_by_the_thief() -> ConflictGraph:
        # The owner's route is the oldest on HOST; the thief claims HOST on paper and serves
        # a longer prefix under it (the techresolve hijack, admitted before the webhook ran).
        graph = scan(namespace("infra"), namespace(OWNER[0]),
                     namespace(THIEF[0], hostnames=HOST), shared_gateway(), owner_route(),
                     thief_route())
        assert any(f.reason == "ContestedClaim" for f in graph.findings())
        return graph

    def test_the_victims_update_taking_its_path_back_is_admitted_with_a_warning(self) -> None:
        """The owner serves /v1/charge itself again: by the thief's annotation the owner now
        hijacks the thief (critical, the owner's route is the offender); by the evidence it
        is the owner's own hostname. Said, not refused, naming the contested claim."""
        graph = self.claimed_by_the_thief()
        updated = owner_route()
        updated["spec"]["rules"][0]["matches"] = [match("/"), match("/v1/charge")]
        d = review(graph, updated, operation="UPDATE")
        assert d.allowed and d.outcome == Outcome.WARNED and not d.refusing
        (text,) = [w for w in d.warnings if "not refused" in w]
        assert "critical Hijack" in text
        assert f"owned by tenant {THIEF[0]} only by a contested claim" in text
        assert "gwwatch.io/hostnames" in text
        # the finding itself names the claim and what contests it
        assert f"namespace annotation {HOST}; contested:" in text
        # it is the annotation reading's finding, flagged as such, same identity as ever
        (f,) = [f for f in graph.what_if(upserts=[parsed(updated)]).added
                if f.kind == "Hijack" and f.route == ref_of(updated)]
        assert f.contested and f.severity == Severity.CRITICAL
        assert f.identity == dataclasses.replace(f, contested=False).identity

    def test_the_same_update_is_refused_where_the_platform_assigns_the_hostname(self) -> None:
        """A platform claim decides alone: no contest, the owner's route would take the
        requests of the hostname's owner, and that is refused."""
        policy = Policy(ownership={THIEF[0]: (HOST,)})
        graph = scan(namespace("infra"), namespace(OWNER[0]), namespace(THIEF[0]),
                     shared_gateway(), owner_route(), thief_route(), policy=policy)
        updated = owner_route()
        updated["spec"]["rules"][0]["matches"] = [match("/"), match("/v1/charge")]
        d = review(graph, updated, operation="UPDATE")
        assert d.outcome == Outcome.DENIED
        assert not d.refusing[0].contested

    def test_the_techresolve_offender_is_still_refused_despite_its_annotation(self) -> None:
        """The thief's claim on paper buys its route nothing: by the evidence (the owner's
        route is the oldest) the thief takes the owner's requests, and that refuses."""
        graph = scan(namespace("infra"), namespace(OWNER[0]),
                     namespace(THIEF[0], hostnames=HOST), shared_gateway(), owner_route())
        d = review(graph, thief_route())
        assert d.outcome == Outcome.DENIED
        (f,) = d.refusing
        assert (f.route, f.other, f.contested) == (
            ObjectRef("HTTPRoute", *THIEF), ObjectRef("HTTPRoute", *OWNER), False)

    def test_a_contested_finding_the_evidence_comes_to_bear_out_counts_as_new(self) -> None:
        """``attributable``: the same critical Hijack, no longer resting on the claim alone,
        is what the change adds (it is refusable from now on)."""
        graph = self.claimed_by_the_thief()
        (f,) = [f for f in graph.findings() if f.kind == "Hijack"]
        contested = dataclasses.replace(f, contested=True)
        change = Diff(added=(), removed=(), changed=(f,))
        assert attributable(change, previous={f.identity: contested}.get) == (f,)
        assert attributable(Diff((), (), (contested,)), previous={f.identity: f}.get) == ()


class TestModes:
    def test_warn_mode_admits_and_says_what_deny_would_refuse(self) -> None:
        graph = incident()
        d = review(graph, thief_route(), mode=Mode.WARN)
        assert d.allowed and d.outcome == Outcome.WARNED and d.refusing
        assert d.warnings[0].startswith("gwwatch: would be refused (webhook mode warn): ")
        assert d.refusing[0].message in d.warnings[0]

    def test_off_mode_admits_unchecked(self) -> None:
        graph = incident()
        d = review(graph, thief_route(), mode=Mode.OFF)
        assert d == Decision(True, Outcome.UNCHECKED)

    def test_unchecked_says_why(self) -> None:
        d = unchecked("this replica has not finished its initial sync")
        assert d.allowed and d.outcome == Outcome.UNCHECKED
        assert d.warnings == ("gwwatch: this replica has not finished its initial sync",)


class TestPendingOverlay:
    def test_a_route_admitted_but_not_yet_watched_counts(self) -> None:
        """Two quick creates: the owner's route is pending (admitted, not in the graph yet);
        the second, taking its requests, is refused."""
        graph = scan(namespace("infra"), namespace(OWNER[0]), namespace(THIEF[0]),
                     shared_gateway())
        assert review(graph, thief_route()).allowed  # alone it takes nothing
        d = review(graph, thief_route(), pending=[owner_route()])
        assert d.outcome == Outcome.DENIED

    def test_what_pending_objects_add_by_themselves_is_not_the_reviewed_objects_doing(
            self) -> None:
        """A pending hijack does not refuse, nor warn about, an unrelated route."""
        graph = incident()
        d = review(graph, http_route("mine", "other", hostnames=["mine.example.com"],
                                     matches=[match("/")], created=ts(100)),
                   pending=[thief_route()])
        assert d == Decision(True, Outcome.ALLOWED)


class TestAttributable:
    def test_a_finding_that_becomes_critical_counts_as_added(self) -> None:
        graph = incident(thief_route())
        (hijack,) = [f for f in graph.findings() if f.kind == "Hijack"]
        milder = dataclasses.replace(hijack, severity=Severity.WARNING)
        from gwwatch.engine.findings import Diff
        out = attributable(Diff((), (), (hijack,)), previous={hijack.identity: milder}.get)
        assert out == (hijack,)
        assert attributable(Diff((), (), (milder,)), previous={hijack.identity: hijack}.get) == ()


class TestBounds:
    def test_warnings_stay_within_what_the_api_server_keeps(self) -> None:
        """Many findings: at most ~3 KiB of warnings, then one line counting the rest."""
        graph = incident()
        (f,) = review(graph, thief_route()).refusing
        many: list[Finding] = [
            dataclasses.replace(f, severity=Severity.WARNING, hostname=f"h{i}.example.com",
                                message="x" * 400 + f" {i}") for i in range(40)]
        d = decide(mode=Mode.DENY, operation="CREATE", subject=ObjectRef("HTTPRoute", *THIEF),
                   added=many)
        assert d.allowed and d.outcome == Outcome.WARNED
        assert sum(len(w) for w in d.warnings) <= 4096
        assert d.warnings[-1].startswith("gwwatch: and ") and "more findings" in d.warnings[-1]
        assert all(w.isprintable() for w in d.warnings)

    def test_a_long_message_is_cut_but_keeps_how_to_proceed(self) -> None:
        graph = incident()
        (f,) = review(graph, thief_route()).refusing
        long = dataclasses.replace(f, message="y" * 20_000)
        d = decide(mode=Mode.DENY, operation="CREATE", subject=ObjectRef("HTTPRoute", *THIEF),
                   added=[long])
        assert not d.allowed and len(d.message) <= 3000
        assert d.message.endswith(").") and "To proceed" in d.message
