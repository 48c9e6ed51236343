"""The one task that owns the conflict graph: changed keys in, findings diffs out.

Reflectors mark keys dirty in a :class:`KeyQueue`; this worker takes them in batches, reads each
key's latest object from its store (level-based: the key is the whole request), parses it and
hands the batch to the engine's incremental graph in one ``apply`` (analysis runs once, at the
end of the batch; a finding that comes and goes inside it is not reported). The batch's diff is
handed, with the keys that changed, to a pipeline of sinks — plain callables sharing one
signature, as structlog's processors do (status, Events). Sinks only enqueue; their I/O runs
elsewhere. Metrics read :meth:`GraphWorker.snapshot` when scraped.

Nothing else mutates the graph, and the worker keeps no copy of its findings: other tasks ask
the graph's read-only queries through this worker (:meth:`GraphWorker.findings_of`,
:meth:`GraphWorker.parents_of`, :meth:`GraphWorker.findings`), because a new ownership policy
replaces the graph. They do so from the same event loop, never across an ``await``.
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
from gwwatch.engine.model import Invalid, Parsed
from gwwatch.engine.vocabulary import ROUTE_KINDS
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
        # What was handed to the graph per key: to skip changes the engine does not read (our
        # own status writes) and to rebuild the graph when the ownership policy changes.
        self.parsed: dict[ObjectRef, Parsed] = {}
        self._snapshot: Snapshot | None = None
        self.idle = asyncio.Event()  # set while nothing is queued or being handled
        self.idle.set()

    # --- read-only view (the current graph's queries) ---------------------------------------

    def findings_of(self, route: ObjectRef) -> tuple[Finding, ...]:
        return self.graph.findings_of(route)

    def parents_of(self, route: ObjectRef) -> tuple[ParentStatus, ...]:
        return self.graph.parents_of(route)

    def findings(self) -> list[Finding]:
        return self.graph.findings()

    def snapshot(self) -> Snapshot:
        """The engine state for metrics, rebuilt only after a change (O(routes))."""
        if self._snapshot is None:
            self._snapshot = self._build_snapshot()
        return self._snapshot

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

    def _parse(self, key: ObjectRef) -> Parsed | None:
        """``key``'s object in its store, parsed (None: deleted, or a kind the engine ignores)."""
        store = self.stores.get(key.kind)
        obj = store.get(key) if store is not None else None
        return parse(obj, source=f"{key.kind} {key}") if obj is not None else None

    def _ownership(self, key: ObjectRef) -> Policy:
        store = self.stores.get(OWNERSHIP_KIND)
        ownership = ownership_from_configmap(store.get(key) if store else None)
        return dataclasses.replace(self.policy, ownership=ownership)

    def process(self, keys: Sequence[ObjectRef]) -> Change:
        """Apply a batch of keys as one change; its diff (a finding that came and went inside
        the batch is not reported)."""
        upserts: dict[ObjectRef, Parsed] = {}
        deletes: list[ObjectRef] = []
        policy: Policy | None = None
        parse_time: dict[ObjectRef, float] = {}
        for key in keys:
            if key.kind == OWNERSHIP_KIND:
                policy = self._ownership(key)
                continue
            started = self._clock()
            with structlog.contextvars.bound_contextvars(
                    kind=key.kind, namespace=key.namespace or None, name=key.name):
                try:
                    parsed = self._parse(key)
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
        if before is not None and policy is not None:
            self._set_policy(policy)
            d = findings_diff(before, self.graph.findings())
        if d or any(k.kind in _ROUTE_KINDS or k.kind in _PARENT_KINDS for k in keys):
            self._snapshot = None  # findings, or attachment counts, may have moved
        return Change(d, tuple(keys))

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

    def set_policy(self, policy: Policy) -> Diff:
        """Rebuild the graph under a new policy (the ownership ConfigMap changed)."""
        if policy == self.policy:
            return _EMPTY
        before = self.graph.findings()
        self._set_policy(policy)
        return findings_diff(before, self.graph.findings())

    def _set_policy(self, policy: Policy) -> None:
        self.policy = policy
        self.graph = analyse(self.parsed.values(), policy)
        log.info("policy_changed", claims=sum(len(h) for h in policy.ownership.values()))

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
            for sink in self.sinks:
                try:
                    sink(change)
                except Exception:
                    log.exception("sink_failed", sink=getattr(sink, "__name__", repr(sink)))
            await asyncio.sleep(0)  # let the reflectors and writers run between batches


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
