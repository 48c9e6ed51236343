"""``gwwatch run``, wired by hand so every call can be followed (no framework, no registry).

::

    Informers: discovery ──starts──▶ reflector per kind ──▶ store ──dirty keys──▶ GraphWorker
                                                                                  │ Change
                                          ┌──────────────────────┬────────────────┴─────┐
                                          ▼                      ▼                      ▼
                                 StatusController        EventController        metrics snapshot
                                 (route keys)            (Event jobs)           (built on scrape)
                                          │                      │
                          leader only:  Controller ×N         Controller ×2

Every replica watches, analyses and serves metrics. Only the Lease holder writes status and
Events, and only once the initial sync is complete (so a half-built graph never removes an
entry that is still true). A new leader re-checks every route that has findings or carries
our entry, and tells the current findings as Events (repeats fold into existing Events).

Every long-running task is a child of the TaskGroup in :meth:`App.run` (the informers and the
leader's writers each hold their own group inside it); :mod:`gwwatch.runtime.tasks` restarts
the endless ones that crash.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final

import structlog

from gwwatch.engine import ObjectRef, Policy
from gwwatch.engine.vocabulary import ROUTE_KINDS
from gwwatch.metrics import Metrics
from gwwatch.runtime import events
from gwwatch.runtime.admission import webhook_for
from gwwatch.runtime.backoff import Backoff
from gwwatch.runtime.informers import Informers, Watch
from gwwatch.runtime.kube import Kube
from gwwatch.runtime.leader import KubeLeaseClient, LeaderElector, LeaseConfig
from gwwatch.runtime.queue import KeyQueue
from gwwatch.runtime.reflector import WatchTiming
from gwwatch.runtime.resources import NAMESPACES, Resource
from gwwatch.runtime.server import Server
from gwwatch.runtime.status import StatusController, StatusWriter
from gwwatch.runtime.tasks import crash_backoff, keep_running
from gwwatch.runtime.worker import OWNERSHIP_KIND, Change, GraphWorker
from gwwatch.settings import Settings

__all__ = ["App"]

log = structlog.get_logger("gwwatch.app")

CONFIGMAPS: Final = Resource(OWNERSHIP_KIND, "", "v1", "configmaps", True)
_SETTLE_POLL: Final = 0.05  # how often the initial sync looks whether the graph caught up


class App:
    def __init__(self, settings: Settings, kube: Kube, *, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.kube = kube
        self.metrics = metrics or Metrics(max_finding_series=settings.max_finding_series)
        # Between restarts of a long-running task that crashed (a bug, an unexpected answer).
        self.crash_backoff: Callable[[], Backoff] = crash_backoff
        self.objects: KeyQueue[ObjectRef] = KeyQueue("objects")
        always = [Watch(NAMESPACES)]
        if settings.ownership_configmap:
            always.append(Watch(CONFIGMAPS, namespace=settings.namespace,
                                field_selector=f"metadata.name={settings.ownership_configmap}"))
        self.informers = Informers(
            kube, objects=self.objects, observer=self.metrics, always=always,
            discovery_interval=settings.discovery_interval_seconds,
            timing=WatchTiming(min_timeout=settings.watch_timeout_min_seconds,
                               max_timeout=settings.watch_timeout_max_seconds,
                               page_size=settings.list_page_size),
            backoff=lambda: self.crash_backoff())
        self.worker = GraphWorker(
            policy=Policy(tenant_label=settings.tenant_label or None,
                          trust_annotations=settings.trust_namespace_annotations,
                          intra_tenant_severity=settings.intra_tenant_severity),
            stores=self.informers.stores, queue=self.objects,
            # Metrics need no sink: their snapshot is rebuilt lazily when scraped.
            sinks=[self._status_sink, self._events_sink],
            on_reconciled=self.metrics.reconciled, on_failed=self.metrics.reconcile_failed)
        self.status = StatusController(
            StatusWriter(kube, controller=settings.controller_name, view=self.worker,
                         resource_of=self.informers.resources.get,
                         read_cached=self.informers.cached, observer=self.metrics,
                         on_tampered=self._status_tampered),
            view=self.worker, read_cached=self.informers.cached,
            workers=settings.status_workers, mentions=self.informers.mentions)
        self.events = events.EventController(
            events.EventRecorder(kube, controller=settings.controller_name,
                                 instance=settings.identity, read_cached=self.informers.cached,
                                 observer=self.metrics,
                                 namespace_terminating=self.informers.namespace_terminating))
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
                on_change=self.metrics.leading, on_renew=self.metrics.renewed)
        self.synced = asyncio.Event()
        self.active = False  # leading and synced: status and Events are written
        # The admission webhook (when GWWATCH_WEBHOOK_PORT is set): every replica answers.
        self.webhook = webhook_for(
            settings, exclusive=self.worker.run_exclusive, synced=self.synced.is_set,
            settled=lambda: self.worker.idle.is_set() and not len(self.objects),
            read_cached=self.informers.cached, metrics=self.metrics)

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
                tg.create_task(self.informers.run(), name="informers")
                tg.create_task(self._await_sync(), name="sync")
                if self.webhook is not None:
                    tg.create_task(keep_running("webhook", self.webhook.serve,
                                                backoff=self.crash_backoff), name="webhook")
                if self.elector is not None:
                    elector = self.elector
                    tg.create_task(keep_running(
                        "leader", lambda: elector.run(self._lead),
                        backoff=self.crash_backoff), name="leader")
                else:
                    self.metrics.leading(True)
                    tg.create_task(keep_running("lead", self._lead, backoff=self.crash_backoff),
                                   name="lead")
        finally:
            log.info("stopped")

    @property
    def discovered(self) -> asyncio.Event:
        return self.informers.discovered

    async def _await_sync(self) -> None:
        """Ready once discovery ran, every reflector listed, and the graph caught up."""
        await self.informers.wait_synced()
        while not (self.worker.idle.is_set() and not len(self.objects)):
            await asyncio.sleep(_SETTLE_POLL)
        self.synced.set()
        self.metrics.set_ready(True)
        log.info("synced", kinds=sorted(self.informers.reflectors),
                 findings=len(self.worker.findings()))

    def readiness(self) -> tuple[bool, str]:
        if self.synced.is_set():
            return True, "ok"
        return False, "waiting for initial sync: " + (
            ", ".join(self.informers.pending()) or "analysis")

    # --- sinks (called by the graph worker after each batch; they only enqueue) --------------

    def _refresh_snapshot(self) -> None:
        self.metrics.publish(self.worker.snapshot())

    def _status_sink(self, change: Change) -> None:
        self.status.on_change(change.diff, change.objects)

    def _events_sink(self, change: Change) -> None:
        self.events.on_change(change.diff)

    def _status_tampered(self, route: ObjectRef) -> None:
        """Someone rewrote our status entry (it was put back): counted and told on the route."""
        self.metrics.status_tampered(route.kind)
        self.events.enqueue([events.tampered(route, self.settings.controller_name)])

    # --- leader work ---------------------------------------------------------------------

    async def _lead(self) -> None:
        await self.synced.wait()
        self.active = True
        log.info("writing_started")
        try:
            self.status.start_term(
                key for kind in ROUTE_KINDS
                for key in self.informers.stores.get(kind, ()))
            self.events.start_term(self.worker.findings())
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.status.run(), name="status")
                tg.create_task(self.events.run(), name="events")
        finally:
            self.active = False
            self.events.end_term()
            log.info("writing_stopped")
