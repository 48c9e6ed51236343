"""Which kinds are watched, and one supervised reflector per kind (client-go's informers).

:meth:`Informers.run` is one TaskGroup holding the discovery loop and every reflector. Discovery
asks the API server every ``discovery_interval`` which Gateway API kinds it serves and at which
version (:func:`gwwatch.runtime.resources.discover`), and :meth:`Informers.reconcile` starts,
moves or stops reflectors to match:

- a kind that appears gets a store and a reflector;
- a kind whose served version changed keeps its store: the new reflector's first list replaces
  it and only real differences reach the graph (clearing it would remove every status entry
  and send Resolved Events, then add them all back);
- a kind is declared gone only when two discoveries in a row agree — one 404 from an apiserver
  that just started or a CRD being re-applied must not look like every route being deleted.
  Its objects are then deleted (every key goes to the graph).

Namespaces (and gwwatch's ownership ConfigMap, when configured) are always watched.
:meth:`Informers.wait_synced` returns once discovery ran and every reflector listed once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

import structlog

from gwwatch.engine import ObjectRef
from gwwatch.runtime import errors, resources
from gwwatch.runtime.backoff import Backoff
from gwwatch.runtime.kube import Kube
from gwwatch.runtime.queue import KeyQueue
from gwwatch.runtime.reflector import KubeListWatch, Observer, Reflector, WatchTiming
from gwwatch.runtime.resources import NAMESPACES, Resource
from gwwatch.runtime.store import Store
from gwwatch.runtime.tasks import crash_backoff, keep_running

__all__ = ["Informers", "Watch"]

log = structlog.get_logger("gwwatch.informers")

_GONE_AFTER: Final = 2  # discoveries in a row that must miss a kind before it is gone
_SYNC_POLL: Final = 1.0  # re-check the set of reflectors to wait for (kinds come and go)


@dataclass(frozen=True, slots=True)
class Watch:
    """A kind watched whatever discovery says (Namespaces, the ownership ConfigMap)."""

    resource: Resource
    namespace: str | None = None
    field_selector: str | None = None


class KindObserver(Observer, Protocol):
    def kind_known(self, kind: str) -> None: ...


class Informers:
    def __init__(
        self,
        kube: Kube,
        *,
        objects: KeyQueue[ObjectRef],
        timing: WatchTiming,
        observer: KindObserver,
        discovery_interval: float,
        always: Sequence[Watch] = (Watch(NAMESPACES),),
        backoff: Callable[[], Backoff] = crash_backoff,
    ) -> None:
        self.kube = kube
        self.objects = objects
        self.timing = timing
        self.observer = observer
        self.discovery_interval = discovery_interval
        self.always = tuple(always)
        self.backoff = backoff
        self.stores: dict[str, Store] = {}
        self.resources: dict[str, Resource] = {}
        self.reflectors: dict[str, tuple[Reflector, asyncio.Task[None]]] = {}
        self.discovered = asyncio.Event()
        self._tg: asyncio.TaskGroup | None = None
        self._missing_logged: set[str] = set()
        self._absent: dict[str, int] = {}  # kind → discoveries in a row that did not find it

    # --- the supervised group ---------------------------------------------------------------

    async def run(self) -> None:
        """Discovery and every reflector, until cancelled."""
        try:
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                for watch in self.always:
                    self.start(watch.resource, namespace=watch.namespace,
                               field_selector=watch.field_selector)
                tg.create_task(keep_running("discovery", self._discover, backoff=self.backoff),
                               name="discovery")
        finally:
            self._tg = None
            self.reflectors.clear()

    async def _discover(self) -> None:
        backoff = Backoff()
        while True:
            try:
                found = await resources.discover(self.kube)
            except errors.ApiError as exc:
                delay = backoff.next()
                log.warning("discovery_failed", error=str(exc), retry_in=round(delay, 2))
                await asyncio.sleep(delay)
                continue
            backoff.reset()
            self.reconcile(found)
            self.discovered.set()
            await asyncio.sleep(self.discovery_interval)

    # --- kinds ------------------------------------------------------------------------------

    def reconcile(self, found: Mapping[str, Resource]) -> None:
        """Start, move or stop reflectors after a discovery (see the module's docstring)."""
        for kind in resources.GATEWAY_KINDS:
            want = found.get(kind)
            have = self.resources.get(kind)
            if want is None and have is not None:
                self._absent[kind] = self._absent.get(kind, 0) + 1
                if self._absent[kind] < _GONE_AFTER:
                    log.warning("kind_missing", kind=kind, api_version=have.api_version,
                                hint="declared gone if the next discovery agrees")
                    continue
            else:
                self._absent.pop(kind, None)
            if want == have:
                if want is None and kind not in self._missing_logged:
                    self._missing_logged.add(kind)
                    log.warning("kind_not_served", kind=kind,
                                hint="its CRD is not installed; checked again periodically")
                continue
            if have is not None and want is not None:
                log.info("kind_version_changed", kind=kind, was=have.api_version,
                         api_version=want.api_version)
                self.stop(kind, clear=False)
                self.start(want)
                continue
            if have is not None:
                self.stop(kind)
            if want is not None:
                self._missing_logged.discard(kind)
                log.info("kind_served", kind=kind, api_version=want.api_version)
                self.start(want)
            else:
                self._missing_logged.add(kind)
                log.warning("kind_gone", kind=kind)

    def start(self, resource: Resource, *, namespace: str | None = None,
              field_selector: str | None = None) -> None:
        """A reflector for ``resource`` in the group (only while :meth:`run` runs)."""
        if self._tg is None:
            raise RuntimeError("Informers.start outside Informers.run")
        kind = resource.kind
        self.resources[kind] = resource
        store = self.stores.setdefault(kind, Store(kind))
        self.observer.kind_known(kind)
        reflector = Reflector(
            kind, KubeListWatch(self.kube, resource, namespace=namespace,
                                field_selector=field_selector),
            store, self.objects.add, timing=self.timing, observer=self.observer)
        task = self._tg.create_task(
            keep_running(f"reflector-{kind}", reflector.run, backoff=self.backoff),
            name=f"reflector-{kind}")
        self.reflectors[kind] = (reflector, task)

    def stop(self, kind: str, *, clear: bool = True) -> None:
        """Stop ``kind``'s reflector; unless told to keep it, its objects are deleted."""
        entry = self.reflectors.pop(kind, None)
        if entry is not None:
            entry[1].cancel()  # a child of the group: the group awaits it
        self.resources.pop(kind, None)
        store = self.stores.get(kind)
        if clear and store is not None:
            for key in store.clear():  # the kind is gone: so is every object of it
                self.objects.add(key)

    # --- reading ----------------------------------------------------------------------------

    def pending(self) -> list[str]:
        """Kinds whose reflector has not listed yet."""
        return sorted(k for k, (r, _) in self.reflectors.items() if not r.synced.is_set())

    async def wait_synced(self) -> None:
        """Until discovery ran and every reflector (those started meanwhile too) listed."""
        await self.discovered.wait()
        while pending := [r for r, _ in self.reflectors.values() if not r.synced.is_set()]:
            # A kind that goes meanwhile never syncs: look at the set again now and then.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_SYNC_POLL):
                    await pending[0].synced.wait()

    def cached(self, ref: ObjectRef) -> Mapping[str, Any] | None:
        """``ref``'s object as last listed or watched (None: not known)."""
        store = self.stores.get(ref.kind)
        return store.get(ref) if store is not None else None

    def mentions(self, ref: ObjectRef, text: str) -> bool:
        """Whether ``text`` may occur in ``ref``'s cached object (False: certainly not)."""
        store = self.stores.get(ref.kind)
        return store is not None and store.mentions(ref, text)

    def namespace_terminating(self, namespace: str) -> bool:
        """Whether the Namespace cache says ``namespace`` is being deleted."""
        obj = self.cached(ObjectRef(NAMESPACES.kind, "", namespace))
        if obj is None:
            return False
        meta = obj.get("metadata")
        status = obj.get("status")
        return bool(isinstance(meta, Mapping) and meta.get("deletionTimestamp")) or (
            isinstance(status, Mapping) and status.get("phase") == "Terminating")
