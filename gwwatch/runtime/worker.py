"""The one task that owns the conflict graph: changed keys in, findings diffs out.

Reflectors mark keys dirty in a :class:`KeyQueue`; this worker takes them in batches, reads each
key's latest object from its store (level-based: the key is the whole request), parses it and
hands the batch to the engine's incremental graph in one ``apply`` (analysis runs once, at the
end of the batch; a finding that comes and goes inside it is not reported). The batch's diff is
handed, with the keys that changed, to a pipeline of sinks — plain callables sharing one
signature, as structlog's processors do (status, Events). Sinks only enqueue; their I/O runs
elsewhere. Metrics read :meth:`GraphWorker.snapshot` when scraped.

**Analysis runs off the event loop** (issue 11: nothing a tenant writes may stall Lease
renewal, ``/healthz``, ``/readyz`` or ``/metrics``). The graph is owned by one dedicated thread
(``gwwatch-graph``): every batch's parse and ``apply``, every ownership rebuild, every metrics
snapshot and every caller's :meth:`GraphWorker.run_exclusive` (the admission webhook's
``what_if``) runs there, one at a time and in the order asked, so nothing reads the graph while
it changes. The event loop only reads the stores (it owns them), hands the batch over, and
publishes what came back. A batch that takes a minute of pure-Python analysis costs the loop a
GIL switch interval (5 ms) per wake-up, not a minute: measured in ``bench/loop.py``. Code that
holds the GIL for its whole run (a backtracking ``re`` match is one C call) would still stall
every thread; that is why tenant regular expressions must run in linear time.

Readers on the event loop never touch the graph: :meth:`GraphWorker.findings_of`,
:meth:`GraphWorker.parents_of` and :meth:`GraphWorker.findings` read a view the worker publishes
after each batch (the findings and parent statuses of every route that has findings, and the
list of all findings), replaced entry by entry on the loop, so a reader sees one batch's result
or the next one's, never half of one.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import functools
import re
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import structlog

from gwwatch import manifests
from gwwatch.engine import ConflictGraph, Diff, Finding, ObjectRef, ParentStatus, Policy, parse
from gwwatch.engine.findings import diff as findings_diff
from gwwatch.engine.graph import analyse
from gwwatch.engine.model import Invalid, Parsed
from gwwatch.engine.vocabulary import CONTEXT_KINDS, ROUTE_KINDS
from gwwatch.metrics import Snapshot
from gwwatch.runtime.queue import KeyQueue
from gwwatch.runtime.store import Store

__all__ = ["OWNERSHIP_KIND", "Change", "GraphWorker", "Sink", "ownership_from_configmap"]

log = structlog.get_logger("gwwatch.worker")

OWNERSHIP_KIND: Final = "ConfigMap"
# Keys per batch: large enough that a burst costs one sink pass per few hundred objects, small
# enough that the first findings of an initial sync of 10k objects come out early.
_BATCH: Final = 256
_EMPTY: Final = Diff((), (), ())
_ROUTE_KINDS: Final = frozenset(ROUTE_KINDS)
_PARENT_KINDS: Final = CONTEXT_KINDS
# While keys keep coming, the metrics snapshot (O(routes)) is rebuilt at most this often; it is
# always rebuilt when the queue runs dry.
_SNAPSHOT_EVERY: Final = 5.0

T = TypeVar("T")
RouteView = tuple[tuple[Finding, ...], tuple[ParentStatus, ...]]


@dataclass(frozen=True, slots=True)
class Change:
    """What one batch did: the merged findings diff and the keys whose objects changed."""

    diff: Diff
    objects: tuple[ObjectRef, ...]


@dataclass(frozen=True, slots=True)
class _Outcome:
    """A batch's result as computed in the graph thread, published on the event loop."""

    change: Change
    view: dict[ObjectRef, RouteView | None]  # None: the route has no findings any more
    findings: tuple[Finding, ...] | None  # None: unchanged


Sink = Callable[[Change], None]


def ownership_from_configmap(obj: Mapping[str, Any] | None) -> dict[str, tuple[str, ...]]:
    """Platform-owned claims from the ownership ConfigMap's ``data``.

    A key ending in ``.yaml``/``.yml``/``.json`` holds the ``scan --ownership`` file, read by
    the same strict parser (a mapping tenant → list of hostnames); any other key is a tenant
    and its value the hostnames, separated by commas, spaces or newlines. A malformed key is
    logged and skipped as a whole.
    """
    if obj is None:
        return {}
    data = obj.get("data")
    if not isinstance(data, Mapping):
        return {}
    out: dict[str, list[str]] = {}
    for key, value in data.items():
        if not isinstance(value, str):
            continue
        if str(key).endswith((".yaml", ".yml", ".json")):
            try:
                claims = manifests.parse_ownership(value, f"ConfigMap key {key}")
            except manifests.ManifestError as exc:
                log.warning("ownership_unreadable", key=str(key), error=str(exc)[:200])
                continue
            for tenant, hosts in claims.items():
                out.setdefault(tenant, []).extend(hosts)
        else:
            out.setdefault(str(key), []).extend(re.split(r"[\s,]+", value))
    return {t: tuple(dict.fromkeys(h.strip().lower() for h in hs if h.strip()))
            for t, hs in out.items() if any(h.strip() for h in hs)}


