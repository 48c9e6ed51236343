"""The door to the API server (:mod:`gwwatch.runtime.kube`) through the real kr8s client against
a tiny local HTTP server (loopback only, no Kubernetes): an error answer to one request must not
cut the other requests in flight — kr8s' own ``call_api`` rebuilds its shared session on a
401/403 — and a 401 reloads the credentials, rate-limited, without closing the session."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from gwwatch.runtime import errors
from gwwatch.runtime.kube import Kr8sKube, connect

WATCH_PATH = "/apis/gateway.networking.k8s.io/v1/httproutes"


def _status(code: int, reason: str, message: str) -> bytes:
    return json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                       "code": code, "reason": reason, "message": message}).encode()


@dataclass
class FakeApiServer:
    """Answers ``/version``; a watch streams one bookmark per ``tick`` until ``stop`` is set;
    ``/forbidden`` answers 403 (a terminating namespace); ``/private`` answers 401 unless the
    bearer token is ``good_token``."""

    good_token: str = "new"
    tick: float = 0.05
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    watches: int = 0
    tokens: list[str] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:  # keep-alive: several requests per connection
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode().split("\r\n")
                path = lines[0].split(" ")[1]
                headers = {k.lower(): v.strip() for k, _, v in
                           (h.partition(":") for h in lines[1:] if h)}
                if int(headers.get("content-length", "0")):
                    await reader.readexactly(int(headers["content-length"]))
                token = headers.get("authorization", "").removeprefix("Bearer ")
                self.tokens.append(token)
                if "watch=true" in path:
                    await self._watch(writer)
                    return
                if path.startswith("/version"):
                    code, body = 200, json.dumps({"major": "1", "minor": "33",
                                                  "gitVersion": "v1.33.0"}).encode()
                elif path.startswith("/forbidden"):
                    code, body = 403, _status(403, "Forbidden",
                                              "namespace t is being terminated")
                elif path.startswith("/private") and token != self.good_token:
                    code, body = 401, _status(401, "Unauthorized", "Unauthorized")
                else:
                    code, body = 200, b'{"kind": "Thing"}'
                writer.write(b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n\r\n%s" % (code, len(body), body))
                await writer.drain()
        finally:
            writer.close()

    async def _watch(self, writer: asyncio.StreamWriter) -> None:
        self.watches += 1
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        i = 0
        with contextlib.suppress(ConnectionError):
            while not self.stop.is_set():
                i += 1
                line = json.dumps({"type": "BOOKMARK", "object": {
                    "metadata": {"resourceVersion": str(i)}}}).encode() + b"\n"
                writer.write(b"%x\r\n%s\r\n" % (len(line), line))
                await writer.drain()
                await asyncio.sleep(self.tick)
            writer.write(b"0\r\n\r\n")
            await writer.drain()


def _kubeconfig(path: Path, port: int, token: str) -> None:
    path.write_text(f"""apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "http://127.0.0.1:{port}"}}}}]
users: [{{name: u, user: {{token: {token}}}}}]
contexts: [{{name: x, context: {{cluster: c, user: u}}}}]
current-context: x
""")


@contextlib.asynccontextmanager
async def serving(tmp_path: Path, token: str = "old"
                  ) -> AsyncIterator[tuple[FakeApiServer, Kr8sKube, Path]]:
    fake = FakeApiServer()
    server = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    kubeconfig = tmp_path / "kubeconfig.yaml"
    _kubeconfig(kubeconfig, port, token)
    try:
        kube = await connect(kubeconfig=str(kubeconfig))
        yield fake, kube, kubeconfig
    finally:
        fake.stop.set()
        server.close()
        await server.wait_closed()


async def _watch(kube: Kr8sKube, seen: list[str], started: asyncio.Event) -> str:
    try:
        async with kube.stream(WATCH_PATH, params={"watch": "true"}, read_timeout=10) as s:
            async for ev in s:
                seen.append(ev["object"]["metadata"]["resourceVersion"])
                started.set()
        return "ended"
    except errors.ApiError as exc:
        return f"died: {type(exc).__name__}: {exc}"


async def test_a_403_does_not_cut_a_watch_in_flight(tmp_path: Path) -> None:
    async with serving(tmp_path) as (fake, kube, _):
        seen: list[str] = []
        started = asyncio.Event()
        watch = asyncio.create_task(_watch(kube, seen, started))
        await asyncio.wait_for(started.wait(), 5)
        with pytest.raises(errors.Forbidden) as info:
            await kube.request("POST", "/forbidden/events", body={"x": 1})
        assert "being terminated" in str(info.value)
        before = len(seen)
        await asyncio.sleep(0.3)
        fake.stop.set()
        assert await asyncio.wait_for(watch, 5) == "ended"
        assert len(seen) > before + 2  # the stream kept flowing after the 403
        assert fake.watches == 1


async def test_a_403_on_a_watch_is_forbidden_and_reloads_nothing(tmp_path: Path) -> None:
    async with serving(tmp_path) as (_, kube, _):
        session = kube.api._session
        with pytest.raises(errors.Forbidden):
            async with kube.stream("/forbidden/x", params={"watch": "false"}, read_timeout=5):
                pass
        assert kube.api._session is session and not session.is_closed


async def test_a_401_reloads_credentials_once_without_closing_the_session(
        tmp_path: Path) -> None:
    async with serving(tmp_path, token="old") as (fake, kube, kubeconfig):
        seen: list[str] = []
        started = asyncio.Event()
        watch = asyncio.create_task(_watch(kube, seen, started))
        await asyncio.wait_for(started.wait(), 5)
        session = kube.api._session
        port = int(str(session.base_url).rsplit(":", 1)[1].strip("/"))
        _kubeconfig(kubeconfig, port, "new")  # the token was rotated on disk

        assert await kube.request("GET", "/private/thing") == {"kind": "Thing"}
        assert kube.api._session is session and not session.is_closed
        assert fake.tokens[-2:] == ["old", "new"]

        # Rotated again, but the last reload was a moment ago: no reload storm, a plain 401.
        fake.good_token = "newer"
        _kubeconfig(kubeconfig, port, "newer")
        with pytest.raises(errors.Forbidden):
            await kube.request("GET", "/private/thing")
        assert fake.tokens[-1] == "new"

        before = len(seen)
        await asyncio.sleep(0.3)
        fake.stop.set()
        assert await asyncio.wait_for(watch, 5) == "ended"
        assert len(seen) > before + 2 and fake.watches == 1



async def test_an_undecodable_answer_is_transient() -> None:
    """A proxy's login page instead of JSON must not escape the error tree."""

    class Api:
        @contextlib.asynccontextmanager
        async def call_api(self, method: str, **kw: Any) -> AsyncIterator[httpx.Response]:
            yield httpx.Response(200, content=b"<html>proxy login</html>",
                                 request=httpx.Request(method, "https://x/apis"))

    with pytest.raises(errors.Transient):
        await Kr8sKube(Api()).request("GET", "/apis/gateway.networking.k8s.io")
