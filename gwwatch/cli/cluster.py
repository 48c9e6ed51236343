"""``--cluster``: the live objects gwwatch analyses, read the way the controller reads them.

Discovery is :func:`gwwatch.runtime.resources.discover` (the Gateway API kinds served, at the
version the engine reads) plus Namespaces, and each kind is listed by the controller's own
:class:`~gwwatch.runtime.reflector.Reflector` (``list_once``: paginated, one consistent
snapshot, objects trimmed to what is read) into a :class:`~gwwatch.runtime.store.Store`. No
watch, no write: ``get``/``list`` on those kinds is all it needs.

The what-if overlay (:func:`overlay`) gives each object read from a file the creation time the
API server would give it: an object that exists keeps the live one's ``creationTimestamp`` (an
update never changes it), a new one gets "now". Ownership by age then follows the cluster's
real timestamps, whatever the names.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, TextIO

from gwwatch import logs
from gwwatch.cli import connect
from gwwatch.cli.exits import UsageError
from gwwatch.cli.render import escape, plural
from gwwatch.engine import ObjectRef, parse
from gwwatch.engine.model import Invalid, NamespaceInfo, Parsed
from gwwatch.engine.vocabulary import GROUP
from gwwatch.runtime import errors, resources
from gwwatch.runtime.kube import Kube
from gwwatch.runtime.reflector import KubeListWatch, ListPage, Reflector, WatchTiming
from gwwatch.runtime.resources import NAMESPACES, Resource
from gwwatch.runtime.store import Store
from gwwatch.runtime.worker import ownership_from_configmap

__all__ = ["CONFIGMAPS", "Live", "Progress", "list_objects", "now", "overlay",
           "ownership_configmap", "read", "ref_of"]

CONFIGMAPS: Final = Resource("ConfigMap", "", "v1", "configmaps", True)

# Objects listed before progress is worth a line on stderr.
_BIG: Final = 2000
class Progress:
    """What listing is doing, on stderr: a counter while a kind is listed (on a terminal), and
    a line per kind once a cluster is big enough for the wait to be noticed."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.total = 0
        self._shown = False

    def page(self, resource: Resource, count: int) -> None:
        if self.tty and count >= _BIG // 4:
            self.stream.write(f"\rgwwatch: listing {resource.plural}: {count}")
            self.stream.flush()
            self._shown = True

    def listed(self, resource: Resource, count: int, seconds: float) -> None:
        self.total += count
        if self._shown or count >= _BIG:
            self.stream.write(f"\rgwwatch: listed {plural(count, resource.kind)} "
                              f"({resource.api_version}) in {seconds:.1f} s\n")
            self.stream.flush()
        self._shown = False

    def analysing(self) -> None:
        if self.total >= _BIG:
            self.stream.write(f"gwwatch: analysing {plural(self.total, 'object')}\n")
            self.stream.flush()


class _Counted:
    """The reflector's :class:`~gwwatch.runtime.reflector.ListWatch`, counting pages."""

    def __init__(self, inner: KubeListWatch, resource: Resource, progress: Progress) -> None:
        self.inner = inner
        self.resource = resource
        self.progress = progress
        self.count = 0

    async def list(self, params: Mapping[str, str]) -> ListPage:
        page = await self.inner.list(params)
        self.count = (0 if "continue" not in params else self.count) + len(page.items)
        self.progress.page(self.resource, self.count)
        return page

    def watch(self, params: Mapping[str, str], *, read_timeout: float) -> Any:
        raise RuntimeError("gwwatch --cluster lists only")  # never called: list_once only


def _ignore(_: ObjectRef) -> None:
    pass


async def list_objects(kube: Kube, progress: Progress, *,
                       page_size: int = WatchTiming().page_size) -> list[Mapping[str, Any]]:
    """Every object of the kinds the engine reads (Namespaces first), trimmed as the controller
    keeps them. Errors are :class:`errors.ApiError`; none served is a :class:`UsageError`."""
    found = await resources.discover(kube)
    if not found:
        raise UsageError(f"the cluster serves no Gateway API kind gwwatch reads ({GROUP}: "
                         f"Gateway, ListenerSet, routes); are the Gateway API CRDs installed?")
    out: list[Mapping[str, Any]] = []
    for resource in (NAMESPACES, *found.values()):
        store = Store(resource.kind)
        counted = _Counted(KubeListWatch(kube, resource), resource, progress)
        reflector = Reflector(resource.kind, counted, store, _ignore,
                              timing=WatchTiming(page_size=page_size))
        started = time.monotonic()
        try:
            await reflector.list_once()
        except errors.Forbidden as exc:
            raise UsageError(
                f"not allowed to list {resource.plural}"
                f"{'.' + resource.group if resource.group else ''}: {escape(exc)}; --cluster "
                f"needs get and list on namespaces and on the Gateway API kinds (README, "
                f"\"Permissions for --cluster\")") from exc
        out.extend(store.values())
        progress.listed(resource, len(store), time.monotonic() - started)
    return out


