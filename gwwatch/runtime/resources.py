"""Which kinds gwwatch watches, at which version, and where they live on the API server.

Namespaces are always there. The Gateway API kinds exist only when their CRDs are installed, at
the versions the installed release serves: :func:`discover` asks the API (the group's served
versions, in the server's order of preference, then each version's resource list) and picks, per
kind, the first served version the engine reads. Which versions those are is the engine's data
(:func:`gwwatch.engine.vocabulary.readable_versions`); the runtime only asks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from gwwatch.engine import vocabulary
from gwwatch.engine.vocabulary import GROUP
from gwwatch.runtime import errors
from gwwatch.runtime.kube import Kube

__all__ = ["GATEWAY_KINDS", "NAMESPACES", "Resource", "discover", "engine_understands"]


@dataclass(frozen=True, slots=True)
class Resource:
    kind: str
    group: str  # "" for the core group
    version: str
    plural: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def _prefix(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    def collection_path(self, namespace: str | None = None) -> str:
        """All objects (cluster-wide), or one namespace's when ``namespace`` is given."""
        if namespace and self.namespaced:
            return f"{self._prefix}/namespaces/{namespace}/{self.plural}"
        return f"{self._prefix}/{self.plural}"

    def object_path(self, namespace: str, name: str, subresource: str = "") -> str:
        base = self.collection_path(namespace if self.namespaced else None)
        return f"{base}/{name}/{subresource}" if subresource else f"{base}/{name}"


NAMESPACES: Final = Resource("Namespace", "", "v1", "namespaces", False)
# What gwwatch analyses from the Gateway API group: GatewayClass for the features its
# implementation supports (status.supportedFeatures: listener isolation); ReferenceGrant and the
# policies do not decide who wins a request.
GATEWAY_KINDS: Final = tuple(k for k in vocabulary.READABLE_KINDS
                             if vocabulary.group_of(k) == GROUP)


def engine_understands(kind: str, api_version: str) -> bool:
    """Whether the engine analyses ``kind`` at ``api_version`` (``group/version``)."""
    group, _, version = api_version.rpartition("/")
    return (kind in GATEWAY_KINDS and group == vocabulary.group_of(kind)
            and version in vocabulary.readable_versions(kind))


async def discover(kube: Kube) -> dict[str, Resource]:
    """Kind → resource for the Gateway API kinds served now (none when the group is absent).

    Raises :class:`errors.ApiError` only when the API cannot be asked at all; a missing group
    or version is an answer, not an error.
    """
    try:
        group = await kube.request("GET", f"/apis/{GROUP}")
    except errors.NotFound:
        return {}
    versions = [v.get("version") for v in _list(group, "versions")]
    preferred = group.get("preferredVersion")
    if isinstance(preferred, Mapping) and preferred.get("version") in versions:
        versions.remove(preferred["version"])
        versions.insert(0, preferred["version"])
    found: dict[str, Resource] = {}
    for version in versions:
        if not isinstance(version, str):
            continue
        try:
            doc = await kube.request("GET", f"/apis/{GROUP}/{version}")
        except errors.NotFound:
            continue
        for res in _list(doc, "resources"):
            kind, name = res.get("kind"), res.get("name")
            if (kind in GATEWAY_KINDS and kind not in found and isinstance(name, str)
                    and "/" not in name
                    and engine_understands(kind, f"{GROUP}/{version}")):
                found[kind] = Resource(kind, GROUP, version, name,
                                       bool(res.get("namespaced", True)))
    return found


def _list(doc: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = doc.get(key)
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []
