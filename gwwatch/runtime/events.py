"""Events on the routes of a finding: Warning when it appears, Normal when it clears.

Each route involved gets one: the offender (the finding's own reason: ``HijacksTraffic``,
``Shadowed``, ``ListenerShadowed``, ``SharesHostname``) and the other route (``HijackedByRoute``,
``ShadowsRoute``, ``HostnameShared``); when the finding clears, the same reasons with
``Resolved`` appended, and the same message. Messages are bounded to 1024 characters.

Repeats are folded like client-go's event correlator, but across restarts and leader changes
too: an Event's name is derived from (route, reason, finding identity), so telling the same
thing again finds the existing Event (``409`` on create) and bumps its ``count`` and
``lastTimestamp`` instead of adding another object.

:class:`EventController` writes them as a :class:`~gwwatch.runtime.controller.Controller` whose
keys are the jobs themselves (identical jobs waiting together fold into one). As before, an
Event that could not be written is counted and lost, not retried: the next change tells again.
"""

from __future__ import annotations

import datetime
import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

import structlog

from gwwatch.engine import Diff, Finding, ObjectRef
from gwwatch.engine.vocabulary import FindingKind
from gwwatch.runtime import errors
from gwwatch.runtime.controller import Controller, Result, TerminalError
from gwwatch.runtime.kube import Kube
from gwwatch.runtime.queue import KeyQueue
from gwwatch.runtime.status import bound

__all__ = ["MAX_EVENT_MESSAGE", "TAMPERED_REASON", "EventController", "EventJob",
           "EventRecorder", "announce", "event_name", "jobs_for", "tampered"]

log = structlog.get_logger("gwwatch.events")

MAX_EVENT_MESSAGE: Final = 1024
COMPONENT: Final = "gwwatch"
# Findings told as Events (Posture is about listeners, not routes), and the other route's
# reason per kind; the offender's reason is the finding's own.
_OTHER: Final[Mapping[str, str]] = {FindingKind.HIJACK: "HijackedByRoute",
                                    FindingKind.SHADOWED: "ShadowsRoute",
                                    FindingKind.SHARED_HOSTNAME: "HostnameShared"}
_CACHE_SIZE: Final = 4096
_QUEUE_LIMIT: Final = 10_000  # Event jobs waiting; beyond this they are dropped and counted
_WORKERS: Final = 2


@dataclass(frozen=True, slots=True)
class EventJob:
    route: ObjectRef
    type: str  # Warning | Normal
    reason: str
    message: str
    identity: str  # stable: what the Event is about (the name derives from it)


def _jobs(f: Finding, warning: bool) -> list[EventJob]:
    other_reason = _OTHER.get(f.kind)
    if other_reason is None:
        return []
    out = []
    identity = repr(f.identity)
    for ref, reason in ((f.route, f.reason), (f.other, other_reason)):
        if ref is None:
            continue
        out.append(EventJob(ref, "Warning" if warning else "Normal",
                            reason if warning else reason + "Resolved",
                            bound(f.message, MAX_EVENT_MESSAGE), identity))
    return out


def jobs_for(diff: Diff) -> list[EventJob]:
    """The Events a findings diff calls for (changes of wording alone call for none)."""
    out: list[EventJob] = []
    for f in diff.added:
        out.extend(_jobs(f, warning=True))
    for f in diff.removed:
        out.extend(_jobs(f, warning=False))
    return out


def announce(findings: Iterable[Finding]) -> list[EventJob]:
    """Warnings for findings that exist now (a new leader tells what it found)."""
    return [job for f in findings for job in _jobs(f, warning=True)]


TAMPERED_REASON: Final = "StatusTampered"


def tampered(route: ObjectRef, controller: str) -> EventJob:
    """A Warning on ``route``: someone rewrote gwwatch's status entry (it was put back).
    Repeats fold into one Event whose count grows."""
    return EventJob(route, "Warning", TAMPERED_REASON, bound(
        f"Another client rewrote the status.parents entry of {controller} on this route; "
        "gwwatch put its own back. Anyone allowed to update this route's status can write "
        "under any controllerName: check who holds update on its status subresource.",
        MAX_EVENT_MESSAGE), identity="status-tampered")


def event_name(job: EventJob) -> str:
    digest = hashlib.sha256(
        f"{job.route}|{job.reason}|{job.identity}".encode()).hexdigest()[:16]
    # A DNS subdomain: a cut name must not end in "-" or "." (the server would refuse it
    # with 422 "a lowercase RFC 1123 subdomain ... must start and end with an alphanumeric").
    return f"{job.route.name[:200].rstrip('-.')}.{digest}"


