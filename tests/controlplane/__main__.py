"""``python -m tests.controlplane {build,serve,pin}``.

build   build (or find) kube-apiserver, etcd, kubectl and the Gateway API CRDs; print the dir.
serve   run a control plane in the foreground until Ctrl-C/SIGTERM; write its admin kubeconfig.
pin     regenerate go/*/go.mod (the k8s.io staging replaces) for new versions, then tidy.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from tests.needs import in_ci

from .build import AssetsUnavailable, ensure_built


def _build(_: argparse.Namespace) -> int:
    try:
        assets = ensure_built()
    except AssetsUnavailable as e:
        # Outside CI this is not an error: `make test` goes on and skips the integration tests.
        print(f"controlplane: {e}", file=sys.stderr)
        return 1 if in_ci() else 0
    print(assets.directory)
    return 0


def _serve(args: argparse.Namespace) -> int:
    from .controlplane import ControlPlane

    try:
        assets = ensure_built()
    except AssetsUnavailable as e:
        print(f"controlplane: {e}", file=sys.stderr)
        return 1
    stop = threading.Event()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    cp = ControlPlane(assets, apiserver_port=args.port)
    try:
        cp.start()
        kubeconfig = cp.write_kubeconfig(Path(args.kubeconfig).expanduser().resolve())
        print(f"kube-apiserver {assets.versions.kubernetes} ready in {cp.startup_seconds:.1f} s")
        print(f"server:     {cp.server}")
        print(f"kubeconfig: {kubeconfig}")
        print(f"try:        KUBECONFIG={kubeconfig} kubectl get crds   (Ctrl-C stops)", flush=True)
        while not stop.wait(1.0):
            for proc in (cp.etcd, cp.apiserver):
                if proc is not None and not proc.running:
                    print(
                        f"controlplane: {proc.name} died; log tail:\n{proc.tail(30)}",
                        file=sys.stderr,
                    )
                    return 1
        print("stopping", flush=True)
        return 0
    finally:
        started = time.monotonic()
        cp.stop()
        if stop.is_set():
            print(f"stopped in {time.monotonic() - started:.1f} s", flush=True)


def _pin(args: argparse.Namespace) -> int:
    from . import pin

    pin.main(args.kubernetes, args.etcd, args.gateway_api)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.controlplane",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="build or find the binaries; print their directory")
    serve = sub.add_parser("serve", help="run a control plane until Ctrl-C")
    serve.add_argument("--kubeconfig", required=True, help="where to write the admin kubeconfig")
    serve.add_argument("--port", type=int, default=None, help="apiserver port (default: free)")
    pin = sub.add_parser("pin", help="re-pin versions in go/*/go.mod")
    pin.add_argument("--kubernetes", help="e.g. v1.34.10")
    pin.add_argument("--etcd", help="e.g. v3.6.16")
    pin.add_argument("--gateway-api", help="e.g. v1.6.1")
    args = parser.parse_args(argv)
    return {"build": _build, "serve": _serve, "pin": _pin}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
