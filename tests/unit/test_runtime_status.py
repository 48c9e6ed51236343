"""Route status: the pure desired-status computation, then the writer's read-modify-write over
a fake API (no server), then the writer as a controller over its queue.

In scope: which condition goes where, other controllers' entries and their order, removal when
clean, the 32-entry and 8-condition limits, message bounds, lastTransitionTime, idempotence,
409 → re-read, 422 → terminal, restoring a dropped entry with backoff; the condition's reason
is the finding's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from gwwatch import manifests
from gwwatch.engine import ConflictGraph, Finding, ObjectRef, analyse, parse
from gwwatch.engine.model import Parsed
from gwwatch.runtime import errors
from gwwatch.runtime.app import App
from gwwatch.runtime.resources import Resource
from gwwatch.runtime.status import (
    HOSTNAME_CONFLICT,
    MAX_COMBINED_MESSAGE,
    MAX_CONDITION_MESSAGE,
    MAX_LISTED_FINDINGS,
    MAX_PARENTS,
    TRAFFIC_HIJACKED,
    ConditionSpec,
    Entry,
    Outcome,
    StatusWriter,
    bound,
    desired_parents,
    wanted_entries,
)
from gwwatch.settings import Settings
from tests.unit.runtime_fakes import FakeClock, FakeKube

ME = "gwwatch.io/conflict-watcher"
OFFENDER = ObjectRef("HTTPRoute", "staging-analytics", "metrics-dashboard")
VICTIM = ObjectRef("HTTPRoute", "prod-billing", "billing-api")
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "techresolve"
GW_REF = {"group": "gateway.networking.k8s.io", "kind": "Gateway",
          "namespace": "infra-gateways", "name": "prod-gateway"}
NOW = "2026-01-02T03:04:05Z"


def incident() -> ConflictGraph:
    parsed: list[Parsed] = []
    for src in manifests.load([str(EXAMPLE)]):
        p = parse(src.obj)
        if p is not None:
            parsed.append(p)
    return analyse(parsed)


def implementation_entry(name: str = "prod-gateway") -> dict[str, Any]:
    return {"parentRef": {"name": name, "namespace": "infra-gateways"},
            "controllerName": "example.net/gateway-controller",
            "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted",
                            "message": "ok", "lastTransitionTime": "2025-01-01T00:00:00Z"}]}


def entry(message: str = "m", ctype: str = HOSTNAME_CONFLICT) -> Entry:
    return Entry(dict(GW_REF), (ConditionSpec(ctype, "HijacksTraffic", message),))


def desired(current: list[Mapping[str, Any]], wanted: list[Entry], **kw: Any
            ) -> list[Mapping[str, Any]]:
    out, _ = desired_parents(current, wanted, controller=ME, route_namespace="ns",
                             generation=kw.pop("generation", 1), now=kw.pop("now", NOW), **kw)
    return out


class TestWantedEntries:
    def test_offender_gets_hostname_conflict_naming_the_victim(self) -> None:
        """The offending route's entry says HijacksTraffic and names prod-billing/billing-api,
        the hostname, the request space and the precedence basis."""
        g = incident()
        (e,) = wanted_entries(OFFENDER, g.findings(), g.parents_of(OFFENDER))
        assert e.parent_ref == GW_REF
        (cond,) = e.conditions
        assert (cond.type, cond.reason) == (HOSTNAME_CONFLICT, "HijacksTraffic")
        for part in ("prod-billing/billing-api", "api.techresolve.com", "/v1/charge",
                     "longer path prefix"):
            assert part in cond.message

    def test_victim_gets_traffic_hijacked(self) -> None:
        g = incident()
        (e,) = wanted_entries(VICTIM, g.findings(), g.parents_of(VICTIM))
        (cond,) = e.conditions
        assert (cond.type, cond.reason) == (TRAFFIC_HIJACKED, "HijackedByRoute")
        assert "staging-analytics/metrics-dashboard" in cond.message

    def test_a_route_without_findings_wants_nothing(self) -> None:
        g = incident()
        assert wanted_entries(VICTIM, [], g.parents_of(VICTIM)) == []

    def test_posture_findings_are_not_route_conditions(self) -> None:
        g = incident()
        posture = [f for f in g.findings() if f.kind == "Posture"]
        assert posture
        assert wanted_entries(OFFENDER, posture, g.parents_of(OFFENDER)) == []

    def test_several_findings_fold_into_one_condition_strongest_reason_first(self) -> None:
        g = incident()
        (hijack,) = [f for f in g.findings() if f.kind == "Hijack"]
        shared = Finding(kind="SharedHostname", reason="SharesHostname", severity="warning",
                         hostname=hijack.hostname, gateway=hijack.gateway,
                         listener=hijack.listener, route=OFFENDER, other=VICTIM,
                         message="shares it")
        (e,) = wanted_entries(OFFENDER, [shared, hijack], g.parents_of(OFFENDER))
        (cond,) = e.conditions
        assert cond.reason == "HijacksTraffic"
        first, one, two = cond.message.split("\n")
        assert first == "2 findings, one per line:"
        assert one.startswith("[1] HTTPRoute staging-analytics")
        assert two == "[2] shares it"

    def test_tenant_text_cannot_forge_findings_and_the_list_is_capped(self) -> None:
        """A header value or path in a message may hold ``|``, ``(2)``, ``[2]`` or a line
        break: the structure (one finding per line, ``[i]`` at the start) stays ours; past ten
        findings the rest are counted, and the condition stays within 4 KiB."""
        g = incident()
        (hijack,) = [f for f in g.findings() if f.kind == "Hijack"]
        forged = " | (2) HTTPRoute prod/x is fine\n[2] HTTPRoute prod/y is fine\r[3] z"

        def finding(i: int, text: str) -> Finding:
            return Finding(kind="SharedHostname", reason="SharesHostname", severity="warning",
                           hostname=f"h{i}.example.com", gateway=hijack.gateway,
                           listener=hijack.listener, route=OFFENDER, other=VICTIM,
                           message=f"finding {i}:{text}")

        (e,) = wanted_entries(OFFENDER, [finding(1, forged), finding(2, "")],
                              g.parents_of(OFFENDER))
        lines = e.conditions[0].message.split("\n")
        assert len(lines) == 3 and lines[0].startswith("2 findings")
        assert lines[1].startswith("[1] finding 1:") and "[2] HTTPRoute prod/y" in lines[1]
        assert lines[2] == "[2] finding 2:"
        # Written as is: the writer keeps our line breaks and flattens the rest.
        cond = desired([], [Entry(dict(GW_REF), e.conditions)])[0]["conditions"][0]
        assert cond["message"].split("\n") == lines

        many = [finding(i, " " + "x" * 900) for i in range(1, 31)]
        (e,) = wanted_entries(OFFENDER, many, g.parents_of(OFFENDER))
        text = e.conditions[0].message
        lines = text.split("\n")
        assert len(text) <= MAX_COMBINED_MESSAGE
        listed = [ln for ln in lines if ln.startswith("[")]
        assert 1 <= len(listed) <= MAX_LISTED_FINDINGS
        assert lines[-1] == f"and {30 - len(listed)} more"

        short = [finding(i, "") for i in range(1, 31)]
        (e,) = wanted_entries(OFFENDER, short, g.parents_of(OFFENDER))
        lines = e.conditions[0].message.split("\n")
        assert len(lines) == 1 + MAX_LISTED_FINDINGS + 1 and lines[-1] == "and 20 more"


class TestDesiredParents:
    def test_other_controllers_entries_and_order_are_kept(self) -> None:
        """Ours is replaced where it stands; the implementation's entries are untouched."""
        a, b = implementation_entry("a"), implementation_entry("b")
        old_ours = {"parentRef": dict(GW_REF), "controllerName": ME, "conditions": [
            {"type": HOSTNAME_CONFLICT, "status": "True", "reason": "Shadowed", "message": "old",
             "lastTransitionTime": "2025-06-01T00:00:00Z", "observedGeneration": 1}]}
        current = [a, old_ours, b]
        snapshot = copy.deepcopy(current)
        out = desired(current, [entry("new")])
        assert out[0] == snapshot[0] and out[2] == snapshot[2]
        assert out[1]["conditions"][0]["message"] == "new"
        assert current == snapshot  # the input is not mutated

    def test_new_entry_is_appended(self) -> None:
        out = desired([implementation_entry()], [entry()])
        assert [p["controllerName"] for p in out] == ["example.net/gateway-controller", ME]
        assert out[1]["parentRef"] == GW_REF

    def test_our_entry_is_removed_when_nothing_is_left(self) -> None:
        current = desired([implementation_entry()], [entry()])
        assert desired(current, []) == [implementation_entry()]

    def test_idempotent(self) -> None:
        """Applying the same wish twice changes nothing: no second write."""
        once = desired([implementation_entry()], [entry()])
        assert desired(once, [entry()], now="2030-01-01T00:00:00Z") == once

    def test_last_transition_time_moves_only_when_status_changes(self) -> None:
        once = desired([], [entry("first")], now="2026-01-01T00:00:00Z")
        again = desired(once, [entry("reworded")], now="2026-02-01T00:00:00Z")
        cond = again[0]["conditions"][0]
        assert cond["message"] == "reworded"
        assert cond["lastTransitionTime"] == "2026-01-01T00:00:00Z"
        cleared = desired(again, [])
        back = desired(cleared, [entry("back")], now="2026-03-01T00:00:00Z")
        assert back[0]["conditions"][0]["lastTransitionTime"] == "2026-03-01T00:00:00Z"

    def test_remembered_entry_keeps_its_transition_time_after_a_drop(self) -> None:
        once = desired([], [entry()], now="2026-01-01T00:00:00Z")
        restored = desired([implementation_entry()], [entry()], now="2026-05-01T00:00:00Z",
                           remembered=once)
        assert restored[1]["conditions"][0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"

    def test_observed_generation_is_the_routes(self) -> None:
        out = desired([], [entry()], generation=7)
        assert out[0]["conditions"][0]["observedGeneration"] == 7

    def test_at_most_32_parents_ours_give_way(self) -> None:
        """With 31 other entries only one of our two fits; none of theirs is dropped."""
        others = [implementation_entry(f"gw-{i}") for i in range(MAX_PARENTS - 1)]
        second = Entry({**GW_REF, "sectionName": "other"}, entry().conditions)
        out, dropped = desired_parents(others, [entry(), second], controller=ME,
                                       route_namespace="ns", generation=1, now=NOW)
        assert len(out) == MAX_PARENTS and dropped == 1
        assert out[:-1] == others

    def test_full_list_of_others_leaves_no_room(self) -> None:
        others = [implementation_entry(f"gw-{i}") for i in range(MAX_PARENTS)]
        out, dropped = desired_parents(others, [entry()], controller=ME, route_namespace="ns",
                                       generation=1, now=NOW)
        assert out == others and dropped == 1

    def test_at_most_8_conditions(self) -> None:
        many = Entry(dict(GW_REF), tuple(ConditionSpec(f"gwwatch.io/T{i}", "R", "m")
                                         for i in range(12)))
        assert len(desired([], [many])[0]["conditions"]) == 8

    def test_messages_are_bounded_and_inert(self) -> None:
        """A tenant-made name cannot make a message too long or break its structure."""
        evil = "x" * 40000 + "\n\x1b[31m"
        cond = desired([], [entry(evil)])[0]["conditions"][0]
        assert len(cond["message"]) <= MAX_CONDITION_MESSAGE
        assert cond["message"].endswith("[truncated]")
        assert bound("a\nb\x00c", 100) == "a b c"

    def test_parent_ref_defaults_compare_equal(self) -> None:
        """An entry written with defaulted fields (as the API server stores it) is ours."""
        ours_minimal = {"parentRef": {"name": "prod-gateway", "namespace": "infra-gateways"},
                        "controllerName": ME, "conditions": [{"type": HOSTNAME_CONFLICT}]}
        out = desired([ours_minimal], [entry()])
        assert len(out) == 1 and out[0]["parentRef"] == GW_REF


ROUTES = Resource("HTTPRoute", "gateway.networking.k8s.io", "v1", "httproutes", True)


class View:
    def __init__(self, graph: ConflictGraph, findings: list[Finding] | None = None) -> None:
        self.graph = graph
        self.findings = graph.findings() if findings is None else findings

    def findings_of(self, route: ObjectRef) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if route in (f.route, f.other))

    def parents_of(self, route: ObjectRef) -> tuple[Any, ...]:
        return self.graph.parents_of(route)


