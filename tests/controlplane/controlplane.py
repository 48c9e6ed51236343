"""A real kube-apiserver + etcd on loopback ports, started the way envtest starts them.

Synchronous on purpose: the pytest fixtures, ``python -m tests.controlplane serve`` and any
test can drive it.  Async tests should call the ``a*`` wrappers (they run the blocking part in
a worker thread so the event loop, and a controller running on it, keep going).
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import collections
import contextlib
import ctypes
import functools
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from . import certs
from .build import Assets

_PR_SET_PDEATHSIG = 1
_CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


class _CRD(NamedTuple):
    name: str
    group: str
    version: str  # the storage version
    plural: str
    namespaced: bool


class ControlPlaneError(RuntimeError):
    """The control plane failed to start or misbehaved; the message carries the log tails."""


class ApiError(RuntimeError):
    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        self.status = status
        self.body = body
        try:
            self.reason: str = json.loads(body).get("reason", "")
        except ValueError:
            self.reason = ""
        super().__init__(f"{method} {path} -> HTTP {status}: {body[:2000]}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:  # runs in the child between fork and exec
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


class _Process:
    """One child in its own process group, output appended to a log file."""

    def __init__(self, name: str, argv: Sequence[str], log: Path) -> None:
        self.name = name
        self.argv = list(argv)
        self.log = log
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            out.write(f"\n===== {time.strftime('%H:%M:%S')} starting {self.name} =====\n".encode())
            out.flush()
            # PDEATHSIG fires when the *thread* that forked exits, so only from the main thread:
            # then a SIGKILLed pytest does not leave an apiserver behind.
            main = threading.current_thread() is threading.main_thread()
            self.popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent if main else None,
            )

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        p = self.popen
        if p is None:
            return
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM if timeout > 0 else signal.SIGKILL)
            try:
                p.wait(timeout if timeout > 0 else 5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait(5)
        self.popen = None

    def tail(self, lines: int) -> str:
        try:
            with open(self.log, "rb") as fh:
                fh.seek(0, os.SEEK_END)
                fh.seek(max(0, fh.tell() - 256 * 1024))
                data = fh.read().decode(errors="replace")
        except OSError:
            return ""
        return "\n".join(collections.deque(data.splitlines(), maxlen=lines))


class ControlPlane:
    """etcd + kube-apiserver with RBAC, the Gateway API CRDs installed, and an admin kubeconfig.

    Attributes once started: ``server`` (``https://127.0.0.1:PORT``), ``kubeconfig`` (admin,
    self-contained, namespace ``default``), ``etcd_url``, ``workdir``, ``assets``.
    """

    def __init__(
        self,
        assets: Assets,
        *,
        workdir: Path | None = None,
        apiserver_port: int | None = None,
        apiserver_flags: Iterable[str] = (),
        install_crds: bool = True,
        startup_timeout: float = 90.0,
    ) -> None:
        self.assets = assets
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="gwwatch-cp-"))
        self._fixed_port = apiserver_port
        self._extra_flags = list(apiserver_flags)
        self._install_crds = install_crds
        self.startup_timeout = startup_timeout
        self.etcd: _Process | None = None
        self.apiserver: _Process | None = None
        self.pki: certs.PKIFiles | None = None
        self.server = ""
        self.etcd_url = ""
        self.kubeconfig = self.workdir / "admin.kubeconfig"
        self.crds: list[_CRD] = []
        self.skipped_manifests: list[str] = []
        self.startup_seconds: float | None = None
        # (stopped, ready again) per apiserver restart, time.monotonic(): while it starts, an
        # apiserver answers before its RBAC caches are synced, so it may refuse with 403.
        self.restarts: list[tuple[float, float]] = []
        self._ssl: ssl.SSLContext | None = None
        self._discovery: dict[str, dict[str, tuple[str, bool]]] = {}
        self._stopped = False

    # ----------------------------------------------------------------- lifecycle

    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        started = time.monotonic()
        atexit.register(self.stop)
        self.pki = certs.generate(self.workdir / "pki")
        ctx = ssl.create_default_context(cafile=str(self.pki.ca_cert))
        ctx.load_cert_chain(str(self.pki.admin_cert), str(self.pki.admin_key))
        self._ssl = ctx
        last: Exception | None = None
        for _attempt in range(3):  # a free port can be taken between probing and binding
            try:
                self._start_etcd()
                self._start_apiserver(self._fixed_port or free_port())
                break
            except ControlPlaneError as e:
                last = e
                if "address already in use" not in str(e):
                    self.stop()
                    raise
                self._stop_processes()
                shutil.rmtree(self.workdir / "etcd", ignore_errors=True)
        else:
            self.stop()
            raise ControlPlaneError(f"could not find free ports: {last}")
        self.write_kubeconfig(self.kubeconfig)
        try:
            if self._install_crds:
                self.install_crds()
        except Exception:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started

    def stop(self) -> None:
        """Stop both processes (process groups) and remove the work dir. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self._stop_processes()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)

    def _stop_processes(self) -> None:
        for p in (self.apiserver, self.etcd):
            if p is not None:
                p.stop()

    # ----------------------------------------------------------------- etcd

    def _start_etcd(self) -> None:
        client, peer = free_port(), free_port()
        self.etcd_url = f"http://127.0.0.1:{client}"
        peer_url = f"http://127.0.0.1:{peer}"
        data = self.workdir / "etcd"
        self.etcd = _Process(
            "etcd",
            [
                str(self.assets.etcd),
                "--name=default",
                f"--data-dir={data}",
                f"--listen-client-urls={self.etcd_url}",
                f"--advertise-client-urls={self.etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=default={peer_url}",
                "--initial-cluster-state=new",
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
            self.workdir / "etcd.log",
        )
        self.etcd.start()
        self._wait(self.etcd, lambda: self._etcd_healthy(), "etcd /health")

    def _etcd_healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.etcd_url}/health", timeout=2) as r:
                return bool(json.loads(r.read()).get("health") == "true")
        except (OSError, ValueError):
            return False

    def _etcd_post(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        req = urllib.request.Request(
            f"{self.etcd_url}{path}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return dict(json.loads(r.read()))
        except urllib.error.HTTPError as e:
            raise ControlPlaneError(f"etcd {path}: HTTP {e.code}: {e.read()[:500]!r}") from e

    def etcd_revision(self) -> int:
        """etcd's current revision (what the apiserver hands out as resourceVersion)."""
        out = self._etcd_post("/v3/kv/range", {"key": base64.b64encode(b"/").decode()})
        return int(out["header"]["revision"])

    def compact_etcd(self) -> int:
        """Compact etcd's history up to its current revision; returns that revision.

        etcd then refuses reads at older revisions, but the apiserver mostly answers from its
        watch cache, which keeps its own window: after this alone, a watch from an old
        resourceVersion still replays and even ``continue`` tokens still work (1.34 serves
        paginated lists from cache snapshots).  Only an exact list at an older resourceVersion
        (``resourceVersionMatch=Exact``) gets 410.  Use :meth:`expire_resource_versions` to make
        old resourceVersions 410 for watches too.
        """
        rev = self.etcd_revision()
        self._etcd_post("/v3/kv/compaction", {"revision": str(rev), "physical": True})
        return rev

    # ----------------------------------------------------------------- apiserver

    def _apiserver_argv(self, port: int) -> list[str]:
        assert self.pki is not None
        return [
            str(self.assets.kube_apiserver),
            f"--etcd-servers={self.etcd_url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={port}",
            f"--cert-dir={self.workdir / 'apiserver-certs'}",
            f"--tls-cert-file={self.pki.serving_cert}",
            f"--tls-private-key-file={self.pki.serving_key}",
            f"--client-ca-file={self.pki.ca_cert}",
            "--authorization-mode=RBAC",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--allow-privileged=true",
            "--disable-admission-plugins=ServiceAccount",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-account-key-file={self.pki.sa_public_key}",
            f"--service-account-signing-key-file={self.pki.sa_private_key}",
            "--profiling=false",
            # Without this an open watch holds a graceful shutdown until SIGKILL (15 s here).
            "--shutdown-watch-termination-grace-period=2s",
            *self._extra_flags,
        ]

    @property
    def apiserver_port(self) -> int:
        return int(urllib.parse.urlsplit(self.server).port or 0)

    def _start_apiserver(self, port: int) -> None:
        self.server = f"https://127.0.0.1:{port}"
        self.apiserver = _Process(
            "kube-apiserver", self._apiserver_argv(port), self.workdir / "kube-apiserver.log"
        )
        self.apiserver.start()
        self._wait(self.apiserver, self._apiserver_ready, "kube-apiserver /readyz")

    def _apiserver_ready(self) -> bool:
        try:
            status, _ = self._raw("GET", "/readyz", timeout=5)
        except (OSError, ApiError):
            return False
        return status == 200

    def restart_apiserver(self, *, graceful: bool = True) -> float:
        """Stop kube-apiserver and start it again on the same port against the same etcd.

        Graceful (SIGTERM): open watches end cleanly, the response stream just stops.  Not
        graceful (SIGKILL): connections are reset mid-stream, as when a node dies.  Either way
        clients reconnect to the same URL, and the new apiserver's watch caches start at etcd's
        current revision, so a watch from any older resourceVersion gets an ERROR event with
        code 410 (``too old resource version``).  Returns the seconds it took (~3-4 s).
        """
        assert self.apiserver is not None
        started = time.monotonic()
        self.apiserver.stop(timeout=15.0 if graceful else 0.0)
        self.apiserver.start()
        self._wait(self.apiserver, self._apiserver_ready, "kube-apiserver /readyz (restart)")
        self.restarts.append((started, time.monotonic()))
        return time.monotonic() - started

    def expire_resource_versions(self) -> int:
        """Make every resourceVersion older than etcd's current revision too old: compact etcd,
        then restart the apiserver so its watch caches forget their history too.  Afterwards a
        watch from an older resourceVersion gets an ERROR event with code 410 (reason Expired)
        and a ``continue`` token or exact list at an older revision gets HTTP 410.  Returns the
        compacted revision."""
        rev = self.compact_etcd()
        self.restart_apiserver()
        return rev

    def _wait(self, proc: _Process, ready: Any, what: str) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if not proc.running:
                raise ControlPlaneError(
                    f"{proc.name} exited (code {proc.popen.returncode if proc.popen else '?'}) "
                    f"before {what} was ready; log tail:\n{proc.tail(40)}"
                )
            if ready():
                return
            time.sleep(0.2)
        raise ControlPlaneError(
            f"{what} not ready after {self.startup_timeout:.0f} s; log tail:\n{proc.tail(40)}"
        )

    # ----------------------------------------------------------------- logs

    def log_tail(self, component: str = "kube-apiserver", lines: int = 50) -> str:
        proc = {"kube-apiserver": self.apiserver, "etcd": self.etcd}[component]
        return proc.tail(lines) if proc else ""

    # ----------------------------------------------------------------- admin REST client

    def _raw(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        *,
        content_type: str = "application/json",
        timeout: float = 30,
    ) -> tuple[int, bytes]:
        req = urllib.request.Request(
            f"{self.server}{path}",
            data=body,
            method=method,
            headers={"Content-Type": content_type, "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self._ssl) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            raise ApiError(method, path, e.code, e.read().decode(errors="replace")) from e

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        """One request as the admin (``system:masters``); JSON in, JSON out. Raises ApiError."""
        data = None if body is None else json.dumps(body).encode()
        _, out = self._raw(method, path, data, content_type=content_type)
        return dict(json.loads(out)) if out else {}

    def _resource(self, api_version: str, kind: str) -> tuple[str, bool]:
        """(plural, namespaced) for a kind, from the server's discovery document."""
        if api_version not in self._discovery:
            base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
            res = self.request("GET", base)["resources"]
            self._discovery[api_version] = {
                r["kind"]: (r["name"], bool(r["namespaced"])) for r in res if "/" not in r["name"]
            }
        try:
            return self._discovery[api_version][kind]
        except KeyError:
            raise ApiError("GET", api_version, 404, f"no kind {kind} in {api_version}") from None

    def object_path(self, obj: Mapping[str, Any], namespace: str | None = None) -> str:
        """The collection URL path for an object (``/apis/g/v/namespaces/ns/plural``)."""
        api_version, kind = obj["apiVersion"], obj["kind"]
        plural, namespaced = self._resource(api_version, kind)
        base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        if namespaced:
            ns = namespace or obj.get("metadata", {}).get("namespace") or "default"
            return f"{base}/namespaces/{ns}/{plural}"
        return f"{base}/{plural}"

    def create(
        self, obj: Mapping[str, Any], namespace: str | None = None, *, exist_ok: bool = False
    ) -> dict[str, Any]:
        """POST an object (any kind the server knows). With exist_ok, 409 is not an error."""
        try:
            return self.request("POST", self.object_path(obj, namespace), obj)
        except ApiError as e:
            if exist_ok and e.status == 409:
                return dict(obj)
            raise

    def apply_manifests(self, paths: Iterable[Path], namespace: str | None = None) -> list[str]:
        """Create every document of these YAML files; returns ``kind/name`` of each."""
        done = []
        for path in paths:
            for doc in yaml.safe_load_all(path.read_text()):
                if doc:
                    self.create(doc, namespace, exist_ok=True)
                    done.append(f"{doc['kind']}/{doc['metadata']['name']}")
        return done

    # ----------------------------------------------------------------- CRDs

    def install_crds(self, timeout: float = 60.0) -> None:
        """Install the Gateway API standard-channel manifests and wait until each CRD is
        Established and its storage version answers a list."""
        crds: list[_CRD] = []
        skipped = []
        for path in self.assets.crd_files:
            for doc in yaml.safe_load_all(path.read_text()):
                if not doc:
                    continue
                try:
                    self.create(doc, exist_ok=True)
                except ApiError as e:
                    if doc["kind"] == "CustomResourceDefinition" or e.status not in (404, 400):
                        raise
                    skipped.append(f"{doc['kind']}/{doc['metadata']['name']}: {e}")
                    continue
                if doc["kind"] == "CustomResourceDefinition":
                    spec = doc["spec"]
                    storage = next(v["name"] for v in spec["versions"] if v.get("storage"))
                    crds.append(
                        _CRD(
                            doc["metadata"]["name"],
                            spec["group"],
                            storage,
                            spec["names"]["plural"],
                            spec["scope"] == "Namespaced",
                        )
                    )
        self.skipped_manifests = skipped
        deadline = time.monotonic() + timeout
        pending = list(crds)
        while pending:
            name, group, version, plural, _ = pending[0]
            crd = self.request("GET", f"{_CRD_PATH}/{name}")
            established = any(
                c["type"] == "Established" and c["status"] == "True"
                for c in crd.get("status", {}).get("conditions", [])
            )
            if established:
                try:
                    self.request("GET", f"/apis/{group}/{version}/{plural}?limit=1")
                    pending.pop(0)
                    continue
                except ApiError as e:
                    if e.status != 404:
                        raise
            if time.monotonic() > deadline:
                raise ControlPlaneError(f"CRD {name} not established after {timeout:.0f} s: {crd}")
            time.sleep(0.1)
        self.crds = crds

    # ----------------------------------------------------------------- kubeconfigs

    def _kubeconfig(self, user_name: str, user: dict[str, str], namespace: str) -> dict[str, Any]:
        assert self.pki is not None
        ca = base64.b64encode(self.pki.ca_cert.read_bytes()).decode()
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "gwwatch-test",
                    "cluster": {"server": self.server, "certificate-authority-data": ca},
                }
            ],
            "users": [{"name": user_name, "user": user}],
            "contexts": [
                {
                    "name": user_name,
                    "context": {
                        "cluster": "gwwatch-test",
                        "user": user_name,
                        "namespace": namespace,
                    },
                }
            ],
            "current-context": user_name,
        }

    def write_kubeconfig(self, path: Path) -> Path:
        """Write a self-contained admin kubeconfig (client certificate, O=system:masters)."""
        assert self.pki is not None
        cfg = self._kubeconfig(
            "admin",
            {
                "client-certificate-data": base64.b64encode(
                    self.pki.admin_cert.read_bytes()
                ).decode(),
                "client-key-data": base64.b64encode(self.pki.admin_key.read_bytes()).decode(),
            },
            "default",
        )
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        path.chmod(0o600)
        return path

    def service_account_token(
        self, namespace: str, name: str, *, create: bool = True, expiration_seconds: int = 3600
    ) -> str:
        """A token for the ServiceAccount from the TokenRequest API (creating the SA first)."""
        if create:
            self.create(
                {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name}},
                namespace,
                exist_ok=True,
            )
        out = self.request(
            "POST",
            f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
            {
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenRequest",
                "spec": {"expirationSeconds": expiration_seconds},
            },
        )
        return str(out["status"]["token"])

    def service_account_kubeconfig(
        self,
        namespace: str,
        name: str,
        *,
        create: bool = True,
        expiration_seconds: int = 3600,
        path: Path | None = None,
    ) -> Path:
        """A kubeconfig that authenticates as ``system:serviceaccount:<namespace>:<name>``.

        Its context's namespace is ``namespace``.  The SA has no permissions until the test
        binds some (RBAC is on).  Written into the work dir unless ``path`` is given.
        """
        token = self.service_account_token(
            namespace, name, create=create, expiration_seconds=expiration_seconds
        )
        cfg = self._kubeconfig(f"{namespace}-{name}", {"token": token}, namespace)
        path = Path(path or self.workdir / "kubeconfigs" / f"sa-{namespace}-{name}.kubeconfig")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        path.chmod(0o600)
        return path

    # ----------------------------------------------------------------- namespaces

    def create_namespace(
        self, name: str, labels: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": name}
        if labels:
            meta["labels"] = dict(labels)
        return self.request(
            "POST",
            "/api/v1/namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": meta},
        )

    def delete_namespace(self, name: str, *, gateway_api_objects: bool = True) -> None:
        """Delete the namespace.  No controller-manager runs, so the namespace stays
        Terminating and its content stays in etcd; with ``gateway_api_objects`` the Gateway API
        objects in it are deleted first so cluster-wide watchers stop seeing them."""
        if gateway_api_objects:
            for crd in self.crds:
                if crd.namespaced:
                    with contextlib.suppress(ApiError):
                        self.request(
                            "DELETE",
                            f"/apis/{crd.group}/{crd.version}/namespaces/{name}/{crd.plural}",
                        )
        with contextlib.suppress(ApiError):
            self.request("DELETE", f"/api/v1/namespaces/{name}")

    # ----------------------------------------------------------------- async wrappers

    async def arestart_apiserver(self, *, graceful: bool = True) -> float:
        return await asyncio.to_thread(functools.partial(self.restart_apiserver, graceful=graceful))

    async def acompact_etcd(self) -> int:
        return await asyncio.to_thread(self.compact_etcd)

    async def aexpire_resource_versions(self) -> int:
        return await asyncio.to_thread(self.expire_resource_versions)

    async def aservice_account_kubeconfig(self, namespace: str, name: str, **kw: Any) -> Path:
        return await asyncio.to_thread(self.service_account_kubeconfig, namespace, name, **kw)
