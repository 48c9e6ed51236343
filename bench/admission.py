"""Admission webhook figures: in-process decision time, end-to-end latency, replica race window.

    .venv/bin/python -m bench.admission decision               # 1k, 10k, 100k routes
    .venv/bin/python -m bench.admission decision --sizes 1000 --reviews 500
    .venv/bin/python -m bench.admission apiserver              # 10k routes, real API server

``decision``: each size in its own process. The synthetic cluster of ``bench/engine.py``
(500 tenants, 50 shared Gateways, 3 % hijacks) is loaded into a graph, and one
``AdmissionReview`` after another goes through the webhook's ``Reviewer`` as ``gwwatch run``
calls it: JSON decode, parse, the graph's ``what_if``, the decision, JSON encode. Cases: a route
that would hijack another tenant's hostname (refused), a new route on its own hostname
(admitted), an existing route changing its path (admitted), the hijack with a wildcard over the
victim's whole domain added (its cost bounded by GWWATCH_WEBHOOK_MAX_HOSTNAMES), and the
refused case again with ten admitted objects pending in the overlay. Requests are dry runs
(nothing joins the overlay), except where the overlay is filled on purpose.

``apiserver``: a real control plane (tests/controlplane) loaded with ``--routes`` HTTPRoutes,
two ``gwwatch run`` processes with the webhook (the shipped configuration registered by URL to
the first). (1) End to end: dry-run creates through the API server, timed at the client, with
the webhook registered (refused hijacks, admitted routes) and without it. (2) The race window
between replicas: an owner's route is created through the API server (the first replica
admits it), while a client asks the *second* replica, every millisecond or so, about a route
that would hijack it; the window is the time until the second replica refuses. A create on
the second replica within that window is admitted, and detection reports it.

Figures, not assertions: the API server, etcd, both replicas and the client share the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import http.client
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
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def review_doc(obj: dict[str, Any], *, operation: str = "CREATE", dry_run: bool = True,
               old: dict[str, Any] | None = None) -> dict[str, Any]:
    meta = obj["metadata"]
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": str(uuid.uuid4()),
                        "kind": {"group": "gateway.networking.k8s.io", "version": "v1",
                                 "kind": obj["kind"]},
                        "resource": {"group": "gateway.networking.k8s.io", "version": "v1",
                                     "resource": obj["kind"].lower() + "s"},
                        "namespace": meta.get("namespace"), "name": meta["name"],
                        "operation": operation, "dryRun": dry_run, "object": obj,
                        "oldObject": old, "userInfo": {"username": "bench"}}}


# --- in-process decision -------------------------------------------------------------------


def decision(n: int, reviews: int, seed: int) -> dict[str, Any]:
    from bench.engine import NAMESPACES, cluster, route
    from gwwatch import logs
    from gwwatch.engine import analyse, parse
    from gwwatch.runtime.admission import Pending, Reviewer, inline

    logs.configure(fmt="json", level="warning")  # stdout carries the figures
    rng = random.Random(seed)
    parsed = [p for p in (parse(o) for o in cluster(n, 0.03, rng)) if p is not None]
    t0 = time.perf_counter()
    graph = analyse(parsed)
    load_s = time.perf_counter() - t0
    pending = Pending(3600.0, lambda ref: None)
    # inline: the graph in this thread (gwwatch run hands the same job to its graph thread).
    reviewer = Reviewer(exclusive=inline(graph), synced=lambda: True, pending=pending)
    loop = asyncio.new_event_loop()

    def thief(k: int) -> dict[str, Any]:
        obj = route(n + k, host_of=rng.randrange(n), path=f"/v1/take-{k % 5}")
        obj["metadata"]["namespace"] = f"team-{(k * 7 + 3) % NAMESPACES}"
        return obj

    refused: dict[str, int] = {}
    cpu: dict[str, list[float]] = {}

    def timed(case: str, docs: list[dict[str, Any]]) -> list[float]:
        out = []
        refused[case] = 0
        cpu[case] = []
        for doc in docs:
            body = json.dumps(doc).encode()
            started, cpu0 = time.perf_counter(), time.process_time()
            answer = loop.run_until_complete(reviewer.review(json.loads(body), started=started))
            json.dumps(answer).encode()
            out.append(time.perf_counter() - started)
            cpu[case].append(time.process_time() - cpu0)
            refused[case] += not answer["response"]["allowed"]
        return out

    # A thief's victim may itself be one of the 3 % hijackers (then nobody owns that exact
    # hostname's traffic by route): those few are admitted; the refused count says how many.
    cases: dict[str, list[float]] = {}
    cases["hijack_refused"] = timed("hijack_refused",
                                    [review_doc(thief(k)) for k in range(reviews)])
    cases["new_own_hostname"] = timed(
        "new_own_hostname", [review_doc(route(n + reviews + k)) for k in range(reviews)])
    updates = []
    for k in range(reviews):
        i = rng.randrange(n)
        old = route(i)
        new = route(i, path=f"/p{k % 5}", version=k + 1)
        updates.append(review_doc(new, operation="UPDATE", old=old))
    cases["update_path"] = timed("update_path", updates)
    # Hostile: the hijack plus a wildcard over the victim Gateway's whole domain (~n/50
    # hostnames). Unbounded, its what-if reanalyses all of them; bounded, the wildcard is left
    # out (and said so) and the exact hostname is still checked.
    broad = []
    for k in range(reviews):
        obj = thief(2 * reviews + k)
        host = obj["spec"]["hostnames"][0]
        obj["spec"]["hostnames"].append("*." + host.split(".", 1)[1])
        broad.append(review_doc(obj))
    cases["hijack_plus_broad_wildcard"] = timed("hijack_plus_broad_wildcard", broad)
    for k in range(10):  # ten admitted, not yet watched: they join every what-if
        loop.run_until_complete(
            reviewer.review(review_doc(route(n + 10 * reviews + k), dry_run=False)))
    assert len(pending) == 10
    cases["hijack_refused_10_pending"] = timed(
        "hijack_refused_10_pending", [review_doc(thief(reviews + k)) for k in range(reviews)])
    row: dict[str, Any] = {"routes": n, "findings": len(graph.findings()),
                           "load_s": round(load_s, 2)}
    for name, lat in cases.items():
        row[f"{name}_p50_ms"] = round(statistics.median(lat) * 1000, 3)
        row[f"{name}_p99_ms"] = round(pct(lat, 0.99) * 1000, 3)
        row[f"{name}_cpu_p50_ms"] = round(statistics.median(cpu[name]) * 1000, 3)
        row[f"{name}_cpu_p99_ms"] = round(pct(cpu[name], 0.99) * 1000, 3)
        row[f"{name}_refused"] = f"{refused[name]}/{len(lat)}"
    return row


def run_decision(args: argparse.Namespace) -> int:
    rows = []
    for n in args.sizes:
        out = subprocess.run(
            [sys.executable, "-m", "bench.admission", "decision", "--one", str(n),
             "--reviews", str(args.reviews), "--seed", str(args.seed)],
            check=True, capture_output=True, text=True, cwd=ROOT)
        rows.append(json.loads(out.stdout))
        print(json.dumps(rows[-1]), flush=True)
    print()
    print("wall = time per review; cpu = this process's CPU time (other processes on a busy "
          "machine inflate wall, not cpu)")
    print(f"{'routes':>8} {'findings':>9}  {'case':<26} {'wall p50':>9} {'wall p99':>9} "
          f"{'cpu p50':>8} {'cpu p99':>8} {'refused':>9}   (ms)")
    for r in rows:
        for case in ("hijack_refused", "new_own_hostname", "update_path",
                     "hijack_plus_broad_wildcard", "hijack_refused_10_pending"):
            print(f"{r['routes']:>8} {r['findings']:>9}  {case:<26} "
                  f"{r[case + '_p50_ms']:>9} {r[case + '_p99_ms']:>9} "
                  f"{r[case + '_cpu_p50_ms']:>8} {r[case + '_cpu_p99_ms']:>8} "
                  f"{r[case + '_refused']:>9}")
    return 0


# --- through the API server ----------------------------------------------------------------


class Replica:
    def __init__(self, cp: Any, name: str, pki: Any, workdir: Path) -> None:
        from tests.controlplane.controlplane import free_port

        self.name = name
        self.metrics_port = free_port()
        self.webhook_port = free_port()
        self.log = workdir / f"{name}.log"
        env = {**os.environ, "GWWATCH_LOG_LEVEL": "warning", "GWWATCH_LOG_FORMAT": "json",
               "GWWATCH_KUBECONFIG": str(cp.kubeconfig), "GWWATCH_NAMESPACE": "default",
               "GWWATCH_IDENTITY": name, "GWWATCH_METRICS_BIND_ADDRESS": "127.0.0.1",
               "GWWATCH_METRICS_PORT": str(self.metrics_port),
               "GWWATCH_WEBHOOK_PORT": str(self.webhook_port),
               "GWWATCH_WEBHOOK_BIND_ADDRESS": "127.0.0.1",
               "GWWATCH_WEBHOOK_CERT_FILE": str(pki.cert),
               "GWWATCH_WEBHOOK_KEY_FILE": str(pki.key)}
        self.proc = subprocess.Popen([sys.executable, "-m", "gwwatch", "run"], cwd=ROOT,
                                     env=env, stdout=self.log.open("wb"),
                                     stderr=subprocess.STDOUT)
        self.ctx = ssl.create_default_context(cafile=str(pki.ca_cert))

    def ready(self) -> bool:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.metrics_port, timeout=2)
            conn.request("GET", "/readyz")
            return conn.getresponse().status == 200
        except OSError:
            return False

    def wait_ready(self) -> float:
        started = time.monotonic()
        while not self.ready():
            if self.proc.poll() is not None:
                raise SystemExit(self.log.read_text()[-3000:])
            time.sleep(0.2)
        return time.monotonic() - started

    def connection(self) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection("127.0.0.1", self.webhook_port, context=self.ctx,
                                           timeout=5)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


def post_review(conn: http.client.HTTPSConnection, doc: dict[str, Any]) -> dict[str, Any]:
    conn.request("POST", "/validate", json.dumps(doc),
                 {"Content-Type": "application/json"})
    resp = conn.getresponse()
    return dict(json.loads(resp.read())["response"])


def run_apiserver(args: argparse.Namespace) -> int:
    import yaml

    from bench.controller import GATEWAYS, V1, load, ns_name, route
    from tests.controlplane import ApiError, ControlPlane, certs, ensure_built

    workdir = Path(tempfile.mkdtemp(prefix="gwwatch-bench-admission-"))
    pki = certs.serving(workdir)
    with ControlPlane(ensure_built()) as cp:
        load(cp, args.routes)
        r1 = Replica(cp, "r1", pki, workdir)
        r2 = Replica(cp, "r2", pki, workdir)
        try:
            print(f"replicas synced after {r1.wait_ready():.1f} s and {r2.wait_ready():.1f} s",
                  flush=True)
            hook = yaml.safe_load((ROOT / "deploy/components/admission/webhook.yaml")
                                  .read_text())
            hook["metadata"] = {"name": "gwwatch-bench"}
            hook["webhooks"][0]["clientConfig"] = {
                "url": f"https://127.0.0.1:{r1.webhook_port}/validate",
                "caBundle": base64.b64encode(pki.ca_bundle).decode()}
            hook_path = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations"

            def dry_create(obj: dict[str, Any], ns: str) -> tuple[float, int]:
                started = time.perf_counter()
                try:
                    cp.request("POST", f"{V1}/namespaces/{ns}/httproutes?dryRun=All", obj)
                    status = 201
                except ApiError as e:
                    status = e.status
                return time.perf_counter() - started, status

            def hijacker(k: int) -> tuple[dict[str, Any], str]:
                i = (k * 37) % args.routes
                return route(f"bench-thief-{k}", i, f"/v1/take-{k % 5}"), ns_name(i + 1)

            def own(k: int) -> tuple[dict[str, Any], str]:
                i = args.routes + k
                return route(f"bench-own-{k}", i, "/"), ns_name(i)

            def series(make: Any, n: int) -> tuple[list[float], dict[int, int]]:
                lat, codes = [], {}
                for k in range(n):
                    seconds, code = dry_create(*make(k))
                    lat.append(seconds)
                    codes[code] = codes.get(code, 0) + 1
                return lat, codes

            def show(label: str, lat: list[float], codes: dict[int, int]) -> None:
                print(f"  {label:<42} p50 {statistics.median(lat) * 1000:7.2f} ms   "
                      f"p99 {pct(lat, 0.99) * 1000:7.2f} ms   answers {codes}", flush=True)

            series(own, 50)  # warm the API server's caches
            print(f"end to end through the API server ({args.routes} routes, "
                  f"{args.requests} dry-run creates each, one client):", flush=True)
            show("no webhook registered, new route", *series(own, args.requests))
            show("no webhook registered, hijacking route", *series(hijacker, args.requests))
            cp.request("POST", hook_path, hook)
            deadline = time.monotonic() + 30
            while dry_create(*hijacker(0))[1] != 403:  # the registration takes effect
                if time.monotonic() > deadline:
                    raise SystemExit("the webhook never refused")
                time.sleep(0.2)
            show("webhook registered, new route (admitted)", *series(own, args.requests))
            show("webhook registered, hijacking route (refused)",
                 *series(hijacker, args.requests))

            print(f"race window between replicas ({args.trials} trials): owner's route "
                  f"created through the API server (r1 admits it); r2 asked continuously "
                  f"about a route hijacking it", flush=True)
            windows, after_create = [], []
            for k in range(args.trials):
                host = f"race-{k}-{uuid.uuid4().hex[:6]}.bench.test"
                gw = f"gw-{k % GATEWAYS}"
                owner = route(f"race-owner-{k}", k, "/")
                owner["spec"]["hostnames"] = [host]
                owner["spec"]["parentRefs"] = [{"name": gw, "namespace": "infra"}]
                thief = route(f"race-thief-{k}", k, "/v1/pay")
                thief["spec"]["hostnames"] = [host]
                thief["spec"]["parentRefs"] = [{"name": gw, "namespace": "infra"}]
                thief["metadata"] = {"name": f"race-thief-{k}", "namespace": ns_name(k + 1),
                                     "creationTimestamp": "2099-01-01T00:00:00Z"}
                refused_at: list[float] = []
                stop = threading.Event()

                def ask(thief: dict[str, Any], refused_at: list[float],
                        stop: threading.Event) -> None:
                    conn = r2.connection()
                    while not stop.is_set():
                        answer = post_review(conn, review_doc(thief))
                        if not answer["allowed"]:
                            refused_at.append(time.perf_counter())
                            return

                asker = threading.Thread(target=ask, args=(thief, refused_at, stop),
                                         daemon=True)
                asker.start()
                time.sleep(0.05)
                sent = time.perf_counter()
                cp.request("POST", f"{V1}/namespaces/{ns_name(k)}/httproutes", owner)
                created = time.perf_counter()
                asker.join(10)
                stop.set()
                if refused_at:
                    windows.append(refused_at[0] - sent)
                    after_create.append(refused_at[0] - created)
                cp.request("DELETE", f"{V1}/namespaces/{ns_name(k)}/httproutes/race-owner-{k}")
            if windows:
                print(f"  r2 refuses after (from the create request sent): p50 "
                      f"{statistics.median(windows) * 1000:.1f} ms, p99 "
                      f"{pct(windows, 0.99) * 1000:.1f} ms, max {max(windows) * 1000:.1f} ms",
                      flush=True)
                print(f"  r2 refuses after (from the create answered):     p50 "
                      f"{statistics.median(after_create) * 1000:.1f} ms, p99 "
                      f"{pct(after_create, 0.99) * 1000:.1f} ms, max "
                      f"{max(after_create) * 1000:.1f} ms; {len(windows)}/{args.trials} "
                      f"trials refused within 10 s", flush=True)
            cp.request("DELETE", f"{hook_path}/gwwatch-bench")
        finally:
            r1.stop()
            r2.stop()
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    d = sub.add_parser("decision", help="in-process decision time at several sizes")
    d.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    d.add_argument("--reviews", type=int, default=1000)
    d.add_argument("--seed", type=int, default=7)
    d.add_argument("--one", type=int, help=argparse.SUPPRESS)
    a = sub.add_parser("apiserver", help="end to end and the replica race window")
    a.add_argument("--routes", type=int, default=10_000)
    a.add_argument("--requests", type=int, default=300)
    a.add_argument("--trials", type=int, default=30)
    args = ap.parse_args()
    if args.command == "decision":
        if args.one is not None:
            print(json.dumps(decision(args.one, args.reviews, args.seed)))
            return 0
        return run_decision(args)
    return run_apiserver(args)


if __name__ == "__main__":
    sys.exit(main())
