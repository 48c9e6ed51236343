"""gwwatch's own entries in a route's ``status.parents`` (docs/architecture.md, "The status
contract").

``status.parents`` is an atomic list shared with the Gateway implementation, so it is never
server-side-applied: gwwatch reads the route, changes **only the entries whose controllerName is
its own**, and writes the whole status back with the route's resourceVersion (a ``409`` means
someone wrote first: read again, compute again, retry). Other controllers' entries keep their
content and their positions; ours are replaced in place, appended when new, and removed when
nothing is left to say.

The computation is pure and has no server: :func:`wanted_entries` (findings → conditions per
parentRef; a condition's reason is the finding's own) and :func:`desired_parents` (current list
+ wanted entries → new list). The writer around it (:class:`StatusWriter`) is layered like
httpx's client: :meth:`StatusWriter.write_status` → :meth:`StatusWriter._write_retrying_conflicts`
→ :meth:`StatusWriter._write_once`. :class:`StatusController` runs it as a
:class:`~gwwatch.runtime.controller.Controller`: a failed write is retried with the status
queue's per-key backoff, a ``422`` is terminal, a deferred restore comes back when it may run.
"""

from __future__ import annotations

import copy
import datetime
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

import structlog

from gwwatch.engine import Diff, Finding, ObjectRef, ParentStatus
from gwwatch.engine.model import ParentRef
from gwwatch.engine.vocabulary import GROUP, ROUTE_KINDS, FindingKind, Reason
from gwwatch.runtime import errors
from gwwatch.runtime.controller import Controller, Result, TerminalError
from gwwatch.runtime.kube import Kube
from gwwatch.runtime.queue import (
    BucketRateLimiter,
    ExponentialRateLimiter,
    KeyQueue,
    MaxOfRateLimiter,
)
from gwwatch.runtime.resources import Resource
from gwwatch.runtime.store import resource_version

__all__ = [
    "HOSTNAME_CONFLICT",
    "MAX_COMBINED_MESSAGE",
    "MAX_CONDITION_MESSAGE",
    "MAX_LISTED_FINDINGS",
    "MAX_PARENTS",
    "TRAFFIC_HIJACKED",
    "ConditionSpec",
    "Entry",
    "Outcome",
    "StatusController",
    "StatusWriter",
    "bound",
    "desired_parents",
    "wanted_entries",
]

log = structlog.get_logger("gwwatch.status")

HOSTNAME_CONFLICT: Final = "gwwatch.io/HostnameConflict"
TRAFFIC_HIJACKED: Final = "gwwatch.io/TrafficHijacked"
# Limits of the v1.6.1 CRDs (status.parents maxItems, conditions maxItems, message maxLength).
MAX_PARENTS: Final = 32
MAX_CONDITIONS: Final = 8
MAX_CONDITION_MESSAGE: Final = 32768
# What one condition says at most: a few kilobytes stay readable in `kubectl describe`; the
# CRD's 32 KiB is only the hard limit. Beyond MAX_LISTED_FINDINGS, "and K more".
MAX_COMBINED_MESSAGE: Final = 4096
MAX_LISTED_FINDINGS: Final = 10
_FINDING_LINE: Final = 1024  # one finding's line in a combined message

# Findings that are conditions on their offending route (Posture is about listeners), strongest
# first: when several apply to one parentRef, the strongest one's reason is the condition's.
# The offender's reason is the finding's own (HijacksTraffic, Shadowed, ListenerShadowed,
# SharesHostname); a hijack's victim says VICTIM_REASON.
_KIND_RANK: Final = {FindingKind.HIJACK: 0, FindingKind.SHADOWED: 1,
                     FindingKind.SHARED_HOSTNAME: 2}
VICTIM_REASON: Final = "HijackedByRoute"
_ROUTE_KINDS: Final = frozenset(ROUTE_KINDS)


@dataclass(frozen=True, slots=True)
class ConditionSpec:
    type: str
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class Entry:
    """What gwwatch wants to say about one parentRef of a route."""

    parent_ref: Mapping[str, Any]
    conditions: tuple[ConditionSpec, ...]


# --- pure: what to say ---------------------------------------------------------------------


