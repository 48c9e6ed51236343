"""The errors the runtime reasons about, translated once from kr8s and httpx.

Every call to the API server goes through :func:`translated` (``runtime.kube`` does it), so the
rest of the runtime sees only this tree and names its decisions after it::

    ApiError
    ├── Expired           410 Gone: the resourceVersion is too old — re-list
    ├── Conflict          409: someone wrote first (or the object already exists) — re-read
    ├── TooManyRequests   429: back off, keep the watch's resourceVersion
    ├── NotFound          404: the object (or the kind's CRD) is gone
    ├── Forbidden         401/403: RBAC says no — no amount of retrying helps soon
    ├── Unprocessable     422: the server refuses the object — terminal for that write
    ├── Transient         connection refused/reset, timeouts, 5xx — retry with backoff
    └── (ApiError itself) anything else, e.g. 400

The idea is httpx's ``map_httpcore_exceptions`` and kopf's ``clients/errors.py``.
"""

from __future__ import annotations

import contextlib
import json
import ssl
from collections.abc import Iterator, Mapping
from typing import Any

import httpx

__all__ = [
    "ApiError",
    "Conflict",
    "Expired",
    "Forbidden",
    "NotFound",
    "TooManyRequests",
    "Transient",
    "Unprocessable",
    "from_response",
    "from_status",
    "is_retriable_watch_error",
    "is_too_large_resource_version",
    "translated",
]


class ApiError(Exception):
    """An API call failed; ``code`` is the HTTP status (0 when no response came)."""

    def __init__(self, message: str, *, code: int = 0, reason: str = "",
                 retry_after: float | None = None, causes: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.retry_after = retry_after
        self.causes = causes  # the Status' details.causes[].reason


class Expired(ApiError):
    pass


class Conflict(ApiError):
    pass


class TooManyRequests(ApiError):
    pass


class NotFound(ApiError):
    pass


class Forbidden(ApiError):
    pass


class Unprocessable(ApiError):
    pass


class Transient(ApiError):
    pass


_BY_CODE: dict[int, type[ApiError]] = {
    401: Forbidden,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Expired,
    422: Unprocessable,
    429: TooManyRequests,
}


def _class_for(code: int) -> type[ApiError]:
    if code in _BY_CODE:
        return _BY_CODE[code]
    if code >= 500 or code == 0:
        return Transient
    return ApiError


def from_status(status: Mapping[str, Any], *, retry_after: float | None = None) -> ApiError:
    """An error from a ``kind: Status`` object (a response body or a watch ERROR event)."""
    raw_code = status.get("code")
    code = raw_code if isinstance(raw_code, int) else 0
    reason = str(status.get("reason") or "")
    message = str(status.get("message") or reason or f"HTTP {code}")
    if code == 0 and reason == "Expired":
        code = 410
    details = status.get("details")
    raw_causes = details.get("causes") if isinstance(details, Mapping) else None
    causes = tuple(str(c.get("reason") or "") for c in raw_causes or ()
                   if isinstance(c, Mapping)) if isinstance(raw_causes, list) else ()
    return _class_for(code)(message, code=code, reason=reason, retry_after=retry_after,
                            causes=causes)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def from_response(response: httpx.Response) -> ApiError:
    try:
        body = json.loads(response.content)
    except (ValueError, httpx.ResponseNotRead):
        body = None
    retry_after = _retry_after(response)
    if isinstance(body, Mapping) and body.get("kind") == "Status":
        err = from_status({**body, "code": response.status_code}, retry_after=retry_after)
        return err
    return _class_for(response.status_code)(
        f"HTTP {response.status_code} from {response.request.method} {response.request.url.path}",
        code=response.status_code, retry_after=retry_after)


@contextlib.contextmanager
def translated() -> Iterator[None]:
    """Map whatever kr8s or httpx raises inside the block to this module's tree."""
    from kr8s import _exceptions as kr8s_errors  # kr8s re-exports these under odd names

    try:
        yield
    except ApiError:
        raise
    except kr8s_errors.ServerError as exc:
        if exc.response is not None:
            raise from_response(exc.response) from exc
        raise Transient(str(exc)) from exc
    except httpx.HTTPStatusError as exc:
        raise from_response(exc.response) from exc
    except kr8s_errors.APITimeoutError as exc:
        raise Transient(f"timeout: {exc}") from exc
    except (httpx.TransportError, ssl.SSLError, ConnectionError, OSError) as exc:
        # Connection refused or reset, a read timeout, a stream cut mid-chunk: the network.
        raise Transient(f"{type(exc).__name__}: {exc}") from exc


def is_too_large_resource_version(exc: ApiError) -> bool:
    """apimachinery's ``IsTooLargeResourceVersion``: the apiserver has not caught up with the
    version asked for (a 504 with cause ``ResourceVersionTooLarge``)."""
    return (exc.code == 504 and "ResourceVersionTooLarge" in exc.causes) or (
        "Too large resource version" in str(exc))


def is_retriable_watch_error(exc: ApiError) -> bool:
    """client-go's ``isWatchErrorRetriable``: keep the resourceVersion and watch again."""
    return isinstance(exc, TooManyRequests | Transient)