class Server:
    """One route on a fake API server with resourceVersions and a status subresource."""

    def __init__(self) -> None:
        self.obj: dict[str, Any] = {
            "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": OFFENDER.name, "namespace": OFFENDER.namespace,
                         "resourceVersion": "1", "generation": 2},
            "spec": {}, "status": {"parents": [implementation_entry()]}}
        self.conflicts = 0
        self.reject = False
        self.puts = 0

    def handle(self, method: str, path: str, params: Any, body: Any) -> Mapping[str, Any]:
        if method == "GET":
            return copy.deepcopy(self.obj)
        assert method == "PUT" and path.endswith("/status")
        self.puts += 1
        if self.reject:
            raise errors.Unprocessable("status.parents: Too many", code=422)
        if self.conflicts:
            self.conflicts -= 1
            self.bump()  # someone else wrote meanwhile
            raise errors.Conflict("the object has been modified", code=409)
        if body["metadata"]["resourceVersion"] != self.obj["metadata"]["resourceVersion"]:
            raise errors.Conflict("stale", code=409)
        self.obj["status"] = body["status"]
        self.bump()
        return copy.deepcopy(self.obj)

    def bump(self) -> None:
        md = self.obj["metadata"]
        md["resourceVersion"] = str(int(md["resourceVersion"]) + 1)


