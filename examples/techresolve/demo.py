"""The incident, live: a local control plane, ``gwwatch run``, and ``examples/techresolve``.

    .venv/bin/python -m examples.techresolve.demo          # keeps running until Ctrl-C
    .venv/bin/python -m examples.techresolve.demo --exit   # show the result, then stop

(from the repository root, which is what ``make demo`` does).

Starts kube-apiserver + etcd (tests/controlplane; the binaries are built and cached on first
use — that needs Go), starts ``gwwatch run`` against it, applies the billing team's route, then
the staging team's, and shows what a user sees: the offending route as ``kubectl describe
httproute`` prints it (our condition and the Event), the victim's condition, and the hijack
series on ``/metrics``.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tests.controlplane import ControlPlane, ensure_built
from tests.controlplane.controlplane import free_port

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def apply(cp: ControlPlane, name: str) -> None:
    for doc in yaml.safe_load_all((HERE / name).read_text()):
        if doc:
            doc.get("metadata", {}).pop("creationTimestamp", None)
            cp.create(doc, exist_ok=True)
            print(f"  applied {doc['kind']} {doc['metadata'].get('namespace', '')}"
                  f"{'/' if doc['metadata'].get('namespace') else ''}{doc['metadata']['name']}")


def wait_for(what: str, check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.1)
    raise SystemExit(f"demo: {what} did not happen within {timeout:.0f} s")


def conditions(cp: ControlPlane, ns: str, name: str) -> list[dict[str, Any]]:
    route = cp.request("GET", f"/apis/gateway.networking.k8s.io/v1/namespaces/{ns}/httproutes/"
                              f"{name}")
    return [c for p in (route.get("status") or {}).get("parents") or []
            if p.get("controllerName") == "gwwatch.io/conflict-watcher"
            for c in p.get("conditions") or []]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--exit", action="store_true", help="stop after showing the result")
    args = ap.parse_args()
    print("starting a local control plane (kube-apiserver + etcd + Gateway API CRDs) ...")
    with ControlPlane(ensure_built()) as cp:
        port = free_port()
        print(f"starting gwwatch run (metrics on http://127.0.0.1:{port}/metrics) ...")
        gw = subprocess.Popen(
            [sys.executable, "-m", "gwwatch", "run", f"--kubeconfig={cp.kubeconfig}",
             "--namespace=default", f"--metrics-port={port}", "--metrics-bind-address=127.0.0.1",
             "--log-format=console", "--log-level=warning"], cwd=ROOT, env=dict(os.environ))
        try:
            wait_for("gwwatch ready", lambda: _get(f"http://127.0.0.1:{port}/readyz")[0] == 200)
            print("\nthe billing team's API, created first:")
            for name in ("00-namespaces.yaml", "10-gateway.yaml", "20-billing-route.yaml"):
                apply(cp, name)
            print("\nmonths later, a staging team's dashboard route on the same hostname:")
            apply(cp, "30-metrics-dashboard-route.yaml")
            started = time.monotonic()
            wait_for("the offender's condition",
                     lambda: conditions(cp, "staging-analytics", "metrics-dashboard"))
            print(f"\ngwwatch reported it {time.monotonic() - started:.2f} s later.\n")
            wait_for("the victim's condition", lambda: conditions(cp, "prod-billing",
                                                                   "billing-api"))
            kubectl = cp.assets.kubectl
            if kubectl is not None:
                time.sleep(0.5)  # let the Event land before describing
                print("$ kubectl describe httproute -n staging-analytics metrics-dashboard")
                subprocess.run([str(kubectl), f"--kubeconfig={cp.kubeconfig}", "describe",
                                "httproute", "-n", "staging-analytics", "metrics-dashboard"],
                               check=False)
            for c in conditions(cp, "prod-billing", "billing-api"):
                print(f"\nprod-billing/billing-api: {c['type']}={c['status']} ({c['reason']})"
                      f"\n  {c['message']}")
            print(f"\n$ curl -s 127.0.0.1:{port}/metrics | grep Hijack | grep finding_info")
            for line in _get(f"http://127.0.0.1:{port}/metrics")[1].splitlines():
                if line.startswith("gwwatch_finding_info") and 'kind="Hijack"' in line:
                    print(line)
            if not args.exit:
                print(f"\ngwwatch keeps watching; try `KUBECONFIG={cp.kubeconfig} kubectl delete "
                      "httproute -n staging-analytics metrics-dashboard`. Ctrl-C stops.")
                signal.signal(signal.SIGTERM, signal.default_int_handler)
                try:
                    while True:
                        time.sleep(3600)
                except KeyboardInterrupt:
                    print("\nstopping")
        finally:
            gw.send_signal(signal.SIGTERM)
            gw.wait(30)
    return 0


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, ""
    except OSError:
        return 0, ""


if __name__ == "__main__":
    sys.exit(main())
