"""The one door to the API server: JSON requests and watch streams over kr8s' ``call_api``.

kr8s gives authentication (kubeconfig, in-cluster ServiceAccount, token refresh) and an httpx
session; gwwatch adds what its ``watch`` lacks (see CONTROLPLANE-NOTES.md): explicit timeouts on
every call, watch parameters, and errors translated once (:mod:`gwwatch.runtime.errors`).

Everything above this module talks to the :class:`Kube` protocol, so tests can pass a fake.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

import httpx

from gwwatch.runtime import errors

__all__ = ["Kr8sKube", "Kube", "connect"]

# A plain request answers in well under a second; 30 s covers a loaded apiserver and a big page.
REQUEST_TIMEOUT = 30.0
CONNECT_TIMEOUT = 10.0


class Kube(Protocol):
    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float = REQUEST_TIMEOUT,
    ) -> dict[str, Any]:
        """One request; the decoded JSON answer. Raises :class:`errors.ApiError`."""
        ...

    def stream(
        self, path: str, *, params: Mapping[str, str], read_timeout: float
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[dict[str, Any]]]:
        """A watch: one decoded JSON object per line, until the server ends the stream."""
        ...


def _split(path: str) -> tuple[str, str]:
    """``/apis/g/v/x`` → (``/apis``, ``g/v/x``): kr8s joins ``base`` and ``url`` with ``/``."""
    if not path.startswith("/"):
        raise ValueError(f"API path must be absolute: {path!r}")
    base, _, rest = path[1:].partition("/")
    return "/" + base, rest


class Kr8sKube:
    """:class:`Kube` over a ``kr8s.asyncio.Api`` (its ``call_api`` only)."""

    def __init__(self, api: Any) -> None:
        self.api = api

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float = REQUEST_TIMEOUT,
    ) -> dict[str, Any]:
        base, url = _split(path)
        kwargs: dict[str, Any] = {
            "timeout": httpx.Timeout(timeout, connect=CONNECT_TIMEOUT),
            "headers": {"Content-Type": content_type, "Accept": "application/json"},
        }
        if params:
            kwargs["params"] = dict(params)
        if body is not None:
            kwargs["content"] = json.dumps(body).encode()
        with errors.translated():
            async with self.api.call_api(method, version="", base=base, url=url,
                                         **kwargs) as response:
                data = response.json() if response.content else {}
        return dict(data) if isinstance(data, Mapping) else {"items": data}

    @contextlib.asynccontextmanager
    async def stream(
        self, path: str, *, params: Mapping[str, str], read_timeout: float
    ) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        base, url = _split(path)
        timeout = httpx.Timeout(CONNECT_TIMEOUT, read=read_timeout)
        with errors.translated():
            async with self.api.call_api("GET", version="", base=base, url=url,
                                         params=dict(params), stream=True,
                                         timeout=timeout) as response:
                yield _lines(response)


async def _lines(response: httpx.Response) -> AsyncIterator[dict[str, Any]]:
    with errors.translated():
        async for line in response.aiter_lines():
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as exc:
                raise errors.Transient(f"undecodable watch line: {line[:200]!r}") from exc
            if isinstance(obj, dict):
                yield obj


async def connect(*, kubeconfig: str | None = None, context: str | None = None) -> Kr8sKube:
    """A client from a kubeconfig (and context), else the in-cluster ServiceAccount."""
    import kr8s.asyncio

    with errors.translated():
        api = await kr8s.asyncio.api(kubeconfig=kubeconfig, context=context)
    return Kr8sKube(api)