class Results:
    def __init__(self) -> None:
        self.results: list[str] = []

    def status_write(self, result: str) -> None:
        self.results.append(result)

    def status_dropped(self, entries: int) -> None:
        self.results.append(f"dropped:{entries}")


def writer(server: Server, view: View, clock: FakeClock | None = None,
           cached: bool = True) -> tuple[StatusWriter, FakeKube, Results]:
    kube = FakeKube(server.handle)
    results = Results()
    w = StatusWriter(kube, controller=ME, view=view,
                     resource_of=lambda kind: ROUTES,
                     read_cached=lambda ref: copy.deepcopy(server.obj) if cached else None,
                     observer=results, clock=clock or FakeClock())
    return w, kube, results


class TestStatusWriter:
    async def test_writes_our_entry_keeping_the_implementations(self) -> None:
        server = Server()
        w, kube, results = writer(server, View(incident()))
        assert await w.write_status(OFFENDER) == Outcome.UPDATED
        parents = server.obj["status"]["parents"]
        assert parents[0] == implementation_entry()
        assert parents[1]["controllerName"] == ME
        assert parents[1]["conditions"][0]["observedGeneration"] == 2
        assert kube.calls[-1][1].endswith("/namespaces/staging-analytics/httproutes/"
                                          "metrics-dashboard/status")
        assert results.results == ["updated"]

    async def test_no_write_when_nothing_changed(self) -> None:
        server = Server()
        w, kube, _ = writer(server, View(incident()))
        await w.write_status(OFFENDER)
        assert await w.write_status(OFFENDER) == Outcome.UNCHANGED
        assert kube.count("PUT") == 1

    async def test_conflict_rereads_and_retries(self) -> None:
        """409: read the route again (someone wrote first), compute again, write again."""
        server = Server()
        server.conflicts = 2
        w, kube, results = writer(server, View(incident()))
        assert await w.write_status(OFFENDER) == Outcome.UPDATED
        assert kube.count("GET") == 2 and kube.count("PUT") == 3
        assert results.results == ["conflict", "conflict", "updated"]

    async def test_conflicts_that_never_end_are_an_error_to_retry_later(self) -> None:
        server = Server()
        server.conflicts = 100
        w, _, _ = writer(server, View(incident()))
        with pytest.raises(errors.Conflict):
            await w.write_status(OFFENDER)

    async def test_422_is_terminal(self) -> None:
        """A status the server refuses is logged and counted, not retried."""
        server = Server()
        server.reject = True
        w, kube, results = writer(server, View(incident()))
        assert await w.write_status(OFFENDER) == Outcome.INVALID
        assert kube.count("PUT") == 1 and results.results == ["invalid"]

    async def test_removed_when_the_finding_clears(self) -> None:
        server = Server()
        graph = incident()
        view = View(graph)
        w, _, _ = writer(server, view)
        await w.write_status(OFFENDER)
        view.findings = []
        assert await w.write_status(OFFENDER) == Outcome.UPDATED
        assert server.obj["status"]["parents"] == [implementation_entry()]

    async def test_route_gone_is_not_an_error(self) -> None:
        def handle(method: str, path: str, params: Any, body: Any) -> Mapping[str, Any]:
            raise errors.NotFound("gone", code=404)

        kube = FakeKube(handle)
        w = StatusWriter(kube, controller=ME, view=View(incident()),
                         resource_of=lambda kind: ROUTES, read_cached=lambda ref: None,
                         observer=Results())
        assert await w.write_status(OFFENDER) == Outcome.GONE

    async def test_dropped_entry_is_restored_with_backoff(self) -> None:
        """An implementation that drops our entry gets it back, but each restore waits
        longer (1 s, 2 s, ...): never a hot loop."""
        server = Server()
        clock = FakeClock()
        w, kube, _ = writer(server, View(incident()), clock=clock)
        await w.write_status(OFFENDER)

        def drop() -> None:
            server.obj["status"]["parents"] = [implementation_entry()]
            server.bump()

        drop()
        assert await w.write_status(OFFENDER) == Outcome.UPDATED  # first restore: at once
        drop()
        assert await w.write_status(OFFENDER) == Outcome.DEFERRED
        assert 1.0 <= w.retry_in(OFFENDER) <= 2.0
        clock.now += w.retry_in(OFFENDER)
        assert await w.write_status(OFFENDER) == Outcome.UPDATED
        drop()
        assert await w.write_status(OFFENDER) == Outcome.DEFERRED
        assert w.retry_in(OFFENDER) >= 2.0  # doubled
        assert kube.count("PUT") == 3
        restored = server.obj["status"]["parents"]
        assert [p["controllerName"] for p in restored] != [ME]


