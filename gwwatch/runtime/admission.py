"""The validating admission webhook: ``POST /validate`` over HTTPS on its own port.

Every replica answers from its own conflict graph; no leader is needed. One request:

1. read the ``AdmissionReview`` (``admission.k8s.io/v1``), parse the object under review with
   the engine's parser;
2. ask the graph's ``what_if`` which findings the change would add, with the objects this
   replica admitted but has not yet seen on its watch (the *pending overlay*) applied too, so
   two quick creates on one replica cannot both slip through;
3. let :func:`gwwatch.engine.admission.decide` answer, and send its answer back.

**Concurrency.** The graph belongs to the graph worker's thread. Parsing the request and the
pending overlay's bookkeeping run on the event loop; steps 2 and 3 run as one job in the graph
thread (``GraphWorker.run_exclusive``), after the batches queued before it and before the ones
after it, so a what-if never interleaves with a batch and the event loop (Lease renewal,
probes) never waits on it. A decision that cannot get the graph within 2 s (a long batch, a
re-list) answers "not checked" rather than let the API server time out. The cost of one
decision is bounded before it is paid: a change reaching more claimed hostnames than
``GWWATCH_WEBHOOK_MAX_HOSTNAMES`` (a wildcard over a busy domain) is checked without its
broadest hostnames, or not at all, and says so in a warning.

**Certificates.** The certificate and key are read from files and read again when either file
changes (checked at every TLS handshake and every second): a rotation (cert-manager renewing
the Secret, the kubelet swapping the mounted files) needs no restart. After a rotation, idle
keep-alive connections are closed and busy ones close after their answer, so the next request
arrives on a connection that uses the new certificate. Until the files can be read the server
does not listen (the API server then applies the webhook's ``failurePolicy``); detection runs
regardless.

**Unsynced replica.** Until the initial list is analysed, requests are admitted with a warning
saying the change was not checked.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol, TypeVar

import structlog

from gwwatch.engine import ConflictGraph, Finding, Invalid, ObjectRef, Parsed, parse
from gwwatch.engine.admission import (
    OPERATIONS,
    REVIEWED_KINDS,
    Decision,
    Mode,
    Outcome,
    attributable,
    decide,
    narrowed,
    reach,
    related,
    unchecked,
)
from gwwatch.engine.model import Listener, ListenerSet, Route
from gwwatch.engine.ownership import HOSTNAMES_ANNOTATION
from gwwatch.metrics import Metrics
from gwwatch.settings import Settings

__all__ = ["AdmissionObserver", "CertificateFiles", "Exclusive", "Pending", "Reviewer",
           "WebhookServer", "inline", "webhook_for"]

log = structlog.get_logger("gwwatch.admission")

API_VERSION: Final = "admission.k8s.io/v1"
_MAX_HEADER: Final = 16 * 1024
# An AdmissionReview holds the object and the old object (each at most ~1.5 MiB in etcd).
_MAX_BODY: Final = 8 * 1024 * 1024
_THREAD_DECODE: Final = 256 * 1024  # larger bodies are decoded off the event loop
_READ_TIMEOUT: Final = 10.0  # the API server's own timeout is at most 30 s
# An idle keep-alive connection is closed after this (the API server reopens one at need).
_IDLE_TIMEOUT: Final = 60.0
_CERT_CHECK_INTERVAL: Final = 1.0
# How long a decision waits for the graph thread (busy with a batch, e.g. a re-list) before
# answering "not checked": under the shipped timeoutSeconds (3 s), so the API server gets an
# answer that says so instead of a timeout.
_DECISION_WAIT: Final = 2.0
_PENDING_MAX: Final = 1000  # bound on the overlay: each entry costs the what-if one change
_REASONS: Final = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
                   411: "Length Required", 413: "Content Too Large",
                   500: "Internal Server Error"}


_T = TypeVar("_T")


class Exclusive(Protocol):
    """Runs ``fn(graph)`` where and when nothing else touches the graph (the graph worker's
    ``run_exclusive``: its own thread, between two batches)."""

    def __call__(self, fn: Callable[[ConflictGraph], _T], /) -> Awaitable[_T]: ...


def inline(graph: ConflictGraph) -> Exclusive:
    """``fn(graph)`` at once, in the caller's thread: for a graph no one else uses (tests,
    benches)."""
    async def run(fn: Callable[[ConflictGraph], _T], /) -> _T:
        return fn(graph)

    return run


class AdmissionObserver(Protocol):
    def admission_request(self, kind: str, operation: str, decision: str,
                          seconds: float) -> None: ...

    def admission_error(self, reason: str) -> None: ...

    def admission_pending(self, count: int) -> None: ...


# --- certificates ------------------------------------------------------------------------


class CertificateFiles:
    """A server TLS context from a certificate and key file, reloaded when they change.

    The listening socket keeps one context whose SNI callback (OpenSSL calls it on every
    ClientHello, with or without a server name) hands each handshake the current context.
    """

    def __init__(self, cert: Path, key: Path) -> None:
        self.cert = cert
        self.key = key
        self.generation = 0  # bumped on every successful (re)load
        self._stamp: tuple[object, ...] | None = None
        self._current: ssl.SSLContext | None = None

    @property
    def loaded(self) -> bool:
        return self._current is not None

    def _file_stamp(self) -> tuple[object, ...]:
        out: list[object] = []
        for path in (self.cert, self.key):
            st = os.stat(path)  # follows the kubelet's ..data symlink swap
            out += [st.st_ino, st.st_mtime_ns, st.st_size]
        return tuple(out)

    def refresh(self) -> bool:
        """Load the files if they changed since the last load; whether a new one is in use.
        A half-written pair (a rotation in progress) keeps the previous context."""
        try:
            stamp = self._file_stamp()
        except OSError as exc:
            if self._stamp is not None or self._current is None:
                log.warning("webhook_certificate_unreadable", error=str(exc))
            self._stamp = None
            return False
        if stamp == self._stamp:
            return False
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            ctx.load_cert_chain(self.cert, self.key)
        except (OSError, ssl.SSLError) as exc:
            log.warning("webhook_certificate_invalid", error=str(exc))
            return False
        ctx.sni_callback = self._pick
        self._stamp = stamp
        self._current = ctx
        self.generation += 1
        log.info("webhook_certificate_loaded", cert=str(self.cert), generation=self.generation)
        return True

    def context(self) -> ssl.SSLContext:
        assert self._current is not None, "refresh() first"
        return self._current

    def _pick(self, conn: ssl.SSLObject, server_name: str | None,
              ctx: ssl.SSLContext) -> None:
        self.refresh()
        if self._current is not None and self._current is not ctx:
            conn.context = self._current


# --- the pending overlay -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Entry:
    obj: Parsed
    old_version: str | None  # UPDATE: the resourceVersion the change replaces
    expires: float


class Pending:
    """Objects this replica admitted that its graph has not received from the watch yet.

    An entry goes once the watch delivered the object and the graph worker has caught up
    (``settled``: nothing queued or being handled) — the cache holds, after a CREATE, an object
    of that name, after an UPDATE a resourceVersion other than the one replaced — or after
    ``seconds``: a request admitted here that then failed (another webhook refused it, a
    conflict) counts for no longer than that.
    """

    def __init__(self, seconds: float, read_cached: Callable[[ObjectRef], Mapping[str, Any] | None],
                 *, settled: Callable[[], bool] = lambda: True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.read_cached = read_cached
        self.settled = settled
        self.clock = clock
        self._entries: dict[ObjectRef, _Entry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, ref: ObjectRef, obj: Parsed, old_version: str | None) -> None:
        if self.seconds <= 0:
            return
        self._entries.pop(ref, None)
        while len(self._entries) >= _PENDING_MAX:
            del self._entries[next(iter(self._entries))]  # the oldest
        self._entries[ref] = _Entry(obj, old_version, self.clock() + self.seconds)

    def current(self, *, besides: ObjectRef) -> list[Parsed]:
        """Entries still pending (pruned first), the object under review left out."""
        now = self.clock()
        settled = bool(self._entries) and self.settled()
        for ref, entry in list(self._entries.items()):
            if entry.expires <= now or (settled and self._delivered(ref, entry)):
                del self._entries[ref]
        return [e.obj for ref, e in self._entries.items() if ref != besides]

    def _delivered(self, ref: ObjectRef, entry: _Entry) -> bool:
        cached = self.read_cached(ref)
        if cached is None:
            return False
        if entry.old_version is None:
            return True
        meta = cached.get("metadata")
        version = meta.get("resourceVersion") if isinstance(meta, Mapping) else None
        return version != entry.old_version


# --- one review ------------------------------------------------------------------------------


class BadReview(ValueError):
    """The request is no AdmissionReview we can answer (400)."""


class Reviewer:
    """Turns an ``AdmissionReview`` request into its response, from the graph's what-if."""

    def __init__(
        self,
        *,
        exclusive: Exclusive,
        synced: Callable[[], bool],
        pending: Pending,
        mode: str = Mode.DENY,
        max_hostnames: int = 50,
        wait: float = _DECISION_WAIT,
        claim_hint: str = "",
        identity: str = "",
        observer: AdmissionObserver | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.exclusive = exclusive
        self.wait = wait
        self.synced = synced
        self.pending = pending
        self.mode = mode
        self.max_hostnames = max_hostnames
        self.claim_hint = claim_hint
        self.identity = identity
        self.observer = observer
        self.clock = clock

    async def review(self, doc: object, *, started: float | None = None) -> dict[str, Any]:
        """The AdmissionReview response for ``doc`` (raises :class:`BadReview`)."""
        t0 = self.clock() if started is None else started
        request = _request(doc)
        uid = request["uid"]
        operation = str(request.get("operation") or "")
        if operation not in OPERATIONS:
            raise BadReview(f"operation {operation[:20]!r}")
        kind = _kind(request)
        decision = await self._decide(request, operation, kind)
        response: dict[str, Any] = {"uid": uid, "allowed": decision.allowed}
        if not decision.allowed:
            response["status"] = {"code": 403, "reason": "Forbidden",
                                  "message": decision.message}
        if decision.warnings:
            response["warnings"] = list(decision.warnings)
        if self.observer is not None:
            self.observer.admission_request(kind if kind in REVIEWED_KINDS else "other",
                                            operation, decision.outcome, self.clock() - t0)
            self.observer.admission_pending(len(self.pending))
        if decision.outcome == Outcome.DENIED:
            f = decision.refusing[0]
            log.info("admission_denied", kind=kind, operation=operation,
                     namespace=request.get("namespace"), name=_name(request),
                     dry_run=bool(request.get("dryRun")), hostname=f.hostname,
                     victim=str(f.other) if f.other else None)
        elif decision.refusing:
            log.info("admission_would_deny", kind=kind, operation=operation, mode=self.mode,
                     namespace=request.get("namespace"), name=_name(request))
        return {"apiVersion": API_VERSION, "kind": "AdmissionReview", "response": response}

    async def _decide(self, request: Mapping[str, Any], operation: str, kind: str) -> Decision:
        if self.mode == Mode.OFF or operation not in ("CREATE", "UPDATE") or (
                kind not in REVIEWED_KINDS):
            return decide(mode=self.mode, operation=operation,
                          subject=ObjectRef(kind, "", ""), added=())
        if not self.synced():
            return unchecked(f"replica {self.identity or 'of gwwatch'} has not finished its "
                             "initial sync: this change was not checked for hijacks (they "
                             "are still detected and reported once it lands)")
        obj = request.get("object")
        parsed = parse(obj, source=f"admission {kind}") if isinstance(obj, Mapping) else None
        if parsed is None or isinstance(parsed, Invalid):
            why = parsed.reason if isinstance(parsed, Invalid) else "no object"
            return unchecked(f"cannot analyse this {kind}: {why}")
        subject = _ref_of(parsed)
        overlay = related(parsed, self.pending.current(besides=subject))

        def judge(graph: ConflictGraph
                  ) -> tuple[Decision | None, tuple[str, ...], Parsed | None]:
            # In the graph's own thread, between two batches: nothing else touches the graph.
            checked, skipped, laid = self._affordable(graph, subject, parsed, overlay)
            if checked is None:
                return None, skipped, None
            full = graph.what_if(upserts=[*laid, checked])
            base = graph.what_if(upserts=laid) if laid else None
            current = ({f.identity: f for f in graph.findings_of(subject)} if full.changed
                       else {})
            added = attributable(full, base=base, previous=current.get)
            probe = _ref_of(checked)
            if probe != subject:  # checked beside its old version: its findings are ours
                added = tuple(_unprobe(f, probe, subject) for f in added
                              if not {f.route, f.other} <= {probe, subject})
            return decide(mode=self.mode, operation=operation, subject=subject, added=added,
                          tenant=graph.tenant, claim_hint=self.claim_hint), skipped, checked

        try:
            judged, skipped, checked = await asyncio.wait_for(self.exclusive(judge), self.wait)
        except TimeoutError:
            return unchecked(f"replica {self.identity or 'of gwwatch'} is busy analysing a "
                             f"batch of changes (over {self.wait:g} s): this change was not "
                             "checked (a hijack it makes is reported once it lands)")
        if judged is None or checked is None:
            return unchecked(f"this {kind} reaches {skipped[0]} hostnames gwwatch holds "
                             f"(more than the {self.max_hostnames} a decision may analyse): "
                             "not checked; a hijack it makes is reported once it lands")
        decision = judged
        if skipped:
            note = (f"gwwatch: not checked for {', '.join(skipped)[:300]}: each covers more "
                    f"hostnames than a decision may analyse ({self.max_hostnames}); a hijack "
                    "there is reported once it lands")
            decision = dataclasses.replace(
                decision, warnings=(*decision.warnings, note),
                outcome=Outcome.WARNED if decision.allowed else decision.outcome)
        # A probe (checked beside its too broad old version) stays out of the overlay: laid
        # over the graph it would replace that old version, the cost the probe avoided.
        if decision.allowed and not request.get("dryRun") and _ref_of(checked) == subject:
            old = request.get("oldObject")
            meta = old.get("metadata") if isinstance(old, Mapping) else None
            version = meta.get("resourceVersion") if isinstance(meta, Mapping) else None
            # What was checked (its broad parts left out): the overlay's cost stays bounded.
            self.pending.add(subject, checked,
                             str(version) if operation == "UPDATE" and version else None)
        return decision

    def _affordable(self, graph: ConflictGraph, subject: ObjectRef, parsed: Parsed,
                    overlay: list[Parsed]
                    ) -> tuple[Parsed | None, tuple[str, ...], list[Parsed]]:
        """What the what-if may analyse within ``max_hostnames`` claimed hostnames: ``parsed``
        itself; a route without its broadest hostnames, a ListenerSet without its broadest
        listeners (left out: the second value); or ``None`` (the reach, as the second value's
        only item). Third: the pending objects laid over the graph, the cheapest first within
        half the budget (the overlay is a guard for the reviewed object, never a way to make
        its own check unaffordable)."""
        def listeners_of(ref: ObjectRef) -> tuple[Listener, ...]:
            parent = graph.gateway(ref) if ref.kind == "Gateway" else (
                graph.listener_set(ref) if ref.kind == "ListenerSet" else None)
            return parent.listeners if parent is not None else ()

        def cost(obj: Parsed | None) -> int:
            return 0 if obj is None else reach(obj, claimed_under=graph.claimed_under,
                                               listeners_of=listeners_of)

        current: Parsed | None = (graph.route(subject) or graph.listener_set(subject)
                                  or graph.gateway(subject))
        fixed = cost(current)
        if fixed > self.max_hostnames // 2 and isinstance(parsed, Route) and parsed.hostnames:
            # Replacing a too broad old version would analyse all it covered. Check the new
            # version beside it instead, under another name (its findings are mapped back):
            # adding an exact hostname to a broad route buys it no pass.
            parsed = dataclasses.replace(parsed, ref=_probe_ref(subject))
            fixed = 0
        laid: list[Parsed] = []
        for c, _, p in sorted((cost(p), i, p) for i, p in enumerate(overlay)):
            if fixed + c <= self.max_hostnames // 2:
                laid.append(p)
                fixed += c
        total = fixed + cost(parsed)
        if total <= self.max_hostnames:
            return parsed, (), laid
        if fixed < self.max_hostnames and (isinstance(parsed, ListenerSet) or (
                isinstance(parsed, Route) and parsed.hostnames)):
            narrow, left = narrowed(parsed, budget=self.max_hostnames - fixed,
                                    claimed_under=graph.claimed_under)
            if narrow is not None:
                return narrow, left, laid
        return None, (str(total),), laid


def _probe_ref(ref: ObjectRef) -> ObjectRef:
    """A name no Kubernetes object can have (``~`` is not allowed in names)."""
    return ObjectRef(ref.kind, ref.namespace, ref.name + "~")


def _unprobe(f: Finding, probe: ObjectRef, subject: ObjectRef) -> Finding:
    def back(ref: ObjectRef | None) -> ObjectRef | None:
        return subject if ref == probe else ref

    return dataclasses.replace(
        f, route=back(f.route), other=back(f.other),
        message=f.message.replace(f"{probe.namespace}/{probe.name}",
                                  f"{subject.namespace}/{subject.name}"))


def _request(doc: object) -> Mapping[str, Any]:
    if not isinstance(doc, Mapping) or doc.get("kind") != "AdmissionReview":
        raise BadReview("not an AdmissionReview")
    if doc.get("apiVersion") != API_VERSION:
        raise BadReview(f"apiVersion {doc.get('apiVersion')!r}: only {API_VERSION} is served")
    request = doc.get("request")
    if not isinstance(request, Mapping) or not isinstance(request.get("uid"), str):
        raise BadReview("request.uid missing")
    return request


def _kind(request: Mapping[str, Any]) -> str:
    kind = request.get("kind")
    return str(kind.get("kind") or "") if isinstance(kind, Mapping) else ""


def _name(request: Mapping[str, Any]) -> str | None:
    name = request.get("name")
    if name:
        return str(name)
    obj = request.get("object")
    meta = obj.get("metadata") if isinstance(obj, Mapping) else None
    return str(meta.get("name")) if isinstance(meta, Mapping) and meta.get("name") else None


def _ref_of(parsed: Parsed) -> ObjectRef:
    ref = getattr(parsed, "ref", None)
    assert isinstance(ref, ObjectRef), f"not a namespaced object: {type(parsed).__name__}"
    return ref


# --- the HTTPS server ----------------------------------------------------------------------


class WebhookServer:
    """HTTP/1.1 with keep-alive over TLS: ``POST /validate``, ``GET /healthz``."""

    def __init__(self, reviewer: Reviewer, certs: CertificateFiles, *, host: str, port: int,
                 observer: AdmissionObserver | None = None) -> None:
        self.reviewer = reviewer
        self.certs = certs
        self.host = host
        self.port = port
        self.observer = observer
        self._server: asyncio.Server | None = None
        self._idle: set[asyncio.StreamWriter] = set()
        self.listening = asyncio.Event()

    @property
    def bound_port(self) -> int:
        assert self._server is not None and self._server.sockets
        return int(self._server.sockets[0].getsockname()[1])

    async def serve(self) -> None:
        """Wait for readable certificate files, then serve until cancelled."""
        waited = False
        while not self.certs.refresh() and not self.certs.loaded:
            if not waited:
                log.warning("webhook_waiting_for_certificate", cert=str(self.certs.cert),
                            key=str(self.certs.key))
                waited = True
            await asyncio.sleep(_CERT_CHECK_INTERVAL)
        self._server = await asyncio.start_server(
            self._handle, self.host, self.port, ssl=self.certs.context(),
            ssl_handshake_timeout=_READ_TIMEOUT)
        log.info("webhook_listening", host=self.host, port=self.bound_port,
                 mode=str(self.reviewer.mode))
        self.listening.set()
        try:
            generation = self.certs.generation
            while True:
                await asyncio.sleep(_CERT_CHECK_INTERVAL)
                self.certs.refresh()
                if self.certs.generation != generation:
                    generation = self.certs.generation
                    for writer in list(self._idle):  # reconnect with the new certificate
                        writer.close()
        finally:
            self.listening.clear()
            self._server.close()
            for writer in list(self._idle):
                writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        generation = self.certs.generation
        try:
            first = True
            while True:
                self._idle.add(writer)
                try:
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"),
                                                  _READ_TIMEOUT if first else _IDLE_TIMEOUT)
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
                    return
                finally:
                    self._idle.discard(writer)
                first = False
                started = time.perf_counter()
                keep = await self._one(reader, writer, head, started, generation)
                if not keep:
                    return
        except (ConnectionError, OSError, ssl.SSLError):
            pass
        finally:
            self._idle.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                   head: bytes, started: float, generation: int) -> bool:
        """Answer one request; whether the connection may be kept (not after a certificate
        rotation: the next request then comes on a connection with the new one)."""
        if len(head) > _MAX_HEADER:
            await _send(writer, 400, b"header too large\n", close=True)
            return False
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3:
            await _send(writer, 400, b"bad request line\n", close=True)
            return False
        method, target, version = parts
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        keep = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close" and (
            self.certs.generation == generation)
        if "chunked" in headers.get("transfer-encoding", "").lower():
            await _send(writer, 411, b"Content-Length required\n", close=True)
            return False
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            await _send(writer, 400, b"bad Content-Length\n", close=True)
            return False
        if length < 0 or length > _MAX_BODY:
            self._error("too_large")
            await _send(writer, 413, b"request too large\n", close=True)
            return False
        try:
            body = await asyncio.wait_for(reader.readexactly(length), _READ_TIMEOUT)
        except (asyncio.IncompleteReadError, TimeoutError):
            return False
        path = target.split("?", 1)[0]
        if path == "/healthz" and method in ("GET", "HEAD"):
            await _send(writer, 200, b"ok\n", close=not keep)
            return keep
        if path != "/validate":
            await _send(writer, 404, b"not found\n", close=not keep)
            return keep
        if method != "POST":
            await _send(writer, 405, b"POST only\n", close=not keep)
            return keep
        try:
            doc = (await asyncio.to_thread(json.loads, body) if length > _THREAD_DECODE
                   else json.loads(body))
            answer = await self.reviewer.review(doc, started=started)
        except (ValueError, BadReview) as exc:  # json.JSONDecodeError is a ValueError
            self._error("malformed")
            log.warning("admission_bad_request", error=str(exc)[:200])
            await _send(writer, 400, f"{str(exc)[:200]}\n".encode(), close=not keep)
            return keep
        except Exception:  # a bug: the API server applies the failurePolicy
            self._error("internal")
            log.exception("admission_failed")
            await _send(writer, 500, b"internal error\n", close=True)
            return False
        await _send(writer, 200, json.dumps(answer, separators=(",", ":")).encode(),
                    "application/json", close=not keep)
        return keep

    def _error(self, reason: str) -> None:
        if self.observer is not None:
            self.observer.admission_error(reason)


