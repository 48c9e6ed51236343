"""The one door to the API server: JSON requests and watch streams over kr8s' ``call_api``.

kr8s gives authentication (kubeconfig, in-cluster ServiceAccount, token refresh) and an httpx
session; gwwatch adds what its ``watch`` lacks: explicit timeouts on
every call, watch parameters, and errors translated once (:mod:`gwwatch.runtime.errors`).

Everything above this module talks to the :class:`Kube` protocol, so tests can pass a fake.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Protocol

import httpx
import structlog

from gwwatch.runtime import errors

__all__ = ["Kr8sKube", "Kube", "connect"]

log = structlog.get_logger("gwwatch.kube")

# A plain request answers in well under a second; 30 s covers a loaded apiserver and a big page.
REQUEST_TIMEOUT = 30.0
CONNECT_TIMEOUT = 10.0
# At most one credential reload per this many seconds, and only on a 401 (a 403 is RBAC or a
# terminating namespace saying no: new credentials do not change that).
REAUTH_INTERVAL = 30.0


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
    """:class:`Kube` over a ``kr8s.asyncio.Api`` (its ``call_api`` only).

    Every call passes ``raise_for_status=False`` and turns an error status into
    :mod:`errors` here. With kr8s' default, a 401 *or 403* makes ``call_api`` reload the
    credentials and rebuild its one shared httpx session — closing the connection under every
    watch, Lease renewal and status write in flight — so that one Event refused in a terminating
    namespace would cut every watch. Here only a 401 reloads the credentials, at most once per
    :data:`REAUTH_INTERVAL`, and the new token goes into the live session's headers (requests in
    flight keep their connections).
    """

    def __init__(self, api: Any, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.api = api
        self._clock = clock
        self._last_reauth: float | None = None

    async def _reauthenticate(self) -> bool:
        """Reload credentials after a 401 (rate-limited); True when a retry is worth it."""
        now = self._clock()
        if self._last_reauth is not None and now - self._last_reauth < REAUTH_INTERVAL:
            return False
        self._last_reauth = now
        auth = getattr(self.api, "auth", None)
        if auth is None:
            return False
        old = getattr(auth, "token", None)
        try:
            await auth.reauthenticate()
        except Exception as exc:  # a missing file, a bad kubeconfig: keep the old credentials
            log.warning("reauthenticate_failed", error=str(exc)[:200])
            return False
        token = getattr(auth, "token", None)
        session = getattr(self.api, "_session", None)
        if token and session is not None and not session.is_closed:
            session.headers["Authorization"] = f"Bearer {token}"
        log.info("reauthenticated", token_changed=token != old)
        return True

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
        for attempt in range(2):
            with errors.translated():
                async with self.api.call_api(method, version="", base=base, url=url,
                                             raise_for_status=False, **kwargs) as response:
                    error = errors.from_response(response) if response.is_error else None
                    data = _decode(response) if error is None else {}
            if error is None:
                return dict(data) if isinstance(data, Mapping) else {"items": data}
            if error.code == 401 and attempt == 0 and await self._reauthenticate():
                continue  # once, with the reloaded credentials
            raise error
        raise AssertionError("unreachable")

    @contextlib.asynccontextmanager
    async def stream(
        self, path: str, *, params: Mapping[str, str], read_timeout: float
    ) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        base, url = _split(path)
        timeout = httpx.Timeout(CONNECT_TIMEOUT, read=read_timeout)
        with errors.translated():
            async with self.api.call_api("GET", version="", base=base, url=url,
                                         params=dict(params), stream=True,
                                         raise_for_status=False, timeout=timeout) as response:
                if response.is_error:
                    await response.aread()
                    error = errors.from_response(response)
                    if response.status_code == 401:
                        await self._reauthenticate()  # the next watch goes with new credentials
                    raise error
                yield _lines(response)


def _decode(response: httpx.Response) -> Any:
    """The JSON body; anything else (a proxy's HTML page, a truncated body) is transient."""
    if not response.content:
        return {}
    try:
        return response.json()
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise errors.Transient(
            f"undecodable answer (HTTP {response.status_code}, "
            f"{response.headers.get('Content-Type', '?')}): {response.content[:200]!r}"
        ) from exc


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
