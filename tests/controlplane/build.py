"""Build (or find) the control plane's binaries and the Gateway API CRDs.

Layout of a built cache directory, ``<cache root>/controlplane/<cache key>/``::

    kube-apiserver  kubectl  etcd  crds/*.yaml  versions.json

``KUBEBUILDER_ASSETS`` pointing at a directory that holds ``kube-apiserver`` and ``etcd`` (as
envtest's ``setup-envtest`` lays them out) is used instead of building them; the CRDs still
come from the pinned ``sigs.k8s.io/gateway-api`` module, or from the cache if already copied.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .versions import GO_DIR, RECIPE, Versions, cache_root, go_env, pinned_versions

BINARIES = ("kube-apiserver", "kubectl", "etcd")
MARKER = "versions.json"


class AssetsUnavailable(RuntimeError):
    """The control plane cannot be had on this machine (no Go and no KUBEBUILDER_ASSETS)."""


@dataclass(frozen=True, slots=True)
class Assets:
    """Where the binaries and the CRD manifests are."""

    kube_apiserver: Path
    etcd: Path
    kubectl: Path | None
    crd_dir: Path
    versions: Versions
    directory: Path  # what `build` prints: the cache dir (or KUBEBUILDER_ASSETS)

    @property
    def crd_files(self) -> list[Path]:
        return sorted(self.crd_dir.glob("*.yaml"))


def cache_dir(versions: Versions | None = None) -> Path:
    return cache_root() / "controlplane" / (versions or pinned_versions()).cache_key


def _is_complete(d: Path, versions: Versions) -> bool:
    try:
        meta = json.loads((d / MARKER).read_text())
    except (OSError, ValueError):
        return False
    if meta.get("recipe") != RECIPE or meta.get("cache_key") != versions.cache_key:
        return False
    if not all(os.access(d / b, os.X_OK) for b in BINARIES):
        return False
    return any((d / "crds").glob("*.yaml"))


def _kubebuilder_assets() -> Path | None:
    env = os.environ.get("KUBEBUILDER_ASSETS")
    if not env:
        return None
    d = Path(env)
    if all(os.access(d / b, os.X_OK) for b in ("kube-apiserver", "etcd")):
        return d
    raise AssetsUnavailable(f"KUBEBUILDER_ASSETS={env} holds no executable kube-apiserver and etcd")


def _apiserver_version(binary: Path) -> str:
    out = subprocess.run(
        [str(binary), "--version"], capture_output=True, text=True, check=False, timeout=30
    ).stdout
    m = re.search(r"v\d+\.\d+\.\d+\S*", out)
    return m.group(0) if m else "unknown"


def go_missing_reason() -> str | None:
    """Why Go can't build the control plane here, or None if it can."""
    go = shutil.which("go")
    if not go:
        return "no `go` on PATH"
    out = subprocess.run(
        ["go", "env", "GOVERSION"], capture_output=True, text=True, env=go_env(), check=False
    ).stdout.strip()
    need = _go_directive_max()
    m = re.fullmatch(r"go(\d+)\.(\d+)(?:\.\d+)?.*", out)
    if m and need and (int(m.group(1)), int(m.group(2))) < need:
        return f"{out} is older than go{need[0]}.{need[1]} that the pinned modules need"
    return None


def _go_directive_max() -> tuple[int, int] | None:
    best: tuple[int, int] | None = None
    for gomod in GO_DIR.glob("*/go.mod"):
        m = re.search(r"^go (\d+)\.(\d+)", gomod.read_text(), re.MULTILINE)
        if m:
            v = (int(m.group(1)), int(m.group(2)))
            best = v if best is None or v > best else best
    return best


def _unavailable_message(reason: str) -> str:
    return (
        f"test control plane unavailable: {reason} and KUBEBUILDER_ASSETS is unset "
        "(install Go >= 1.26 to build kube-apiserver/etcd from the pinned modules, "
        "or point KUBEBUILDER_ASSETS at a directory holding kube-apiserver and etcd)"
    )


@contextmanager
def _lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _ldflags(kubernetes: str) -> str:
    m = re.fullmatch(r"v(\d+)\.(\d+)\.\d+", kubernetes)
    if not m:
        raise ValueError(kubernetes)
    flags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {pkg}.gitVersion={kubernetes}",
            f"-X {pkg}.gitMajor={m.group(1)}",
            f"-X {pkg}.gitMinor={m.group(2)}",
            f"-X {pkg}.gitTreeState=clean",
        ]
    return " ".join(flags)


def _parallelism() -> str:
    # Two compile jobs keep a kube-apiserver build within ~3 GiB; more cores are welcome.
    return os.environ.get("GWWATCH_GO_BUILD_JOBS") or str(min(os.cpu_count() or 2, 4))


