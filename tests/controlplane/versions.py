"""Pinned versions of the test control plane.

The single source of truth is the Go modules under ``go/``: ``go/kube/go.mod`` pins
``k8s.io/kubernetes``, ``go/etcd/go.mod`` pins ``go.etcd.io/etcd/server/v3`` and
``go/gatewayapi/go.mod`` pins ``sigs.k8s.io/gateway-api``.  Python reads them from there so a
version bump is one ``python -m tests.controlplane pin --kubernetes vX`` away and the binary
cache key can never disagree with what was built.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
GO_DIR = PACKAGE_DIR / "go"

# Bump when the build recipe changes in a way that makes old cached binaries wrong.
RECIPE = 1


@dataclass(frozen=True, slots=True)
class Versions:
    kubernetes: str
    etcd: str
    gateway_api: str

    @property
    def cache_key(self) -> str:
        return f"k8s-{self.kubernetes}_etcd-{self.etcd}_gwapi-{self.gateway_api}"


def _required(gomod: Path, module: str) -> str:
    text = gomod.read_text()
    m = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", text, re.MULTILINE)
    if not m:
        raise RuntimeError(f"{gomod} does not require {module}")
    return m.group(1)


def pinned_versions() -> Versions:
    return Versions(
        kubernetes=_required(GO_DIR / "kube" / "go.mod", "k8s.io/kubernetes"),
        etcd=_required(GO_DIR / "etcd" / "go.mod", "go.etcd.io/etcd/server/v3"),
        gateway_api=_required(GO_DIR / "gatewayapi" / "go.mod", "sigs.k8s.io/gateway-api"),
    )


def cache_root() -> Path:
    """``$GWWATCH_CACHE_DIR`` or ``$XDG_CACHE_HOME/gwwatch`` or ``~/.cache/gwwatch``."""
    if env := os.environ.get("GWWATCH_CACHE_DIR"):
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "gwwatch"


def go_env() -> dict[str, str]:
    """Environment for every ``go`` command: the installed toolchain only, no cgo."""
    env = dict(os.environ)
    env["GOTOOLCHAIN"] = "local"
    env["CGO_ENABLED"] = "0"
    return env
