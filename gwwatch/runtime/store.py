"""The latest version of every watched object, by key (client-go's ``cache.Store``).

A reflector writes here; the worker reads here. Writes return whether anything changed so the
reflector enqueues only real changes, and :meth:`Store.replace` — the end of a (re-)list —
synthesises a delete for every key the list no longer has.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from gwwatch.engine import ObjectRef

__all__ = ["Store", "key_of", "resource_version"]

Obj = Mapping[str, Any]


def key_of(kind: str, obj: Obj) -> ObjectRef:
    """The key the engine uses: ``ObjectRef(kind, namespace, name)``; ``""`` namespace for
    cluster-scoped kinds (Namespaces)."""
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    return ObjectRef(kind, str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def resource_version(obj: Obj) -> str:
    meta = obj.get("metadata")
    return str(meta.get("resourceVersion") or "") if isinstance(meta, Mapping) else ""


class Store:
    """Objects of one kind. Not thread-safe; the event loop is the only writer and reader."""

    __slots__ = ("_items", "kind")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[ObjectRef, Obj] = {}

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[ObjectRef]:
        return iter(list(self._items))

    def get(self, key: ObjectRef) -> Obj | None:
        return self._items.get(key)

    def values(self) -> list[Obj]:
        return list(self._items.values())

    def upsert(self, obj: Obj) -> ObjectRef | None:
        """Store ``obj``; its key when it is new or its resourceVersion moved, else None."""
        key = key_of(self.kind, obj)
        old = self._items.get(key)
        self._items[key] = obj
        if old is not None and resource_version(old) == resource_version(obj) != "":
            return None
        return key

    def delete(self, key: ObjectRef) -> ObjectRef | None:
        return key if self._items.pop(key, None) is not None else None

    def replace(self, items: Iterable[Obj]) -> list[ObjectRef]:
        """Make the store exactly ``items``; the keys that changed, deletes included."""
        fresh: dict[ObjectRef, Obj] = {}
        for obj in items:
            fresh[key_of(self.kind, obj)] = obj
        changed = [k for k in self._items if k not in fresh]  # synthesised deletes
        for key, obj in fresh.items():
            old = self._items.get(key)
            if old is None or resource_version(old) != resource_version(obj):
                changed.append(key)
        self._items = fresh
        return changed

    def clear(self) -> list[ObjectRef]:
        """Forget everything (the kind's CRD went away); every key was deleted."""
        return self.replace(())
