"""The admission webhook against the real API server of the test control plane.

The shipped ValidatingWebhookConfiguration (deploy/components/admission/webhook.yaml: its
rules, failurePolicy Ignore, timeout, matchPolicy) is registered as it is, except its client
config: a URL to the local port of an in-process ``gwwatch run`` (its App, as the
ServiceAccount bound by deploy/base/rbac.yaml only) with a CA bundle from the test PKI, and a
namespace selector narrowed to this module's namespaces so other tests never meet it. Users
are played by ``kubectl`` (what they see: refusals, warnings) and by admin REST calls.

Every blocking call (kubectl, the control plane's client) runs in a thread: the controller
answering the webhook runs in this event loop.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import secrets
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509

from gwwatch import logs
from gwwatch.engine import ObjectRef, Policy
from gwwatch.engine.vocabulary import FindingKind, Severity
from gwwatch.runtime.app import App
from gwwatch.runtime.kube import connect
from gwwatch.settings import Settings
from tests.controlplane import ApiError, ControlPlane, certs
from tests.controlplane.controlplane import free_port
from tests.integration.controller_fixtures import (
    EXAMPLE,
    GWWATCH_NS,
    JOURNAL,
    LEASE,
    V1,
    RecordingKube,
    eventually,
    samples,
    scrape,
)
from tests.needs import unavailable
from tests.unit.builders import scan

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "deploy" / "components" / "admission" / "webhook.yaml"
WEBHOOKS = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations"
SELECT = "gwwatch.io/admission-test"
DENIED = "denied the request"


# --- the webhook registration (one per module) ---------------------------------------------


@dataclass
class Webhook:
    """The shipped configuration registered by URL, and the serving certificate's files."""

    cp: ControlPlane
    name: str
    port: int
    directory: Path
    token: str
    files: certs.ServingFiles

    @property
    def labels(self) -> dict[str, str]:
        return {SELECT: self.token}

    def document(self) -> dict[str, Any]:
        doc = yaml.safe_load(SHIPPED.read_text())
        doc["metadata"] = {"name": self.name}
        (hook,) = doc["webhooks"]
        hook["clientConfig"] = {
            "url": f"https://127.0.0.1:{self.port}/validate",
            "caBundle": base64.b64encode(self.files.ca_bundle).decode()}
        hook["namespaceSelector"].setdefault("matchLabels", {})[SELECT] = self.token
        return dict(doc)

    def register(self) -> None:
        self.cp.create(self.document())

    def trust(self, files: certs.ServingFiles) -> None:
        """Point the registration's caBundle at ``files``' CA (only)."""
        self.files = files
        current = self.cp.request("GET", f"{WEBHOOKS}/{self.name}")
        current["webhooks"][0]["clientConfig"] = self.document()["webhooks"][0]["clientConfig"]
        self.cp.request("PUT", f"{WEBHOOKS}/{self.name}", current)


