"""Fixtures and helpers for the controller's integration tests (``test_controller_*.py``).

Every controller started here authenticates as the ServiceAccount ``gwwatch-system/gwwatch``
bound to exactly ``deploy/base/rbac.yaml`` — never as the admin. Controllers run in-process
(an asyncio task in the test's loop) unless a test needs a process to kill; their API calls go
through :class:`RecordingKube`, which records them (for the RBAC audit) and can cut the
network or inject a conflict.

Test modules import what they use from here (the shared conftest stays the control plane's).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from gwwatch import logs as gwlogging
from gwwatch.runtime import errors
from gwwatch.runtime.app import App
from gwwatch.runtime.kube import Kr8sKube, Kube, connect
from gwwatch.settings import Settings
from tests import builders as b
from tests.controlplane import ApiError, ControlPlane
from tests.controlplane.controlplane import free_port

ROOT = Path(__file__).resolve().parents[2]
RBAC = ROOT / "deploy" / "base" / "rbac.yaml"
EXAMPLE = ROOT / "examples" / "techresolve"
GWWATCH_NS = "gwwatch-system"
SA = "gwwatch"
ME = "gwwatch.io/conflict-watcher"
GROUP = "gateway.networking.k8s.io"
V1 = f"/apis/{GROUP}/v1"
# Short Lease timings so failover tests take seconds (production: 15/10/2).
LEASE = {"lease_duration_seconds": 4.0, "renew_deadline_seconds": 3.0,
         "retry_period_seconds": 1.0}

T = TypeVar("T")


# --- polling ---------------------------------------------------------------------------------


async def eventually(check: Callable[[], Awaitable[T]], *, timeout: float = 10.0,
                     interval: float = 0.1, what: str = "condition") -> T:
    """Poll ``check`` until it returns without AssertionError; its result. No fixed sleeps:
    the timeout is a bound, not an expectation."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await check()
        except AssertionError as exc:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{what}: not reached within {timeout:.0f} s; last: {exc}") from exc
        await asyncio.sleep(interval)


# --- the admin's side (the test playing users and the Gateway implementation) ---------------


class Admin:
    """Async admin requests (``system:masters``) through the control plane's client."""

    def __init__(self, cp: ControlPlane) -> None:
        self.cp = cp

    async def request(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        return await asyncio.to_thread(self.cp.request, method, path, body)

    async def create(self, obj: Mapping[str, Any], namespace: str | None = None
                     ) -> dict[str, Any]:
        return await asyncio.to_thread(self.cp.create, obj, namespace)

    async def get(self, path: str) -> dict[str, Any] | None:
        try:
            return await self.request("GET", path)
        except ApiError as e:
            if e.status == 404:
                return None
            raise

    async def delete(self, path: str) -> None:
        with contextlib.suppress(ApiError):
            await self.request("DELETE", path)

    async def route(self, ns: str, name: str) -> dict[str, Any]:
        obj = await self.get(f"{V1}/namespaces/{ns}/httproutes/{name}")
        assert obj is not None, f"route {ns}/{name} is missing"
        return obj

    async def update_status(self, ns: str, name: str,
                            change: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]
                            ) -> dict[str, Any]:
        """Read-modify-write of a route's status.parents as a well-behaved implementation."""
        for _ in range(20):
            obj = await self.route(ns, name)
            parents = copy.deepcopy((obj.get("status") or {}).get("parents") or [])
            obj["status"] = {"parents": change(parents)}
            try:
                return await self.request(
                    "PUT", f"{V1}/namespaces/{ns}/httproutes/{name}/status", obj)
            except ApiError as e:
                if e.status != 409:
                    raise
        raise AssertionError("second writer: too many conflicts")

    async def modify(self, path: str, change: Callable[[dict[str, Any]], None]
                     ) -> dict[str, Any]:
        """Read-modify-write of a whole object, retrying conflicts."""
        for _ in range(20):
            obj = await self.request("GET", path)
            change(obj)
            try:
                return await self.request("PUT", path, obj)
            except ApiError as e:
                if e.status != 409:
                    raise
        raise AssertionError(f"{path}: too many conflicts")

    async def events(self, ns: str) -> list[dict[str, Any]]:
        out = await self.request("GET", f"/api/v1/namespaces/{ns}/events")
        return list(out.get("items") or [])