class GraphWorker:
    def __init__(
        self,
        *,
        policy: Policy,
        stores: Mapping[str, Store],
        queue: KeyQueue[ObjectRef],
        sinks: Sequence[Sink] = (),
        on_reconciled: Callable[[str, float], None] = lambda kind, seconds: None,
        on_failed: Callable[[str], None] = lambda kind: None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.policy = policy
        self.graph = ConflictGraph(policy)
        self.stores = stores
        self.queue = queue
        self.sinks = list(sinks)
        self.on_reconciled = on_reconciled
        self.on_failed = on_failed
        self._clock = clock
        # What was handed to the graph per key: to skip changes the engine does not read (our
        # own status writes) and to rebuild the graph when the ownership policy changes.
        self.parsed: dict[ObjectRef, Parsed] = {}
        self._snapshot: Snapshot | None = None
        self._snapshot_dirty = True
        self._snapshot_at = 0.0
        self.idle = asyncio.Event()  # set while nothing is queued or being handled
        self.idle.set()
        # The published view (see the module's docstring): routes with findings only.
        self._view: dict[ObjectRef, RouteView] = {}
        self._findings: tuple[Finding, ...] = ()
        # The one thread that owns the graph once run() started (None before: tests and
        # benches drive process() synchronously).
        self._thread: concurrent.futures.ThreadPoolExecutor | None = None

    # --- read-only view (published after each batch) -----------------------------------------

    def findings_of(self, route: ObjectRef) -> tuple[Finding, ...]:
        """The findings naming ``route``, as of the last batch."""
        return self._view.get(route, ((), ()))[0]

    def parents_of(self, route: ObjectRef) -> tuple[ParentStatus, ...]:
        """What each parentRef of ``route`` resolved to, as of the last batch; published for
        routes that have findings (the only ones whose status entries need them), () for
        others."""
        return self._view.get(route, ((), ()))[1]

    def findings(self) -> list[Finding]:
        """Every current finding as of the last batch, most severe first."""
        return list(self._findings)

    def snapshot(self) -> Snapshot:
        """The engine state for metrics. Once :meth:`run` owns the graph this is the snapshot
        last built in the graph thread (never waits on analysis: a scrape during a long batch
        gets the state before it); before that, built here when something changed."""
        if self._thread is None and (self._snapshot is None or self._snapshot_dirty):
            self._snapshot = self._build_snapshot()
            self._snapshot_dirty = False
        return self._snapshot if self._snapshot is not None else Snapshot()

    # --- the graph thread ---------------------------------------------------------------------

    async def run_exclusive(self, fn: Callable[[ConflictGraph], T]) -> T:
        """``fn(graph)`` in the graph thread, after every batch and call asked before it and
        before any asked after it: the one way to read the live graph (e.g. ``what_if``) once
        :meth:`run` started. The event loop stays free meanwhile. ``fn`` must not keep the
        graph or mutate it."""
        return await self._in_thread(lambda: fn(self.graph))

    async def _in_thread(self, fn: Callable[[], T]) -> T:
        if self._thread is None:
            return fn()  # not running: the caller's thread is the only one
        return await asyncio.wrap_future(self._thread.submit(fn))

    def _build_snapshot(self) -> Snapshot:
        routes: Counter[tuple[str, str, str]] = Counter()
        attachments: Counter[tuple[str, str]] = Counter()
        for ref, statuses in self.graph.parent_statuses():
            accepted = [s for s in statuses if s.accepted]
            refused = [s for s in statuses if not s.accepted]
            if not statuses:
                routes[(ref.kind, "detached", "NoParents")] += 1
            elif not refused:
                routes[(ref.kind, "attached", "Accepted")] += 1
            else:
                routes[(ref.kind, "partial" if accepted else "detached", refused[0].reason)] += 1
            seen: set[tuple[str, str]] = set()
            for s in accepted:
                for a in s.attached:
                    gw = a.listener.gateway
                    key = (str(gw) if gw else "", a.listener.name)
                    if key not in seen:
                        seen.add(key)
                        attachments[key] += 1
        invalid: Counter[str] = Counter()
        for inv in self.graph.invalid_objects():
            invalid[inv.kind] += 1
            if inv.kind in _ROUTE_KINDS:
                routes[(inv.kind, "invalid", "Malformed")] += 1
        return Snapshot(
            findings=tuple(self.graph.findings()),
            routes=tuple(sorted(routes.items())),
            attachments=tuple(sorted(attachments.items())),
            invalid=tuple(sorted(invalid.items())),
            built_at=time.time(),
        )

    # --- applying changes ----------------------------------------------------------------

    def _ownership_of(self, obj: Mapping[str, Any] | None) -> Policy:
        return dataclasses.replace(self.policy, ownership=ownership_from_configmap(obj))

    def process(self, keys: Sequence[ObjectRef]) -> Change:
        """Apply a batch of keys as one change; its diff (a finding that came and went inside
        the batch is not reported). Synchronous, in the caller's thread (tests, benches)."""
        outcome = self._compute(keys, self._read(keys))
        self._publish(outcome)
        return outcome.change

    def _read(self, keys: Sequence[ObjectRef]) -> dict[ObjectRef, Mapping[str, Any] | None]:
        """Each key's latest object (on the event loop, which owns the stores)."""
        out: dict[ObjectRef, Mapping[str, Any] | None] = {}
        for key in keys:
            store = self.stores.get(key.kind)
            out[key] = store.get(key) if store is not None else None
        return out

    def _compute(self, keys: Sequence[ObjectRef],
                 objects: Mapping[ObjectRef, Mapping[str, Any] | None]) -> _Outcome:
        """The batch against the graph (in the graph thread): the change and the view to
        publish."""
        before_view = self._view
        change, policy_changed = self._apply_batch(keys, objects)
        d = change.diff
        touched: set[ObjectRef] = {k for k in keys if k.kind in _ROUTE_KINDS}
        for f in (*d.added, *d.removed, *d.changed):
            for ref in (f.route, f.other):
                if ref is not None:
                    touched.add(ref)
        if policy_changed or any(k.kind in _PARENT_KINDS for k in keys):
            touched.update(before_view)  # attachments may have moved under old findings
        if policy_changed:
            touched.update(r for f in self.graph.findings() for r in (f.route, f.other)
                           if r is not None)
        view: dict[ObjectRef, RouteView | None] = {}
        for ref in touched:
            found = self.graph.findings_of(ref)
            view[ref] = (found, self.graph.parents_of(ref)) if found else None
        findings = tuple(self.graph.findings()) if d or policy_changed else None
        return _Outcome(change, view, findings)

    def _publish(self, outcome: _Outcome) -> None:
        """The batch's view, on the event loop (one assignment per route)."""
        for ref, entry in outcome.view.items():
            if entry is None:
                self._view.pop(ref, None)
            else:
                self._view[ref] = entry
        if outcome.findings is not None:
            self._findings = outcome.findings

    def _parse_object(self, key: ObjectRef, obj: Mapping[str, Any] | None) -> Parsed | None:
        return parse(obj, source=f"{key.kind} {key}") if obj is not None else None

    def _apply_batch(self, keys: Sequence[ObjectRef],
                     objects: Mapping[ObjectRef, Mapping[str, Any] | None]
                     ) -> tuple[Change, bool]:
        upserts: dict[ObjectRef, Parsed] = {}
        deletes: list[ObjectRef] = []
        policy: Policy | None = None
        parse_time: dict[ObjectRef, float] = {}
        for key in keys:
            if key.kind == OWNERSHIP_KIND:
                policy = self._ownership_of(objects.get(key))
                continue
            started = self._clock()
            with structlog.contextvars.bound_contextvars(
                    kind=key.kind, namespace=key.namespace or None, name=key.name):
                try:
                    parsed = self._parse_object(key, objects.get(key))
                except Exception:  # a bug in the engine must not stop the controller
                    log.exception("reconcile_failed")
                    self.on_failed(key.kind)
                    continue
                if parsed is None:
                    if self.parsed.pop(key, None) is not None:
                        deletes.append(key)
                elif self.parsed.get(key) != parsed:  # equal: e.g. only status changed
                    if isinstance(parsed, Invalid):
                        log.warning("object_invalid", reason=parsed.reason)
                    self.parsed[key] = parsed
                    upserts[key] = parsed
            parse_time[key] = self._clock() - started
        before = self.graph.findings() if policy is not None and policy != self.policy else None
        started = self._clock()
        d = self._apply(upserts, deletes)
        # One analysis for the batch: each object that reached the graph bears its share.
        share = (self._clock() - started) / max(1, len(upserts) + len(deletes))
        fed = upserts.keys() | set(deletes)
        for key, seconds in parse_time.items():
            self.on_reconciled(key.kind, seconds + (share if key in fed else 0.0))
        policy_changed = before is not None and policy is not None
        if before is not None and policy is not None:
            self._set_policy(policy)
            d = findings_diff(before, self.graph.findings())
        if d or any(k.kind in _ROUTE_KINDS or k.kind in _PARENT_KINDS for k in keys):
            self._snapshot_dirty = True  # findings, or attachment counts, may have moved
        return Change(d, tuple(keys)), policy_changed

    def _apply(self, upserts: Mapping[ObjectRef, Parsed], deletes: Sequence[ObjectRef]) -> Diff:
        if not upserts and not deletes:
            return _EMPTY
        try:
            return self.graph.apply(upserts.values(), deletes)
        except Exception:  # a bug in the engine must not stop the controller
            log.exception("batch_failed", upserts=len(upserts), deletes=len(deletes))
        # Find the culprit: one key at a time, each contained.
        diffs: list[Diff] = []
        for ref, change in (*((r, None) for r in deletes), *upserts.items()):
            with structlog.contextvars.bound_contextvars(
                    kind=ref.kind, namespace=ref.namespace or None, name=ref.name):
                try:
                    diffs.append(self.graph.apply([change] if change is not None else (),
                                                  () if change is not None else (ref,)))
                except Exception:
                    log.exception("reconcile_failed")
                    self.on_failed(ref.kind)
                    self.parsed.pop(ref, None)  # try it again when it changes next
        return _merge(diffs)


    def _set_policy(self, policy: Policy) -> None:
        self.policy = policy
        self.graph = analyse(self.parsed.values(), policy)
        log.info("policy_changed", claims=sum(len(h) for h in policy.ownership.values()))

    async def run(self) -> None:
        """Batches until cancelled, each analysed in the graph thread."""
        self._thread = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="gwwatch-graph")
        try:
            while True:
                if not len(self.queue) and not self.queue.processing:
                    await self._refresh_snapshot(force=True)
                    if not len(self.queue):
                        self.idle.set()
                keys = await self.queue.get_batch(_BATCH)
                self.idle.clear()
                try:
                    objects = self._read(keys)
                    outcome = await self._in_thread(functools.partial(self._compute, keys, objects))
                    self._publish(outcome)
                finally:
                    for key in keys:
                        self.queue.done(key)
                for sink in self.sinks:
                    try:
                        sink(outcome.change)
                    except Exception:
                        log.exception("sink_failed", sink=getattr(sink, "__name__", repr(sink)))
                await self._refresh_snapshot(force=False)
        finally:
            # A job still running finishes in its thread; nothing waits for it.
            self._thread.shutdown(wait=False, cancel_futures=True)
            self._thread = None

    async def _refresh_snapshot(self, *, force: bool) -> None:
        """Rebuild the metrics snapshot in the graph thread when it is stale: always once the
        queue runs dry, at most every few seconds while keys keep coming."""
        if not self._snapshot_dirty or (
                not force and time.monotonic() - self._snapshot_at < _SNAPSHOT_EVERY):
            return
        self._snapshot_dirty = False
        self._snapshot_at = time.monotonic()
        self._snapshot = await self._in_thread(self._build_snapshot)


def _merge(diffs: Sequence[Diff]) -> Diff:
    """Diffs that happened one after another, as one diff (a finding that came and went is not
    reported; one that changed and changed back is)."""
    if len(diffs) <= 1:
        return diffs[0] if diffs else _EMPTY
    first: dict[tuple[object, ...], bool] = {}  # identity → existed before the first diff
    last: dict[tuple[object, ...], Finding | None] = {}
    for d in diffs:
        for f in d.removed:
            first.setdefault(f.identity, True)
            last[f.identity] = None
        for f in d.added:
            first.setdefault(f.identity, False)
            last[f.identity] = f
        for f in d.changed:
            first.setdefault(f.identity, True)
            last[f.identity] = f
    added = [f for i, f in last.items() if f is not None and not first[i]]
    changed = [f for i, f in last.items() if f is not None and first[i]]
    removed = [f for d in diffs for f in d.removed
               if first[f.identity] and last[f.identity] is None]
    unique_removed = list({f.identity: f for f in removed}.values())
    return Diff(tuple(sorted(added, key=Finding.sort_key)),
                tuple(sorted(unique_removed, key=Finding.sort_key)),
                tuple(sorted(changed, key=Finding.sort_key)))
