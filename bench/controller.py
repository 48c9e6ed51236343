"""``gwwatch run`` figures against the real test control plane (kube-apiserver + etcd).

    .venv/bin/python -m bench.controller                    # 10k routes loaded, burst of 1,000
    .venv/bin/python -m bench.controller --routes 2000 --burst 200
    .venv/bin/python -m bench.controller --sizes 10000,50000,100000   # the README's sizing table

``--sizes`` loads the cluster step by step and, at each size, starts a fresh ``gwwatch run``:
time to ``/readyz``, RSS once settled and the peak RSS (VmHWM: what the memory limit must
hold), then stops it. Routes are loaded as kubectl would leave them (a
``last-applied-configuration`` annotation, managedFields), not bare.

1. Start a control plane (tests/controlplane; the binaries must be built) and load a cluster:
   ``--routes`` HTTPRoutes over 50 Gateways and 500 namespaces, each with its own hostname.
2. Start ``gwwatch run`` as a subprocess; time until ``/readyz`` (initial list + analysis).
3. Idle for ``--idle`` seconds: steady-state CPU (from /proc) and RSS.
4. Burst: create ``--burst`` routes as fast as 16 client threads can, each hijacking one loaded
   route (same hostname, longer prefix). A watch records when each new route first carries
   gwwatch's ``HostnameConflict`` condition. Latency = condition seen − create returned.

Figures, not assertions. The API server, etcd, the load generator and gwwatch share the
machine's cores, so this measures the whole loop on this box, not gwwatch alone.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests import builders as b
from tests.controlplane import ControlPlane, ensure_built
from tests.controlplane.controlplane import free_port

ROOT = Path(__file__).resolve().parents[1]
GROUP = b.GROUP
V1 = f"/apis/{GROUP}/v1"
NAMESPACES = 500
GATEWAYS = 50
CONDITION = "gwwatch.io/HostnameConflict"


def ns_name(i: int) -> str:
    return f"team-{i % NAMESPACES:03d}"


def route(name: str, i: int, prefix: str) -> dict[str, Any]:
    obj = b.http_route(name, None, parents=[b.parent(f"gw-{i % GATEWAYS}", "infra")],
                       hostnames=[f"app-{i}.bench.test"], matches=[b.match(prefix)])
    # as `kubectl apply` leaves it: the object again, in an annotation
    obj["metadata"]["annotations"] = {
        "kubectl.kubernetes.io/last-applied-configuration": json.dumps(obj, sort_keys=True)}
    return obj


def parallel(fn: Any, items: list[Any], workers: int = 16) -> list[float]:
    """Run fn over items with threads; the monotonic time each call returned."""
    done: list[float] = [0.0] * len(items)

    def one(k: int) -> None:
        fn(items[k])
        done[k] = time.monotonic()

    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, range(len(items))))
    return done


def load(cp: ControlPlane, routes: int, first: int = 0) -> None:
    """Routes ``first`` .. ``routes - 1`` (and, when ``first`` is 0, the namespaces and
    Gateways)."""
    if first == 0:
        cp.create_namespace("infra")
        parallel(cp.create_namespace, [f"team-{i:03d}" for i in range(NAMESPACES)])
        for g in range(GATEWAYS):
            cp.create(b.gateway(f"gw-{g}", None, gateway_class="bench", listeners=[
                b.listener("https", protocol="HTTPS", port=443, hostname="*.bench.test",
                           tls=b.TLS_TERMINATE, from_="All")]), "infra")
    started = time.monotonic()
    parallel(lambda i: cp.create(route(f"app-{i}", i, "/"), ns_name(i)),
             list(range(first, routes)))
    print(f"loaded {routes - first} routes ({routes} in all) in "
          f"{time.monotonic() - started:.1f} s", flush=True)


def ssl_context(cp: ControlPlane) -> ssl.SSLContext:
    assert cp.pki is not None
    ctx = ssl.create_default_context(cafile=str(cp.pki.ca_cert))
    ctx.load_cert_chain(str(cp.pki.admin_cert), str(cp.pki.admin_key))
    return ctx


class ConditionWatch(threading.Thread):
    """Watch HTTPRoutes; record when each wanted route first carries our condition."""

    def __init__(self, cp: ControlPlane, wanted: set[str], rv: str) -> None:
        super().__init__(daemon=True)
        self.cp, self.wanted, self.rv = cp, wanted, rv
        self.seen: dict[str, float] = {}
        self.ctx = ssl_context(cp)

    def run(self) -> None:
        while len(self.seen) < len(self.wanted):
            url = (f"{self.cp.server}{V1}/httproutes?watch=true&allowWatchBookmarks=true"
                   f"&resourceVersion={self.rv}&timeoutSeconds=600")
            with urllib.request.urlopen(url, context=self.ctx, timeout=700) as resp:
                for line in resp:
                    ev = json.loads(line)
                    obj = ev.get("object") or {}
                    meta = obj.get("metadata") or {}
                    self.rv = meta.get("resourceVersion") or self.rv
                    key = f"{meta.get('namespace')}/{meta.get('name')}"
                    if key in self.wanted and key not in self.seen and any(
                            c.get("type") == CONDITION
                            for p in (obj.get("status") or {}).get("parents") or []
                            for c in p.get("conditions") or []):
                        self.seen[key] = time.monotonic()
                        if len(self.seen) == len(self.wanted):
                            return


def proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss_mib(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def start_gwwatch(cp: ControlPlane, port: int, env: dict[str, str]
                  ) -> tuple[subprocess.Popen[bytes], Path]:
    log = Path(tempfile.mkdtemp(prefix="gwwatch-bench-")) / "gwwatch.log"
    gw = subprocess.Popen(
        [sys.executable, "-m", "gwwatch", "run", f"--kubeconfig={cp.kubeconfig}",
         "--namespace=default", f"--metrics-port={port}", "--metrics-bind-address=127.0.0.1"],
        cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    return gw, log


def sizes(cp: ControlPlane, steps: list[int], idle: float) -> int:
    """At each size: a fresh gwwatch's time to /readyz, settled RSS and peak RSS."""
    env = {**os.environ, "GWWATCH_LOG_LEVEL": "warning", "GWWATCH_LOG_FORMAT": "json"}
    loaded = 0
    rows = []
    for n in steps:
        load(cp, n, loaded)
        loaded = n
        port = free_port()
        started = time.monotonic()
        gw, log = start_gwwatch(cp, port, env)
        try:
            while get(f"http://127.0.0.1:{port}/readyz")[0] != 200:
                if gw.poll() is not None:
                    print(log.read_text()[-3000:])
                    return 1
                time.sleep(0.2)
            ready = time.monotonic() - started
            time.sleep(idle)
            rss, peak = proc_rss_mib(gw.pid), proc_rss_mib(gw.pid, "VmHWM")
            rows.append((n, ready, rss, peak))
            print(f"{n} routes: ready in {ready:.1f} s, RSS {rss:.0f} MiB settled, "
                  f"peak {peak:.0f} MiB", flush=True)
        finally:
            gw.terminate()
            gw.wait(60)
    print("\n| routes | time to ready | RSS settled | peak RSS |\n|---|---|---|---|")
    for n, ready, rss, peak in rows:
        print(f"| {n:,} | {ready:.1f} s | {rss:.0f} MiB | {peak:.0f} MiB |")
    return 0


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, ""
    except OSError:
        return 0, ""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--routes", type=int, default=10_000)
    ap.add_argument("--burst", type=int, default=1_000)
    ap.add_argument("--idle", type=float, default=30.0)
    ap.add_argument("--sizes", default="",
                    help="comma-separated route counts: time to ready and RSS at each")
    ap.add_argument("--status-workers", type=int, default=None,
                    help="GWWATCH_STATUS_WORKERS for the run (default: gwwatch's)")
    args = ap.parse_args()
    assets = ensure_built()
    if args.sizes:
        with ControlPlane(assets) as cp:
            return sizes(cp, [int(x) for x in args.sizes.split(",")], args.idle)
    with ControlPlane(assets) as cp:
        load(cp, args.routes)
        port = free_port()
        log = Path(tempfile.mkdtemp(prefix="gwwatch-bench-")) / "gwwatch.log"
        env = {**os.environ, "GWWATCH_LOG_LEVEL": "warning", "GWWATCH_LOG_FORMAT": "json"}
        if args.status_workers:
            env["GWWATCH_STATUS_WORKERS"] = str(args.status_workers)
        started = time.monotonic()
        gw = subprocess.Popen(
            [sys.executable, "-m", "gwwatch", "run", f"--kubeconfig={cp.kubeconfig}",
             "--namespace=default", f"--metrics-port={port}", "--metrics-bind-address=127.0.0.1"],
            cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
        try:
            while get(f"http://127.0.0.1:{port}/readyz")[0] != 200:
                if gw.poll() is not None:
                    print(log.read_text()[-3000:])
                    return 1
                time.sleep(0.2)
            sync = time.monotonic() - started
            print(f"initial sync of {args.routes} routes: {sync:.1f} s "
                  f"(process start to /readyz)", flush=True)
            cpu0, t0 = proc_cpu_seconds(gw.pid), time.monotonic()
            time.sleep(args.idle)
            idle_cpu = (proc_cpu_seconds(gw.pid) - cpu0) / (time.monotonic() - t0)
            rss = proc_rss_mib(gw.pid)
            print(f"steady state with {args.routes} routes: CPU {idle_cpu * 100:.1f} % of a "
                  f"core, RSS {rss:.0f} MiB", flush=True)

            rv = cp.request("GET", f"{V1}/httproutes?limit=1")["metadata"]["resourceVersion"]
            thieves = [(f"thief-{i}", i) for i in range(args.burst)]
            wanted = {f"{ns_name(i + 1)}/{name}" for name, i in thieves}
            watch = ConditionWatch(cp, wanted, rv)
            watch.start()
            cpu1 = proc_cpu_seconds(gw.pid)
            burst_started = time.monotonic()
            # another tenant (the next namespace) takes /checkout of each owner's hostname
            created = parallel(lambda t: cp.create(route(t[0], t[1], "/checkout"),
                                                   ns_name(t[1] + 1)), thieves)
            create_s = time.monotonic() - burst_started
            watch.join(timeout=600)
            burst_s = time.monotonic() - burst_started
            burst_cpu = (proc_cpu_seconds(gw.pid) - cpu1) / burst_s
            latencies = [watch.seen[f"{ns_name(i + 1)}/{name}"] - created[k]
                         for k, (name, i) in enumerate(thieves)
                         if f"{ns_name(i + 1)}/{name}" in watch.seen]
            print(f"burst of {args.burst} hijacking routes: created in {create_s:.1f} s "
                  f"({args.burst / create_s:.0f}/s), all flagged after {burst_s:.1f} s; "
                  f"{len(latencies)} seen", flush=True)
            if latencies:
                print(f"create → condition latency: p50 {statistics.median(latencies):.2f} s, "
                      f"p90 {pct(latencies, 0.90):.2f} s, p99 {pct(latencies, 0.99):.2f} s, "
                      f"max {max(latencies):.2f} s; gwwatch CPU during burst "
                      f"{burst_cpu * 100:.0f} % of a core, RSS {proc_rss_mib(gw.pid):.0f} MiB")
            metrics = get(f"http://127.0.0.1:{port}/metrics")[1]
            series = sum(1 for line in metrics.splitlines() if line and not line.startswith("#"))
            print(f"/metrics: {series} samples exported", flush=True)
            for line in metrics.splitlines():
                if line.startswith(("gwwatch_status_writes_total", "gwwatch_events_total",
                                    "gwwatch_reconcile_duration_seconds_sum",
                                    "gwwatch_reconcile_duration_seconds_count")) and not \
                        line.endswith(" 0.0"):
                    print("  " + line)
        finally:
            gw.terminate()
            code = gw.wait(30)
            print(f"gwwatch exit code on SIGTERM: {code}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