def our_entries(route: Mapping[str, Any], controller: str = ME) -> list[dict[str, Any]]:
    parents = (route.get("status") or {}).get("parents") or []
    return [p for p in parents if p.get("controllerName") == controller]


def condition(route: Mapping[str, Any], ctype: str) -> dict[str, Any] | None:
    for entry in our_entries(route):
        for c in entry.get("conditions") or []:
            if c.get("type") == ctype:
                return dict(c)
    return None


# --- objects ---------------------------------------------------------------------------------


def gateway(name: str, hostname: str = "*.example.test", from_: str = "All") -> dict[str, Any]:
    return b.gateway(name, None, listeners=[b.listener("http", hostname=hostname, from_=from_)])


def httproute(name: str, *, gw_ns: str, gw: str, hostname: str, prefix: str = "/",
              version: str = "v1") -> dict[str, Any]:
    return b.http_route(name, None, api_version=f"{b.GROUP}/{version}",
                        parents=[b.parent(gw, gw_ns)], hostnames=[hostname],
                        rules=[b.rule(b.match(prefix), backend=name, port=8080)])


@dataclass
class Hijack:
    """A Gateway in one namespace, an owner's route and a later, more specific route of
    another tenant: the incident in miniature, under fresh names."""

    gw_ns: str
    owner_ns: str
    thief_ns: str
    hostname: str
    gateway: str = "shared"
    owner: str = "app"
    thief: str = "thief"

    async def create_owner(self, admin: Admin) -> None:
        await admin.create(gateway(self.gateway), self.gw_ns)
        await admin.create(httproute(self.owner, gw_ns=self.gw_ns, gw=self.gateway,
                                     hostname=self.hostname), self.owner_ns)

    async def create_thief(self, admin: Admin, prefix: str = "/pay") -> None:
        await admin.create(httproute(self.thief, gw_ns=self.gw_ns, gw=self.gateway,
                                     hostname=self.hostname, prefix=prefix), self.thief_ns)

    async def delete_thief(self, admin: Admin) -> None:
        await admin.delete(f"{V1}/namespaces/{self.thief_ns}/httproutes/{self.thief}")

    @property
    def labels(self) -> dict[str, str]:
        return {"kind": "Hijack", "route": f"{self.thief_ns}/{self.thief}",
                "other": f"{self.owner_ns}/{self.owner}", "hostname": self.hostname}


# --- the controller's side -------------------------------------------------------------------


@dataclass
class Call:
    method: str
    path: str
    params: dict[str, str]
    status: str  # "ok" or the error class
    at: float = field(default_factory=time.monotonic)  # when the answer came


