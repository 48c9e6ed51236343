"""Build (or find) the ``helm`` CLI the chart tests run.

helm is built from its own Go module (``helm.sh/helm/v4/cmd/helm``, pinned in ``go/go.mod``)
through the Go module proxy, like the test control plane's binaries, and cached by version:
``<cache root>/helm/<version>/helm`` (cache root: ``$GWWATCH_CACHE_DIR``, else
``$XDG_CACHE_HOME/gwwatch``, else ``~/.cache/gwwatch``). ``GWWATCH_HELM`` names an existing
binary instead.

    python -m tests.helm.build      # build or find; prints the binary's path (cold: ~3 min)

Without Go the tests that need helm skip with the reason, except in CI (``CI`` set), where they
fail: a CI run without helm must never look green.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.controlplane.build import go_missing_reason
from tests.controlplane.versions import cache_root, go_env
from tests.needs import in_ci, unavailable

GO_DIR = Path(__file__).resolve().parent / "go"
MODULE = "helm.sh/helm/v4"


class HelmUnavailable(RuntimeError):
    """helm cannot be had here (no GWWATCH_HELM and no usable Go)."""


def pinned_version() -> str:
    m = re.search(rf"^\s*(?:require\s+)?{re.escape(MODULE)}\s+(v\S+)",
                  (GO_DIR / "go.mod").read_text(), re.MULTILINE)
    if not m:
        raise RuntimeError(f"{GO_DIR / 'go.mod'} does not require {MODULE}")
    return m.group(1)


def cached_binary(version: str | None = None) -> Path:
    return cache_root() / "helm" / (version or pinned_version()) / "helm"


def ensure_helm() -> Path:
    """Path of a working helm binary, building it first when needed."""
    if env := os.environ.get("GWWATCH_HELM"):
        if os.access(env, os.X_OK):
            return Path(env)
        raise HelmUnavailable(f"GWWATCH_HELM={env} is not an executable")
    version = pinned_version()
    target = cached_binary(version)
    if os.access(target, os.X_OK):
        return target
    if reason := go_missing_reason():
        raise HelmUnavailable(f"helm {version} is not built and cannot be: {reason}")
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time across test processes
        if os.access(target, os.X_OK):
            return target
        started = time.monotonic()
        print(f"helm: building {MODULE} {version} from the Go module proxy", file=sys.stderr,
              flush=True)
        env = {**go_env(), "GOFLAGS": "-mod=mod"}
        tmp = Path(tempfile.mkdtemp(prefix=".helm.", dir=target.parent))
        try:
            ldflags = f"-s -w -X {MODULE}/internal/version.version={version}"
            jobs = os.environ.get("GWWATCH_GO_BUILD_JOBS") or str(min(os.cpu_count() or 2, 4))
            done = subprocess.run(
                ["go", "build", "-p", jobs, "-trimpath", "-ldflags", ldflags,
                 "-o", str(tmp / "helm"), f"{MODULE}/cmd/helm"],
                cwd=GO_DIR, env=env, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise HelmUnavailable(f"go build of helm failed:\n{done.stderr[-3000:]}")
            (tmp / "helm").rename(target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        print(f"helm: built in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return target


def require_helm() -> Path:
    """:func:`ensure_helm` for tests: without helm the test fails in CI and skips elsewhere
    (:func:`tests.needs.unavailable`)."""
    try:
        return ensure_helm()
    except (HelmUnavailable, OSError, subprocess.SubprocessError) as e:
        unavailable("helm", str(e))


if __name__ == "__main__":
    try:
        print(ensure_helm())
    except HelmUnavailable as e:
        print(e, file=sys.stderr)
        sys.exit(1 if in_ci() else 0)
