"""Prometheus metrics (prefix ``gwwatch_``), in one registry per controller instance.

Two kinds of families:

- **Engine state** (findings, routes, attachments, invalid objects) is exported by a collector
  that reads an immutable :class:`Snapshot`. The event loop builds the snapshot and swaps it in
  with one assignment; the exposition (in a worker thread) only ever reads a finished one, so a
  scrape never races the engine.
- **Controller activity** (watch events, restarts, re-lists, reconcile latency, status writes,
  Events, leadership) uses ordinary counters, gauges and histograms, every label combination
  known in advance initialised to 0 (controller-runtime's ``initMetrics``), so ``rate()`` and
  absence alerts work from the first scrape.

Cardinality: aggregate families carry bounded labels only. ``gwwatch_finding_info`` carries the
hostname and both routes — an alert must say *who* — and exists only while the finding does,
capped at ``max_finding_series`` series (critical first); what does not fit is counted in
``gwwatch_findings_dropped``. ``gwwatch_finding_first_seen_timestamp_seconds`` has one series
beside each ``gwwatch_finding_info`` series (same labels, same cap): when this process first
saw the finding.
"""

from __future__ import annotations

import hashlib
import platform
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Final

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from gwwatch import __version__
from gwwatch.engine import Finding
from gwwatch.engine.vocabulary import ROUTE_KINDS, FindingKind, Severity

__all__ = ["EVENT_RESULTS", "STATUS_RESULTS", "Metrics", "Snapshot", "label_value"]

# Process-wide: no ``*_created`` series beside counters and histograms. Nothing reads them
# (rate() and increase() handle resets), and they were a fifth of what a replica exports.
disable_created_metrics()  # type: ignore[no-untyped-call]