class TestTampering:
    """An entry under our controllerName that says what we did not write is a forgery (anyone
    allowed to update a route's status may write any controllerName): put back at once, every
    time, and told; a drop keeps its backoff."""

    @staticmethod
    def forge(server: Server, message: str = "TrafficHijacked by victim/api") -> None:
        for p in server.obj["status"]["parents"]:
            if p.get("controllerName") == ME:
                p["conditions"][0]["message"] = message
                p["conditions"][0]["reason"] = "Forged"
        server.bump()

    async def test_a_rewritten_entry_is_put_back_at_once_every_time_and_told(self) -> None:
        server = Server()
        told: list[ObjectRef] = []
        w, kube, _ = writer(server, View(incident()))
        w.on_tampered = told.append
        await w.write_status(OFFENDER)
        ours_before = copy.deepcopy(
            [p for p in server.obj["status"]["parents"] if p["controllerName"] == ME])
        for i in range(5):  # no backoff: the fifth forgery is put back as fast as the first
            self.forge(server, f"forgery {i}")
            assert await w.write_status(OFFENDER) == Outcome.UPDATED
            now = [p for p in server.obj["status"]["parents"] if p["controllerName"] == ME]
            assert now == ours_before
        assert told == [OFFENDER] * 5
        assert kube.count("PUT") == 6
        assert w.retry_in(OFFENDER) == 0.0

    async def test_a_forged_extra_entry_under_our_name_is_removed_and_told(self) -> None:
        server = Server()
        told: list[ObjectRef] = []
        w, _, _ = writer(server, View(incident()))
        w.on_tampered = told.append
        await w.write_status(OFFENDER)
        good = copy.deepcopy(server.obj["status"]["parents"])
        fake = {"parentRef": {"name": "other-gw", "namespace": "infra-gateways"},
                "controllerName": ME, "conditions": [
                    {"type": TRAFFIC_HIJACKED, "status": "True", "reason": "HijackedByRoute",
                     "message": "forged", "lastTransitionTime": NOW}]}
        server.obj["status"]["parents"].append(fake)
        server.bump()
        assert await w.write_status(OFFENDER) == Outcome.UPDATED
        assert server.obj["status"]["parents"] == good
        assert told == [OFFENDER]

    async def test_a_drop_is_not_tampering(self) -> None:
        server = Server()
        told: list[ObjectRef] = []
        w, _, _ = writer(server, View(incident()))
        w.on_tampered = told.append
        await w.write_status(OFFENDER)
        server.obj["status"]["parents"] = [implementation_entry()]
        server.bump()
        assert await w.write_status(OFFENDER) == Outcome.UPDATED
        assert told == []

    async def test_our_own_write_not_yet_in_the_cache_is_not_tampering(self) -> None:
        """The cache still holds the route before our last write (the watch lags): what it
        shows under our name is our older entry. The write from it fails with 409, the
        re-read shows our write: nothing to do, nothing told."""
        server = Server()
        told: list[ObjectRef] = []
        graph = incident()
        view = View(graph)
        kube = FakeKube(server.handle)
        stale: dict[str, Any] = {}
        w = StatusWriter(kube, controller=ME, view=view, resource_of=lambda kind: ROUTES,
                         read_cached=lambda ref: copy.deepcopy(stale or server.obj),
                         observer=Results(), clock=FakeClock(), on_tampered=told.append)
        await w.write_status(OFFENDER)
        stale.update(copy.deepcopy(server.obj))  # the cache keeps this version...
        view.findings = [dataclasses.replace(f, message="reworded") for f in view.findings]
        await w.write_status(OFFENDER)  # ...while we write a new wording
        assert await w.write_status(OFFENDER) == Outcome.UNCHANGED
        assert told == []