@pytest.fixture(scope="module")
def webhook(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[Webhook]:
    directory = tmp_path_factory.mktemp("webhook-pki")
    token = secrets.token_hex(4)
    hook = Webhook(control_plane, f"gwwatch-admission-test-{token}", free_port(), directory,
                   token, certs.serving(directory))
    hook.register()
    yield hook
    with contextlib.suppress(ApiError):
        control_plane.request("DELETE", f"{WEBHOOKS}/{hook.name}")


# --- gwwatch run, in process, with a watch we can hold -------------------------------------


class HoldingKube(RecordingKube):
    """Records like the other tests' controllers, and can hold back HTTPRoute watch events
    (a slow watch): while held, what the API server stores does not reach the graph."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner, JOURNAL)
        self.flowing = asyncio.Event()
        self.flowing.set()

    @contextlib.asynccontextmanager
    async def stream(self, path: str, *, params: Mapping[str, str],
                     read_timeout: float) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        async with super().stream(path, params=params, read_timeout=read_timeout) as events:
            yield self._held(events) if path.endswith("/httproutes") else events

    async def _held(self, events: AsyncIterator[dict[str, Any]]
                    ) -> AsyncIterator[dict[str, Any]]:
        async for event in events:
            await self.flowing.wait()
            yield event


@dataclass
class Replica:
    app: App
    kube: HoldingKube
    task: asyncio.Task[None] = field(repr=False)

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.task

    def findings(self, route: ObjectRef) -> list[Any]:
        return list(self.app.worker.findings_of(route))  # as published after each batch

    async def has(self, route: ObjectRef) -> bool:
        """Whether the graph holds ``route`` (asked in the graph's thread)."""
        return await self.app.worker.run_exclusive(lambda g: g.route(route) is not None)


@pytest.fixture
async def gwwatch_run(gwwatch_kubeconfig: Path, webhook: Webhook
                      ) -> AsyncIterator[Callable[..., Awaitable[Replica]]]:
    """Factory: a synced in-process ``gwwatch run`` serving the webhook on the module's port."""
    started: list[Replica] = []
    logs.configure(fmt="console", level="info")

    async def start(**overrides: Any) -> Replica:
        values: dict[str, Any] = {
            "kubeconfig": str(gwwatch_kubeconfig), "metrics_bind_address": "127.0.0.1",
            "metrics_port": 0, "namespace": GWWATCH_NS, "discovery_interval_seconds": 5.0,
            "identity": f"admission-{secrets.token_hex(3)}", "log_format": "console",
            "webhook_port": webhook.port, "webhook_bind_address": "127.0.0.1",
            "webhook_cert_file": webhook.directory / "webhook.crt",
            "webhook_key_file": webhook.directory / "webhook.key", **LEASE}
        values.update(overrides)
        settings = Settings(**values)
        kube = HoldingKube(await connect(kubeconfig=settings.kubeconfig))
        app = App(settings, kube)
        replica = Replica(app, kube, asyncio.create_task(app.run()))
        started.append(replica)

        async def ready() -> None:
            assert not replica.task.done(), "gwwatch run ended"
            assert app.synced.is_set()
            assert app.webhook is not None and app.webhook.listening.is_set()

        await eventually(ready, timeout=30, what="gwwatch synced and the webhook listening")
        return replica

    yield start
    for replica in started:
        await replica.stop()


# --- users -------------------------------------------------------------------------------


Kubectl = Callable[..., Awaitable[subprocess.CompletedProcess[str]]]


@pytest.fixture
def kubectl(control_plane: ControlPlane) -> Kubectl:
    binary = control_plane.assets.kubectl
    if binary is None:
        unavailable("kubectl", f"none beside the control plane in {control_plane.assets.directory}")

    async def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(
            subprocess.run, [str(binary), f"--kubeconfig={control_plane.kubeconfig}", *args],
            input=stdin, capture_output=True, text=True, timeout=60)

    return run


async def apply(kubectl: Kubectl, *docs: Mapping[str, Any], dry_run: bool = False
                ) -> subprocess.CompletedProcess[str]:
    args = ["apply", "-f", "-"] + (["--dry-run=server"] if dry_run else [])
    return await kubectl(*args, stdin=yaml.safe_dump_all([dict(d) for d in docs]))


def gwwatch_warnings(proc: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in proc.stderr.splitlines() if line.startswith("Warning: gwwatch:")]


# --- the techresolve incident, under fresh names -----------------------------------------------


@dataclass
class Techresolve:
    """examples/techresolve with this test's namespaces and hostname."""

    gw_ns: str
    billing: str
    staging: str
    partner: str  # a third tenant (billing may share with it)
    hostname: str

    def doc(self, file: str) -> dict[str, Any]:
        text = (EXAMPLE / file).read_text()
        for old, new in (("infra-gateways", self.gw_ns), ("prod-billing", self.billing),
                         ("staging-analytics", self.staging),
                         ("api.techresolve.com", self.hostname)):
            text = text.replace(old, new)
        (doc,) = [d for d in yaml.safe_load_all(text) if d]
        doc["metadata"].pop("creationTimestamp", None)
        return dict(doc)

    @property
    def gateway(self) -> dict[str, Any]:
        return self.doc("10-gateway.yaml")

    @property
    def owner_route(self) -> dict[str, Any]:
        return self.doc("20-billing-route.yaml")

    @property
    def offender(self) -> dict[str, Any]:
        return self.doc("30-metrics-dashboard-route.yaml")

    @property
    def owner_ref(self) -> ObjectRef:
        return ObjectRef("HTTPRoute", self.billing, "billing-api")

    @property
    def offender_ref(self) -> ObjectRef:
        return ObjectRef("HTTPRoute", self.staging, "metrics-dashboard")

    def route(self, name: str, namespace: str, path: str) -> dict[str, Any]:
        doc = copy.deepcopy(self.offender)
        doc["metadata"] = {"name": name, "namespace": namespace}
        doc["spec"]["rules"][0]["matches"][0]["path"]["value"] = path
        return doc

    def expected_refusal(self) -> str:
        """The Hijack's own message, as the engine words it offline for the same objects."""
        def ns(name: str) -> dict[str, Any]:
            return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        graph = scan(ns(self.gw_ns), ns(self.billing), ns(self.staging), self.gateway,
                     self.owner_route, self.offender, policy=Policy())
        (hijack,) = [f for f in graph.findings() if f.kind == FindingKind.HIJACK]
        assert hijack.severity == Severity.CRITICAL
        return hijack.message


@pytest.fixture
def techresolve(control_plane: ControlPlane, webhook: Webhook) -> Iterator[Techresolve]:
    made: list[str] = []

    def make(prefix: str) -> str:
        name = f"{prefix}-{secrets.token_hex(3)}"
        control_plane.create_namespace(name, webhook.labels)
        made.append(name)
        return name

    yield Techresolve(make("infra"), make("billing"), make("staging"), make("partner"),
                      f"api-{secrets.token_hex(3)}.techresolve.com")
    for name in made:
        control_plane.delete_namespace(name)


async def until_denied(kubectl: Kubectl, doc: Mapping[str, Any], *, timeout: float = 30
                       ) -> subprocess.CompletedProcess[str]:
    """Dry-run ``doc`` until gwwatch refuses it (the API server picks up a registration or a
    caBundle change asynchronously; until then it fails open)."""
    async def denied() -> subprocess.CompletedProcess[str]:
        proc = await apply(kubectl, doc, dry_run=True)
        assert proc.returncode != 0 and DENIED in proc.stderr, proc.stdout + proc.stderr
        return proc

    return await eventually(denied, timeout=timeout, interval=0.3, what="webhook refusing")


async def until_consulted(kubectl: Kubectl, replica: Replica, doc: Mapping[str, Any]) -> None:
    """Apply ``doc`` until the API server asked this replica about it (a registration reaches
    the API server's webhook cache asynchronously)."""
    kind = str(doc["kind"])

    async def asked() -> None:
        before = await answered(replica, kind)
        assert (await apply(kubectl, doc)).returncode == 0
        assert await answered(replica, kind) > before

    await eventually(asked, timeout=30, interval=0.3, what=f"the webhook asked about a {kind}")


async def answered(replica: Replica, kind: str) -> float:
    text = await scrape(replica.app.server.bound_port)
    return sum(samples(text, "gwwatch_admission_requests_total", kind=kind))


# --- the tests -------------------------------------------------------------------------------


async def test_the_offender_is_refused_with_the_findings_message(
        gwwatch_run: Callable[..., Awaitable[Replica]], kubectl: Kubectl,
        techresolve: Techresolve, admin_get: Callable[[str], Awaitable[Any]]) -> None:
    """kubectl apply of the staging route is refused with the Hijack's own message and how
    to proceed; --dry-run=server gets the same answer; the billing team's own later update
    goes through; nothing of the offender is stored."""
    t = techresolve
    await gwwatch_run()
    assert (await apply(kubectl, t.gateway, t.owner_route)).returncode == 0
    message = t.expected_refusal()

    dry = await until_denied(kubectl, t.offender)
    proc = await apply(kubectl, t.offender)
    assert proc.returncode == 1, proc.stdout
    assert "Error from server (Forbidden)" in proc.stderr and DENIED in proc.stderr
    assert message in proc.stderr
    assert "gwwatch.io/shared-with" in proc.stderr and f'"{t.staging}"' in proc.stderr
    assert message in dry.stderr  # the dry run met the same check
    assert await admin_get(f"{V1}/namespaces/{t.staging}/httproutes/metrics-dashboard") is None

    updated = t.owner_route
    updated["spec"]["rules"][0]["matches"].append({"path": {"type": "PathPrefix",
                                                            "value": "/v2"}})
    proc = await apply(kubectl, updated)
    assert proc.returncode == 0, proc.stderr
    assert not gwwatch_warnings(proc)


async def test_sharing_warnings_and_dry_run(
        gwwatch_run: Callable[..., Awaitable[Replica]], kubectl: Kubectl,
        techresolve: Techresolve, control_plane: ControlPlane,
        admin_get: Callable[[str], Awaitable[Any]]) -> None:
    """On a hostname billing serves under /billing: a disjoint route of a tenant billing
    shares with goes through silently; one of a tenant it does not share with goes through
    with kubectl printing gwwatch's SharedHostname warning; a server-side dry run answers
    the same and stores nothing."""
    t = techresolve
    await asyncio.to_thread(control_plane.request, "PATCH", f"/api/v1/namespaces/{t.billing}",
                            {"metadata": {"annotations": {"gwwatch.io/shared-with": t.partner}}},
                            content_type="application/merge-patch+json")
    replica = await gwwatch_run()
    owner = t.route("billing-api", t.billing, "/billing")
    assert (await apply(kubectl, t.gateway, owner)).returncode == 0
    await until_denied(kubectl, t.route("grab", t.staging, "/billing/pay"))

    partner = t.route("partner", t.partner, "/partner")  # the opted-in tenant
    proc = await apply(kubectl, partner)
    assert proc.returncode == 0, proc.stderr
    assert not gwwatch_warnings(proc)

    reports = t.route("reports", t.staging, "/reports")
    dry = await apply(kubectl, reports, dry_run=True)
    assert dry.returncode == 0, dry.stderr
    assert await admin_get(f"{V1}/namespaces/{t.staging}/httproutes/reports") is None
    assert not await replica.has(ObjectRef("HTTPRoute", t.staging, "reports"))
    proc = await apply(kubectl, reports)
    assert proc.returncode == 0, proc.stderr
    (warning,) = gwwatch_warnings(proc)
    assert "warning SharedHostname" in warning and f"{t.staging}/reports" in warning
    assert gwwatch_warnings(dry) == [warning]


async def test_with_gwwatch_down_ignore_admits_and_gwwatch_reports_it_once_back(
        gwwatch_run: Callable[..., Awaitable[Replica]], kubectl: Kubectl,
        techresolve: Techresolve) -> None:
    """failurePolicy Ignore: while no replica answers, the offender goes in; the replica
    that comes back reports the Hijack, and the billing team's update is not refused for it."""
    t = techresolve
    first = await gwwatch_run()
    assert (await apply(kubectl, t.gateway, t.owner_route)).returncode == 0
    await until_denied(kubectl, t.offender)
    await first.stop()

    proc = await apply(kubectl, t.offender)
    assert proc.returncode == 0, proc.stderr  # connection refused → Ignore → admitted

    back = await gwwatch_run()

    async def reported() -> None:
        found = [f for f in back.findings(t.offender_ref) if f.kind == FindingKind.HIJACK]
        assert found and found[0].severity == Severity.CRITICAL and found[0].other == t.owner_ref
        text = await scrape(back.app.server.bound_port)
        assert samples(text, "gwwatch_finding_info", kind="Hijack",
                       route=str(t.offender_ref)) == [1.0]

    await eventually(reported, timeout=30, what="the admitted hijack reported")
    updated = t.owner_route
    updated["spec"]["rules"][0]["backendRefs"][0]["port"] = 8081
    proc = await apply(kubectl, updated)
    assert proc.returncode == 0, proc.stderr  # the victim's update, despite the hijack


async def test_a_rotated_certificate_serves_the_next_request(
        gwwatch_run: Callable[..., Awaitable[Replica]], kubectl: Kubectl,
        techresolve: Techresolve, webhook: Webhook) -> None:
    """New key and certificate from a new CA written over the files: the next TLS handshake
    gets them without a restart, and once the registration trusts only the new CA, refusals
    still come (the API server's new connection verified the new certificate)."""
    t = techresolve
    replica = await gwwatch_run()
    assert (await apply(kubectl, t.gateway, t.owner_route)).returncode == 0
    await until_denied(kubectl, t.offender)
    loaded = replica.app.webhook.certs.generation if replica.app.webhook else 0

    rotated = await asyncio.to_thread(certs.serving, webhook.directory, name="webhook",
                                      ca=f"rotated-{secrets.token_hex(2)}")
    served = await asyncio.to_thread(served_certificate, webhook.port, rotated.ca_cert)
    assert served == x509.load_pem_x509_certificate(rotated.cert.read_bytes())
    assert replica.app.webhook is not None and replica.app.webhook.certs.generation > loaded

    await asyncio.to_thread(webhook.trust, rotated)
    proc = await until_denied(kubectl, t.offender)
    assert t.expected_refusal() in proc.stderr


def served_certificate(port: int, ca: Path) -> x509.Certificate:
    """The certificate a TLS client trusting only ``ca`` is served (no SNI: an IP address)."""
    import socket

    ctx = ssl.create_default_context(cafile=str(ca))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock, \
            ctx.wrap_socket(sock, server_hostname="127.0.0.1") as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


async def test_a_listener_set_taking_the_owners_requests_is_refused(
        gwwatch_run: Callable[..., Awaitable[Replica]], kubectl: Kubectl,
        techresolve: Techresolve) -> None:
    """A route waits on a ListenerSet that does not exist yet (admitted: it attaches to
    nothing); the ListenerSet whose listener is more specific than the Gateway's for billing's
    hostname would hand it billing's requests: refused."""
    t = techresolve
    await gwwatch_run()
    gateway = t.gateway
    gateway["spec"]["allowedListeners"] = {"namespaces": {"from": "All"}}
    assert (await apply(kubectl, gateway, t.owner_route)).returncode == 0
    await until_denied(kubectl, t.offender)
    waiting = t.route("takeover", t.staging, "/")
    waiting["spec"]["parentRefs"] = [{"group": "gateway.networking.k8s.io",
                                      "kind": "ListenerSet", "name": "takeover"}]
    proc = await apply(kubectl, waiting)
    assert proc.returncode == 0, proc.stderr
    listener_set = {
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "ListenerSet",
        "metadata": {"name": "takeover", "namespace": t.staging},
        "spec": {"parentRef": {"name": gateway["metadata"]["name"], "namespace": t.gw_ns},
                 "listeners": [{"name": "exact", "protocol": "HTTPS", "port": 443,
                                "hostname": t.hostname,
                                "tls": gateway["spec"]["listeners"][0]["tls"]}]}}
    proc = await apply(kubectl, listener_set)
    assert proc.returncode == 1, proc.stdout
    assert DENIED in proc.stderr
    assert f"ListenerSet {t.staging}/takeover" in proc.stderr
    assert f"HTTPRoute {t.staging}/takeover" in proc.stderr and t.hostname in proc.stderr


async def test_two_quick_conflicting_creates_on_one_replica(
        gwwatch_run: Callable[..., Awaitable[Replica]], techresolve: Techresolve,
        control_plane: ControlPlane, kubectl: Kubectl) -> None:
    """The owner's route is admitted, and while the watch has not delivered it yet (held
    here), the offender's create comes: refused, because admitted objects count until seen."""
    t = techresolve
    replica = await gwwatch_run()
    await until_consulted(kubectl, replica, t.gateway)
    replica.kube.flowing.clear()
    try:
        await asyncio.to_thread(control_plane.create, t.owner_route)
        assert not await replica.has(t.owner_ref)  # stored, not seen
        with pytest.raises(ApiError) as refused:
            await asyncio.to_thread(control_plane.create, t.offender)
        assert refused.value.status == 403 and DENIED in refused.value.body
        assert not await replica.has(t.owner_ref)
    finally:
        replica.kube.flowing.set()
    await eventually(lambda: _true(replica.has(t.owner_ref)), timeout=30,
                     what="the owner's route seen")


async def test_without_the_pending_window_the_second_create_slips_through(
        gwwatch_run: Callable[..., Awaitable[Replica]], techresolve: Techresolve,
        control_plane: ControlPlane, kubectl: Kubectl) -> None:
    """The same two creates with GWWATCH_WEBHOOK_PENDING_SECONDS=0: the replica decides on
    its graph alone, and a watch that lags lets the offender in (detection reports it)."""
    t = techresolve
    replica = await gwwatch_run(webhook_pending_seconds=0)
    await until_consulted(kubectl, replica, t.gateway)
    replica.kube.flowing.clear()
    try:
        await asyncio.to_thread(control_plane.create, t.owner_route)
        await asyncio.to_thread(control_plane.create, t.offender)  # admitted
    finally:
        replica.kube.flowing.set()

    async def reported() -> None:
        assert any(f.kind == FindingKind.HIJACK for f in replica.findings(t.offender_ref))

    await eventually(reported, timeout=30, what="the hijack that slipped through reported")


async def _true(value: Awaitable[bool]) -> None:
    assert await value


@pytest.fixture
def admin_get(control_plane: ControlPlane) -> Callable[[str], Awaitable[Any]]:
    async def get(path: str) -> dict[str, Any] | None:
        try:
            return await asyncio.to_thread(control_plane.request, "GET", path)
        except ApiError as e:
            if e.status == 404:
                return None
            raise

    return get
