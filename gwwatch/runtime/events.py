"""Events on the routes of a finding: Warning when it appears, Normal when it clears.

Each route involved gets one: the offender (reason ``HijacksTraffic``, ``Shadowed``,
``SharesHostname``) and the other route (``HijackedByRoute``, ``ShadowsRoute``,
``HostnameShared``); when the finding clears, the same reasons with ``Resolved`` appended, and
the same message. Messages are bounded to 1024 characters.

Repeats are folded like client-go's event correlator, but across restarts and leader changes
too: an Event's name is derived from (route, reason, finding identity), so telling the same
thing again finds the existing Event (``409`` on create) and bumps its ``count`` and
``lastTimestamp`` instead of adding another object.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

import structlog

from gwwatch.engine import Diff, Finding, ObjectRef
from gwwatch.runtime import errors
from gwwatch.runtime.kube import Kube
from gwwatch.runtime.status import bound

__all__ = ["MAX_EVENT_MESSAGE", "EventJob", "EventRecorder", "jobs_for"]

log = structlog.get_logger("gwwatch.events")

MAX_EVENT_MESSAGE: Final = 1024
COMPONENT: Final = "gwwatch"
_OFFENDER: Final = {"Hijack": "HijacksTraffic", "Shadowed": "Shadowed",
                    "SharedHostname": "SharesHostname"}
_OTHER: Final = {"Hijack": "HijackedByRoute", "Shadowed": "ShadowsRoute",
                 "SharedHostname": "HostnameShared"}
_CACHE_SIZE: Final = 4096


@dataclass(frozen=True, slots=True)
class EventJob:
    route: ObjectRef
    type: str  # Warning | Normal
    reason: str
    message: str
    identity: str  # stable: what the Event is about (the name derives from it)


def _jobs(f: Finding, warning: bool) -> list[EventJob]:
    out = []
    identity = repr(f.identity)
    for ref, table in ((f.route, _OFFENDER), (f.other, _OTHER)):
        if ref is None or f.kind not in table:
            continue
        reason = table[f.kind] if warning else table[f.kind] + "Resolved"
        out.append(EventJob(ref, "Warning" if warning else "Normal", reason,
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

    async def run(self, jobs: asyncio.Queue[EventJob]) -> None:
        """Drain ``jobs`` until cancelled."""
        while True:
            job = await jobs.get()
            try:
                with structlog.contextvars.bound_contextvars(
                        namespace=job.route.namespace, route=job.route.name):
                    await self.record(job)
            except Exception:  # a bug or an unexpected answer: lose this Event, not the rest
                self.observer.event(job.type, "error")
                log.exception("event_crashed", route=str(job.route), reason=job.reason)
            finally:
                jobs.task_done()