class TestWriterMemory:
    async def test_restore_memory_is_freed_when_the_finding_clears(self) -> None:
        """After a restore, the finding clears and our entry is removed: nothing about the
        route stays in memory (it would never be written again to free it)."""
        server = Server()
        view = View(incident())
        w, _, _ = writer(server, view)
        await w.write_status(OFFENDER)
        server.obj["status"]["parents"] = [implementation_entry()]  # dropped by someone
        server.bump()
        assert await w.write_status(OFFENDER) == Outcome.UPDATED  # restored
        view.findings = []
        assert await w.write_status(OFFENDER) == Outcome.UPDATED  # ours removed
        assert server.obj["status"]["parents"] == [implementation_entry()]
        assert w.remembered == 0

    async def test_restore_memory_is_freed_once_our_entry_has_stood_for_a_while(
            self) -> None:
        server = Server()
        clock = FakeClock()
        w, _, _ = writer(server, View(incident()), clock=clock)
        await w.write_status(OFFENDER)
        server.obj["status"]["parents"] = [implementation_entry()]
        server.bump()
        await w.write_status(OFFENDER)
        clock.now += 700  # past the restore backoff's reset (10 min after it)
        assert await w.write_status(OFFENDER) == Outcome.UNCHANGED
        assert w.retry_in(OFFENDER) == 0.0 and OFFENDER not in w.restores.keys()  # noqa: SIM118

    async def test_a_full_parents_list_is_warned_and_counted_even_when_nothing_changes(
            self) -> None:
        server = Server()
        server.obj["status"]["parents"] = [implementation_entry(f"gw-{i}")
                                           for i in range(MAX_PARENTS)]
        w, kube, results = writer(server, View(incident()))
        assert await w.write_status(OFFENDER) == Outcome.UNCHANGED
        assert results.results == ["dropped:1"] and kube.count("PUT") == 0

    async def test_leadership_starts_with_no_memory_of_earlier_writes(self) -> None:
        """A replica leading again must not take another leader's writes for its own."""
        app = App(Settings(leader_election=False, metrics_port=0),
                  FakeKube(lambda m, p, params, body: {}))
        app.status.writer._written[OFFENDER] = [{"controllerName": ME}]
        app.status.writer.restores.when(VICTIM)
        assert app.status.writer.remembered == 2
        app.synced.set()
        task = asyncio.create_task(app._lead())
        try:
            for _ in range(10):
                await asyncio.sleep(0)
            assert app.active and app.status.writer.remembered == 0
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class TestListenerOwner:
    """A ListenerSet may declare a listener named like one of its Gateway's: the finding's
    ``listener_owner`` decides which parentRef the entry goes on."""

    @staticmethod
    def graph() -> ConflictGraph:
        g = "gateway.networking.k8s.io/v1"
        listeners = {"allowedRoutes": {"namespaces": {"from": "All"}}, "protocol": "HTTP",
                     "hostname": "*.example.com", "name": "web"}
        objs: list[dict[str, Any]] = [
            *({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}}
              for n in ("infra", "a", "b")),
            {"apiVersion": g, "kind": "Gateway", "metadata": {"name": "g", "namespace": "infra"},
             "spec": {"gatewayClassName": "c",
                      "allowedListeners": {"namespaces": {"from": "Same"}},
                      "listeners": [{**listeners, "port": 80}]}},
            {"apiVersion": g, "kind": "ListenerSet",
             "metadata": {"name": "ls", "namespace": "infra"},
             "spec": {"parentRef": {"name": "g", "kind": "Gateway",
                                    "group": "gateway.networking.k8s.io"},
                      "listeners": [{**listeners, "port": 8080}]}},
        ]
        for name, ns, path, ts in (("owner", "a", "/", "2025-01-01T00:00:00Z"),
                                   ("thief", "b", "/v1", "2025-02-01T00:00:00Z")):
            objs.append({
                "apiVersion": g, "kind": "HTTPRoute",
                "metadata": {"name": name, "namespace": ns, "creationTimestamp": ts},
                "spec": {"parentRefs": [{"name": "g", "namespace": "infra"},
                                        {"name": "ls", "namespace": "infra",
                                         "kind": "ListenerSet"}],
                         "hostnames": ["api.example.com"],
                         "rules": [{"matches": [{"path": {"type": "PathPrefix",
                                                          "value": path}}]}]}})
        parsed = [p for o in objs if (p := parse(o)) is not None]
        return analyse(parsed)

    def test_each_finding_goes_on_the_parent_ref_of_its_listeners_owner(self) -> None:
        g = self.graph()
        thief = ObjectRef("HTTPRoute", "b", "thief")
        hijacks = [f for f in g.findings() if f.kind == "Hijack" and f.route == thief]
        owners = {f.listener_owner.kind for f in hijacks if f.listener_owner is not None}
        assert owners == {"Gateway", "ListenerSet"}
        for f in hijacks:
            assert f.listener_owner is not None
            (e,) = wanted_entries(thief, [f], g.parents_of(thief))
            assert e.parent_ref["kind"] == f.listener_owner.kind
            assert e.parent_ref["name"] == f.listener_owner.name
        # Both together: one finding per entry, not both findings on both entries.
        entries = wanted_entries(thief, hijacks, g.parents_of(thief))
        assert len(entries) == 2
        for e in entries:
            (c,) = e.conditions
            assert not c.message.startswith("2 findings")


