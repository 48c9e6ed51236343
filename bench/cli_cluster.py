"""``gwwatch scan --cluster`` figures against the real test control plane (kube-apiserver + etcd).

    .venv/bin/python -m bench.cli_cluster                   # 10k routes, a 20-file change
    .venv/bin/python -m bench.cli_cluster --routes 2000 --files 20 --runs 3

1. Start a control plane (tests/controlplane; the binaries must be built) and load the cluster
   of ``bench/controller.py``: ``--routes`` HTTPRoutes over 50 Gateways and 500 namespaces, each
   with its own hostname.
2. ``gwwatch scan --cluster`` as a user runs it (a subprocess, ``--output json`` to a pipe that
   is read and dropped), ``--runs`` times: wall time and the process's peak RSS (``wait4``).
3. The what-if of a ``--files``-file change: half the files hold a route hijacking a loaded
   route's hostname (a longer prefix), half an edit of a loaded route. Wall time of
   ``gwwatch scan --cluster DIR`` (list + analysis + what-if), then the same steps in-process,
   each timed: list, parse and analyse, overlay + ``graph.what_if``.

Figures, not assertions. The API server, etcd and gwwatch share the machine's cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from bench.controller import load, ns_name, route
from gwwatch.cli import cluster
from gwwatch.engine import Policy, analyse
from tests.controlplane import ControlPlane, ensure_built

ROOT = Path(__file__).resolve().parents[1]


def timed_run(argv: list[str]) -> tuple[float, float, float, int, str]:
    """Wall seconds, CPU seconds (user + system), peak RSS (MiB), exit code and stderr of
    ``python -m gwwatch argv``."""
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "gwwatch", *argv], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    out = proc.stdout.read()  # drain, so a large report cannot block the child
    err = proc.stderr.read().decode(errors="replace")
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - started
    del out
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, proc.returncode, err


def change(directory: Path, files: int, routes: int) -> None:
    """``files`` manifests: hijacks of loaded hostnames, and edits of loaded routes."""
    directory.mkdir(parents=True, exist_ok=True)
    step = max(1, routes // max(files, 1))
    for k in range(files):
        i = (k * step) % routes
        if k % 2 == 0:  # a new route in the next namespace taking /checkout of app-i
            obj: dict[str, Any] = route(f"taker-{i}", i, "/checkout")
            obj["metadata"]["namespace"] = ns_name(i + 1)
        else:  # the owner's own route, edited
            obj = route(f"app-{i}", i, "/")
            obj["metadata"]["namespace"] = ns_name(i)
            obj["spec"]["rules"][0]["matches"][0]["path"]["value"] = "/v2"
        (directory / f"{k:02d}.yaml").write_text(yaml.safe_dump(obj), encoding="utf-8")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--routes", type=int, default=10_000)
    ap.add_argument("--files", type=int, default=20)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    with ControlPlane(ensure_built()) as cp:
        load(cp, args.routes)
        kc = str(cp.kubeconfig)
        scans = []
        for n in range(args.runs):
            wall, cpu, rss, code, err = timed_run(["scan", "--cluster", "--kubeconfig", kc,
                                                   "--output", "json", "--fail-on", "never"])
            if code != 0:
                print(err)
                return 1
            if n == 0:
                print("stderr of the first run (progress):\n  " + err.strip().replace(
                    "\n", "\n  "), flush=True)
            scans.append((wall, rss))
            print(f"scan --cluster, {args.routes} routes: {wall:.2f} s wall, {cpu:.2f} s CPU, "
                  f"peak RSS {rss:.0f} MiB", flush=True)

        directory = Path(tempfile.mkdtemp(prefix="gwwatch-bench-change-"))
        change(directory, args.files, args.routes)
        whatifs = []
        for _ in range(args.runs):
            wall, cpu, rss, code, err = timed_run(["scan", "--cluster", "--kubeconfig", kc,
                                                   "--output", "json", str(directory)])
            whatifs.append((wall, rss, code))
            print(f"scan --cluster DIR ({args.files} files): {wall:.2f} s wall, {cpu:.2f} s "
                  f"CPU, peak RSS {rss:.0f} MiB, exit {code}", flush=True)

        # The same steps in-process, each timed.
        t0 = time.perf_counter()
        live = cluster.read(kc, None, cluster.Progress(open(os.devnull, "w")))  # noqa: SIM115
        t1 = time.perf_counter()
        graph = analyse(live.objects, Policy())
        t2 = time.perf_counter()
        from gwwatch import manifests
        sources = manifests.load([str(directory)])
        overlay = cluster.overlay([(s.obj, s.where) for s in sources], live, cluster.now())
        t3 = time.perf_counter()
        diff = graph.what_if(upserts=overlay)
        t4 = time.perf_counter()
        print(f"in-process: list {t1 - t0:.2f} s ({len(live.objects)} objects), analyse "
              f"{t2 - t1:.2f} s, read + overlay {args.files} files {(t3 - t2) * 1000:.1f} ms, "
              f"what_if {(t4 - t3) * 1000:.1f} ms ({len(diff.added)} added, "
              f"{len(diff.removed)} removed, {len(diff.changed)} changed)")

        print(f"\n| {args.routes:,} routes | wall (median of {args.runs}) | peak RSS |")
        print("|---|---|---|")
        print(f"| scan --cluster | {statistics.median(w for w, _ in scans):.2f} s | "
              f"{max(r for _, r in scans):.0f} MiB |")
        print(f"| scan --cluster + {args.files}-file what-if | "
              f"{statistics.median(w for w, _, _ in whatifs):.2f} s | "
              f"{max(r for _, r, _ in whatifs):.0f} MiB |")
        print(f"| graph.what_if of the {args.files} files alone | {(t4 - t3) * 1000:.1f} ms | - |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