def _micro(clock: Callable[[], float]) -> str:
    return datetime.datetime.fromtimestamp(clock(), datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class EventObserver(Protocol):
    def event(self, event_type: str, result: str) -> None: ...


class EventRecorder:
    """Writes :class:`EventJob` s as core/v1 Events (leader only)."""

    def __init__(
        self,
        kube: Kube,
        *,
        controller: str,
        instance: str,
        read_cached: Callable[[ObjectRef], Mapping[str, Any] | None],
        observer: EventObserver,
        namespace_terminating: Callable[[str], bool] = lambda namespace: False,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.kube = kube
        self.controller = controller
        self.instance = instance[:128]
        self.read_cached = read_cached
        self.observer = observer
        self.namespace_terminating = namespace_terminating
        self._wall_clock = wall_clock
        self._counts: OrderedDict[str, int] = OrderedDict()

    async def record(self, job: EventJob) -> None:
        obj = self.read_cached(job.route)
        if obj is None:
            self.observer.event(job.type, "skipped")
            return  # the route is gone: nobody will read its Events
        if self.namespace_terminating(job.route.namespace):
            self.observer.event(job.type, "skipped")
            return  # the server refuses new objects there (403), and the route goes soon
        name = event_name(job)
        ns = job.route.namespace
        now = _micro(self._wall_clock)
        count = self._counts.get(name)
        try:
            if count is None:
                try:
                    await self._create(name, job, obj, now)
                    self._remember(name, 1)
                    self.observer.event(job.type, "created")
                    return
                except errors.Conflict:
                    existing = await self.kube.request(
                        "GET", f"/api/v1/namespaces/{ns}/events/{name}")
                    raw = existing.get("count")
                    count = raw if isinstance(raw, int) else 1
            try:
                await self.kube.request(
                    "PATCH", f"/api/v1/namespaces/{ns}/events/{name}",
                    body={"count": count + 1, "lastTimestamp": now, "message": job.message},
                    content_type="application/merge-patch+json")
                self._remember(name, count + 1)
                self.observer.event(job.type, "updated")
            except errors.NotFound:  # expired (Events live an hour) since we cached it
                await self._create(name, job, obj, now)
                self._remember(name, 1)
                self.observer.event(job.type, "created")
        except errors.ApiError as exc:
            self.observer.event(job.type, "error")
            log.warning("event_failed", route=str(job.route), reason=job.reason, error=str(exc))

    async def _create(self, name: str, job: EventJob, obj: Mapping[str, Any], now: str) -> None:
        meta = obj.get("metadata")
        meta = meta if isinstance(meta, Mapping) else {}
        involved = {
            "apiVersion": obj.get("apiVersion"),
            "kind": job.route.kind,
            "namespace": job.route.namespace,
            "name": job.route.name,
        }
        if meta.get("uid"):
            involved["uid"] = meta["uid"]
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": job.route.namespace},
            "involvedObject": involved,
            "reason": job.reason,
            "message": job.message,
            "type": job.type,
            "count": 1,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "source": {"component": COMPONENT},
            "reportingComponent": self.controller,
            "reportingInstance": self.instance,
        }
        await self.kube.request("POST", f"/api/v1/namespaces/{job.route.namespace}/events",
                                body=body)

    def _remember(self, name: str, count: int) -> None:
        self._counts[name] = count
        self._counts.move_to_end(name)
        while len(self._counts) > _CACHE_SIZE:
            self._counts.popitem(last=False)



class EventController:
    """The Event writer as a :class:`Controller` (leader only): the graph worker's sink
    enqueues the jobs a findings diff calls for, while this replica writes."""

    def __init__(self, recorder: EventRecorder, *, workers: int = _WORKERS,
                 limit: int = _QUEUE_LIMIT,
                 on_result: Callable[[str, str], None] = lambda c, r: None) -> None:
        self.recorder = recorder
        self.limit = limit
        self.active = False  # set by the leader while it writes
        self.queue: KeyQueue[EventJob] = KeyQueue("events")
        self.controller = Controller(self.queue, self.reconcile, workers=workers,
                                     log_context=_job_context, on_result=on_result)

    async def reconcile(self, job: EventJob) -> Result | None:
        try:
            await self.recorder.record(job)
        except Exception as exc:  # a bug or an unexpected answer: lose this Event, not the rest
            self.recorder.observer.event(job.type, "error")
            log.exception("event_crashed", route=str(job.route), reason=job.reason)
            raise TerminalError(f"event for {job.route} not written") from exc
        return None

    def enqueue(self, jobs: Iterable[EventJob]) -> None:
        for job in jobs:
            if len(self.queue) >= self.limit:
                self.recorder.observer.event(job.type, "dropped")
            else:
                self.queue.add(job)

    def on_change(self, diff: Diff) -> None:
        """The graph worker's sink: Events only while this replica writes."""
        if self.active:
            self.enqueue(jobs_for(diff))

    def start_term(self, findings: Iterable[Finding]) -> None:
        """Leadership starts: tell the findings that exist now (repeats fold into Events)."""
        self.active = True
        self.enqueue(announce(findings))

    def end_term(self) -> None:
        """Leadership ends: what is left is dropped (a new leader tells it again)."""
        self.active = False
        self.queue.clear()

    async def run(self) -> None:
        await self.controller.run()


def _job_context(job: EventJob) -> Mapping[str, object]:
    return {"namespace": job.route.namespace, "route": job.route.name, "reason": job.reason}