class TestReasonIsTheFindings:
    """Status conditions, Events and ``gwwatch_finding_info`` all name a finding by its own
    reason: a route never receiving requests because a more specific listener takes them says
    ``ListenerShadowed`` everywhere (it used to say ``Shadowed`` on the route)."""

    @staticmethod
    def graph() -> ConflictGraph:
        g = "gateway.networking.k8s.io/v1"
        everyone = {"namespaces": {"from": "All"}}
        objs: list[dict[str, Any]] = [
            *({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}}
              for n in ("infra", "a")),
            {"apiVersion": g, "kind": "Gateway", "metadata": {"name": "g", "namespace": "infra"},
             "spec": {"gatewayClassName": "c", "listeners": [
                 {"name": "wild", "port": 80, "protocol": "HTTP",
                  "hostname": "*.example.com", "allowedRoutes": everyone},
                 {"name": "api", "port": 80, "protocol": "HTTP",
                  "hostname": "api.example.com", "allowedRoutes": everyone}]}},
            {"apiVersion": g, "kind": "HTTPRoute", "metadata": {"name": "r", "namespace": "a"},
             "spec": {"parentRefs": [{"name": "g", "namespace": "infra",
                                      "sectionName": "wild"}],
                      "hostnames": ["api.example.com"]}},
        ]
        return analyse([p for o in objs if (p := parse(o)) is not None])

    def test_listener_shadowed_is_listener_shadowed_on_the_route_in_events_and_metrics(
            self) -> None:
        from prometheus_client import generate_latest
        from prometheus_client.parser import text_string_to_metric_families

        from gwwatch.engine import Diff
        from gwwatch.metrics import Metrics, Snapshot
        from gwwatch.runtime import events

        g = self.graph()
        route = ObjectRef("HTTPRoute", "a", "r")
        (finding,) = g.findings_of(route)
        assert (finding.kind, finding.reason) == ("Shadowed", "ListenerShadowed")

        (e,) = wanted_entries(route, g.findings_of(route), g.parents_of(route))
        (cond,) = e.conditions
        assert (cond.type, cond.reason) == (HOSTNAME_CONFLICT, "ListenerShadowed")

        warned = events.announce([finding])
        assert [(j.route, j.type, j.reason) for j in warned] == [
            (route, "Warning", "ListenerShadowed")]
        resolved = events.jobs_for(Diff((), (finding,), ()))
        assert [j.reason for j in resolved] == ["ListenerShadowedResolved"]

        metrics = Metrics()
        metrics.publish(Snapshot(findings=(finding,)))
        families = {f.name: f for f in text_string_to_metric_families(
            generate_latest(metrics.registry).decode())}
        (info,) = families["gwwatch_finding_info"].samples
        assert info.labels["reason"] == cond.reason == warned[0].reason
