"""The latest version of every watched object, by key (client-go's ``cache.Store``).

A reflector writes here; the worker reads here. Writes return whether anything changed so the
reflector enqueues only real changes, and :meth:`Store.replace` — the end of a (re-)list —
synthesises a delete for every key the list no longer has.

**Only what is read is kept** (:func:`trim`, applied to every object stored). A cached object
exists for three readers: the engine's ``parse`` (apiVersion, kind, spec, a ConfigMap's data,
metadata name/namespace/labels/creationTimestamp, a Namespace's ``gwwatch.io/*``
annotations), the status writer (``status.parents`` — the whole list, other controllers'
entries included, since it writes the list back — resourceVersion and generation) and the Event
writer (uid), plus the Namespace cache's ``deletionTimestamp``/``status.phase`` and a
GatewayClass' ``status.supportedFeatures`` (the engine reads it). Everything else
goes: ``managedFields`` (often the largest part of an object), every annotation outside
``gwwatch.io/`` (``kubectl.kubernetes.io/last-applied-configuration`` is a second copy of the
object), ownerReferences, finalizers, and status other than ``parents``/``phase``/
``supportedFeatures``. The status
writer's PUT to ``/status`` may carry the trimmed metadata: for a custom resource the API
server keeps the stored object and takes only ``status`` from the body.

What is kept is kept as compact JSON (:func:`encode`) and decoded on each read: at 100k routes
the difference between a few hundred bytes and a few kilobytes per object is most of the
process's memory, and reads are few (the worker once per change, the status and Event writers
once per write).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final

from gwwatch.engine import ObjectRef

__all__ = ["Encoded", "Store", "encode", "key_of", "resource_version", "trim"]

Obj = Mapping[str, Any]

_KEEP_META: Final = ("name", "namespace", "uid", "resourceVersion", "generation",
                     "creationTimestamp", "deletionTimestamp", "labels")
_KEEP_STATUS: Final = ("parents", "phase", "supportedFeatures")
_OUR_ANNOTATIONS: Final = "gwwatch.io/"


def trim(obj: Obj) -> dict[str, Any]:
    """``obj`` with only what gwwatch reads (see the module's docstring); values are shared,
    not copied."""
    out: dict[str, Any] = {k: v for k, v in obj.items() if k not in ("metadata", "status")}
    meta = obj.get("metadata")
    if isinstance(meta, Mapping):
        small: dict[str, Any] = {k: meta[k] for k in _KEEP_META if k in meta}
        annotations = meta.get("annotations")
        if isinstance(annotations, Mapping):
            ours = {k: v for k, v in annotations.items()
                    if isinstance(k, str) and k.startswith(_OUR_ANNOTATIONS)}
            if ours:
                small["annotations"] = ours
        elif annotations is not None:
            small["annotations"] = annotations  # malformed: the engine says so
        out["metadata"] = small
    elif meta is not None:
        out["metadata"] = meta
    status = obj.get("status")
    if isinstance(status, Mapping):
        kept = {k: status[k] for k in _KEEP_STATUS if k in status}
        if kept:
            out["status"] = kept
    return out


def key_of(kind: str, obj: Obj) -> ObjectRef:
    """The key the engine uses: ``ObjectRef(kind, namespace, name)``; ``""`` namespace for
    cluster-scoped kinds (Namespaces)."""
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    return ObjectRef(kind, str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def resource_version(obj: Obj) -> str:
    meta = obj.get("metadata")
    return str(meta.get("resourceVersion") or "") if isinstance(meta, Mapping) else ""


Encoded = tuple[ObjectRef, str, bytes]  # key, resourceVersion, the trimmed object as JSON


def encode(kind: str, obj: Obj) -> Encoded:
    """``obj`` trimmed and kept as compact JSON: a few hundred bytes, where the same object as
    Python dicts, lists and strings takes several kilobytes (bench/controller.py --sizes)."""
    small = trim(obj)
    blob = json.dumps(small, separators=(",", ":"), default=str).encode()
    return key_of(kind, small), resource_version(small), blob


class Store:
    """Objects of one kind, each kept trimmed (:func:`trim`) and encoded as compact JSON; a
    read decodes a fresh copy (the caller may change it). Not thread-safe; the event loop is
    the only writer and reader."""

    __slots__ = ("_items", "kind")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[ObjectRef, tuple[str, bytes]] = {}

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[ObjectRef]:
        return iter(list(self._items))

    def get(self, key: ObjectRef) -> Obj | None:
        entry = self._items.get(key)
        return json.loads(entry[1]) if entry is not None else None

    def mentions(self, key: ObjectRef, text: str) -> bool:
        """Whether ``text`` may occur in ``key``'s object (False: it certainly does not), read
        without decoding it: e.g. whether a route may carry an entry of our controllerName."""
        entry = self._items.get(key)
        return entry is not None and json.dumps(text)[1:-1].encode() in entry[1]

    def values(self) -> list[Obj]:
        return [json.loads(blob) for _, blob in self._items.values()]

    def upsert(self, obj: Obj) -> ObjectRef | None:
        """Store ``obj``; its key when it is new or its resourceVersion moved, else None."""
        key, rv, blob = encode(self.kind, obj)
        old = self._items.get(key)
        self._items[key] = (rv, blob)
        if old is not None and old[0] == rv != "":
            return None
        return key

    def delete(self, key: ObjectRef) -> ObjectRef | None:
        return key if self._items.pop(key, None) is not None else None

    def replace(self, items: Iterable[Obj]) -> list[ObjectRef]:
        """Make the store exactly ``items``; the keys that changed, deletes included."""
        return self.replace_encoded(encode(self.kind, obj) for obj in items)

    def replace_encoded(self, entries: Iterable[Encoded]) -> list[ObjectRef]:
        """:meth:`replace` with objects already passed through :func:`encode` (a list of 100k
        routes is encoded page by page, never held whole as dicts)."""
        fresh: dict[ObjectRef, tuple[str, bytes]] = {}
        for key, rv, blob in entries:
            fresh[key] = (rv, blob)
        changed = [k for k in self._items if k not in fresh]  # synthesised deletes
        for key, (rv, _) in fresh.items():
            old = self._items.get(key)
            if old is None or old[0] != rv:
                changed.append(key)
        self._items = fresh
        return changed

    def clear(self) -> list[ObjectRef]:
        """Forget everything (the kind's CRD went away); every key was deleted."""
        return self.replace(())
