"""The webhook's runtime (gwwatch.runtime.admission) with a real graph and a real TLS server.

In scope: AdmissionReview in → response out (uid, refusal status, warnings, metrics), the
unsynced answer, malformed requests, dry runs and the pending overlay (what joins it, when it
leaves), and the HTTPS server on loopback: keep-alive, errors, certificate files read again
when they change. The API server's side is in tests/integration/test_admission.py.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from gwwatch.engine import ConflictGraph, ObjectRef, parse
from gwwatch.engine.admission import related
from gwwatch.metrics import Metrics
from gwwatch.runtime.admission import (
    BadReview,
    CertificateFiles,
    Pending,
    Reviewer,
    WebhookServer,
    inline,
)
from tests.builders import (
    Obj,
    gateway,
    http_route,
    listener,
    listener_set,
    match,
    namespace,
    parent,
    ts,
)
from tests.controlplane import certs
from tests.unit.builders import scan

HOST = "api.example.com"
OWNER = ObjectRef("HTTPRoute", "billing", "billing-api")
THIEF = ObjectRef("HTTPRoute", "analytics", "dashboard")


def owner_route() -> Obj:
    return http_route(OWNER.name, OWNER.namespace, hostnames=[HOST], matches=[match("/")],
                      created=ts(1))


def thief_route(host: str = HOST, name: str = THIEF.name) -> Obj:
    return http_route(name, THIEF.namespace, hostnames=[host],
                      matches=[match("/v1/charge")], created=ts(100))


def base_objects() -> list[Obj]:
    return [namespace("infra"), namespace(OWNER.namespace), namespace(THIEF.namespace),
            gateway(listeners=[listener("https", port=443, protocol="HTTPS",
                                        hostname="*.example.com")])]


def review(obj: Obj, *, operation: str = "CREATE", dry_run: bool = False,
           uid: str = "u-1", old: Obj | None = None) -> dict[str, Any]:
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": uid, "kind": {"group": "gateway.networking.k8s.io",
                                             "version": "v1", "kind": obj["kind"]},
                        "namespace": obj["metadata"].get("namespace"),
                        "name": obj["metadata"]["name"], "operation": operation,
                        "dryRun": dry_run, "object": None if operation == "DELETE" else obj,
                        "oldObject": old}}


class Cache:
    """The watch cache as the pending overlay reads it."""

    def __init__(self) -> None:
        self.objects: dict[ObjectRef, dict[str, Any]] = {}

    def put(self, obj: Obj, version: str = "1") -> None:
        meta = obj["metadata"]
        self.objects[ObjectRef(obj["kind"], meta["namespace"], meta["name"])] = {
            **obj, "metadata": {**meta, "resourceVersion": version}}

    def get(self, ref: ObjectRef) -> dict[str, Any] | None:
        return self.objects.get(ref)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def reviewer(graph: ConflictGraph, *, synced: bool = True, cache: Cache | None = None,
             settled: Callable[[], bool] = lambda: True, clock: Clock | None = None,
             metrics: Metrics | None = None, mode: str = "deny") -> Reviewer:
    cache = cache or Cache()
    return Reviewer(exclusive=inline(graph), synced=lambda: synced,
                    pending=Pending(10.0, cache.get, settled=settled, clock=clock or Clock()),
                    mode=mode, identity="r1", observer=metrics)


def requests(metrics: Metrics, **labels: str) -> float:
    value = metrics.registry.get_sample_value("gwwatch_admission_requests_total", labels)
    return value or 0.0


class TestReviewer:
    async def test_a_hijack_is_refused_with_403_and_counted(self) -> None:
        metrics = Metrics()
        metrics.enable_admission()
        graph = scan(*base_objects(), owner_route())
        answer = await reviewer(graph, metrics=metrics).review(review(thief_route(), uid="abc"))
        assert answer["apiVersion"] == "admission.k8s.io/v1"
        assert answer["kind"] == "AdmissionReview"
        response = answer["response"]
        assert response["uid"] == "abc" and response["allowed"] is False
        assert response["status"]["code"] == 403
        assert "takes api.example.com PathPrefix /v1/charge" in response["status"]["message"]
        assert requests(metrics, kind="HTTPRoute", operation="CREATE", decision="denied") == 1
        assert metrics.registry.get_sample_value("gwwatch_admission_duration_seconds_count") == 1

    async def test_an_unsynced_replica_admits_with_a_warning(self) -> None:
        graph = scan(*base_objects(), owner_route())
        response = (await reviewer(graph, synced=False).review(review(thief_route())))["response"]
        assert response["allowed"] is True
        (warning,) = response["warnings"]
        assert "replica r1 has not finished its initial sync" in warning

    async def test_delete_is_admitted_without_touching_the_graph(self) -> None:
        graph = scan(*base_objects(), owner_route(), thief_route())
        before = graph.findings()
        response = await reviewer(graph).review(review(thief_route(), operation="DELETE"))
        assert response["response"] == {"uid": "u-1", "allowed": True}
        assert graph.findings() == before

    @pytest.mark.parametrize("doc", [
        pytest.param({"kind": "Pod"}, id="not-a-review"),
        pytest.param({**review(thief_route()), "apiVersion": "admission.k8s.io/v1beta1"},
                     id="v1beta1"),
        pytest.param({**review(thief_route()), "request": {"operation": "CREATE"}}, id="no-uid"),
        pytest.param(review(thief_route(), operation="PATCH"), id="unknown-operation"),
    ])
    async def test_what_is_no_admission_review_is_refused_as_such(
            self, doc: dict[str, Any]) -> None:
        with pytest.raises(BadReview):
            await reviewer(scan(*base_objects())).review(doc)

    async def test_an_unreadable_object_is_admitted_unchecked(self) -> None:
        bad = thief_route()
        bad["spec"]["hostnames"] = ["not a hostname!"]
        response = (await reviewer(scan(*base_objects())).review(review(bad)))["response"]
        assert response["allowed"] is True
        assert response["warnings"][0].startswith("gwwatch: cannot analyse this HTTPRoute")


class TestBoundedCost:
    """A decision analyses at most ``max_hostnames`` claimed hostnames, decided before paying."""

    def busy_domain(self, n: int) -> list[Obj]:
        return [http_route(f"svc-{i}", f"team-{i}", hostnames=[f"svc-{i}.example.com"],
                           matches=[match("/")], created=ts(1)) for i in range(n)]

    async def test_a_broad_wildcard_does_not_buy_the_exact_hostname_a_pass(self) -> None:
        graph = scan(*base_objects(), owner_route(), *self.busy_domain(10))
        thief = thief_route()
        thief["spec"]["hostnames"] = [HOST, "*.example.com"]  # reaches all 11 hostnames
        r = reviewer(graph)
        r.max_hostnames = 5
        response = (await r.review(review(thief)))["response"]
        assert response["allowed"] is False  # api.example.com was still checked
        assert "takes api.example.com PathPrefix /v1/charge" in response["status"]["message"]
        (note,) = response["warnings"]
        assert note.startswith("gwwatch: not checked for *.example.com")

    async def test_a_change_too_broad_to_check_is_admitted_saying_so(self) -> None:
        graph = scan(*base_objects(), owner_route(), *self.busy_domain(10))
        wild = thief_route(host="*.example.com")
        r = reviewer(graph)
        r.max_hostnames = 5
        response = (await r.review(review(wild)))["response"]
        assert response["allowed"] is True
        (warning,) = response["warnings"]
        assert "reaches 11 hostnames gwwatch holds (more than the 5" in warning
        r.max_hostnames = 11  # now affordable: checked (no hijack: admitted silently)
        assert (await r.review(review(wild, dry_run=True)))["response"] == {
            "uid": "u-1", "allowed": True}

    async def test_adding_an_exact_hostname_to_a_broad_route_buys_it_no_pass(self) -> None:
        """The stored version covers the busy domain (too broad to replace in a what-if): the
        new version is checked beside it, and its hijack is refused under its own name."""
        broad = thief_route(host="*.example.com")
        graph = scan(*base_objects(), owner_route(), *self.busy_domain(10), broad)
        r = reviewer(graph)
        r.max_hostnames = 6
        updated = thief_route()
        updated["spec"]["hostnames"] = ["*.example.com", HOST]
        response = (await r.review(review(updated, operation="UPDATE", old=broad)))["response"]
        assert response["allowed"] is False
        message = response["status"]["message"]
        assert "HTTPRoute analytics/dashboard (tenant analytics) takes api.example.com" in message
        assert "~" not in message
        assert len(r.pending) == 0

    async def test_a_broad_listener_does_not_buy_a_takeover_listener_a_pass(self) -> None:
        """A ListenerSet whose exact listener would take the owner's requests, plus a wildcard
        listener over the busy domain: the wildcard is left out, the takeover refused."""
        objects = base_objects()
        objects[-1] = gateway(listeners=[listener("https", port=443, protocol="HTTPS",
                                                  hostname="*.example.com")],
                              allowed_listeners={"from": "All"})
        waiting = http_route("takeover", THIEF.namespace, hostnames=[HOST],
                             matches=[match("/")], created=ts(100),
                             parents=[parent("grab", THIEF.namespace, kind="ListenerSet")])
        graph = scan(*objects, owner_route(), waiting, *self.busy_domain(10))
        grab = listener_set("grab", THIEF.namespace, listeners=[
            listener("exact", port=443, protocol="HTTPS", hostname=HOST),
            listener("broad", port=8443, protocol="HTTPS", hostname="*.example.com")])
        r = reviewer(graph)
        r.max_hostnames = 5
        response = (await r.review(review(grab)))["response"]
        assert response["allowed"] is False
        assert "ListenerSet analytics/grab" in response["status"]["message"]
        assert response["warnings"][-1].startswith(
            "gwwatch: not checked for listener broad (*.example.com)")

    async def test_pending_objects_cannot_make_the_check_unaffordable(self) -> None:
        """Admitted objects waiting for the watch join the what-if within half the budget, so
        piling them up cannot get a hijack waved through unchecked."""
        billing = [http_route(f"svc-{i}", OWNER.namespace, hostnames=[f"svc-{i}.example.com"],
                              matches=[match("/")], created=ts(1)) for i in range(6)]
        graph = scan(*base_objects(), owner_route(), *billing)
        r = reviewer(graph, settled=lambda: False)
        r.max_hostnames = 6
        for k in range(3):  # the owner's own namespace: admitted, pending
            mine = http_route(f"more-{k}", OWNER.namespace, matches=[match(f"/more{k}")],
                              hostnames=[HOST, f"svc-{k}.example.com",
                                         f"svc-{k + 3}.example.com"], created=ts(50))
            assert (await r.review(review(mine)))["response"]["allowed"] is True
        assert len(r.pending) == 3  # 9 claimed hostnames between them
        response = (await r.review(review(thief_route(), dry_run=True)))["response"]
        assert response["allowed"] is False

    async def test_a_busy_graph_thread_answers_not_checked_in_time(self) -> None:
        graph = scan(*base_objects(), owner_route())

        async def slow(fn: Callable[[ConflictGraph], Any]) -> Any:
            await asyncio.sleep(5)
            return fn(graph)

        r = Reviewer(exclusive=slow, synced=lambda: True, pending=Pending(10, Cache().get),
                     wait=0.05, identity="r1")
        response = (await r.review(review(thief_route())))["response"]
        assert response["allowed"] is True
        assert "replica r1 is busy analysing" in response["warnings"][0]


class TestPendingOverlay:
    async def test_an_admitted_route_counts_until_the_watch_delivers_it(self) -> None:
        """Owner admitted (not in the graph yet) → the thief is refused; once the cache
        holds the owner and the worker is settled, the entry goes (the graph decides)."""
        graph = scan(*base_objects())
        cache = Cache()
        settled = [False]
        r = reviewer(graph, cache=cache, settled=lambda: settled[0])
        assert (await r.review(review(owner_route())))["response"]["allowed"] is True
        assert len(r.pending) == 1
        assert (await r.review(review(thief_route(), dry_run=True)))["response"]["allowed"] is False
        cache.put(owner_route())
        await r.review(review(thief_route(host="other.example.com"), dry_run=True))
        assert len(r.pending) == 1  # delivered, but the worker has not caught up
        settled[0] = True
        await r.review(review(thief_route(host="other.example.com"), dry_run=True))
        assert len(r.pending) == 0

    async def test_dry_runs_and_refusals_do_not_join_the_overlay(self) -> None:
        graph = scan(*base_objects(), owner_route())
        r = reviewer(graph)
        await r.review(review(thief_route(host="mine.example.com"), dry_run=True))
        await r.review(review(thief_route()))
        assert len(r.pending) == 0

    async def test_an_entry_expires(self) -> None:
        graph = scan(*base_objects())
        clock = Clock()
        r = reviewer(graph, clock=clock, settled=lambda: False)
        await r.review(review(owner_route()))
        clock.now += 9.9
        assert (await r.review(review(thief_route(), dry_run=True)))["response"]["allowed"] is False
        clock.now += 0.2
        assert (await r.review(review(thief_route(), dry_run=True)))["response"]["allowed"] is True
        assert len(r.pending) == 0

    async def test_an_update_leaves_once_a_newer_version_is_cached(self) -> None:
        graph = scan(*base_objects(), owner_route())
        cache = Cache()
        cache.put(owner_route(), version="7")
        r = reviewer(graph, cache=cache)
        moved = owner_route()
        moved["spec"]["rules"][0]["matches"].append(match("/v2"))
        await r.review(review(moved, operation="UPDATE", old=cache.get(OWNER)))
        await r.review(review(thief_route(host="x.example.com"), dry_run=True))
        assert len(r.pending) == 1  # the cache still holds version 7
        cache.put(moved, version="8")
        await r.review(review(thief_route(host="x.example.com"), dry_run=True))
        assert len(r.pending) == 0

    def test_only_pending_objects_on_intersecting_hostnames_are_related(self) -> None:
        def p(obj: Obj) -> Any:
            return parse(obj, source="test")

        subject = p(thief_route())
        near = p(http_route("a", "x", hostnames=["*.example.com"], created=ts(1)))
        far = p(http_route("b", "x", hostnames=["other.test"], created=ts(1)))
        bare = p(http_route("c", "x", created=ts(1)))  # no hostnames: the listener's
        gw = p(gateway("gw2"))
        assert related(subject, [near, far, bare, gw]) == [near, bare, gw]
        assert related(gw, [near, far]) == [near, far]


# --- the HTTPS server --------------------------------------------------------------------------


class Client:
    def __init__(self, port: int, ca: Path) -> None:
        self.port = port
        self.ctx = ssl.create_default_context(cafile=str(ca))

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", self.port, ssl=self.ctx,
                                             server_hostname="127.0.0.1")

    @staticmethod
    async def send(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, method: str,
                   path: str, body: bytes = b"", headers: str = "",
                   ) -> tuple[int, dict[str, str], bytes]:
        writer.write(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
                     f"{headers}\r\n".encode() + body)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        code = int(lines[0].split(" ")[1])
        hdrs = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])
                if k}
        data = await reader.readexactly(int(hdrs.get("content-length", "0")))
        return code, hdrs, data


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[WebhookServer, Client, Metrics]]:
    files = certs.serving(tmp_path)
    metrics = Metrics()
    metrics.enable_admission()
    graph = scan(*base_objects(), owner_route())
    server = WebhookServer(reviewer(graph, metrics=metrics),
                           CertificateFiles(files.cert, files.key), host="127.0.0.1", port=0,
                           observer=metrics)
    task = asyncio.create_task(server.serve())
    await asyncio.wait_for(server.listening.wait(), 5)
    yield server, Client(server.bound_port, files.ca_cert), metrics
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


class TestServer:
    async def test_two_reviews_on_one_kept_alive_connection(
            self, served: tuple[WebhookServer, Client, Metrics]) -> None:
        _, client, _ = served
        reader, writer = await client.connect()
        for uid, obj, allowed in (("1", thief_route(), False),
                                  ("2", thief_route(host="mine.example.com"), True)):
            code, headers, body = await client.send(
                reader, writer, "POST", "/validate", json.dumps(review(obj, uid=uid)).encode())
            assert code == 200 and "connection" not in headers
            response = json.loads(body)["response"]
            assert (response["uid"], response["allowed"]) == (uid, allowed)
        writer.close()

    @pytest.mark.parametrize(("method", "path", "body", "code", "error"), [
        ("GET", "/validate", b"", 405, None),
        ("POST", "/mutate", b"{}", 404, None),
        ("POST", "/validate", b"{not json", 400, "malformed"),
        ("POST", "/validate", b'{"kind": "Pod"}', 400, "malformed"),
        ("GET", "/healthz", b"", 200, None),
    ])
    async def test_errors(self, served: tuple[WebhookServer, Client, Metrics], method: str,
                          path: str, body: bytes, code: int, error: str | None) -> None:
        _, client, metrics = served
        reader, writer = await client.connect()
        got, _, _ = await client.send(reader, writer, method, path, body)
        assert got == code
        if error is not None:
            assert metrics.registry.get_sample_value(
                "gwwatch_admission_errors_total", {"reason": error}) == 1
        writer.close()

    async def test_a_body_over_the_limit_is_refused_unread(
            self, served: tuple[WebhookServer, Client, Metrics]) -> None:
        _, client, metrics = served
        reader, writer = await client.connect()
        writer.write(b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n")
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 413 ") and b"Connection: close" in head
        assert metrics.registry.get_sample_value(
            "gwwatch_admission_errors_total", {"reason": "too_large"}) == 1
        writer.close()

    async def test_rotated_files_serve_the_next_connection_and_end_kept_ones(
            self, served: tuple[WebhookServer, Client, Metrics], tmp_path: Path) -> None:
        _, client, _ = served
        reader, writer = await client.connect()
        await client.send(reader, writer, "GET", "/healthz")
        rotated = certs.serving(tmp_path, ca="second")  # same cert/key paths, a new CA
        fresh = Client(client.port, rotated.ca_cert)
        _, w2 = await fresh.connect()  # verified against the new CA only
        der = w2.get_extra_info("ssl_object").getpeercert(binary_form=True)
        assert x509.load_der_x509_certificate(der) == x509.load_pem_x509_certificate(
            rotated.cert.read_bytes())
        code, headers, _ = await client.send(reader, writer, "GET", "/healthz")
        assert code == 200 and headers.get("connection") == "close"  # old one ends
        assert await reader.read() == b""
        w2.close()
        writer.close()

    async def test_no_listening_until_the_files_exist(self, tmp_path: Path) -> None:
        missing = CertificateFiles(tmp_path / "tls.crt", tmp_path / "tls.key")
        server = WebhookServer(reviewer(scan(*base_objects())), missing, host="127.0.0.1",
                               port=0)
        task = asyncio.create_task(server.serve())
        await asyncio.sleep(0.05)
        assert not server.listening.is_set()
        files = certs.serving(tmp_path, name="tls")
        await asyncio.wait_for(server.listening.wait(), 5)
        reader, writer = await Client(server.bound_port, files.ca_cert).connect()
        assert (await Client.send(reader, writer, "GET", "/healthz"))[0] == 200
        writer.close()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