def bound(text: str, limit: int) -> str:
    """One line of printable text, at most ``limit`` characters (tenant data stays inert)."""
    flat = "".join(ch if ch.isprintable() else " " for ch in text)
    if len(flat) <= limit:
        return flat
    suffix = " [truncated]"
    return flat[: max(0, limit - len(suffix))] + suffix


def bound_lines(text: str, limit: int) -> str:
    """Like :func:`bound`, but keeps the line breaks between lines (each line is flattened):
    only gwwatch puts line breaks in a message, so lines are its structure."""
    flat = "\n".join(bound(line, limit) for line in text.split("\n"))
    if len(flat) <= limit:
        return flat
    suffix = " [truncated]"
    return flat[: max(0, limit - len(suffix))] + suffix


def parent_ref_json(pr: ParentRef) -> dict[str, Any]:
    """A ParentReference with every defaulted field spelled out (so equality is stable)."""
    out: dict[str, Any] = {"group": pr.group, "kind": pr.kind, "namespace": pr.namespace,
                           "name": pr.name}
    if pr.section_name is not None:
        out["sectionName"] = pr.section_name
    if pr.port is not None:
        out["port"] = pr.port
    return out


def _ref_key(raw: object, route_namespace: str) -> tuple[object, ...]:
    """Identity of a parentRef as written in status, defaults applied."""
    ref = raw if isinstance(raw, Mapping) else {}
    return (
        ref.get("group", GROUP),  # "" is the core group, not the default
        ref.get("kind", "Gateway") or "Gateway",
        ref.get("namespace") or route_namespace,
        ref.get("name"),
        ref.get("sectionName"),
        ref.get("port"),
    )


def _parents_for(finding: Finding, parents: Sequence[ParentStatus]) -> list[ParentStatus]:
    """The parentRefs through which the route takes part in ``finding``: those attached to the
    finding's listener, else (defensively) any attached to its Gateway. A listener is named by
    its owner (the Gateway or ListenerSet declaring it) and its name: a ListenerSet may declare
    a listener named like one of its Gateway's. A parentRef the engine refused because a route
    of the other kind took the listener (cross serving) is one the route takes part through:
    its finding says why it is not accepted."""
    owner = finding.listener_owner
    on_listener = [
        ps for ps in parents
        if ps.accepted and ps.gateway == finding.gateway and any(
            a.listener.name == finding.listener and a.listener.gateway == finding.gateway
            and (owner is None or a.listener.owner == owner)
            for a in ps.attached)
    ]
    if on_listener:
        return on_listener
    return [ps for ps in parents if ps.gateway == finding.gateway and (
        ps.accepted or ps.reason == Reason.REJECTED_BY_OTHER_KIND)]


def _combine(ctype: str, reasons_and_findings: list[tuple[str, Finding]]) -> ConditionSpec:
    ordered = sorted(reasons_and_findings,
                     key=lambda rf: (_KIND_RANK.get(rf[1].kind, 9), rf[1].sort_key()))
    reason = ordered[0][0]
    messages = list(dict.fromkeys(f.message for _, f in ordered))
    if len(messages) == 1:
        return ConditionSpec(ctype, reason, bound(messages[0], MAX_COMBINED_MESSAGE))
    # One finding per line, each line flattened (no line break can come from a tenant), so
    # the "[i] " prefixes at line starts are ours alone: text inside a message cannot forge a
    # finding, whatever separators or numbers it holds.
    lines = [f"{len(messages)} findings, one per line:"]
    size = len(lines[0])
    reserve = len(f"\nand {len(messages)} more")
    for i, message in enumerate(messages, 1):
        line = f"[{i}] {bound(message, _FINDING_LINE)}"
        if i > MAX_LISTED_FINDINGS or size + 1 + len(line) + reserve > MAX_COMBINED_MESSAGE:
            break
        lines.append(line)
        size += 1 + len(line)
    if (more := len(messages) - (len(lines) - 1)) > 0:
        lines.append(f"and {more} more")
    return ConditionSpec(ctype, reason, "\n".join(lines))


def wanted_entries(
    route: ObjectRef, findings: Iterable[Finding], parents: Sequence[ParentStatus]
) -> list[Entry]:
    """Our entries for ``route``: per parentRef, ``HostnameConflict`` when the route is the
    offender of a finding and ``TrafficHijacked`` when it is a hijack's victim."""
    per_parent: dict[int, dict[str, list[tuple[str, Finding]]]] = {}
    for f in findings:
        if f.route == route and f.kind in _KIND_RANK:
            ctype, reason = HOSTNAME_CONFLICT, str(f.reason)
        elif f.other == route and f.kind == FindingKind.HIJACK:
            ctype, reason = TRAFFIC_HIJACKED, VICTIM_REASON
        else:
            continue
        for ps in _parents_for(f, parents):
            index = parents.index(ps)
            per_parent.setdefault(index, {}).setdefault(ctype, []).append((reason, f))
    out: list[Entry] = []
    for index in sorted(per_parent):
        by_type = per_parent[index]
        conditions = tuple(_combine(t, by_type[t]) for t in (HOSTNAME_CONFLICT, TRAFFIC_HIJACKED)
                           if t in by_type)
        out.append(Entry(parent_ref_json(parents[index].parent_ref), conditions))
    return out


# --- pure: the new list --------------------------------------------------------------------


def ours(parents: Sequence[Mapping[str, Any]], controller: str) -> list[Mapping[str, Any]]:
    return [p for p in parents if isinstance(p, Mapping) and p.get("controllerName") == controller]


def desired_parents(
    current: Sequence[Mapping[str, Any]],
    wanted: Sequence[Entry],
    *,
    controller: str,
    route_namespace: str,
    generation: int,
    now: str,
    remembered: Sequence[Mapping[str, Any]] = (),
) -> tuple[list[Mapping[str, Any]], int]:
    """The new ``status.parents`` and how many of our entries did not fit in 32.

    Other controllers' entries are kept as they are, where they are. Ours are rewritten in
    place, new ones appended, the rest removed. A condition keeps its ``lastTransitionTime``
    while its status stays the same (it is always ``True``: we remove rather than say False);
    ``remembered`` (what we wrote last) supplies it when someone else dropped our entry.
    """
    old_ours: dict[tuple[object, ...], Mapping[str, Any]] = {}
    for entry in (*ours(current, controller), *remembered):
        old_ours.setdefault(_ref_key(entry.get("parentRef"), route_namespace), entry)
    new_ours: dict[tuple[object, ...], dict[str, Any]] = {}
    for want in wanted:
        key = _ref_key(want.parent_ref, route_namespace)
        if key in new_ours or not want.conditions:
            continue
        old = old_ours.get(key, {})
        old_conditions = {c.get("type"): c for c in old.get("conditions") or ()
                          if isinstance(c, Mapping)}
        conditions = []
        for spec in want.conditions[:MAX_CONDITIONS]:
            prev = old_conditions.get(spec.type)
            since = now
            if prev is not None and prev.get("status") == "True" and prev.get(
                    "lastTransitionTime"):
                since = str(prev["lastTransitionTime"])
            conditions.append({
                "type": spec.type,
                "status": "True",
                "reason": spec.reason,
                "message": bound_lines(spec.message, MAX_CONDITION_MESSAGE),
                "lastTransitionTime": since,
                "observedGeneration": generation,
            })
        new_ours[key] = {"parentRef": dict(want.parent_ref), "controllerName": controller,
                         "conditions": conditions}
    out: list[Mapping[str, Any]] = []
    placed: set[tuple[object, ...]] = set()
    for entry in current:
        if isinstance(entry, Mapping) and entry.get("controllerName") == controller:
            key = _ref_key(entry.get("parentRef"), route_namespace)
            if key in new_ours and key not in placed:
                out.append(new_ours[key])
                placed.add(key)
        else:
            out.append(entry)
    dropped = 0
    for key, entry in new_ours.items():
        if key in placed:
            continue
        if len(out) >= MAX_PARENTS:
            dropped += 1
            continue
        out.append(entry)
    return out, dropped


def _entry_print(e: Mapping[str, Any]) -> str:
    """What one entry says, without timestamps, independent of key order (the server returns
    keys sorted, we write them in our order)."""
    conds = [
        (c.get("type"), c.get("status"), c.get("reason"), c.get("message"),
         c.get("observedGeneration"))
        for c in e.get("conditions") or () if isinstance(c, Mapping)]
    return json.dumps([e.get("parentRef"), e.get("controllerName"), conds], sort_keys=True,
                      default=str)


def fingerprint(entries: Iterable[Mapping[str, Any]]) -> list[str]:
    """What our entries say, without their timestamps: to tell a drop from a change."""
    return [_entry_print(e) for e in entries]


def tampered(current: Iterable[Mapping[str, Any]], written: Iterable[Mapping[str, Any]]
             ) -> bool:
    """Whether an entry under our name says something we did not write (forged or altered),
    as opposed to some of ours having been dropped."""
    ours_said = set(fingerprint(written))
    return any(p not in ours_said for p in fingerprint(current))


def now_rfc3339(clock: Callable[[], float] = time.time) -> str:
    return datetime.datetime.fromtimestamp(clock(), datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- the writer ----------------------------------------------------------------------------


class View(Protocol):
    """What the status writer reads of the engine's state: the graph's own queries (the graph
    worker passes them on to its current graph)."""

    def findings_of(self, route: ObjectRef) -> tuple[Finding, ...]: ...

    def parents_of(self, route: ObjectRef) -> tuple[ParentStatus, ...]: ...


class Outcome:
    UNCHANGED: Final = "unchanged"
    UPDATED: Final = "updated"
    GONE: Final = "gone"
    CONFLICT: Final = "conflict"  # retries exhausted
    INVALID: Final = "invalid"  # 422, terminal
    FORBIDDEN: Final = "forbidden"
    ERROR: Final = "error"
    DEFERRED: Final = "deferred"  # restoring a dropped entry, waiting for its backoff


class StatusObserver(Protocol):
    def status_write(self, result: str) -> None: ...

    def status_dropped(self, entries: int) -> None:
        """``entries`` of ours did not fit in ``status.parents`` (32)."""


# Restores of an entry someone else keeps dropping: 1 s after the first, doubling to 5 min,
# 20 % jitter; forgotten once our entry stood 10 min past its last wait (or went).
_RESTORE_BASE: Final = 1.0
_RESTORE_CAP: Final = 300.0
_RESTORE_JITTER: Final = 0.2
_RESTORE_SETTLED: Final = 600.0


class StatusWriter:
    """Brings one route's ``status.parents`` to what the findings say (leader only)."""

    MAX_CONFLICT_RETRIES: Final = 5

    def __init__(
        self,
        kube: Kube,
        *,
        controller: str,
        view: View,
        resource_of: Callable[[str], Resource | None],
        read_cached: Callable[[ObjectRef], Mapping[str, Any] | None],
        observer: StatusObserver,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        on_tampered: Callable[[ObjectRef], None] = lambda route: None,
    ) -> None:
        self.kube = kube
        self.controller = controller
        # Called after an entry someone else altered under our name was put back.
        self.on_tampered = on_tampered
        self.view = view
        self.resource_of = resource_of
        self.read_cached = read_cached
        self.observer = observer
        self._clock = clock
        self._wall_clock = wall_clock
        self._written: dict[ObjectRef, list[Mapping[str, Any]]] = {}
        # The rate limiter of a queue, keyed by route, counting restores instead of failures.
        self.restores: ExponentialRateLimiter[ObjectRef] = ExponentialRateLimiter(
            base=_RESTORE_BASE, cap=_RESTORE_CAP, jitter=_RESTORE_JITTER, clock=clock)

    def retry_in(self, route: ObjectRef) -> float:
        """Seconds until a deferred restore of ``route`` may run."""
        return self.restores.ready_in(route)

    async def write_status(self, route: ObjectRef) -> str:
        """Reconcile one route; returns an :class:`Outcome`. Raises only for errors worth a
        retry with backoff (:class:`errors.Transient`, :class:`errors.Forbidden`, exhausted
        conflicts); a ``422`` is logged and counted, and not retried."""
        try:
            outcome = await self._write_retrying_conflicts(route)
        except errors.Unprocessable as exc:
            self.observer.status_write(Outcome.INVALID)
            log.error("status_rejected", error=str(exc))
            return Outcome.INVALID
        except errors.Forbidden:
            self.observer.status_write(Outcome.FORBIDDEN)
            raise
        except errors.Conflict:
            self.observer.status_write(Outcome.CONFLICT)
            raise
        except errors.ApiError:
            self.observer.status_write(Outcome.ERROR)
            raise
        if outcome == Outcome.UPDATED:
            self.observer.status_write(Outcome.UPDATED)
        return outcome

    async def _write_retrying_conflicts(self, route: ObjectRef) -> str:
        obj = self.read_cached(route)
        for attempt in range(self.MAX_CONFLICT_RETRIES):
            if obj is None:
                obj = await self._read(route)
                if obj is None:
                    self.forget(route)
                    return Outcome.GONE
            try:
                return await self._write_once(route, obj)
            except errors.Conflict:
                log.debug("status_conflict", attempt=attempt)
                self.observer.status_write(Outcome.CONFLICT)
                obj = None  # read it again
            except errors.NotFound:
                self.forget(route)
                return Outcome.GONE
        raise errors.Conflict(f"status of {route} kept changing under us", code=409)

    async def _read(self, route: ObjectRef) -> Mapping[str, Any] | None:
        resource = self.resource_of(route.kind)
        if resource is None:
            return None
        try:
            return await self.kube.request("GET", resource.object_path(route.namespace,
                                                                        route.name))
        except errors.NotFound:
            return None

    async def _write_once(self, route: ObjectRef, obj: Mapping[str, Any]) -> str:
        resource = self.resource_of(route.kind)
        if resource is None:
            return Outcome.GONE
        status = obj.get("status")
        status = status if isinstance(status, Mapping) else {}
        raw_parents = status.get("parents")
        current = [p for p in raw_parents if isinstance(p, Mapping)] if isinstance(
            raw_parents, list) else []
        meta = obj.get("metadata")
        meta = meta if isinstance(meta, Mapping) else {}
        generation = meta.get("generation")
        wanted = wanted_entries(route, self.view.findings_of(route), self.view.parents_of(route))
        parents, dropped = desired_parents(
            current, wanted, controller=self.controller, route_namespace=route.namespace,
            generation=generation if isinstance(generation, int) else 0,
            now=now_rfc3339(self._wall_clock), remembered=self._written.get(route, ()))
        mine = ours(parents, self.controller)
        if dropped:  # also when nothing changes: a full list is why nothing is written
            log.warning("status_parents_full", dropped=dropped, limit=MAX_PARENTS)
            self.observer.status_dropped(dropped)
        if parents == current:
            self._written[route] = mine
            if not mine:
                self.forget(route)
            else:
                self._forget_restore_if_settled(route)
            return Outcome.UNCHANGED
        # Someone else removed or altered what we wrote while our view did not change.
        # - Altered (an entry under our name says what we did not write: a forgery, e.g. a
        #   tenant erasing its HostnameConflict or accusing a victim): put back at once, every
        #   time, and told (metric, Warning Event, log). Each restore answers one write of
        #   theirs: no amplification.
        # - Only dropped (an implementation rewriting the whole list): put back with backoff,
        #   so a controller that keeps dropping it does not make us spin.
        written = self._written.get(route)
        forged = False
        current_ours = ours(current, self.controller)
        if (written is not None and fingerprint(written) == fingerprint(mine)
                and fingerprint(current_ours) != fingerprint(mine)):
            if tampered(current_ours, written):
                forged = True
            else:
                self._forget_restore_if_settled(route)
                if self.restores.ready_in(route) > 0:
                    return Outcome.DEFERRED
                # The next restore waits for this delay to pass (the first one runs at once).
                wait = self.restores.when(route)
                log.info("status_entry_restored", retry_not_before_s=round(wait, 2))
        body = copy.deepcopy(dict(obj))
        body["status"] = {**status, "parents": parents}
        await self.kube.request(
            "PUT", resource.object_path(route.namespace, route.name, "status"), body=body)
        log.info("status_written", ours=len(mine), parents=len(parents),
                 resource_version=resource_version(obj))
        self._written[route] = copy.deepcopy(mine)  # ours: nobody else's dicts to change
        if forged:
            # Counted only once the PUT succeeded: it carried the resourceVersion we judged,
            # so the altered entry really was the server's latest (a stale cache gets a 409).
            log.warning("status_tampered", controller_name=self.controller,
                        hint="another client rewrote gwwatch's status entry; put back")
            self.on_tampered(route)
        if not mine:
            self.forget(route)
        return Outcome.UPDATED

    def _forget_restore_if_settled(self, route: ObjectRef) -> None:
        """Our entry stands: once its restore backoff would have reset anyway, drop it."""
        since = self.restores.since_ready(route)
        if since is not None and since > _RESTORE_SETTLED:
            self.restores.forget(route)

    def forget(self, route: ObjectRef) -> None:
        """Nothing of ours on ``route`` any more (or the route is gone): remember nothing."""
        self._written.pop(route, None)
        self.restores.forget(route)

    def reset(self) -> None:
        """Forget what was written: a new term of leadership starts from what the server
        says (another replica may have written, or dropped, entries meanwhile)."""
        self._written.clear()
        self.restores = ExponentialRateLimiter(
            base=_RESTORE_BASE, cap=_RESTORE_CAP, jitter=_RESTORE_JITTER, clock=self._clock)

    @property
    def remembered(self) -> int:
        """Routes with a memory of what was written or of a pending restore."""
        return len(self._written.keys() | self.restores.keys())


# --- the controller ------------------------------------------------------------------------


class StatusController:
    """The status writer as a :class:`Controller` over the routes whose entry may change.

    The graph worker's sink marks routes dirty (a finding naming them came, went or changed;
    or their object changed while they have findings or carry our entry). Each reconcile is
    one :meth:`StatusWriter.write_status`. Failed writes come back with the queue's per-key
    exponential backoff (1 s doubling to 5 min, jittered, never before ``Retry-After``),
    bounded overall by a token bucket (10 retries a second, bursts of 100).
    """

    RETRY_BASE: Final = 1.0
    RETRY_CAP: Final = 300.0
    RETRY_QPS: Final = 10.0
    RETRY_BURST: Final = 100

    def __init__(self, writer: StatusWriter, *, view: View,
                 read_cached: Callable[[ObjectRef], Mapping[str, Any] | None],
                 workers: int, on_result: Callable[[str, str], None] = lambda c, r: None,
                 mentions: Callable[[ObjectRef, str], bool] | None = None,
                 ) -> None:
        self.writer = writer
        self.view = view
        self.read_cached = read_cached
        # A cheap "certainly not" before decoding a cached route (a new term looks at all).
        self.mentions = mentions
        self.queue: KeyQueue[ObjectRef] = KeyQueue("status", limiter=MaxOfRateLimiter(
            ExponentialRateLimiter(base=self.RETRY_BASE, cap=self.RETRY_CAP, jitter=1.0),
            BucketRateLimiter(qps=self.RETRY_QPS, burst=self.RETRY_BURST)))
        self.controller = Controller(self.queue, self.reconcile, workers=workers,
                                     log_context=_route_context, on_result=on_result)

    async def reconcile(self, route: ObjectRef) -> Result | None:
        outcome = await self.writer.write_status(route)
        if outcome == Outcome.DEFERRED:
            return Result(requeue_after=self.writer.retry_in(route))
        if outcome == Outcome.INVALID:
            raise TerminalError(f"the server refused the status of {route} (422)")
        return None

    def wants(self, route: ObjectRef) -> bool:
        """Whether ``route`` has something for the writer: findings, or our entry to remove."""
        return bool(self.view.findings_of(route)) or self.has_ours(route)

    def has_ours(self, route: ObjectRef) -> bool:
        if self.mentions is not None and not self.mentions(route, self.writer.controller):
            return False
        obj = self.read_cached(route)
        if obj is None:
            return False
        status = obj.get("status")
        parents = status.get("parents") if isinstance(status, Mapping) else None
        return isinstance(parents, list) and bool(ours(parents, self.writer.controller))

    def on_change(self, diff: Diff, objects: Iterable[ObjectRef]) -> None:
        """The graph worker's sink: enqueue the routes a batch may have changed."""
        for f in (*diff.added, *diff.removed, *diff.changed):
            for ref in (f.route, f.other):
                if ref is not None and ref.kind in _ROUTE_KINDS:
                    self.queue.add(ref)
        for key in objects:
            if key.kind in _ROUTE_KINDS and self.wants(key):
                self.queue.add(key)

    def start_term(self, routes: Iterable[ObjectRef]) -> None:
        """Leadership starts: forget what was written (another leader may have written
        meanwhile) and look at every route that has findings or carries our entry."""
        self.writer.reset()
        for route in routes:
            if self.wants(route):
                self.queue.add(route)

    async def run(self) -> None:
        await self.controller.run()


def _route_context(route: ObjectRef) -> Mapping[str, object]:
    return {"kind": route.kind, "namespace": route.namespace, "route": route.name}
