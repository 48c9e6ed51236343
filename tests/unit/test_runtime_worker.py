"""The graph worker, Events jobs, metrics exposition, the HTTP endpoints and settings — the
runtime's pieces that need no API server.

In scope: stores → parse → incremental graph → merged diffs and the graph's per-route answers; what
changes nothing is skipped; malformed objects never raise; the ownership ConfigMap; Event jobs
and names; the snapshot collector's families and cap; /healthz, /readyz, /metrics; settings
from the environment and flags.
"""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

import pydantic
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gwwatch import manifests
from gwwatch.engine import Diff, ObjectRef, Policy
from gwwatch.metrics import Metrics
from gwwatch.runtime import errors, events
from gwwatch.runtime.queue import KeyQueue
from gwwatch.runtime.server import Server
from gwwatch.runtime.store import Store
from gwwatch.runtime.worker import Change, GraphWorker, ownership_from_configmap
from gwwatch.settings import Settings
from tests.unit.runtime_fakes import FakeKube

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "techresolve"
OFFENDER = ObjectRef("HTTPRoute", "staging-analytics", "metrics-dashboard")
VICTIM = ObjectRef("HTTPRoute", "prod-billing", "billing-api")


def example_objects() -> list[dict[str, Any]]:
    out = []
    for i, src in enumerate(manifests.load([str(EXAMPLE)])):
        o = copy.deepcopy(src.obj)
        assert isinstance(o, dict)
        o["metadata"]["resourceVersion"] = str(i + 1)
        out.append(o)
    return out


class World:
    def __init__(self, policy: Policy | None = None) -> None:
        self.stores: dict[str, Store] = {}
        self.queue: KeyQueue[ObjectRef] = KeyQueue()
        self.changes: list[Change] = []
        self.worker = GraphWorker(policy=policy or Policy(), stores=self.stores,
                                  queue=self.queue, sinks=[self.changes.append])

    def put(self, obj: dict[str, Any]) -> ObjectRef:
        store = self.stores.setdefault(obj["kind"], Store(obj["kind"]))
        key = store.upsert(obj)
        assert key is not None
        return key

    def delete(self, ref: ObjectRef) -> ObjectRef:
        self.stores[ref.kind].delete(ref)
        return ref

    def process(self, *keys: ObjectRef) -> Diff:
        return self.worker.process(list(keys)).diff


def load_incident(world: World) -> Diff:
    return world.process(*[world.put(o) for o in example_objects()])