def _go(args: list[str], cwd: Path, log: bool = True) -> str:
    started = time.monotonic()
    if log:
        print(f"controlplane: ({cwd.name}) go {' '.join(args)}", file=sys.stderr, flush=True)
    proc = subprocess.run(
        ["go", *args], cwd=cwd, env=go_env(), stdout=subprocess.PIPE, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"go {args[0]} in {cwd} failed with exit code {proc.returncode}")
    if log:
        print(f"controlplane:   took {time.monotonic() - started:.0f} s", file=sys.stderr)
    return proc.stdout


def gateway_api_crd_source() -> Path:
    """``config/crd/standard`` of the pinned gateway-api module (downloading it if needed)."""
    out = _go(
        ["mod", "download", "-json", "sigs.k8s.io/gateway-api"], GO_DIR / "gatewayapi", log=False
    )
    info = json.loads(out)
    if "Error" in info:
        raise RuntimeError(info["Error"])
    src = Path(info["Dir"]) / "config" / "crd" / "standard"
    if not any(src.glob("*.yaml")):
        raise RuntimeError(f"no CRDs in {src}")
    return src


def _copy_crds(dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for f in sorted(gateway_api_crd_source().glob("*.yaml")):
        shutil.copyfile(f, dest / f.name)


def _build_into(tmp: Path, versions: Versions) -> None:
    common = ["build", "-p", _parallelism(), "-trimpath"]
    _go(
        [
            *common,
            "-ldflags",
            _ldflags(versions.kubernetes),
            "-o",
            str(tmp) + "/",
            "k8s.io/kubernetes/cmd/kube-apiserver",
            "k8s.io/kubernetes/cmd/kubectl",
        ],
        GO_DIR / "kube",
    )
    # etcd carries its version in go.etcd.io/etcd/api/v3/version already.
    _go([*common, "-ldflags", "-s -w", "-o", str(tmp / "etcd"), "."], GO_DIR / "etcd")
    _copy_crds(tmp / "crds")
    (tmp / MARKER).write_text(
        json.dumps(
            {
                "recipe": RECIPE,
                "cache_key": versions.cache_key,
                "kubernetes": versions.kubernetes,
                "etcd": versions.etcd,
                "gateway_api": versions.gateway_api,
            },
            indent=2,
        )
        + "\n"
    )


def ensure_built(*, versions: Versions | None = None, build: bool = True) -> Assets:
    """Return the assets, building them first if needed (and allowed).

    Raises AssetsUnavailable when there is neither KUBEBUILDER_ASSETS nor a usable Go.
    """
    versions = versions or pinned_versions()
    target = cache_dir(versions)

    if kb := _kubebuilder_assets():
        crds = target / "crds"
        if not any(crds.glob("*.yaml")):
            if reason := go_missing_reason():
                raise AssetsUnavailable(
                    f"KUBEBUILDER_ASSETS is set but the Gateway API CRDs are not cached in "
                    f"{crds} and Go is unavailable ({reason})"
                )
            with _lock(target.parent / f".{target.name}.lock"):
                _copy_crds(crds)
        kubectl = kb / "kubectl" if os.access(kb / "kubectl", os.X_OK) else None
        if kubectl is None and os.access(target / "kubectl", os.X_OK):
            kubectl = target / "kubectl"
        # Report what those binaries are, not what go/ pins.
        actual = dataclasses.replace(versions, kubernetes=_apiserver_version(kb / "kube-apiserver"))
        return Assets(kb / "kube-apiserver", kb / "etcd", kubectl, crds, actual, kb)

    if not _is_complete(target, versions):
        if reason := go_missing_reason():
            raise AssetsUnavailable(_unavailable_message(reason))
        if not build:
            raise AssetsUnavailable("not built yet: run `python -m tests.controlplane build`")
        with _lock(target.parent / f".{target.name}.lock"):
            if not _is_complete(target, versions):  # another process may have built it
                started = time.monotonic()
                print(
                    f"controlplane: building {versions.cache_key} "
                    "(cold: ~8 min and ~0.8 GB of Go modules on 2 cores)",
                    file=sys.stderr,
                    flush=True,
                )
                tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
                tmp.chmod(0o755)
                try:
                    _build_into(tmp, versions)
                    if target.exists():
                        shutil.rmtree(target)
                    tmp.rename(target)
                finally:
                    shutil.rmtree(tmp, ignore_errors=True)
                print(
                    f"controlplane: built in {time.monotonic() - started:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )

    return Assets(
        kube_apiserver=target / "kube-apiserver",
        etcd=target / "etcd",
        kubectl=target / "kubectl",
        crd_dir=target / "crds",
        versions=versions,
        directory=target,
    )