@dataclass(frozen=True, slots=True)
class Live:
    """The cluster's objects as the engine reads them, and when each was created."""

    objects: list[Parsed]
    created: dict[ObjectRef, str | None]
    # The claims of the ownership ConfigMap, when one was named.
    ownership: dict[str, tuple[str, ...]] | None = None


def ref_of(obj: Parsed) -> ObjectRef:
    """The key the graph holds ``obj`` under (a Namespace: ``Namespace//name``)."""
    if isinstance(obj, Invalid):
        return ObjectRef(obj.kind, obj.namespace, obj.name)
    if isinstance(obj, NamespaceInfo):
        return ObjectRef("Namespace", "", obj.name)
    return obj.ref


def _created(obj: Mapping[str, Any]) -> str | None:
    meta = obj.get("metadata")
    value = meta.get("creationTimestamp") if isinstance(meta, Mapping) else None
    return value if isinstance(value, str) and value else None


async def ownership_configmap(kube: Kube, namespace: str, name: str
                              ) -> dict[str, tuple[str, ...]]:
    """The claims of the controller's ownership ConfigMap, read as the controller reads them
    (:func:`gwwatch.runtime.worker.ownership_from_configmap`)."""
    where = f"--ownership-configmap {escape(namespace)}/{escape(name)}"
    try:
        obj = await kube.request("GET", CONFIGMAPS.object_path(namespace, name))
    except errors.NotFound as exc:
        raise UsageError(f"{where}: no such ConfigMap") from exc
    except errors.Forbidden as exc:
        raise UsageError(f"{where}: not allowed to get it: {escape(exc)}; --cluster with "
                         f"--ownership-configmap also needs get on that ConfigMap") from exc
    return ownership_from_configmap(obj)


async def _read(kubeconfig: str | None, context: str | None, progress: Progress,
                configmap: tuple[str, str] | None = None) -> Live:
    kube = await connect.connect(kubeconfig, context)
    ownership = None
    try:
        if configmap is not None:
            ownership = await ownership_configmap(kube, *configmap)
        raw = await list_objects(kube, progress)
    except errors.ApiError as exc:
        server = connect.server_name(kubeconfig=kubeconfig, context=context)
        raise UsageError(f"{server}: cannot list: {escape(exc)}") from exc
    finally:
        await _close(kube)
    parsed: list[Parsed] = []
    created: dict[ObjectRef, str | None] = {}
    for obj in raw:
        kind = str(obj.get("kind") or "")
        meta = obj.get("metadata")
        meta = meta if isinstance(meta, Mapping) else {}
        ref = ObjectRef(kind, str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        p = parse(obj, source=f"{kind} {ref}")
        if p is None:
            continue
        parsed.append(p)
        created[ref_of(p)] = _created(obj)
    progress.analysing()
    return Live(parsed, created, ownership)


async def _close(kube: Any) -> None:
    """Close the client's connections (kr8s keeps an httpx session open and has no public
    close; ``runtime.kube`` reads the same attribute)."""
    api = getattr(kube, "api", None)
    session = getattr(api, "_session", None)
    aclose = getattr(session, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):  # closing is best effort
            await aclose()


def read(kubeconfig: str | None, context: str | None, progress: Progress | None = None, *,
         configmap: tuple[str, str] | None = None) -> Live:
    """List the live objects (``asyncio.run``: the CLI has no loop of its own). The runtime's
    own logs (a reflector's "listed") stay quiet below warnings, on stderr."""
    logs.configure(level="warning")
    return asyncio.run(_read(kubeconfig, context, progress or Progress(), configmap))


def now() -> str:
    """The API server's form of a creationTimestamp, for this second."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def overlay(objects: Sequence[tuple[object, str]], live: Live,
            created_now: str) -> list[Parsed]:
    """The objects read from files (each with its ``file:line``) as the API server would store
    them: the live object's creationTimestamp when one of the same identity exists, else
    ``created_now``."""
    out: list[Parsed] = []
    for obj, where in objects:
        first = parse(obj, source=where)
        if first is None:
            continue
        if isinstance(first, Invalid):
            out.append(first)
            continue
        ref = ref_of(first)
        stamp = live.created.get(ref, created_now)
        meta = obj.get("metadata") if isinstance(obj, Mapping) else None
        if not isinstance(obj, Mapping) or not isinstance(meta, Mapping) or (
                meta.get("creationTimestamp") == stamp):
            out.append(first)
            continue
        again = parse({**obj, "metadata": {**meta, "creationTimestamp": stamp}}, source=where)
        assert again is not None
        out.append(again)
    return out