class TestGraphWorker:
    def test_incident_gives_the_hijack_and_indexes_both_routes(self) -> None:
        w = World()
        d = load_incident(w)
        hijacks = [f for f in d.added if f.kind == "Hijack"]
        assert len(hijacks) == 1 and hijacks[0].route == OFFENDER and hijacks[0].other == VICTIM
        assert w.worker.findings_of(OFFENDER) == w.worker.findings_of(VICTIM) == (hijacks[0],)
        assert w.worker.parents_of(OFFENDER)[0].accepted

    def test_status_only_change_skips_the_engine(self) -> None:
        """A new resourceVersion with the same spec (e.g. our own status write) is a no-op."""
        w = World()
        load_incident(w)
        obj = copy.deepcopy(w.stores["HTTPRoute"].get(OFFENDER))
        assert obj is not None
        obj["metadata"]["resourceVersion"] = "99"
        obj["status"] = {"parents": []}
        assert not w.process(w.put(obj))

    def test_delete_clears_findings_and_index(self) -> None:
        w = World()
        load_incident(w)
        d = w.process(w.delete(OFFENDER))
        assert [f.kind for f in d.removed if f.route == OFFENDER] == ["Hijack"]
        assert w.worker.findings_of(VICTIM) == ()
        assert w.worker.findings_of(OFFENDER) == ()

    def test_a_finding_that_comes_and_goes_within_a_batch_is_not_reported(self) -> None:
        """The offending route arrives and the Gateway goes in one batch: no hijack was ever
        visible between reports, so none is reported (no Event flaps)."""
        w = World()
        objs = example_objects()
        w.process(*[w.put(o) for o in objs[:-1]])
        offender = w.put(objs[-1])
        gateway = w.delete(ObjectRef("Gateway", "infra-gateways", "prod-gateway"))
        d = w.process(offender, gateway)
        assert not [f for f in (*d.added, *d.removed) if f.kind == "Hijack"]

    def test_malformed_objects_become_invalid_and_never_raise(self) -> None:
        w = World()
        load_incident(w)
        bad = copy.deepcopy(w.stores["HTTPRoute"].get(OFFENDER))
        assert bad is not None
        bad["metadata"]["resourceVersion"] = "100"
        bad["spec"]["hostnames"] = ["not a hostname!"]
        d = w.process(w.put(bad))
        assert [f.kind for f in d.removed if f.kind == "Hijack"] == ["Hijack"]
        invalid = w.worker.graph.invalid_objects()
        assert OFFENDER in [ObjectRef(i.kind, i.namespace, i.name) for i in invalid]
        snap = w.worker.snapshot()
        assert ("HTTPRoute", 1) in snap.invalid

    def test_engine_exception_is_contained(self, monkeypatch: pytest.MonkeyPatch) -> None:
        w = World()
        failed: list[str] = []
        w.worker.on_failed = failed.append
        key = w.put(example_objects()[0])

        def boom(obj: Any) -> Diff:
            raise RuntimeError("engine bug")

        monkeypatch.setattr(w.worker.graph, "upsert", boom)
        assert not w.process(key)
        assert failed == ["Namespace"]

    def test_engine_exception_in_a_batch_loses_only_the_failing_object(
            self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The batch is applied again one object at a time: the others' findings are reported
        as if the failing object had never come (here the offender: no hijack)."""
        w = World()
        failed: list[str] = []
        w.worker.on_failed = failed.append
        keys = [w.put(o) for o in example_objects()]
        upsert = w.worker.graph.upsert

        def flaky(obj: Any) -> Diff:
            if obj is w.worker.parsed.get(OFFENDER):
                raise RuntimeError("engine bug")
            return upsert(obj)

        monkeypatch.setattr(w.worker.graph, "upsert", flaky)
        d = w.process(*keys)
        assert failed == ["HTTPRoute"]
        clean = World()
        expected = clean.process(*[clean.put(o) for o in example_objects()
                                   if o["metadata"]["name"] != OFFENDER.name])
        assert {f.identity for f in d.added} == {f.identity for f in expected.added}
        assert w.worker.findings() == clean.worker.findings()
        assert not [f for f in d.added if f.kind == "Hijack"]

    def test_ownership_configmap_changes_the_owner(self) -> None:
        """Platform claims give api.techresolve.com to staging: the hijack flips sides."""
        w = World()
        load_incident(w)
        cm = {"apiVersion": "v1", "kind": "ConfigMap",
              "metadata": {"name": "gwwatch-ownership", "namespace": "gwwatch-system",
                           "resourceVersion": "1"},
              "data": {"ownership.yaml": "staging-analytics:\n  - api.techresolve.com\n"}}
        d = w.process(w.put(cm))
        assert any(f.kind == "Hijack" and f.route == OFFENDER for f in d.removed)
        assert w.worker.policy.ownership == {"staging-analytics": ("api.techresolve.com",)}

    def test_snapshot_counts_routes_and_attachments(self) -> None:
        w = World()
        load_incident(w)
        snap = w.worker.snapshot()
        assert (("HTTPRoute", "attached", "Accepted"), 2) in snap.routes
        assert (("infra-gateways/prod-gateway", "https"), 2) in snap.attachments
        assert w.worker.snapshot() is snap  # cached until something changes

    async def test_run_feeds_sinks_and_reports_idle(self) -> None:
        w = World()
        for o in example_objects():
            w.queue.add(w.put(o))
        task = asyncio.create_task(w.worker.run())
        for _ in range(500):  # the batch runs in the graph thread: real time, bounded
            await asyncio.sleep(0.01)
            if w.changes and w.worker.idle.is_set():
                break
        task.cancel()
        assert any(f.kind == "Hijack" for c in w.changes for f in c.diff.added)
        assert w.worker.idle.is_set()


class TestOwnershipConfigMap:
    @pytest.mark.parametrize(("data", "want"), [
        pytest.param({"billing": "api.example.com, *.billing.example.com"},
                     {"billing": ("api.example.com", "*.billing.example.com")}, id="per-key"),
        pytest.param({"o.yaml": "billing: [API.example.com]\nweb: [www.example.com]"},
                     {"billing": ("api.example.com",), "web": ("www.example.com",)},
                     id="scan-file-format"),
        pytest.param({"o.yaml": "billing: [api.example.com]\nweb: www.example.com",
                      "shop": "shop.example.com"},
                     {"shop": ("shop.example.com",)}, id="scan-file-format-is-strict"),
        pytest.param({"o.yaml": "[not, a, mapping]"}, {}, id="malformed-yaml-skipped"),
        pytest.param({"empty": "  "}, {}, id="empty-value"),
    ])
    def test_formats(self, data: dict[str, str], want: dict[str, tuple[str, ...]]) -> None:
        assert ownership_from_configmap({"data": data}) == want

    def test_missing_configmap_means_no_claims(self) -> None:
        assert ownership_from_configmap(None) == {}


class TestEvents:
    def test_jobs_for_a_hijack_name_both_routes(self) -> None:
        w = World()
        d = load_incident(w)
        jobs = events.jobs_for(d)
        by_route = {(j.route, j.type, j.reason) for j in jobs}
        assert (OFFENDER, "Warning", "HijacksTraffic") in by_route
        assert (VICTIM, "Warning", "HijackedByRoute") in by_route
        cleared = events.jobs_for(Diff((), d.added, ()))
        assert {(j.route, j.reason) for j in cleared} >= {
            (OFFENDER, "HijacksTrafficResolved"), (VICTIM, "HijackedByRouteResolved")}
        assert all(len(j.message) <= events.MAX_EVENT_MESSAGE for j in jobs)

    def test_event_names_are_stable_valid_and_distinct(self) -> None:
        job = events.EventJob(ObjectRef("HTTPRoute", "ns", "r" * 253), "Warning", "X", "m",
                              "id")
        name = events.event_name(job)
        assert name == events.event_name(job) and len(name) <= 253
        other = events.EventJob(job.route, "Warning", "Y", "m", "id")
        assert events.event_name(other) != name

    async def test_repeat_bumps_count_instead_of_a_new_event(self) -> None:
        """Create once; the same Event again (even from a new process) patches count."""
        stored: dict[str, dict[str, Any]] = {}

        def handle(method: str, path: str, params: Any, body: Any) -> dict[str, Any]:
            name = path.rsplit("/", 1)[-1]
            if method == "POST":
                if body["metadata"]["name"] in stored:
                    raise errors.Conflict("exists", code=409)
                stored[body["metadata"]["name"]] = body
                return body
            if method == "GET":
                return stored[name]
            stored[name].update(body)
            return stored[name]

        route = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
                 "metadata": {"name": "r", "namespace": "ns", "uid": "u-1"}}
        job = events.EventJob(ObjectRef("HTTPRoute", "ns", "r"), "Warning", "HijacksTraffic",
                              "msg", "identity")

        class Obs:
            def event(self, t: str, result: str) -> None:
                pass

        def recorder() -> events.EventRecorder:
            return events.EventRecorder(FakeKube(handle), controller="gwwatch.io/x",
                                        instance="i", read_cached=lambda ref: route,
                                        observer=Obs())

        first = recorder()
        await first.record(job)
        await first.record(job)
        await recorder().record(job)  # a restarted process: 409, read, patch
        (ev,) = stored.values()
        assert ev["count"] == 3 and ev["involvedObject"]["uid"] == "u-1"
        assert ev["type"] == "Warning" and ev["reportingComponent"] == "gwwatch.io/x"


class TestMetrics:
    def test_families_and_finding_series_cap(self) -> None:
        w = World()
        load_incident(w)
        m = Metrics(max_finding_series=1)
        m.publish(w.worker.snapshot())
        from prometheus_client import generate_latest
        families = {f.name: f for f in text_string_to_metric_families(
            generate_latest(m.registry).decode())}
        (info,) = families["gwwatch_finding_info"].samples
        assert info.labels["kind"] == "Hijack"  # critical first
        assert info.labels["route"] == "staging-analytics/metrics-dashboard"
        assert info.labels["other"] == "prod-billing/billing-api"
        assert families["gwwatch_findings_dropped"].samples[0].value == len(
            w.worker.findings()) - 1
        hijack = [s for s in families["gwwatch_findings"].samples
                  if s.labels == {"kind": "Hijack", "severity": "critical"}]
        assert hijack[0].value == 1
        for name in ("gwwatch_status_writes", "gwwatch_build_info", "gwwatch_leader",
                     "gwwatch_routes", "gwwatch_attachments", "gwwatch_reconcile_duration_seconds"):
            assert name in families, name
        assert {s.labels["result"] for s in families["gwwatch_status_writes"].samples} >= {
            "updated", "conflict", "invalid"}


async def http_get(port: int, path: str) -> tuple[int, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    data = await reader.read()
    writer.close()
    head, _, body = data.decode().partition("\r\n\r\n")
    return int(head.split(" ")[1]), body


class TestServer:
    async def test_endpoints(self) -> None:
        ready = [False]
        refreshed = []
        server = Server(Metrics(), host="127.0.0.1", port=0,
                        ready=lambda: (ready[0], "waiting for initial sync: HTTPRoute"),
                        refresh=lambda: refreshed.append(1))
        task = asyncio.create_task(server.serve())
        await asyncio.sleep(0.05)
        port = server.bound_port
        assert (await http_get(port, "/healthz"))[0] == 200
        code, body = await http_get(port, "/readyz")
        assert code == 503 and "HTTPRoute" in body
        ready[0] = True
        assert (await http_get(port, "/readyz"))[0] == 200
        code, body = await http_get(port, "/metrics")
        assert code == 200 and "gwwatch_build_info" in body and refreshed
        assert (await http_get(port, "/nope"))[0] == 404
        task.cancel()


class TestSettings:
    def test_defaults(self) -> None:
        s = Settings(_env_file=None)  # type: ignore[call-arg]
        assert s.controller_name == "gwwatch.io/conflict-watcher"
        assert (s.lease_duration_seconds, s.renew_deadline_seconds,
                s.retry_period_seconds) == (15, 10, 2)

    def test_environment_and_explicit_values(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("GWWATCH_METRICS_PORT", "9999")
        monkeypatch.setenv("GWWATCH_LEADER_ELECTION", "false")
        s = Settings()
        assert s.metrics_port == 9999 and not s.leader_election
        assert Settings(metrics_port=1234).metrics_port == 1234  # a flag wins

    @pytest.mark.parametrize("name", ["conflict-watcher", "Gwwatch.io/x", "gwwatch.io/",
                                      "a" * 250 + ".io/x"])
    def test_controller_name_must_be_domain_slash_path(self, name: str) -> None:
        with pytest.raises(pydantic.ValidationError):
            Settings(controller_name=name)

    def test_lease_durations_are_checked(self) -> None:
        with pytest.raises(pydantic.ValidationError):
            Settings(lease_duration_seconds=5, renew_deadline_seconds=10)
