"""The one task that owns the conflict graph: changed keys in, findings diffs out.

Reflectors mark keys dirty in a :class:`KeyQueue`; this worker takes them in batches, reads each
key's latest object from its store (level-based: the key is the whole request), parses it and
feeds the engine's incremental graph. The diffs of a batch are merged and handed, with the keys
that changed, to a pipeline of sinks — plain callables sharing one signature, as structlog's
processors do (status, Events, metrics). Sinks only enqueue; their I/O runs elsewhere.

Nothing else mutates the graph. Other tasks read it through the small read-only view this
worker offers (:meth:`GraphWorker.findings_for`, :meth:`GraphWorker.parents_of`,
:meth:`GraphWorker.snapshot`), from the same event loop, never across an ``await``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import structlog

from gwwatch import manifests
from gwwatch.engine import ConflictGraph, Diff, Finding, ObjectRef, ParentStatus, Policy, parse
from gwwatch.engine.findings import diff as findings_diff
from gwwatch.engine.graph import analyse
from gwwatch.engine.model import ROUTE_KINDS, Invalid, Parsed
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
_PARENT_KINDS: Final = frozenset(("Gateway", "ListenerSet", "Namespace"))


@dataclass(frozen=True, slots=True)
class Change:
    """What one batch did: the merged findings diff and the keys whose objects changed."""

    diff: Diff
    objects: tuple[ObjectRef, ...]


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
        self.parsed: dict[ObjectRef, Parsed] = {}
        self.findings: dict[tuple[object, ...], Finding] = {}
        self.by_route: dict[ObjectRef, dict[tuple[object, ...], Finding]] = {}
        self._snapshot: Snapshot | None = None
        self.idle = asyncio.Event()  # set while nothing is queued or being handled
        self.idle.set()
        self.batches = 0

    # --- read-only view ----------------------------------------------------------------------

    def findings_for(self, route: ObjectRef) -> tuple[Finding, ...]:
        return tuple(self.by_route.get(route, {}).values())

    def parents_of(self, route: ObjectRef) -> tuple[ParentStatus, ...]:
        return self.graph.status.get(route, ())

    def current(self) -> list[Finding]:
        return sorted(self.findings.values(), key=Finding.sort_key)

    def snapshot(self) -> Snapshot:
        """The engine state for metrics, rebuilt only after a change (O(routes))."""
        if self._snapshot is None:
            self._snapshot = self._build_snapshot()
        return self._snapshot

    def _build_snapshot(self) -> Snapshot:
        routes: Counter[tuple[str, str, str]] = Counter()
        attachments: Counter[tuple[str, str]] = Counter()
        for ref, statuses in self.graph.status.items():
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
        for ref in self.graph.invalid:
            invalid[ref.kind] += 1
            if ref.kind in _ROUTE_KINDS:
                routes[(ref.kind, "invalid", "Malformed")] += 1
        return Snapshot(
            findings=tuple(self.current()),
            routes=tuple(sorted(routes.items())),
            attachments=tuple(sorted(attachments.items())),
            invalid=tuple(sorted(invalid.items())),
            built_at=time.time(),
        )

    # --- applying changes ----------------------------------------------------------------

    def apply(self, key: ObjectRef) -> Diff:
        """Bring the graph up to date with ``key``'s object in its store (None: deleted)."""
        if key.kind == OWNERSHIP_KIND:
            store = self.stores.get(OWNERSHIP_KIND)
            ownership = ownership_from_configmap(store.get(key) if store else None)
            return self.set_policy(dataclasses.replace(self.policy, ownership=ownership))
        store = self.stores.get(key.kind)
        obj = store.get(key) if store is not None else None
        parsed = parse(obj, source=f"{key.kind} {key}") if obj is not None else None
        if parsed is None:
            if self.parsed.pop(key, None) is None:
                return _EMPTY
            return self.graph.delete(key)
        if self.parsed.get(key) == parsed:
            return _EMPTY  # e.g. only status or metadata changed: nothing the engine reads
        if isinstance(parsed, Invalid):
            log.warning("object_invalid", reason=parsed.reason)
        self.parsed[key] = parsed
        return self.graph.upsert(parsed)

    def set_policy(self, policy: Policy) -> Diff:
        """Rebuild the graph under a new policy (the ownership ConfigMap changed)."""
        if policy == self.policy:
            return _EMPTY
        before = self.graph.findings()
        self.policy = policy
        self.graph = analyse(self.parsed.values(), policy)
        log.info("policy_changed", claims=sum(len(h) for h in policy.ownership.values()))
        return findings_diff(before, self.graph.findings())

    def _record(self, d: Diff, before: dict[tuple[object, ...], Finding | None]) -> None:
        for f in (*d.removed, *d.added, *d.changed):
            before.setdefault(f.identity, self.findings.get(f.identity))
        for f in d.removed:
            self.findings.pop(f.identity, None)
            for ref in (f.route, f.other):
                if ref is not None and ref in self.by_route:
                    self.by_route[ref].pop(f.identity, None)
                    if not self.by_route[ref]:
                        del self.by_route[ref]
        for f in (*d.added, *d.changed):
            self.findings[f.identity] = f
            for ref in (f.route, f.other):
                if ref is not None:
                    self.by_route.setdefault(ref, {})[f.identity] = f

    def process(self, keys: Sequence[ObjectRef]) -> Change:
        """Apply a batch of keys; the merged diff (a finding that came and went inside the
        batch is not reported)."""
        before: dict[tuple[object, ...], Finding | None] = {}
        for key in keys:
            started = self._clock()
            with structlog.contextvars.bound_contextvars(
                    kind=key.kind, namespace=key.namespace or None, name=key.name):
                try:
                    d = self.apply(key)
                except Exception:  # a bug in the engine must not stop the controller
                    log.exception("reconcile_failed")
                    self.on_failed(key.kind)
                    continue
            self.on_reconciled(key.kind, self._clock() - started)
            if d:
                self._record(d, before)
        if before:
            self._snapshot = None
        elif keys and any(k.kind in _ROUTE_KINDS or k.kind in _PARENT_KINDS for k in keys):
            self._snapshot = None  # attachment counts may have moved
        old = [f for f in before.values() if f is not None]
        new = [f for i in before if (f := self.findings.get(i)) is not None]
        return Change(findings_diff(old, new), tuple(keys))

    async def run(self) -> None:
        while True:
            if not len(self.queue) and not self.queue.processing:
                self.idle.set()
            keys = await self.queue.get_batch(_BATCH)
            self.idle.clear()
            try:
                change = self.process(keys)
            finally:
                for key in keys:
                    self.queue.done(key)
            self.batches += 1
            for sink in self.sinks:
                try:
                    sink(change)
                except Exception:
                    log.exception("sink_failed", sink=getattr(sink, "__name__", repr(sink)))
            await asyncio.sleep(0)  # let the reflectors and writers run between batches