STATUS_RESULTS: Final = ("updated", "conflict", "invalid", "forbidden", "error")
EVENT_RESULTS: Final = ("created", "updated", "skipped", "error", "dropped")
# Admission: every label value known in advance (initialised to 0 when the webhook is on).
ADMISSION_KINDS: Final = (*map(str, ROUTE_KINDS), "ListenerSet", "Gateway", "other")
ADMISSION_OPERATIONS: Final = ("CREATE", "UPDATE", "DELETE", "CONNECT")
ADMISSION_DECISIONS: Final = ("allowed", "warned", "denied", "unchecked")
ADMISSION_ERRORS: Final = ("malformed", "too_large", "internal")
# A decision is one what-if on the incremental graph: well under 5 ms even at 100k routes.
_ADMISSION_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                             1.0)
# Reconciles are cheap (one object through the incremental graph): most take well under 10 ms.
_RECONCILE_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                             1.0, 2.5)
_LABEL_LIMIT: Final = 253
# A renewal normally ends within a round trip of when it is due (tens of ms); the defaults'
# retry period is 2 s and the renew deadline 10 s.
_RENEW_BUCKETS: Final = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 10.0)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Engine state as metrics see it; built in the event loop, read by the scrape."""

    findings: tuple[Finding, ...] = ()
    routes: tuple[tuple[tuple[str, str, str], int], ...] = ()  # (kind, state, reason) → n
    attachments: tuple[tuple[tuple[str, str], int], ...] = ()  # (gateway, listener) → n
    invalid: tuple[tuple[str, int], ...] = ()  # kind → n
    built_at: float = field(default=0.0, compare=False)


_CUT_HASH: Final = 8  # hex digits of sha256 kept after a cut value: unique in practice


def label_value(value: object) -> str:
    """``value`` as a label value of at most 253 characters. A longer one keeps its first
    characters (a reader still finds the object) and ends in ``~`` and a short hash of the whole
    value, so two values sharing a long prefix stay two series."""
    text = "" if value is None else str(value)
    if len(text) <= _LABEL_LIMIT:
        return text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:_CUT_HASH]
    return f"{text[:_LABEL_LIMIT - _CUT_HASH - 1]}~{digest}"


_label = label_value


def _was_cut(labels: Iterable[str], values: Iterable[object]) -> bool:
    return any(a != ("" if b is None else str(b)) for a, b in zip(labels, values, strict=True))


_FINDING_LABELS: Final = ("kind", "reason", "severity", "hostname", "gateway", "listener",
                          "route_kind", "route", "other_kind", "other", "tenant", "other_tenant")


def _finding_raw(f: Finding) -> tuple[object, ...]:
    return (f.kind, f.reason, f.severity, f.hostname, f.gateway or "", f.listener or "",
            f.route.kind if f.route else "", f.route or "", f.other.kind if f.other else "",
            f.other or "", f.tenant or "", f.other_tenant or "")


def _finding_labels(f: Finding) -> tuple[str, ...]:
    # route_kind/other_kind: an alert's reader needs the kind for `kubectl describe`.
    return (f.kind, f.reason, f.severity, _label(f.hostname), _label(f.gateway or ""),
            _label(f.listener or ""), f.route.kind if f.route else "", _label(f.route or ""),
            f.other.kind if f.other else "", _label(f.other or ""), _label(f.tenant or ""),
            _label(f.other_tenant or ""))


class _SnapshotCollector(Collector):
    def __init__(self, max_finding_series: int) -> None:
        self.max_finding_series = max_finding_series
        self.snapshot = Snapshot()
        # finding_info labels -> when this process first published that finding; only current
        # findings are kept (swapped in whole by publish(), read once per scrape).
        self.first_seen: dict[tuple[str, ...], float] = {}

    def describe(self) -> Iterable[Metric]:
        return ()  # dynamic: do not let the registry call collect() at registration

    def collect(self) -> Iterator[Metric]:
        snap = self.snapshot  # one read: everything below uses this immutable value
        by_kind = GaugeMetricFamily(
            "gwwatch_findings", "Current findings by kind and severity.",
            labels=("kind", "severity"))
        counts = {(str(k), str(s)): 0 for k in FindingKind for s in Severity}
        for f in snap.findings:
            counts[(f.kind, f.severity)] = counts.get((f.kind, f.severity), 0) + 1
        for (k, s), n in sorted(counts.items()):
            by_kind.add_metric((k, s), n)
        yield by_kind
        info = GaugeMetricFamily(
            "gwwatch_finding_info",
            "One series per current finding (value 1): who takes what from whom. Capped; see "
            "gwwatch_findings_dropped.",
            labels=_FINDING_LABELS)
        first = GaugeMetricFamily(
            "gwwatch_finding_first_seen_timestamp_seconds",
            "Unix time this process first saw the finding; one series beside each "
            "gwwatch_finding_info series.", labels=_FINDING_LABELS)
        first_seen = self.first_seen
        ordered = sorted(snap.findings, key=Finding.sort_key)
        kept = ordered[: self.max_finding_series]
        seen: set[tuple[str, ...]] = set()
        cut_info = 0
        for f in kept:
            labels = _finding_labels(f)
            if labels not in seen:  # a series per finding; never two with one label set
                seen.add(labels)
                info.add_metric(labels, 1)
                first.add_metric(labels, first_seen.get(labels, snap.built_at))
                cut_info += _was_cut(labels, _finding_raw(f))
        yield info
        yield first
        dropped = GaugeMetricFamily(
            "gwwatch_findings_dropped",
            "Current findings without a gwwatch_finding_info series (over the cap).")
        dropped.add_metric((), len(ordered) - len(kept))
        yield dropped
        routes = GaugeMetricFamily(
            "gwwatch_routes", "Routes by kind and attachment state (attached, partial, "
            "detached, invalid) with the first refusal reason.",
            labels=("kind", "state", "reason"))
        for (kind, state, reason), n in snap.routes:
            routes.add_metric((kind, state, reason), n)
        yield routes
        attached = GaugeMetricFamily(
            "gwwatch_attachments", "Routes attached per Gateway listener.",
            labels=("gateway", "listener"))
        cut_attached = 0
        for (gateway, listener), n in snap.attachments:
            labels = (_label(gateway), _label(listener))
            attached.add_metric(labels, n)
            cut_attached += _was_cut(labels, (gateway, listener))
        yield attached
        cut = GaugeMetricFamily(
            "gwwatch_label_values_cut",
            "Exported series with a label value cut to 253 characters (it ends in ~ and a hash "
            "of the whole value, so it stays unique), by metric.", labels=("metric",))
        cut.add_metric(("gwwatch_finding_info",), cut_info)
        cut.add_metric(("gwwatch_attachments",), cut_attached)
        yield cut
        invalid = GaugeMetricFamily(
            "gwwatch_invalid_objects", "Objects gwwatch cannot parse (skipped), by kind.",
            labels=("kind",))
        for kind, n in snap.invalid:
            invalid.add_metric((kind,), n)
        yield invalid


class Metrics:
    """Every family of one controller instance; implements the runtime's observer hooks."""

    def __init__(self, *, max_finding_series: int = 1000,
                 registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=False)
        r = self.registry
        self._state = _SnapshotCollector(max_finding_series)
        r.register(self._state)
        self.watch_events = Counter(
            "gwwatch_watch_events", "Watch events received, by kind and event type.",
            ("kind", "type"), registry=r)
        self.watch_restarts = Counter(
            "gwwatch_watch_restarts", "Watches or lists that failed or expired and were "
            "started again, by kind and reason.", ("kind", "reason"), registry=r)
        self.relists = Counter(
            "gwwatch_relists", "Completed full lists (the first included), by kind.",
            ("kind",), registry=r)
        self.last_sync = Gauge(
            "gwwatch_last_sync_timestamp_seconds",
            "Unix time of the last successful list of a kind (time() minus this is the age "
            "of the last full sync).", ("kind",), registry=r)
        self.reconcile = Histogram(
            "gwwatch_reconcile_duration_seconds",
            "Time to apply one changed object to the conflict graph.", ("kind",),
            buckets=_RECONCILE_BUCKETS, registry=r)
        self.reconcile_errors = Counter(
            "gwwatch_reconcile_errors", "Objects whose analysis raised (a bug; logged).",
            ("kind",), registry=r)
        self.status_writes = Counter(
            "gwwatch_status_writes", "Route status writes by result (updated, conflict, "
            "invalid, forbidden, error).", ("result",), registry=r)
        self.status_tampering = Counter(
            "gwwatch_status_tampering", "gwwatch status entries another client rewrote "
            "(a forged or altered entry under gwwatch's controllerName), put back at once, by "
            "route kind.", ("kind",), registry=r)
        self.status_entries_dropped = Counter(
            "gwwatch_status_entries_dropped", "gwwatch entries that did not fit in a route's "
            "status.parents (32 entries, the others' come first).", registry=r)
        self.events = Counter(
            "gwwatch_events", "Kubernetes Events written, by type and result.",
            ("type", "result"), registry=r)
        self.leader = Gauge(
            "gwwatch_leader", "1 when this replica holds the Lease (writes status and "
            "Events).", registry=r)
        self.renewals_missed = Counter(
            "gwwatch_leader_renewals_missed", "Lease renewals that failed or ended more than "
            "one retry period after they were due (a stalled event loop, a slow API server); "
            "five in a row lose the Lease.", registry=r)
        self.renew_lateness = Histogram(
            "gwwatch_leader_renew_lateness_seconds", "Seconds from when a Lease renewal was "
            "due to when it ended (its own round trip included).",
            buckets=_RENEW_BUCKETS, registry=r)
        self.ready = Gauge(
            "gwwatch_ready", "1 once every watched kind has been listed and analysed.",
            registry=r)
        self.build_info = Gauge(
            "gwwatch_build_info", "Build information (value 1).",
            ("version", "python_version"), registry=r)
        self.build_info.labels(__version__, platform.python_version()).set(1)
        for result in STATUS_RESULTS:
            self.status_writes.labels(result)
        for kind in ROUTE_KINDS:
            self.status_tampering.labels(str(kind))
        for etype in ("Warning", "Normal"):
            for result in EVENT_RESULTS:
                self.events.labels(etype, result)

    # --- engine state ----------------------------------------------------------------------

    def publish(self, snapshot: Snapshot) -> None:
        state = self._state
        now = snapshot.built_at or time.time()
        old = state.first_seen
        first_seen: dict[tuple[str, ...], float] = {}
        for f in snapshot.findings:
            labels = _finding_labels(f)
            first_seen[labels] = old.get(labels, now)
        # Two assignments, first-seen times first: a scrape between them finds every finding
        # of the new snapshot (an older one's missing key falls back to built_at).
        state.first_seen = first_seen
        state.snapshot = snapshot

    @property
    def snapshot(self) -> Snapshot:
        return self._state.snapshot

    # --- observer hooks (reflector, status writer, event recorder, graph worker) ------------

    def kind_known(self, kind: str) -> None:
        """Create a kind's series at 0 so rates and absence checks work from the start."""
        for etype in ("ADDED", "MODIFIED", "DELETED", "BOOKMARK"):
            self.watch_events.labels(kind, etype)
        self.relists.labels(kind)
        self.reconcile_errors.labels(kind)

    def watch_event(self, kind: str, event_type: str) -> None:
        self.watch_events.labels(kind, event_type).inc()

    def watch_restart(self, kind: str, reason: str) -> None:
        self.watch_restarts.labels(kind, reason).inc()

    def relisted(self, kind: str, when: float) -> None:
        self.relists.labels(kind).inc()
        self.last_sync.labels(kind).set(when)

    def reconciled(self, kind: str, seconds: float) -> None:
        self.reconcile.labels(kind).observe(seconds)

    def reconcile_failed(self, kind: str) -> None:
        self.reconcile_errors.labels(kind).inc()

    def status_write(self, result: str) -> None:
        self.status_writes.labels(result).inc()

    def status_tampered(self, kind: str) -> None:
        self.status_tampering.labels(kind).inc()

    def status_dropped(self, entries: int) -> None:
        self.status_entries_dropped.inc(entries)

    def event(self, event_type: str, result: str) -> None:
        self.events.labels(event_type, result).inc()

    def leading(self, leading: bool) -> None:
        self.leader.set(1 if leading else 0)

    def renewed(self, late: float, missed: bool) -> None:
        self.renew_lateness.observe(max(0.0, late))
        if missed:
            self.renewals_missed.inc()

    def set_ready(self, ready: bool) -> None:
        self.ready.set(1 if ready else 0)

    # --- admission webhook (families exist only where the webhook runs) ----------------------

    def enable_admission(self) -> None:
        """Register the admission families, every label combination at 0. Only replicas that
        serve the webhook export them, so an alert can tell "no webhook" from "no denials"."""
        if hasattr(self, "admission_requests"):
            return
        r = self.registry
        self.admission_requests = Counter(
            "gwwatch_admission_requests", "Admission reviews answered, by kind, operation and "
            "decision (allowed, warned, denied, unchecked).", ("kind", "operation", "decision"),
            registry=r)
        self.admission_duration = Histogram(
            "gwwatch_admission_duration_seconds", "Time from an admission request's headers to "
            "its answer, in this process.", buckets=_ADMISSION_BUCKETS, registry=r)
        self.admission_errors = Counter(
            "gwwatch_admission_errors", "Admission requests answered with an error (malformed, "
            "too_large, internal); the API server then applies the failurePolicy.",
            ("reason",), registry=r)
        self.admission_pending_objects = Gauge(
            "gwwatch_admission_pending", "Objects this replica admitted that its watch has not "
            "delivered yet (they count in its decisions meanwhile).", registry=r)
        for kind in ADMISSION_KINDS:
            for op in ADMISSION_OPERATIONS:
                for decision in ADMISSION_DECISIONS:
                    self.admission_requests.labels(kind, op, decision)
        for reason in ADMISSION_ERRORS:
            self.admission_errors.labels(reason)

    def admission_request(self, kind: str, operation: str, decision: str,
                          seconds: float) -> None:
        self.admission_requests.labels(kind, operation, decision).inc()
        self.admission_duration.observe(seconds)

    def admission_error(self, reason: str) -> None:
        self.admission_errors.labels(reason).inc()

    def admission_pending(self, count: int) -> None:
        self.admission_pending_objects.set(count)
