"""How many series one gwwatch replica exports: a synthetic cluster through the real graph
worker and metrics registry, scraped as Prometheus would scrape it.

    .venv/bin/python -m bench.series                       # 10k routes, 100 findings
    .venv/bin/python -m bench.series --routes 1000 --findings 20

The cluster is bench/engine.py's (500 one-tenant namespaces, 50 shared Gateways with one
wildcard HTTPS listener each, ``from: All``; each route its own hostname). Routes are then
turned, one at a time, into hijackers of another tenant's hostname until the worker holds
``--findings`` findings (Posture findings of the shared listeners count too). Controller
activity is simulated as a long-running replica sees it: every watched kind listed, watched
(every event type), reconciled, restarted for two reasons; every status-write and Event
result seen. The registry is then rendered in the text format (what ``/metrics`` serves) and
every sample line counted: one line is one series in Prometheus.

Figures, not assertions.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from typing import Any

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bench import engine as eb
from gwwatch.engine import ObjectRef, Policy
from gwwatch.metrics import EVENT_RESULTS, STATUS_RESULTS, Metrics
from gwwatch.runtime.queue import KeyQueue
from gwwatch.runtime.resources import GATEWAY_KINDS
from gwwatch.runtime.store import Store
from gwwatch.runtime.worker import GraphWorker


def build(routes: int, findings: int, seed: int) -> tuple[GraphWorker, int]:
    """A graph worker holding ``routes`` routes and (at least) ``findings`` findings."""
    rng = random.Random(seed)
    stores = {kind: Store(kind) for kind in ("Namespace", "Gateway", "HTTPRoute")}
    keys: list[ObjectRef] = []
    for obj in eb.cluster(routes, 0.0, rng):
        key = stores[obj["kind"]].upsert(obj)
        assert key is not None
        keys.append(key)
    worker = GraphWorker(policy=Policy(), stores=stores, queue=KeyQueue("bench"))
    worker.process(keys)
    hijackers = 0
    order = rng.sample(range(routes), routes)
    while len(worker.findings()) < findings and order:
        i = order.pop()
        victim = (i + 1 + rng.randrange(routes - 1)) % routes
        key = stores["HTTPRoute"].upsert(eb.route(i, host_of=victim, path=f"/v1/part-{i % 7}",
                                                  version=1))
        assert key is not None
        worker.process([key])
        hijackers += 1
    return worker, hijackers


def simulate_activity(m: Metrics) -> None:
    kinds = ("Namespace", *GATEWAY_KINDS)
    now = time.time()
    for kind in kinds:
        m.kind_known(kind)
        m.relisted(kind, now)
        for etype in ("ADDED", "MODIFIED", "DELETED", "BOOKMARK"):
            m.watch_event(kind, etype)
        for reason in ("Expired", "Transient"):
            m.watch_restart(kind, reason)
        m.reconciled(kind, 0.001)
    for result in STATUS_RESULTS:
        m.status_write(result)
    for etype in ("Warning", "Normal"):
        for result in EVENT_RESULTS:
            m.event(etype, result)
    m.leading(True)
    m.set_ready(True)


def count(routes: int, findings: int, seed: int, cap: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    worker, hijackers = build(routes, findings, seed)
    built = time.perf_counter() - t0
    m = Metrics(max_finding_series=cap)
    m.publish(worker.snapshot())
    simulate_activity(m)
    t0 = time.perf_counter()
    text = generate_latest(m.registry).decode()
    render = time.perf_counter() - t0
    per_family: Counter[str] = Counter()
    created = 0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            per_family[family.name] += 1
            created += sample.name.endswith("_created")
    total = sum(per_family.values())
    by_kind = Counter(f.kind for f in worker.findings())
    return {
        "routes": routes,
        "findings": len(worker.findings()),
        "findings_by_kind": dict(sorted(by_kind.items())),
        "hijacking_routes_added": hijackers,
        "series_total": total,
        "series_without_created": total - created,
        "created_series": created,
        "series_by_family": dict(per_family.most_common()),
        "exposition_bytes": len(text.encode()),
        "render_ms": round(render * 1000, 1),
        "build_s": round(built, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--routes", type=int, default=10_000)
    ap.add_argument("--findings", type=int, default=100)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--cap", type=int, default=500, help="GWWATCH_MAX_FINDING_SERIES")
    args = ap.parse_args()
    out = count(args.routes, args.findings, args.seed, args.cap)
    json.dump(out, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