class RecordingKube:
    """A :class:`Kube` that records every call, can be partitioned from the API server (every
    call fails as connection refused, open watches are cut), and can run a hook before a
    request (to provoke a conflict)."""

    def __init__(self, inner: Kube, journal: list[Call]) -> None:
        self.inner = inner
        self.journal = journal
        self._healed = asyncio.Event()
        self._healed.set()
        self._cut = asyncio.Event()
        self.before: Callable[[str, str], Awaitable[None]] | None = None

    def partition(self) -> None:
        self._healed.clear()
        self._cut.set()

    def heal(self) -> None:
        self._cut.clear()
        self._healed.set()

    def _check(self) -> None:
        if not self._healed.is_set():
            raise errors.Transient("test partition: connection refused")

    async def request(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        params = dict(kw.get("params") or {})
        try:
            self._check()
            if self.before is not None:
                await self.before(method, path)
            out = await self.inner.request(method, path, **kw)
        except errors.ApiError as exc:
            self.journal.append(Call(method, path, params, type(exc).__name__))
            raise
        self.journal.append(Call(method, path, params, "ok"))
        return out

    @contextlib.asynccontextmanager
    async def stream(self, path: str, *, params: Mapping[str, str],
                     read_timeout: float) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        self._check()
        self.journal.append(Call("GET", path, dict(params), "ok"))
        async with self.inner.stream(path, params=params, read_timeout=read_timeout) as events:
            yield self._cuttable(events)

    async def _cuttable(self, events: AsyncIterator[dict[str, Any]]
                        ) -> AsyncIterator[dict[str, Any]]:
        it = aiter(events)
        cut = asyncio.ensure_future(self._cut.wait())
        nxt: asyncio.Future[dict[str, Any]] | None = None
        try:
            while True:
                nxt = asyncio.ensure_future(anext(it))
                done, _ = await asyncio.wait({nxt, cut}, return_when=asyncio.FIRST_COMPLETED)
                if nxt in done:
                    try:
                        item = nxt.result()
                    except StopAsyncIteration:
                        return
                    yield item
                    continue
                raise errors.Transient("test partition: connection reset")
        finally:
            cut.cancel()
            if nxt is not None and not nxt.done():
                nxt.cancel()
                # the stream's own error, if any, after cancellation is of no interest
                nxt.add_done_callback(lambda f: f.cancelled() or f.exception())


@dataclass
class Running:
    app: App
    task: asyncio.Task[None]
    kube: RecordingKube
    settings: Settings

    @property
    def port(self) -> int:
        return self.app.server.bound_port

    async def scrape(self) -> str:
        return await scrape(self.port)

    async def stop(self) -> None:
        if not self.task.done():
            self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.task


async def scrape(port: int, path: str = "/metrics") -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return data.decode().partition("\r\n\r\n")[2]


def samples(text: str, name: str, **labels: str) -> list[float]:
    """Values of ``name`` series whose labels include ``labels``."""
    from prometheus_client.parser import text_string_to_metric_families

    out = []
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                out.append(s.value)
    return out


def value(text: str, name: str, **labels: str) -> float:
    return sum(samples(text, name, **labels))


JOURNAL: list[Call] = []  # every call of every in-process controller this session


def gwwatch_service_account(cp: ControlPlane) -> Path:
    """A kubeconfig for ``gwwatch-system/gwwatch``, bound by deploy/base/rbac.yaml only (as the
    shipped Deployment runs); the namespace and RBAC are applied when missing."""
    try:
        cp.create_namespace(GWWATCH_NS)
    except ApiError as e:
        if e.status != 409:
            raise
    cp.apply_manifests([RBAC])
    return cp.service_account_kubeconfig(GWWATCH_NS, SA)


@pytest.fixture(scope="session")
def gwwatch_kubeconfig(control_plane: ControlPlane) -> Path:
    """A kubeconfig for ``gwwatch-system/gwwatch``, bound by deploy/base/rbac.yaml only."""
    return gwwatch_service_account(control_plane)


@pytest.fixture
def admin(control_plane: ControlPlane) -> Admin:
    return Admin(control_plane)


@pytest.fixture
async def start_controller(gwwatch_kubeconfig: Path
                           ) -> AsyncIterator[Callable[..., Awaitable[Running]]]:
    """Factory: ``await start_controller(**settings)`` → a running in-process controller
    (ServiceAccount credentials, metrics on a free port, short Lease timings). Stopped (and
    its Lease released) at teardown."""
    started: list[Running] = []
    gwlogging.configure(fmt="console", level=os.environ.get("GWWATCH_TEST_LOG_LEVEL", "info"))

    async def start(**overrides: Any) -> Running:
        values: dict[str, Any] = {
            "kubeconfig": str(gwwatch_kubeconfig), "metrics_bind_address": "127.0.0.1",
            "metrics_port": 0, "namespace": GWWATCH_NS, "discovery_interval_seconds": 5.0,
            "identity": f"test-{secrets.token_hex(3)}", "log_format": "console", **LEASE}
        values.update(overrides)
        settings = Settings(**values)
        inner = await connect(kubeconfig=settings.kubeconfig)
        kube = RecordingKube(inner, JOURNAL)
        app = App(settings, kube)
        task = asyncio.create_task(app.run(), name=f"gwwatch-{settings.identity}")
        running = Running(app, task, kube, settings)
        started.append(running)

        async def ready() -> None:
            assert not task.done(), task.exception() if not task.cancelled() else "cancelled"
            assert app.synced.is_set()

        await eventually(ready, timeout=30, what="controller initial sync")
        return running

    yield start
    for running in started:
        await running.stop()


@pytest.fixture
def tenants(control_plane: ControlPlane) -> Iterator[Callable[..., str]]:
    """Factory: ``tenants("billing")`` → a fresh namespace ``billing-<random>``; deleted (with
    its Gateway API objects) at teardown."""
    made: list[str] = []

    def make(prefix: str, labels: Mapping[str, str] | None = None) -> str:
        name = f"{prefix}-{secrets.token_hex(3)}"
        control_plane.create_namespace(name, labels)
        made.append(name)
        return name

    yield make
    for name in made:
        control_plane.delete_namespace(name)


@pytest.fixture
def hijack(tenants: Callable[..., str]) -> Hijack:
    suffix = secrets.token_hex(3)
    return Hijack(gw_ns=tenants("infra"), owner_ns=tenants("owner"), thief_ns=tenants("thief"),
                  hostname=f"api-{suffix}.example.test")


# --- controllers as processes (for kill -9) ---------------------------------------------------


@dataclass
class Process:
    identity: str
    port: int
    popen: subprocess.Popen[bytes]
    log: Path
    env: dict[str, str] = field(default_factory=dict)

    async def scrape(self) -> str:
        return await scrape(self.port)

    def kill(self) -> None:
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(10)

    def terminate(self, timeout: float = 20) -> int:
        self.popen.send_signal(signal.SIGTERM)
        return self.popen.wait(timeout)

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])


