"""Engine figures on synthetic clusters: cold analysis, peak RSS, incremental change latency.

    .venv/bin/python -m bench.engine                 # 1k, 10k, 100k routes
    .venv/bin/python -m bench.engine --sizes 1000 --changes 500

(from the repository root: the objects come from tests/builders.py).

Each size runs in its own process so peak RSS is that size's alone. A cluster has ~500
namespaces (one tenant each), 50 shared Gateways (one wildcard HTTPS listener, ``from: All``),
and N HTTPRoutes with their own hostnames; ``--conflict`` of them (default 3 %) re-use another
tenant's hostname with a longer path prefix (a hijack). A change replaces one random route
with a new version (path, hostname or parent changed), as a watch MODIFIED event would.
``what_if`` times the question an admission webhook asks of such a change (the graph is left
as it was).
Figures, not assertions: nothing here fails on a slow machine.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests import builders as b

ROOT = Path(__file__).resolve().parents[1]
NAMESPACES = 500
GATEWAYS = 50


def namespace(i: int) -> dict[str, Any]:
    return b.namespace(f"team-{i}")


def gateway(g: int) -> dict[str, Any]:
    return b.gateway(f"gw-{g}", "infra", gateway_class="bench", listeners=[
        b.listener("https", port=443, protocol="HTTPS", hostname=f"*.gw{g}.example.com",
                   from_="All")])


def route(i: int, *, host_of: int | None = None, path: str = "/", version: int = 0
          ) -> dict[str, Any]:
    owner = i if host_of is None else host_of
    g = owner % GATEWAYS
    return b.http_route(
        f"route-{i}", f"team-{i % NAMESPACES}",
        created="2026-01-01T00:00:00Z" if version == 0 and host_of is None
        else f"2026-06-{1 + i % 28:02d}T00:00:00Z",
        resource_version=str(version),
        parents=[b.parent(f"gw-{g}", "infra")],
        hostnames=[f"svc-{owner}.gw{g}.example.com"],
        rules=[b.rule(b.match(path), backend=f"svc-{i}", port=8080)])


def cluster(n: int, conflict: float, rng: random.Random) -> list[dict[str, Any]]:
    objs: list[dict[str, Any]] = [namespace(i) for i in range(NAMESPACES)]
    objs.append(b.namespace("infra"))
    objs += [gateway(g) for g in range(GATEWAYS)]
    hijackers = set(rng.sample(range(n), int(n * conflict)))
    for i in range(n):
        if i in hijackers:
            victim = (i + 1 + rng.randrange(n - 1)) % n
            objs.append(route(i, host_of=victim, path=f"/v1/part-{i % 7}"))
        else:
            objs.append(route(i))
    return objs


def measure(n: int, changes: int, conflict: float, seed: int) -> dict[str, Any]:
    from gwwatch.engine import analyse, parse
    from gwwatch.engine.model import ObjectRef

    rng = random.Random(seed)
    raw = cluster(n, conflict, rng)
    t0 = time.perf_counter()
    parsed = [p for p in (parse(o) for o in raw) if p is not None]
    t_parse = time.perf_counter() - t0
    t0 = time.perf_counter()
    graph = analyse(parsed)
    t_cold = time.perf_counter() - t0
    findings = len(graph.findings())
    lat: list[float] = []
    for k in range(changes):
        i = rng.randrange(n)
        choice = rng.random()
        if choice < 0.4:  # a new path: conflicts elsewhere may appear or clear
            obj = route(i, path=f"/p{k % 5}", version=k + 1)
        elif choice < 0.8:  # claims another route's hostname (hijack attempt)
            obj = route(i, host_of=rng.randrange(n), path=f"/v1/x{k % 3}", version=k + 1)
        else:  # back to its own hostname
            obj = route(i, version=k + 1)
        p = parse(obj)
        assert p is not None
        t0 = time.perf_counter()
        if k % 10 == 9:  # some deletes, immediately re-created
            graph.delete(ObjectRef("HTTPRoute", f"team-{i % NAMESPACES}", f"route-{i}"))
        graph.upsert(p)
        lat.append(time.perf_counter() - t0)
    lat.sort()
    # what_if of the same kind of change: applied, then reverted, the graph left as it was
    wif: list[float] = []
    for k in range(min(changes, 500)):
        i = rng.randrange(n)
        p = parse(route(i, host_of=rng.randrange(n), path=f"/v1/w{k % 3}", version=changes + k))
        assert p is not None
        t0 = time.perf_counter()
        graph.what_if([p])
        wif.append(time.perf_counter() - t0)
    wif.sort()
    return {
        "routes": n,
        "findings": findings,
        "parse_s": round(t_parse, 3),
        "cold_analysis_s": round(t_cold, 3),
        "cold_total_s": round(t_parse + t_cold, 3),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "incremental_median_ms": round(statistics.median(lat) * 1000, 3),
        "incremental_p99_ms": round(lat[int(len(lat) * 0.99) - 1] * 1000, 3),
        "full_recompute_s": round(t_cold, 3),
        "what_if_median_ms": round(statistics.median(wif) * 1000, 3),
        "what_if_p99_ms": round(wif[int(len(wif) * 0.99) - 1] * 1000, 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    ap.add_argument("--changes", type=int, default=2000)
    ap.add_argument("--conflict", type=float, default=0.03)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one is not None:
        print(json.dumps(measure(args.one, args.changes, args.conflict, args.seed)))
        return
    rows = []
    for n in args.sizes:
        out = subprocess.run(
            [sys.executable, "-m", "bench.engine", "--one", str(n), "--changes",
             str(args.changes), "--conflict", str(args.conflict), "--seed", str(args.seed)],
            check=True, capture_output=True, text=True, cwd=ROOT)
        rows.append(json.loads(out.stdout))
    cols = list(rows[0])
    print("  ".join(f"{c:>22}" for c in cols))
    for r in rows:
        print("  ".join(f"{r[c]!s:>22}" for c in cols))
    if len(rows) > 1:
        ratio = rows[-1]["incremental_median_ms"] / max(rows[0]["incremental_median_ms"], 1e-9)
        print(f"incremental median, largest vs smallest cluster: {ratio:.2f}x")


if __name__ == "__main__":
    main()