async def _send(writer: asyncio.StreamWriter, code: int, body: bytes,
                content_type: str = "text/plain; charset=utf-8", *, close: bool) -> None:
    head = (f"HTTP/1.1 {code} {_REASONS.get(code, 'OK')}\r\n"
            f"Content-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n"
            + ("Connection: close\r\n" if close else "")
            + "\r\n").encode("latin-1")
    writer.write(head + body)
    await writer.drain()


def webhook_for(
    settings: Settings,
    *,
    exclusive: Exclusive,
    synced: Callable[[], bool],
    settled: Callable[[], bool],
    read_cached: Callable[[ObjectRef], Mapping[str, Any] | None],
    metrics: Metrics,
) -> WebhookServer | None:
    """The webhook server ``gwwatch run`` serves, or ``None`` when ``webhook_port`` is unset.

    ``exclusive`` runs a function on the graph in the worker's thread between batches,
    ``synced`` whether the initial sync is done, ``settled`` whether the worker has nothing
    queued, ``read_cached`` the watch cache's object for a key.
    """
    if settings.webhook_port is None:
        return None
    metrics.enable_admission()
    if settings.ownership_configmap:
        hint = f"the ownership ConfigMap {settings.namespace}/{settings.ownership_configmap}"
    elif settings.trust_namespace_annotations:
        hint = ""  # the decision names the tenant's namespaces and the annotation
    else:
        hint = (f"an ownership ConfigMap (GWWATCH_OWNERSHIP_CONFIGMAP); {HOSTNAMES_ANNOTATION} "
                f"annotations are not trusted here")
    reviewer = Reviewer(
        exclusive=exclusive, synced=synced,
        pending=Pending(settings.webhook_pending_seconds, read_cached, settled=settled),
        mode=settings.webhook_mode, max_hostnames=settings.webhook_max_hostnames,
        claim_hint=hint, identity=settings.identity,
        observer=metrics)
    return WebhookServer(
        reviewer, CertificateFiles(settings.webhook_cert_file, settings.webhook_key_file),
        host=settings.webhook_bind_address, port=settings.webhook_port, observer=metrics)