@pytest.fixture
def spawn_controller(gwwatch_kubeconfig: Path, tmp_path: Path
                     ) -> Iterator[Callable[..., Process]]:
    """Factory: ``spawn_controller("r1")`` → ``python -m gwwatch run`` as the ServiceAccount,
    settings through GWWATCH_* (as in a Pod). Killed at teardown if still running."""
    procs: list[Process] = []

    def spawn(identity: str, **settings: Any) -> Process:
        port = free_port()
        env = {**os.environ, "GWWATCH_KUBECONFIG": str(gwwatch_kubeconfig),
               "GWWATCH_METRICS_BIND_ADDRESS": "127.0.0.1", "GWWATCH_METRICS_PORT": str(port),
               "GWWATCH_NAMESPACE": GWWATCH_NS, "GWWATCH_IDENTITY": identity,
               "GWWATCH_LOG_FORMAT": "json", "GWWATCH_DISCOVERY_INTERVAL_SECONDS": "5"}
        for k, v in {**LEASE, **settings}.items():
            env[f"GWWATCH_{k.upper()}"] = json.dumps(v) if isinstance(v, bool) else str(v)
        log = tmp_path / f"{identity}.log"
        popen = subprocess.Popen([sys.executable, "-m", "gwwatch", "run"], env=env, cwd=ROOT,
                                 stdout=log.open("wb"), stderr=subprocess.STDOUT)
        proc = Process(identity, port, popen, log, env)
        procs.append(proc)
        return proc

    yield spawn
    for proc in procs:
        if proc.popen.poll() is None:
            proc.kill()


__all__ = [
    "EXAMPLE",
    "GWWATCH_NS",
    "LEASE",
    "ME",
    "V1",
    "Admin",
    "Call",
    "Hijack",
    "Kr8sKube",
    "Process",
    "RecordingKube",
    "Running",
    "admin",
    "condition",
    "eventually",
    "gwwatch_kubeconfig",
    "hijack",
    "our_entries",
    "samples",
    "scrape",
    "spawn_controller",
    "start_controller",
    "tenants",
    "value",
]
