"""``gwwatch run``, wired by hand so every call can be followed (no framework, no registry).

::

    discovery ──starts──▶ reflector per kind ──▶ store ──dirty keys──▶ GraphWorker (the graph)
                                                                          │ Change (diff, keys)
                                    ┌─────────────────────┬───────────────┴──────┐
                                    ▼                     ▼                      ▼
                          status queue (routes)     Event jobs           metrics snapshot
                                    │                     │
                     leader only:  StatusWriter ×N   EventRecorder

Every replica watches, analyses and serves metrics. Only the Lease holder writes status and
Events, and only once the initial sync is complete (so a half-built graph never removes an
entry that is still true). A new leader re-checks every route that has findings or carries
our entry, and tells the current findings as Events (repeats fold into existing Events).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

import structlog

from gwwatch.engine import ObjectRef, Policy
from gwwatch.engine.model import ROUTE_KINDS
from gwwatch.metrics import Metrics
from gwwatch.runtime import errors, events, resources
from gwwatch.runtime.backoff import Backoff
from gwwatch.runtime.kube import Kube
from gwwatch.runtime.leader import KubeLeaseClient, LeaderElector, LeaseConfig
from gwwatch.runtime.queue import KeyQueue
from gwwatch.runtime.reflector import KubeListWatch, Reflector, WatchTiming
from gwwatch.runtime.resources import NAMESPACES, Resource
from gwwatch.runtime.server import Server
from gwwatch.runtime.status import Outcome, StatusWriter, ours
from gwwatch.runtime.store import Store
from gwwatch.runtime.worker import OWNERSHIP_KIND, Change, GraphWorker
from gwwatch.settings import Settings

__all__ = ["App"]

log = structlog.get_logger("gwwatch.app")

CONFIGMAPS: Final = Resource(OWNERSHIP_KIND, "", "v1", "configmaps", True)
_EVENT_QUEUE: Final = 10_000  # Event jobs waiting; beyond this they are dropped and counted
_EVENT_WORKERS: Final = 2
_ROUTE_KINDS: Final = frozenset(ROUTE_KINDS)
_GONE_AFTER: Final = 2  # discoveries in a row that must miss a kind before it is gone


class App:
    def __init__(self, settings: Settings, kube: Kube, *, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.kube = kube
        self.metrics = metrics or Metrics(max_finding_series=settings.max_finding_series)
        self.stores: dict[str, Store] = {}
        self.resources: dict[str, Resource] = {}
        self.objects: KeyQueue[ObjectRef] = KeyQueue("objects")
        self.status_queue: KeyQueue[ObjectRef] = KeyQueue("status")
        self.event_jobs: asyncio.Queue[events.EventJob] = asyncio.Queue(_EVENT_QUEUE)
        self.worker = GraphWorker(
            policy=Policy(tenant_label=settings.tenant_label or None,
                          trust_annotations=settings.trust_namespace_annotations,
                          intra_tenant_severity=settings.intra_tenant_severity),
            stores=self.stores, queue=self.objects,
            # Metrics need no sink: their snapshot is rebuilt lazily when scraped.
            sinks=[self._status_sink, self._events_sink],
            on_reconciled=self.metrics.reconciled, on_failed=self.metrics.reconcile_failed)
        self._reflectors: dict[str, tuple[Reflector, asyncio.Task[None]]] = {}
        self.writer = StatusWriter(
            kube, controller=settings.controller_name, view=self.worker,
            resource_of=self.resources.get, read_cached=self._cached, observer=self.metrics)
        self.recorder = events.EventRecorder(
            kube, controller=settings.controller_name, instance=settings.identity,
            read_cached=self._cached, observer=self.metrics,
            namespace_terminating=self._namespace_terminating)
        self.server = Server(self.metrics, host=settings.metrics_bind_address,
                             port=settings.metrics_port, ready=self.readiness,
                             refresh=self._refresh_snapshot)
        self.elector: LeaderElector | None = None
        if settings.leader_election:
            self.elector = LeaderElector(
                LeaseConfig(settings.lease_name, settings.lease_ns, settings.identity,
                            settings.lease_duration_seconds, settings.renew_deadline_seconds,
                            settings.retry_period_seconds),
                KubeLeaseClient(kube, namespace=settings.lease_ns, name=settings.lease_name),
                on_change=self.metrics.leading)
        self.discovered = asyncio.Event()
        self.synced = asyncio.Event()
        self.active = False  # leading and synced: status and Events are written
        self._status_backoff: dict[ObjectRef, Backoff] = {}
        self._timing = WatchTiming(min_timeout=settings.watch_timeout_min_seconds,
                                   max_timeout=settings.watch_timeout_max_seconds,
                                   page_size=settings.list_page_size)
        self._missing_logged: set[str] = set()
        self._absent: dict[str, int] = {}  # kind → discoveries in a row that did not find it
        # Between restarts of a long-running task that crashed (a bug, an unexpected answer).
        self._crash_backoff: Callable[[], Backoff] = lambda: Backoff(initial=1.0, maximum=30.0)

    # --- the whole program -------------------------------------------------------------------

    async def run(self) -> None:
        """Run until cancelled; on cancellation the Lease is released (when held)."""
        log.info("starting", controller_name=self.settings.controller_name,
                 identity=self.settings.identity, leader_election=self.settings.leader_election)
        await self.server.start()
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.server.serve(), name="http")
                tg.create_task(self.worker.run(), name="graph")
                tg.create_task(self._keep_running("discovery", self._discover),
                               name="discovery")
                tg.create_task(self._await_sync(), name="sync")
                if self.settings.ownership_configmap:
                    self._start_reflector(CONFIGMAPS, namespace=self.settings.namespace,
                                          field_selector="metadata.name="
                                          f"{self.settings.ownership_configmap}")
                if self.elector is not None:
                    elector = self.elector
                    tg.create_task(self._keep_running(
                        "leader", lambda: elector.run(self._lead)), name="leader")
                else:
                    self.metrics.leading(True)
                    tg.create_task(self._keep_running("lead", self._lead), name="lead")
        finally:
            for _, task in self._reflectors.values():
                task.cancel()
            for _, task in list(self._reflectors.values()):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            log.info("stopped")

    # --- discovery and reflectors --------------------------------------------------------

    async def _discover(self) -> None:
        self._start_reflector(NAMESPACES)
        backoff = Backoff()
        while True:
            try:
                found = await resources.discover(self.kube)
            except errors.ApiError as exc:
                delay = backoff.next()
                log.warning("discovery_failed", error=str(exc), retry_in=round(delay, 2))
                await asyncio.sleep(delay)
                continue
            backoff.reset()
            self._reconcile_kinds(found)
            self.discovered.set()
            await asyncio.sleep(self.settings.discovery_interval_seconds)

    def _reconcile_kinds(self, found: Mapping[str, Resource]) -> None:
        """Start, move or stop reflectors after a discovery.

        A kind whose served version changed keeps its store: the new reflector's first list
        replaces it and only real differences reach the graph (clearing it would remove every
        status entry and send Resolved Events, then add them all back). A kind is declared gone
        only when two discoveries in a row agree — one 404 from an apiserver that just started
        or a CRD being re-applied must not look like every route being deleted.
        """
        for kind in resources.GATEWAY_KINDS:
            want = found.get(kind)
            have = self.resources.get(kind)
            if want is None and have is not None:
                self._absent[kind] = self._absent.get(kind, 0) + 1
                if self._absent[kind] < _GONE_AFTER:
                    log.warning("kind_missing", kind=kind, api_version=have.api_version,
                                hint="declared gone if the next discovery agrees")
                    continue
            else:
                self._absent.pop(kind, None)
            if want == have:
                if want is None and kind not in self._missing_logged:
                    self._missing_logged.add(kind)
                    log.warning("kind_not_served", kind=kind,
                                hint="its CRD is not installed; checked again periodically")
                continue
            if have is not None and want is not None:
                log.info("kind_version_changed", kind=kind, was=have.api_version,
                         api_version=want.api_version)
                self._stop_reflector(kind, clear=False)
                self._start_reflector(want)
                continue
            if have is not None:
                self._stop_reflector(kind)
            if want is not None:
                self._missing_logged.discard(kind)
                log.info("kind_served", kind=kind, api_version=want.api_version)
                self._start_reflector(want)
            else:
                self._missing_logged.add(kind)
                log.warning("kind_gone", kind=kind)

    def _start_reflector(self, resource: Resource, *, namespace: str | None = None,
                         field_selector: str | None = None) -> None:
        kind = resource.kind
        self.resources[kind] = resource
        store = self.stores.setdefault(kind, Store(kind))
        self.metrics.kind_known(kind)
        reflector = Reflector(
            kind,
            KubeListWatch(self.kube, resource, namespace=namespace,
                          field_selector=field_selector),
            store, self.objects.add, timing=self._timing, observer=self.metrics)
        task = asyncio.create_task(self._keep_running(f"reflector-{kind}", reflector.run),
                                   name=f"reflector-{kind}")
        self._reflectors[kind] = (reflector, task)

    def _stop_reflector(self, kind: str, *, clear: bool = True) -> None:
        entry = self._reflectors.pop(kind, None)
        if entry is not None:
            entry[1].cancel()
        self.resources.pop(kind, None)
        store = self.stores.get(kind)
        if clear and store is not None:
            for key in store.clear():  # the kind is gone: so is every object of it
                self.objects.add(key)

    async def _keep_running(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        """Run ``run()`` for ever: whatever escapes it (a bug, an answer nobody expected) is
        logged and it starts again after a backoff, rather than ending the App's TaskGroup —
        which would end the process."""
        backoff = self._crash_backoff()
        while True:
            try:
                await run()
                log.error("task_returned", task=name)  # these loops are endless
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("task_crashed", task=name)
            await asyncio.sleep(backoff.next())

    async def _await_sync(self) -> None:
        """Ready once discovery ran, every reflector listed, and the graph caught up."""
        await self.discovered.wait()
        while True:
            pending = [r for r, _ in self._reflectors.values() if not r.synced.is_set()]
            if not pending:
                break
            waits = [asyncio.ensure_future(r.synced.wait()) for r in pending]
            try:
                await asyncio.wait(waits, timeout=1.0)
            finally:
                for w in waits:
                    w.cancel()
        while not (self.worker.idle.is_set() and not len(self.objects)):
            await asyncio.sleep(0.05)
        self.synced.set()
        self.metrics.set_ready(True)
        log.info("synced", kinds=sorted(self._reflectors), findings=len(self.worker.findings))

    def readiness(self) -> tuple[bool, str]:
        if self.synced.is_set():
            return True, "ok"
        pending = sorted(k for k, (r, _) in self._reflectors.items() if not r.synced.is_set())
        return False, "waiting for initial sync: " + (", ".join(pending) or "analysis")

    def _cached(self, ref: ObjectRef) -> Mapping[str, Any] | None:
        store = self.stores.get(ref.kind)
        return store.get(ref) if store is not None else None

    def _namespace_terminating(self, namespace: str) -> bool:
        """Whether the Namespace cache says ``namespace`` is being deleted."""
        obj = self._cached(ObjectRef(NAMESPACES.kind, "", namespace))
        if obj is None:
            return False
        meta = obj.get("metadata")
        status = obj.get("status")
        return bool(isinstance(meta, Mapping) and meta.get("deletionTimestamp")) or (
            isinstance(status, Mapping) and status.get("phase") == "Terminating")

    # --- sinks (called by the graph worker after each batch; they only enqueue) --------------

    def _refresh_snapshot(self) -> None:
        self.metrics.publish(self.worker.snapshot())

    def _status_sink(self, change: Change) -> None:
        d = change.diff
        for f in (*d.added, *d.removed, *d.changed):
            for ref in (f.route, f.other):
                if ref is not None and ref.kind in _ROUTE_KINDS:
                    self.status_queue.add(ref)
        for key in change.objects:
            if key.kind in _ROUTE_KINDS and (key in self.worker.by_route or self._has_ours(key)):
                self.status_queue.add(key)

    def _has_ours(self, ref: ObjectRef) -> bool:
        obj = self._cached(ref)
        if obj is None:
            return False
        status = obj.get("status")
        parents = status.get("parents") if isinstance(status, Mapping) else None
        return isinstance(parents, list) and bool(ours(parents, self.settings.controller_name))

    def _events_sink(self, change: Change) -> None:
        if self.active:
            self._enqueue_events(events.jobs_for(change.diff))

    def _enqueue_events(self, jobs: list[events.EventJob]) -> None:
        for job in jobs:
            try:
                self.event_jobs.put_nowait(job)
            except asyncio.QueueFull:
                self.metrics.event(job.type, "dropped")

    # --- leader work ---------------------------------------------------------------------

    async def _lead(self) -> None:
        await self.synced.wait()
        self.writer.reset()  # another leader may have written meanwhile
        self.active = True
        log.info("writing_started")
        try:
            for kind in _ROUTE_KINDS:
                store = self.stores.get(kind)
                for key in store or ():
                    if key in self.worker.by_route or self._has_ours(key):
                        self.status_queue.add(key)
            self._enqueue_events(events.announce(self.worker.current()))
            async with asyncio.TaskGroup() as tg:
                for i in range(self.settings.status_workers):
                    tg.create_task(self._status_worker(), name=f"status-{i}")
                for i in range(_EVENT_WORKERS):
                    tg.create_task(self.recorder.run(self.event_jobs), name=f"events-{i}")
        finally:
            self.active = False
            while not self.event_jobs.empty():  # a new leader tells them again
                self.event_jobs.get_nowait()
                self.event_jobs.task_done()
            log.info("writing_stopped")

    async def _status_worker(self) -> None:
        while True:
            ref = await self.status_queue.get()
            try:
                with structlog.contextvars.bound_contextvars(
                        kind=ref.kind, namespace=ref.namespace, route=ref.name):
                    outcome = await self.writer.write_status(ref)
                if outcome == Outcome.DEFERRED:
                    self.status_queue.add_after(ref, self.writer.retry_in(ref))
                else:
                    self._status_backoff.pop(ref, None)
            except errors.ApiError as exc:
                delay = self._status_backoff.setdefault(
                    ref, Backoff(initial=1.0, maximum=300.0, reset_after=600.0)).next()
                if exc.retry_after:
                    delay = max(delay, exc.retry_after)
                log.warning("status_retry", route=str(ref), error=str(exc),
                            error_type=type(exc).__name__, retry_in=round(delay, 2))
                self.status_queue.add_after(ref, delay)
            except Exception:
                log.exception("status_failed", route=str(ref))
                self.status_queue.add_after(ref, 30.0)
            finally:
                self.status_queue.done(ref)

