"""Fakes for the runtime's unit tests: a scripted list/watch, a Kube answering from a handler
(httpx's ``MockTransport`` idea), and a clock that only moves when told."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gwwatch.runtime import errors
from gwwatch.runtime.reflector import ListPage


def obj(name: str, rv: str, *, namespace: str = "ns", kind: str = "HTTPRoute",
        **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": kind,
            "metadata": {"name": name, "namespace": namespace, "resourceVersion": rv},
            "spec": spec}


def event(type_: str, o: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": type_, "object": dict(o)}


def bookmark(rv: str) -> dict[str, Any]:
    return {"type": "BOOKMARK", "object": {"kind": "HTTPRoute", "apiVersion":
                                           "gateway.networking.k8s.io/v1",
                                           "metadata": {"resourceVersion": rv}}}


def error_event(code: int, reason: str = "Expired") -> dict[str, Any]:
    return {"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                        "code": code, "reason": reason,
                                        "message": f"too old resource version ({code})"}}


Script = Sequence[Mapping[str, Any] | BaseException] | BaseException


@dataclass
class FakeListWatch:
    """Pages answer lists in order; scripts answer watches in order. A script is an exception
    (the watch request fails) or a list of events and exceptions (raised mid-stream). When the
    scripts run out, a watch raises ``Exhausted`` so a test pass always ends."""

    pages: list[ListPage | BaseException] = field(default_factory=list)
    scripts: list[Script] = field(default_factory=list)
    list_calls: list[dict[str, str]] = field(default_factory=list)
    watch_calls: list[dict[str, str]] = field(default_factory=list)
    read_timeouts: list[float] = field(default_factory=list)

    async def list(self, params: Mapping[str, str]) -> ListPage:
        self.list_calls.append(dict(params))
        page = self.pages.pop(0)
        if isinstance(page, BaseException):
            raise page
        return page

    @contextlib.asynccontextmanager
    async def watch(self, params: Mapping[str, str], *,
                    read_timeout: float) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        self.watch_calls.append(dict(params))
        self.read_timeouts.append(read_timeout)
        if not self.scripts:
            raise Exhausted("no more watch scripts")
        script = self.scripts.pop(0)
        if isinstance(script, BaseException):
            raise script

        async def stream() -> AsyncIterator[dict[str, Any]]:
            for item in script:  # type: ignore[union-attr]
                if isinstance(item, BaseException):
                    raise item
                yield dict(item)

        yield stream()


class Exhausted(Exception):
    """The fake has nothing more to say (ends a test's pass)."""


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


Handler = Callable[[str, str, Mapping[str, str] | None, Any], Mapping[str, Any]]


class FakeKube:
    """A :class:`gwwatch.runtime.kube.Kube` whose answers come from ``handler(method, path,
    params, body)``; it may raise :mod:`gwwatch.runtime.errors`. Requests are recorded."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.calls: list[tuple[str, str, Any]] = []

    async def request(self, method: str, path: str, *, params: Mapping[str, str] | None = None,
                      body: Any = None, content_type: str = "application/json",
                      timeout: float = 30.0) -> dict[str, Any]:
        self.calls.append((method, path, body))
        await asyncio.sleep(0)
        return dict(self.handler(method, path, params, body))

    def stream(self, path: str, *, params: Mapping[str, str],
               read_timeout: float) -> contextlib.AbstractAsyncContextManager[Any]:
        raise errors.Transient("no streams here")

    def count(self, method: str) -> int:
        return sum(1 for m, _, _ in self.calls if m == method)
