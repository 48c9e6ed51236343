"""Soak: ``gwwatch run`` under a steady stream of route changes, then a convergence check.

    .venv/bin/python -m bench.soak                              # 1,000 changes/s for 10 minutes
    .venv/bin/python -m bench.soak --rate 200 --duration 60     # a short run

1. Start the test control plane (tests/controlplane; binaries built) and load ``--routes``
   HTTPRoutes in ``--namespaces`` namespaces (each its own tenant) on ``--gateways`` Gateways;
   each route takes one hostname of a pool of routes/4, so most hostnames are shared and the
   cluster is full of Hijack, Shadowed and SharedHostname findings.
2. Start ``gwwatch run`` as a subprocess (leader election on) and wait for ``/readyz``.
3. Drive changes at ``--rate`` per second for ``--duration`` seconds from ``--clients``
   threads (keep-alive connections, one merge patch per change: a route moves to another
   hostname of the pool and another path prefix, or is deleted and created again, which makes
   it the youngest). The rate achieved is what the API server accepted, printed every 30 s.
   gwwatch's RSS is sampled every 5 s.
4. Wait until gwwatch is quiet (no status write for 15 s), dump the cluster (Namespaces,
   Gateways, HTTPRoutes) and run ``gwwatch scan`` on the dump. Convergence holds when:
   - every route's gwwatch condition types and reasons in ``status.parents`` are those the
     scan's findings call for (HostnameConflict with the strongest finding's reason on the
     offender, TrafficHijacked on a Hijack's victim, nothing on a clean route), and each
     condition names its finding's message (single finding) or counts them (several);
   - ``gwwatch_findings`` by kind and severity and the set of ``gwwatch_finding_info``
     series equal the scan's findings;
   - RSS over the last 5 minutes of the drive is flat (its least-squares slope is printed;
     "flat" = it grew by less than 5 % over the window).
Prints figures and the verdict; exit 1 when convergence fails.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench.controller import get, proc_rss_mib
from tests import builders as b
from tests.controlplane import ControlPlane, ensure_built
from tests.controlplane.controlplane import free_port

ROOT = Path(__file__).resolve().parents[1]
V1 = f"/apis/{b.GROUP}/v1"
ME = "gwwatch.io/conflict-watcher"
PREFIXES = ("/", "/api", "/api/v1", "/web", "/web/static")
# Condition strength on one parentRef (runtime/status.py): the strongest finding's reason wins.
RANK = {"Hijack": 0, "Shadowed": 1, "SharedHostname": 2}


def ns_name(i: int, namespaces: int) -> str:
    return f"soak-{i % namespaces:03d}"


def route(i: int, args: argparse.Namespace, host: int, prefix: str) -> dict[str, Any]:
    return b.http_route(f"r{i}", ns_name(i, args.namespaces),
                        parents=[b.parent(f"gw-{i % args.gateways}", "infra")],
                        hostnames=[f"h{host}.soak.test"], matches=[b.match(prefix)])


def client(cp: ControlPlane) -> httpx.Client:
    assert cp.pki is not None
    ctx = ssl.create_default_context(cafile=str(cp.pki.ca_cert))
    ctx.load_cert_chain(str(cp.pki.admin_cert), str(cp.pki.admin_key))
    return httpx.Client(base_url=cp.server, verify=ctx, timeout=30.0)


def load(cp: ControlPlane, args: argparse.Namespace) -> None:
    cp.create_namespace("infra")
    for n in range(args.namespaces):
        cp.create_namespace(ns_name(n, args.namespaces))
    for g in range(args.gateways):
        cp.create(b.gateway(f"gw-{g}", None, gateway_class="soak", listeners=[
            b.listener("http", port=80, protocol="HTTP", hostname="*.soak.test",
                       from_="All")]), "infra")
    hosts = max(1, args.routes // 4)
    started = time.monotonic()

    def work(part: int) -> None:
        with client(cp) as c:
            for i in range(part, args.routes, args.clients):
                obj = route(i, args, i % hosts, PREFIXES[i % len(PREFIXES)])
                c.post(f"{V1}/namespaces/{ns_name(i, args.namespaces)}/httproutes",
                       json=obj).raise_for_status()

    threads = [threading.Thread(target=work, args=(k,)) for k in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"loaded {args.routes} routes in {time.monotonic() - started:.1f} s", flush=True)


class Driver:
    """``clients`` threads sharing one schedule of ``rate`` changes a second."""

    def __init__(self, cp: ControlPlane, args: argparse.Namespace) -> None:
        self.cp, self.args = cp, args
        self.done = 0
        self.errors: collections.Counter[str] = collections.Counter()
        self.lock = threading.Lock()
        self.next_slot = 0.0
        self.stop_at = 0.0

    def _slot(self) -> float | None:
        """When the next change is due; None once the duration is over (a rate the server
        does not sustain is not made up for afterwards)."""
        with self.lock:
            slot = self.next_slot
            self.next_slot += 1.0 / self.args.rate
        return None if slot >= self.stop_at or time.monotonic() >= self.stop_at else slot

    def _worker(self, seed: int) -> None:
        rng = random.Random(seed)
        hosts = max(1, self.args.routes // 4)
        with client(self.cp) as c:
            while (slot := self._slot()) is not None:
                delay = slot - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                i = rng.randrange(self.args.routes)
                ns = ns_name(i, self.args.namespaces)
                path = f"{V1}/namespaces/{ns}/httproutes/r{i}"
                host, prefix = rng.randrange(hosts), rng.choice(PREFIXES)
                try:
                    if rng.random() < self.args.recreate:
                        r = c.delete(path)
                        if r.status_code not in (200, 404):
                            r.raise_for_status()
                        r = c.post(f"{V1}/namespaces/{ns}/httproutes",
                                   json=route(i, self.args, host, prefix))
                    else:
                        patch = {"spec": {"hostnames": [f"h{host}.soak.test"], "rules": [
                            {"matches": [{"path": {"type": "PathPrefix", "value": prefix}}],
                             "backendRefs": [{"name": f"r{i}", "port": 8080}]}]}}
                        r = c.patch(path, json=patch, headers={
                            "Content-Type": "application/merge-patch+json"})
                    if r.status_code == 404 or r.status_code == 409:
                        self.errors[str(r.status_code)] += 1  # racing a recreate: normal
                    else:
                        r.raise_for_status()
                except httpx.HTTPError as exc:
                    self.errors[type(exc).__name__] += 1
                with self.lock:
                    self.done += 1

    def run(self, on_tick: Any) -> float:
        start = time.monotonic()
        self.next_slot = start
        self.stop_at = start + self.args.duration
        threads = [threading.Thread(target=self._worker, args=(k,), daemon=True)
                   for k in range(self.args.clients)]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            time.sleep(1.0)
            on_tick(time.monotonic() - start, self.done)
        return time.monotonic() - start


def metrics(port: int) -> str:
    return get(f"http://127.0.0.1:{port}/metrics")[1]


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    from prometheus_client.parser import text_string_to_metric_families

    return [(s.labels, s.value) for fam in text_string_to_metric_families(text)
            for s in fam.samples if s.name == name]


def wait_quiet(port: int, quiet: float, limit: float) -> float:
    """Until no status write and no watch event for ``quiet`` seconds; seconds waited."""
    started = time.monotonic()
    last, since = None, time.monotonic()
    while time.monotonic() - started < limit:
        text = metrics(port)
        now = (sum(v for _, v in samples(text, "gwwatch_status_writes_total")),
               sum(v for _, v in samples(text, "gwwatch_watch_events_total")
                   if _.get("type") != "BOOKMARK"))
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            break
        time.sleep(1.0)
    return time.monotonic() - started


def dump(cp: ControlPlane, path: Path) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for url, api_version, kind in (("/api/v1/namespaces", "v1", "Namespace"),
                                   (f"{V1}/gateways", f"{b.GROUP}/v1", "Gateway"),
                                   (f"{V1}/httproutes", f"{b.GROUP}/v1", "HTTPRoute")):
        for obj in cp.request("GET", url).get("items") or []:
            obj.setdefault("apiVersion", api_version)
            obj.setdefault("kind", kind)
            items.append(obj)
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    return items


def ref(r: dict[str, Any] | None) -> str:
    return "" if not r else f"{r['namespace']}/{r['name']}"


def expected_conditions(findings: list[dict[str, Any]]
                        ) -> dict[str, dict[str, tuple[str, list[str]]]]:
    """route → condition type → (reason, messages), as runtime/status.py derives them."""
    per: dict[str, dict[str, list[tuple[int, str, str]]]] = collections.defaultdict(
        lambda: collections.defaultdict(list))
    for f in findings:
        if f["kind"] in RANK and f["route"]:
            per[ref(f["route"])]["gwwatch.io/HostnameConflict"].append(
                (RANK[f["kind"]], f["reason"], f["message"]))
        if f["kind"] == "Hijack" and f["other"]:
            per[ref(f["other"])]["gwwatch.io/TrafficHijacked"].append(
                (0, "HijackedByRoute", f["message"]))
    # The strongest kind's reason (one listener per Gateway here: a kind has one reason).
    return {route_ref: {t: (min(v)[1], [m for _, _, m in v]) for t, v in types.items()}
            for route_ref, types in per.items()}


def check_status(items: list[dict[str, Any]], findings: list[dict[str, Any]]) -> list[str]:
    want = expected_conditions(findings)
    problems: list[str] = []
    routes = 0
    for obj in items:
        if obj["kind"] != "HTTPRoute":
            continue
        routes += 1
        key = f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
        got: dict[str, tuple[str, str]] = {}
        for p in (obj.get("status") or {}).get("parents") or []:
            if p.get("controllerName") == ME:
                for c in p.get("conditions") or []:
                    got[c["type"]] = (c["reason"], c["message"])
        expect = want.get(key, {})
        if set(got) != set(expect):
            problems.append(f"{key}: conditions {sorted(got)} != {sorted(expect)}")
            continue
        for ctype, (reason, messages) in expect.items():
            got_reason, message = got[ctype]
            if got_reason != reason and ctype == "gwwatch.io/TrafficHijacked":
                problems.append(f"{key}: {ctype} reason {got_reason} != {reason}")
            unique = list(dict.fromkeys(messages))
            if len(unique) == 1 and unique[0][:200] not in message:
                problems.append(f"{key}: {ctype} message does not name its finding")
            if len(unique) > 1 and not message.startswith(f"{len(unique)} findings"):
                problems.append(f"{key}: {ctype} says {message.split(',')[0]!r}, "
                                f"want {len(unique)} findings")
            if got_reason != reason and ctype == "gwwatch.io/HostnameConflict":
                problems.append(f"{key}: {ctype} reason {got_reason} != {reason}")
    print(f"status: {routes} routes checked, {len(want)} with gwwatch conditions expected, "
          f"{len(problems)} differ", flush=True)
    return problems


def check_metrics(text: str, findings: list[dict[str, Any]]) -> list[str]:
    problems: list[str] = []
    by_kind = collections.Counter((f["kind"], f["severity"]) for f in findings)
    got = {(lb["kind"], lb["severity"]): v for lb, v in samples(text, "gwwatch_findings")}
    for key in set(got) | set(by_kind):
        if got.get(key, 0) != by_kind.get(key, 0):
            problems.append(f"gwwatch_findings{key}: {got.get(key, 0)} != scan {by_kind[key]}")
    info = collections.Counter((lb["kind"], lb["hostname"], lb["route"], lb["other"])
                               for lb, _ in samples(text, "gwwatch_finding_info"))
    scan = collections.Counter((f["kind"], f["hostname"], ref(f["route"]), ref(f["other"]))
                               for f in findings)
    missing, extra = scan - info, info - scan
    if missing or extra:
        problems.append(f"gwwatch_finding_info: {sum(missing.values())} missing, "
                        f"{sum(extra.values())} extra, e.g. {list(missing)[:2]} {list(extra)[:2]}")
    print(f"metrics: {sum(by_kind.values())} findings by scan, "
          f"{int(sum(got.values()))} in gwwatch_findings, {sum(info.values())} "
          f"gwwatch_finding_info series; {len(problems)} differences", flush=True)
    return problems


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope (MiB per minute) of (seconds, MiB)."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs) or 1.0
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den * 60


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--routes", type=int, default=2000)
    ap.add_argument("--namespaces", type=int, default=50)
    ap.add_argument("--gateways", type=int, default=5)
    ap.add_argument("--rate", type=float, default=1000.0, help="changes per second asked")
    ap.add_argument("--duration", type=float, default=600.0, help="seconds of changes")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--recreate", type=float, default=0.05,
                    help="share of changes that delete and create the route again")
    ap.add_argument("--rss-window", type=float, default=300.0,
                    help="the last seconds of the drive whose RSS must be flat")
    args = ap.parse_args()
    assets = ensure_built()
    with ControlPlane(assets) as cp:
        load(cp, args)
        port = free_port()
        workdir = Path(tempfile.mkdtemp(prefix="gwwatch-soak-"))
        log = workdir / "gwwatch.log"
        env = {**os.environ, "GWWATCH_LOG_LEVEL": "warning", "GWWATCH_LOG_FORMAT": "json",
               "GWWATCH_MAX_FINDING_SERIES": "1000000"}
        started = time.monotonic()
        gw = subprocess.Popen(
            [sys.executable, "-m", "gwwatch", "run", f"--kubeconfig={cp.kubeconfig}",
             "--namespace=default", f"--metrics-port={port}",
             "--metrics-bind-address=127.0.0.1"],
            cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
        try:
            while get(f"http://127.0.0.1:{port}/readyz")[0] != 200:
                if gw.poll() is not None:
                    print(log.read_text()[-3000:])
                    return 1
                time.sleep(0.2)
            print(f"gwwatch ready in {time.monotonic() - started:.1f} s, RSS "
                  f"{proc_rss_mib(gw.pid):.0f} MiB", flush=True)
            wait_quiet(port, 10, 300)
            rss: list[tuple[float, float]] = []
            last_print = [0.0, 0]

            def tick(elapsed: float, done: int) -> None:
                if not rss or elapsed - rss[-1][0] >= 5:
                    rss.append((elapsed, proc_rss_mib(gw.pid)))
                if elapsed - last_print[0] >= 30:
                    rate = (done - last_print[1]) / (elapsed - last_print[0])
                    print(f"  t={elapsed:4.0f} s: {done} changes, {rate:.0f}/s over the last "
                          f"30 s, RSS {rss[-1][1]:.0f} MiB", flush=True)
                    last_print[:] = [elapsed, done]

            driver = Driver(cp, args)
            cpu0 = cpu_seconds(gw.pid)
            took = driver.run(tick)
            cpu = (cpu_seconds(gw.pid) - cpu0) / took
            print(f"drove {driver.done} changes in {took:.0f} s: {driver.done / took:.0f}/s "
                  f"achieved (asked {args.rate:.0f}/s); errors {dict(driver.errors)}; gwwatch "
                  f"CPU {cpu * 100:.0f} % of a core", flush=True)
            window = [p for p in rss if p[0] >= took - args.rss_window]
            first, last = window[0][1], window[-1][1]
            grew = (max(p[1] for p in window[len(window) // 2:])
                    - min(p[1] for p in window[: max(1, len(window) // 2)]))
            flat = grew < 0.05 * first
            print(f"RSS over the last {args.rss_window:.0f} s: {first:.0f} → {last:.0f} MiB, "
                  f"min {min(p[1] for p in window):.0f}, max {max(p[1] for p in window):.0f}, "
                  f"slope {slope(window):+.2f} MiB/min: {'flat' if flat else 'GROWING'}",
                  flush=True)
            waited = wait_quiet(port, 15, 900)
            print(f"quiet after {waited:.0f} s", flush=True)
            text = metrics(port)
            items = dump(cp, workdir / "dump.json")
            scan = subprocess.run(
                [sys.executable, "-m", "gwwatch", "scan", str(workdir / "dump.json"),
                 "-o", "json", "--fail-on", "never"],
                cwd=ROOT, capture_output=True, text=True, check=False)
            if scan.returncode != 0:
                print(scan.stderr[-2000:])
                return 1
            findings = json.loads(scan.stdout)["findings"]
            problems = check_status(items, findings) + check_metrics(text, findings)
            for p in problems[:20]:
                print("  " + p)
            ok = not problems and flat
            print("CONVERGED" if ok else "NOT CONVERGED", flush=True)
            return 0 if ok else 1
        finally:
            gw.terminate()
            gw.wait(30)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    sys.exit(main())
