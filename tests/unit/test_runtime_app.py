"""Discovery of the Gateway API kinds and the app's reaction to CRDs coming and going, over a
fake API (no server); the ``gwwatch run`` command line."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest

from gwwatch import cli
from gwwatch.cli.run import settings_from
from gwwatch.engine import ObjectRef
from gwwatch.runtime import errors, events, resources
from gwwatch.runtime.app import App
from gwwatch.runtime.backoff import Backoff
from gwwatch.runtime.informers import Informers
from gwwatch.runtime.resources import Resource
from gwwatch.runtime.tasks import keep_running, until_first_returns
from gwwatch.settings import Settings
from tests.unit.runtime_fakes import FakeKube

GROUP = "gateway.networking.k8s.io"


def discovery(versions: Mapping[str, list[tuple[str, str]]], preferred: str
              ) -> FakeKube:
    def handle(method: str, path: str, params: Any, body: Any) -> Mapping[str, Any]:
        if path == f"/apis/{GROUP}":
            return {"versions": [{"version": v} for v in versions],
                    "preferredVersion": {"version": preferred}}
        version = path.rsplit("/", 1)[-1]
        if version not in versions:
            raise errors.NotFound("no", code=404)
        return {"resources": [{"name": plural, "kind": kind,
                               "namespaced": kind != "GatewayClass"}
                              for plural, kind in versions[version]]
                + [{"name": f"{plural}/status", "kind": kind, "namespaced": True}
                   for plural, kind in versions[version]]}
    return FakeKube(handle)


class TestDiscover:
    async def test_first_served_version_the_engine_understands(self) -> None:
        """Preferred version first; a kind only in an older version is found there; kinds
        gwwatch does not analyse (ReferenceGrant) are not watched; GatewayClass is, cluster-scoped
        (its status.supportedFeatures)."""
        kube = discovery({
            "v1beta1": [("gateways", "Gateway"), ("httproutes", "HTTPRoute"),
                        ("referencegrants", "ReferenceGrant")],
            "v1": [("gateways", "Gateway"), ("httproutes", "HTTPRoute"),
                   ("gatewayclasses", "GatewayClass"), ("tcproutes", "TCPRoute")],
        }, preferred="v1")
        found = await resources.discover(kube)
        assert found["Gateway"].version == "v1" and found["HTTPRoute"].version == "v1"
        assert found["TCPRoute"] == Resource("TCPRoute", GROUP, "v1", "tcproutes", True)
        assert found["GatewayClass"] == Resource("GatewayClass", GROUP, "v1", "gatewayclasses",
                                                 False)
        assert found["GatewayClass"].collection_path("team-a") == f"/apis/{GROUP}/v1/gatewayclasses"
        assert set(found) == {"Gateway", "GatewayClass", "HTTPRoute", "TCPRoute"}

    async def test_no_gateway_api_installed_is_an_answer(self) -> None:
        def handle(method: str, path: str, params: Any, body: Any) -> Mapping[str, Any]:
            raise errors.NotFound("no such group", code=404)

        assert await resources.discover(FakeKube(handle)) == {}

    def test_engine_decides_which_versions_it_reads(self) -> None:
        assert resources.engine_understands("HTTPRoute", f"{GROUP}/v1")
        assert not resources.engine_understands("HTTPRoute", f"{GROUP}/v9")
        assert resources.engine_understands("GatewayClass", f"{GROUP}/v1")
        assert not resources.engine_understands("GatewayClass", f"{GROUP}/v1alpha2")
        assert not resources.engine_understands("ReferenceGrant", f"{GROUP}/v1")


@contextlib.asynccontextmanager
async def informing(app: App) -> AsyncIterator[Informers]:
    """``app``'s informers running (discovery over the fake API found nothing so far); on
    exit, their TaskGroup stops every reflector."""
    task = asyncio.create_task(app.informers.run())
    try:
        async with asyncio.timeout(5):
            await app.informers.discovered.wait()
        yield app.informers
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert not app.informers.reflectors  # nothing outlives the group


class TestKindsComeAndGo:
    async def test_crd_appearing_starts_a_reflector_and_going_deletes_its_objects(
            self) -> None:
        kube = discovery({}, preferred="v1")
        app = App(Settings(leader_election=False, metrics_port=0), kube)
        routes = Resource("HTTPRoute", GROUP, "v1", "httproutes", True)
        async with informing(app) as informers:
            informers.reconcile({})
            assert "HTTPRoute" not in informers.resources  # logged as missing, not fatal
            informers.reconcile({"HTTPRoute": routes})
            assert informers.resources["HTTPRoute"] == routes
            store = informers.stores["HTTPRoute"]
            store.upsert({"metadata": {"name": "r", "namespace": "ns", "resourceVersion": "1"}})
            informers.reconcile({})  # the CRD was deleted: two discoveries in a row agree
            informers.reconcile({})
            assert "HTTPRoute" not in informers.resources and len(store) == 0
            assert await app.objects.get() == ObjectRef("HTTPRoute", "ns", "r")

    async def test_one_discovery_missing_a_kind_does_not_wipe_its_store(self) -> None:
        """A single 404 for the group (an apiserver just started, a CRD re-applied) must not
        delete every route (status entries removed, Resolved Events, then all re-added)."""
        app = App(Settings(leader_election=False, metrics_port=0), discovery({}, "v1"))
        routes = Resource("HTTPRoute", GROUP, "v1", "httproutes", True)
        async with informing(app) as informers:
            informers.reconcile({"HTTPRoute": routes})
            store = informers.stores["HTTPRoute"]
            store.upsert({"metadata": {"name": "r", "namespace": "ns", "resourceVersion": "1"}})
            reflector, task = informers.reflectors["HTTPRoute"]
            informers.reconcile({})  # flap
            assert len(store) == 1 and len(app.objects) == 0
            assert informers.reflectors["HTTPRoute"] == (reflector, task)
            assert not task.cancelled()
            informers.reconcile({"HTTPRoute": routes})  # back: the count starts again
            informers.reconcile({})
            assert len(store) == 1 and informers.resources["HTTPRoute"] == routes
            informers.reconcile({})  # twice in a row: gone
            assert len(store) == 0 and "HTTPRoute" not in informers.resources

    async def test_served_version_change_keeps_the_store_for_the_new_reflector(
            self) -> None:
        app = App(Settings(leader_election=False, metrics_port=0), discovery({}, "v1"))
        beta = Resource("HTTPRoute", GROUP, "v1beta1", "httproutes", True)
        v1 = Resource("HTTPRoute", GROUP, "v1", "httproutes", True)
        async with informing(app) as informers:
            informers.reconcile({"HTTPRoute": beta})
            store = informers.stores["HTTPRoute"]
            store.upsert({"metadata": {"name": "r", "namespace": "ns", "resourceVersion": "1"}})
            old_reflector, old_task = informers.reflectors["HTTPRoute"]
            informers.reconcile({"HTTPRoute": v1})
            new_reflector, _ = informers.reflectors["HTTPRoute"]
            assert new_reflector is not old_reflector and new_reflector.store is store
            assert old_task.cancelling() or old_task.cancelled()
            assert len(store) == 1 and len(app.objects) == 0  # nothing deleted
            assert informers.resources["HTTPRoute"] == v1

    def test_reflectors_start_only_inside_the_informers_group(self) -> None:
        """No reflector task is created bare: outside :meth:`Informers.run` there is no group
        to hold it."""
        app = App(Settings(leader_election=False, metrics_port=0), discovery({}, "v1"))
        with pytest.raises(RuntimeError):
            app.informers.reconcile({"HTTPRoute": Resource("HTTPRoute", GROUP, "v1",
                                                           "httproutes", True)})

    async def test_readiness_waits_for_every_reflector(self) -> None:
        app = App(Settings(leader_election=False, metrics_port=0), discovery({}, "v1"))
        ok, why = app.readiness()
        assert not ok and "initial sync" in why


class TestInitialSync:
    async def test_waits_for_every_reflector_and_not_for_a_kind_that_went(self) -> None:
        """Namespaces list at once; HTTPRoutes never do (their list fails): not synced until
        the HTTPRoute kind goes, and then synced without it."""
        inner = discovery({}, "v1")

        def handle(method: str, path: str, params: Any, body: Any) -> Mapping[str, Any]:
            if path == "/api/v1/namespaces":
                return {"items": [], "metadata": {"resourceVersion": "1"}}
            return inner.handler(method, path, params, body)

        app = App(Settings(leader_election=False, metrics_port=0), FakeKube(handle))
        routes = Resource("HTTPRoute", GROUP, "v1", "httproutes", True)
        async with informing(app) as informers:
            informers.reconcile({"HTTPRoute": routes})
            synced = asyncio.create_task(informers.wait_synced())
            async with asyncio.timeout(5):
                while informers.pending() != ["HTTPRoute"]:
                    await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)
            assert not synced.done()
            ok, why = app.readiness()
            assert not ok and why.endswith("HTTPRoute")
            informers.stop("HTTPRoute")
            async with asyncio.timeout(5):
                await synced
            assert informers.pending() == []


class TestTasks:
    async def test_until_first_returns_cancels_the_others(self) -> None:
        cancelled = asyncio.Event()

        async def forever() -> None:
            try:
                await asyncio.Event().wait()
            finally:
                cancelled.set()

        async with asyncio.timeout(5):
            await until_first_returns(forever(), asyncio.sleep(0))
        assert cancelled.is_set()

    async def test_until_first_returns_raises_the_error_itself(self) -> None:
        async def broken() -> None:
            raise KeyError("a bug")

        with pytest.raises(KeyError):
            await until_first_returns(asyncio.Event().wait(), broken())  # type: ignore[arg-type]

    async def test_keep_running_restarts_a_crashed_loop_until_cancelled(self) -> None:
        runs = 0

        async def crashing() -> None:
            nonlocal runs
            runs += 1
            raise RuntimeError("a bug")

        task = asyncio.create_task(keep_running(
            "t", crashing, backoff=lambda: Backoff(initial=0.001, maximum=0.001, jitter=0.0)))
        async with asyncio.timeout(5):
            while runs < 3:
                await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


class TestRunCommand:
    def test_flags_override_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("GWWATCH_METRICS_PORT", "9000")
        monkeypatch.setenv("GWWATCH_LOG_LEVEL", "debug")
        args = cli.build_parser().parse_args(
            ["run", "--metrics-port", "9100", "--no-leader-election",
             "--controller-name", "example.com/gwwatch"])
        s = settings_from(args)
        assert (s.metrics_port, s.leader_election, s.log_level) == (9100, False, "debug")
        assert s.controller_name == "example.com/gwwatch"

    def test_intra_tenant_severity_reaches_the_engine(
            self, monkeypatch: pytest.MonkeyPatch) -> None:
        """GWWATCH_INTRA_TENANT_SEVERITY (or the flag) becomes the graph's policy."""
        monkeypatch.setenv("GWWATCH_INTRA_TENANT_SEVERITY", "info")
        s = settings_from(cli.build_parser().parse_args(["run"]))
        assert s.intra_tenant_severity == "info"
        app = App(Settings(leader_election=False, metrics_port=0, intra_tenant_severity="info"),
                  discovery({}, "v1"))
        assert app.worker.graph.policy.intra_tenant_severity == "info"
        flag = settings_from(cli.build_parser().parse_args(
            ["run", "--intra-tenant-severity", "warning"]))
        assert flag.intra_tenant_severity == "warning"

    def test_invalid_settings_exit_2(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert cli.main(["run", "--controller-name", "not-a-domain-path"]) == 2
        assert "--controller-name=not-a-domain-path: must be DOMAIN/PATH" in capsys.readouterr().err


class TestNothingEndsTheProcess:
    async def test_unexpected_errors_in_discovery_leader_and_events_are_retried(
            self) -> None:
        """An exception outside the error tree (a bug, an answer nobody expected) in
        discovery, the Lease client or the Event recorder is logged and retried; it must not
        end the App's TaskGroup (the process)."""
        calls: dict[str, int] = {}

        def handle(method: str, path: str, params: Any, body: Any) -> Mapping[str, Any]:
            key = f"{method} {path.split('?')[0]}"
            calls[key] = calls.get(key, 0) + 1
            if path == f"/apis/{GROUP}":
                if calls[key] == 1:
                    raise KeyError("an answer nobody expected")
                raise errors.NotFound("no Gateway API", code=404)
            if path.endswith("/leases/gwwatch") and method == "GET":
                if calls[key] == 1:
                    raise TypeError("a lease nobody expected")
                raise errors.NotFound("no lease", code=404)
            if method == "POST":
                return body  # type: ignore[no-any-return]
            if path == "/api/v1/namespaces":
                return {"items": [], "metadata": {"resourceVersion": "1"}}
            raise errors.NotFound("nothing here", code=404)

        app = App(Settings(leader_election=True, metrics_port=0, namespace="gw",
                           metrics_bind_address="127.0.0.1"), FakeKube(handle))
        app.crash_backoff = lambda: Backoff(initial=0.01, maximum=0.01, jitter=0.0)

        async def broken_record(job: events.EventJob) -> None:
            raise RuntimeError("a bug in the recorder")

        app.events.recorder.record = broken_record  # type: ignore[method-assign]
        task = asyncio.create_task(app.run())
        try:
            async with asyncio.timeout(5):
                await app.discovered.wait()
                while not app.active:
                    await asyncio.sleep(0.01)
            job = events.EventJob(ObjectRef("HTTPRoute", "ns", "r"), "Warning", "X", "m", "i")
            app.events.enqueue([job, job])
            async with asyncio.timeout(5):
                while len(app.events.queue) or app.events.queue.processing:
                    await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)
            assert not task.done()
            assert calls[f"GET /apis/{GROUP}"] >= 2
            assert app.elector is not None and app.elector.is_leader
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
