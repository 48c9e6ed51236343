"""``/metrics``, ``/healthz`` and ``/readyz`` on one port: a tiny asyncio HTTP/1.1 server.

Three GET endpoints for a kubelet and a Prometheus do not earn a web framework. Each connection
serves one request and closes. ``/metrics`` builds the engine snapshot in the event loop (so it
never races the graph), then renders the exposition in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Final

import structlog
from prometheus_client.exposition import choose_encoder

from gwwatch.metrics import Metrics

__all__ = ["Server"]

log = structlog.get_logger("gwwatch.server")

_MAX_HEADER: Final = 16 * 1024
_READ_TIMEOUT: Final = 10.0
_REASONS: Final = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
                   503: "Service Unavailable"}


class Server:
    def __init__(
        self,
        metrics: Metrics,
        *,
        host: str,
        port: int,
        ready: Callable[[], tuple[bool, str]],
        refresh: Callable[[], None] = lambda: None,
    ) -> None:
        self.metrics = metrics
        self.host = host
        self.port = port
        self.ready = ready
        self.refresh = refresh  # publishes a fresh snapshot before a scrape
        self._server: asyncio.Server | None = None

    @property
    def bound_port(self) -> int:
        assert self._server is not None and self._server.sockets
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        log.info("http_listening", host=self.host, port=self.bound_port)

    async def serve(self) -> None:
        """Serve until cancelled."""
        if self._server is None:
            await self.start()
        assert self._server is not None
        try:
            await asyncio.Event().wait()
        finally:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _READ_TIMEOUT)
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
                return
            if len(head) > _MAX_HEADER:
                await self._send(writer, 400, b"header too large\n")
                return
            lines = head.decode("latin-1").split("\r\n")
            parts = lines[0].split(" ")
            if len(parts) != 3:
                await self._send(writer, 400, b"bad request line\n")
                return
            method, target, _ = parts
            headers = {}
            for line in lines[1:]:
                name, sep, value = line.partition(":")
                if sep:
                    headers[name.strip().lower()] = value.strip()
            if method not in ("GET", "HEAD"):
                await self._send(writer, 405, b"GET only\n")
                return
            path = target.split("?", 1)[0]
            body: bytes
            if path == "/metrics":
                self.refresh()
                encoder, content_type = choose_encoder(headers.get("accept", ""))
                body = await asyncio.to_thread(encoder, self.metrics.registry)
                await self._send(writer, 200, body, content_type, head_only=method == "HEAD")
            elif path in ("/healthz", "/livez"):
                await self._send(writer, 200, b"ok\n", head_only=method == "HEAD")
            elif path == "/readyz":
                ok, why = self.ready()
                await self._send(writer, 200 if ok else 503, (why or "ok").encode() + b"\n",
                                 head_only=method == "HEAD")
            else:
                await self._send(writer, 404, b"not found\n")
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, code: int, body: bytes,
                    content_type: str = "text/plain; charset=utf-8",
                    *, head_only: bool = False) -> None:
        head = (f"HTTP/1.1 {code} {_REASONS.get(code, 'OK')}\r\n"
                f"Content-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n").encode("latin-1")
        writer.write(head if head_only else head + body)
        await writer.drain()
