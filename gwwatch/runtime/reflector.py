"""List, then watch, one kind into a :class:`Store` (client-go's ``Reflector``).

One pass, :meth:`Reflector.list_and_watch`:

1. list (paginated: ``limit`` + ``continue``), keep the list's resourceVersion, and
   ``store.replace(items)`` once — keys the list no longer has become deletes;
2. watch from that resourceVersion with bookmarks and a server-side ``timeoutSeconds`` drawn
   from [5, 10) minutes (so a fleet's watches do not all end together), under a client-side read
   timeout a bit longer, so a connection that died silently cannot hang the watch;
3. when the server ends the watch, watch again from the last resourceVersion seen (bookmarks
   only move that resourceVersion); on ``429`` or a connection error, back off and watch again
   from it, without listing; on ``410 Gone`` (an HTTP status or an ERROR event in the stream)
   return, so that the caller lists again.

:meth:`Reflector.run` is the endless loop around passes, with client-go's ``BackoffUntil``
between them: every pass that ends (an expired watch, a failed list) waits the backoff, which
doubles while passes keep ending and forgets after two healthy minutes. A re-list reads "not
older than" the last resourceVersion the watch saw (events and bookmarks), like client-go's
``relistResourceVersion``; when the server cannot serve that version (410, or "too large
resource version" from a lagging apiserver) it lists the latest ("", a quorum read).
Tests drive single passes through a fake :class:`ListWatch` (httpx's ``MockTransport`` idea).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import structlog

from gwwatch.engine import ObjectRef
from gwwatch.runtime import errors
from gwwatch.runtime.backoff import Backoff
from gwwatch.runtime.kube import Kube
from gwwatch.runtime.resources import Resource
from gwwatch.runtime.store import Encoded, Store, encode, key_of, resource_version

__all__ = ["KubeListWatch", "ListPage", "ListWatch", "Observer", "Reflector", "WatchTiming"]

log = structlog.get_logger("gwwatch.reflector")

# A watch that ends this soon without a single event is treated as a failure (client-go), so a
# server that closes watches at once cannot make us spin.
_SHORT_WATCH: Final = 1.0


@dataclass(frozen=True, slots=True)
class ListPage:
    items: list[dict[str, Any]]
    resource_version: str
    continue_: str


class ListWatch(Protocol):
    async def list(self, params: Mapping[str, str]) -> ListPage: ...

    def watch(
        self, params: Mapping[str, str], *, read_timeout: float
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[dict[str, Any]]]: ...


class KubeListWatch:
    """:class:`ListWatch` for one resource over :class:`Kube`; optionally one namespace and a
    field selector (gwwatch's own ConfigMap)."""

    def __init__(self, kube: Kube, resource: Resource, *, namespace: str | None = None,
                 field_selector: str | None = None) -> None:
        self.kube = kube
        self.resource = resource
        self.path = resource.collection_path(namespace)
        self.field_selector = field_selector

    def _params(self, params: Mapping[str, str]) -> dict[str, str]:
        out = dict(params)
        if self.field_selector:
            out["fieldSelector"] = self.field_selector
        return out

    async def list(self, params: Mapping[str, str]) -> ListPage:
        doc = await self.kube.request("GET", self.path, params=self._params(params))
        meta = doc.get("metadata")
        meta = meta if isinstance(meta, Mapping) else {}
        items = [dict(i) for i in doc.get("items") or () if isinstance(i, Mapping)]
        for item in items:  # list items of built-in kinds come without apiVersion/kind
            item.setdefault("apiVersion", self.resource.api_version)
            item.setdefault("kind", self.resource.kind)
        return ListPage(items, str(meta.get("resourceVersion") or ""),
                        str(meta.get("continue") or ""))

    def watch(
        self, params: Mapping[str, str], *, read_timeout: float
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[dict[str, Any]]]:
        return self.kube.stream(self.path, params=self._params(params), read_timeout=read_timeout)


class Observer(Protocol):
    """What a reflector reports (``gwwatch.metrics.Metrics`` implements it)."""

    def watch_event(self, kind: str, event_type: str) -> None: ...

    def watch_restart(self, kind: str, reason: str) -> None: ...

    def relisted(self, kind: str, when: float) -> None: ...


class _NullObserver:
    def watch_event(self, kind: str, event_type: str) -> None:
        pass

    def watch_restart(self, kind: str, reason: str) -> None:
        pass

    def relisted(self, kind: str, when: float) -> None:
        pass


@dataclass(frozen=True, slots=True)
class WatchTiming:
    """Watch durations; defaults are client-go's, each for its reason."""

    # Server-side timeoutSeconds, uniform in [min, max): client-go's minWatchTimeout is 5 min and
    # it draws up to twice that, so watches of a fleet end at different times.
    min_timeout: float = 300.0
    max_timeout: float = 600.0
    # Client-side read timeout beyond the server's: the server ends a healthy watch first; only a
    # dead connection reaches this one.
    grace: float = 30.0
    page_size: int = 500
    backoff: Callable[[], Backoff] = field(default=Backoff)


class Reflector:
    """Keeps ``store`` equal to the server's objects of one kind; calls ``on_change(key)`` for
    every key whose object appeared, changed or went away."""

    def __init__(
        self,
        kind: str,
        listwatch: ListWatch,
        store: Store,
        on_change: Callable[[ObjectRef], None],
        *,
        timing: WatchTiming | None = None,
        observer: Observer | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.kind = kind
        self.listwatch = listwatch
        self.store = store
        self.on_change = on_change
        self.timing = timing or WatchTiming()
        self.observer: Observer = observer or _NullObserver()
        self._clock = clock
        self._wall_clock = wall_clock
        self._sleep = sleep
        self._rand = rand
        self._backoff = self.timing.backoff()
        self.resource_version = ""  # last seen (list, events, bookmarks): where we resume
        self._last_sync_rv_unavailable = False  # a list at it was refused: next list is ""
        self.synced = asyncio.Event()  # set after the first successful list
        self.lists = 0

    # --- the endless loop ------------------------------------------------------------------

    async def run(self) -> None:
        """List and watch until cancelled; every pass that ends backs off (800 ms → 30 s,
        jitter; back to 800 ms after two healthy minutes), so a watch that keeps expiring
        right after a slow list cannot turn into a list storm."""
        while True:
            try:
                await self.list_and_watch()
                delay = self._backoff.next()
                log.info("relist_in", kind=self.kind, delay=round(delay, 2))
                await self._sleep(delay)
            except errors.ApiError as exc:
                delay = self._backoff.next()
                if exc.retry_after:
                    delay = max(delay, exc.retry_after)
                self.observer.watch_restart(self.kind, type(exc).__name__)
                log.warning("list_failed", kind=self.kind, error=str(exc),
                            error_type=type(exc).__name__, retry_in=round(delay, 2))
                await self._sleep(delay)

    # --- one pass --------------------------------------------------------------------------

    async def list_and_watch(self) -> None:
        """One list, then watches until the resourceVersion expires (returns) or a watch fails
        in a way that calls for a new list (raises :class:`errors.ApiError`)."""
        await self.list_once()
        await self.watch()

    def relist_resource_version(self) -> str:
        """client-go's ``relistResourceVersion``: ``""`` (a consistent read of the latest) for
        the first list and after a list at the last seen version was refused (expired, or too
        large for a lagging apiserver); otherwise the last version seen — by the list, the
        watch's events or its bookmarks — read as "not older than"."""
        if self._last_sync_rv_unavailable or not self.resource_version:
            return ""
        return self.resource_version

    async def list_once(self) -> None:
        rv = self.relist_resource_version()
        try:
            items, rv = await self._list_pages(rv)
        except errors.ApiError as exc:
            if not rv or not (isinstance(exc, errors.Expired)
                              or errors.is_too_large_resource_version(exc)):
                raise
            # The version (or a continue token) is too old, or newer than this apiserver has
            # seen: read the latest.
            log.info("list_resource_version_unavailable", kind=self.kind, resource_version=rv,
                     error=str(exc))
            self._last_sync_rv_unavailable = True
            items, rv = await self._list_pages("")
        changed = self.store.replace_encoded(items)
        self.resource_version = rv
        self._last_sync_rv_unavailable = False
        self.lists += 1
        self.observer.relisted(self.kind, self._wall_clock())
        log.info("listed", kind=self.kind, objects=len(items), changed=len(changed),
                 resource_version=rv, relist=self.lists > 1)
        for key in changed:
            self.on_change(key)
        self.synced.set()

    async def _list_pages(self, rv: str) -> tuple[list[Encoded], str]:
        items: list[Encoded] = []
        params: dict[str, str] = {"limit": str(self.timing.page_size)}
        if rv:
            params["resourceVersion"] = rv
            params["resourceVersionMatch"] = "NotOlderThan"
        list_rv = ""
        while True:
            page = await self.listwatch.list(params)
            # Trimmed and encoded page by page: a list of 100k routes is never held whole as
            # Python objects.
            items.extend(encode(self.kind, item) for item in page.items)
            list_rv = list_rv or page.resource_version  # every page is one snapshot
            if not page.continue_:
                return items, page.resource_version or list_rv
            params = {"limit": str(self.timing.page_size), "continue": page.continue_}

    async def watch(self) -> None:
        """Watch from :attr:`resource_version` until it expires (then return)."""
        while True:
            timeout = self.timing.min_timeout + self._rand() * (
                self.timing.max_timeout - self.timing.min_timeout)
            params = {
                "watch": "true",
                "allowWatchBookmarks": "true",
                "resourceVersion": self.resource_version,
                "timeoutSeconds": str(int(timeout)),
            }
            started = self._clock()
            events = 0
            try:
                async with asyncio.timeout(timeout + self.timing.grace):
                    async with self.listwatch.watch(
                        params, read_timeout=timeout + self.timing.grace
                    ) as stream:
                        try:
                            async for event in stream:
                                self._handle(event)
                                events += 1
                        finally:  # close the stream now, not when the collector finds it
                            aclose = getattr(stream, "aclose", None)
                            if aclose is not None:
                                await aclose()
                if events == 0 and self._clock() - started < _SHORT_WATCH:
                    raise errors.Transient("watch closed at once without events")
                continue  # the server ended the watch: resume from the last version seen
            except errors.Expired as exc:
                self.observer.watch_restart(self.kind, "Expired")
                log.info("watch_expired", kind=self.kind, resource_version=self.resource_version,
                         error=str(exc))
                return
            except TimeoutError:
                exc_: errors.ApiError = errors.Transient("watch stalled past its timeout")
            except errors.ApiError as exc:
                if not errors.is_retriable_watch_error(exc):
                    raise
                exc_ = exc
            delay = self._backoff.next()
            if exc_.retry_after:
                delay = max(delay, exc_.retry_after)
            self.observer.watch_restart(self.kind, type(exc_).__name__)
            log.warning("watch_failed", kind=self.kind, error=str(exc_),
                        error_type=type(exc_).__name__, retry_in=round(delay, 2),
                        resource_version=self.resource_version)
            await self._sleep(delay)

    def _handle(self, event: Mapping[str, Any]) -> None:
        kind = event.get("type")
        obj = event.get("object")
        if kind == "ERROR":
            raise errors.from_status(obj if isinstance(obj, Mapping) else {})
        if not isinstance(obj, Mapping):
            raise errors.Transient(f"watch event {kind!r} without an object")
        self.observer.watch_event(self.kind, str(kind))
        if kind in ("ADDED", "MODIFIED"):
            key = self.store.upsert(obj)
            if key is not None:
                self.on_change(key)
        elif kind == "DELETED":
            key = self.store.delete(key_of(self.kind, obj))
            if key is not None:
                self.on_change(key)
        elif kind != "BOOKMARK":
            log.warning("watch_event_unknown", kind=self.kind, event_type=kind)
        rv = resource_version(obj)
        if rv:
            self.resource_version = rv
