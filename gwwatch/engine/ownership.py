"""Tenants and who owns a hostname (docs/architecture.md, "Tenants and ownership").

A tenant is a namespace, or the value of a tenant label shared by several namespaces. The owner
of a hostname is decided by the first rule that applies:

1. an explicit claim: the platform's ownership file (tenant → hostnames), else the Namespace
   annotation ``gwwatch.io/hostnames`` (unless annotations are not trusted); the most specific
   claim covering the hostname wins, and two tenants claiming it equally means no owner
   (``ConflictingClaims``);
2. otherwise the tenant of the oldest route whose hostname covers it.

Sharing is opted into by the *owner*: ``gwwatch.io/shared-with`` on the owner's namespace lists
the tenants it shares with. An offender cannot lower its own findings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from gwwatch.engine import hostnames
from gwwatch.engine.model import NamespaceInfo
from gwwatch.engine.vocabulary import INTRA_TENANT_SEVERITIES, Severity

__all__ = [
    "DEFAULT_TENANT_LABEL",
    "HOSTNAMES_ANNOTATION",
    "SHARED_WITH_ANNOTATION",
    "Claims",
    "Owner",
    "Policy",
    "parse_list",
    "tenant_of",
]

DEFAULT_TENANT_LABEL: Final = "capsule.clastix.io/tenant"
HOSTNAMES_ANNOTATION: Final = "gwwatch.io/hostnames"
SHARED_WITH_ANNOTATION: Final = "gwwatch.io/shared-with"


@dataclass(frozen=True, slots=True)
class Policy:
    tenant_label: str | None = DEFAULT_TENANT_LABEL
    trust_annotations: bool = True
    # Platform-owned claims (tenant → hostname patterns); they override annotations.
    ownership: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Severity of a Hijack between namespaces of one tenant: one of INTRA_TENANT_SEVERITIES
    # (given as a plain string or a Severity; stored as the Severity).
    intra_tenant_severity: str = Severity.WARNING

    def __post_init__(self) -> None:
        if self.intra_tenant_severity not in INTRA_TENANT_SEVERITIES:
            choices = tuple(str(s) for s in INTRA_TENANT_SEVERITIES)
            raise ValueError(f"intra_tenant_severity must be one of {choices}, "
                             f"not {self.intra_tenant_severity!r}")
        object.__setattr__(self, "intra_tenant_severity", Severity(self.intra_tenant_severity))


def tenant_of(ns: NamespaceInfo, policy: Policy) -> str:
    if policy.tenant_label:
        value = ns.labels.get(policy.tenant_label)
        if value:
            return value
    return ns.name


def parse_list(value: str | None) -> tuple[str, ...]:
    """``"a, b,,c"`` → ``("a", "b", "c")``."""
    if not value:
        return ()
    return tuple(dict.fromkeys(p.strip().lower() for p in value.split(",") if p.strip()))


@dataclass(frozen=True, slots=True)
class Owner:
    """Who owns a hostname: ``tenant`` (None when claims conflict) and by which rule."""

    tenant: str | None
    rule: str  # "ownership file" | "namespace annotation" | "oldest route" | "conflicting claims"
    claim: str  # the claim pattern or the route that decided it
    contenders: tuple[str, ...] = ()


class Claims:
    """Explicit hostname claims, indexed by pattern, from the file or from annotations."""

    __slots__ = ("_by_pattern", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self._by_pattern: dict[str, set[str]] = {}

    @classmethod
    def build(cls, source: str, pairs: Iterable[tuple[str, str]]) -> Claims:
        claims = cls(source)
        for tenant, pattern in pairs:
            if pattern == hostnames.ANY or hostnames.is_valid(pattern):
                claims._by_pattern.setdefault(pattern, set()).add(tenant)
        return claims

    def __bool__(self) -> bool:
        return bool(self._by_pattern)

    def patterns(self) -> dict[str, frozenset[str]]:
        return {p: frozenset(t) for p, t in self._by_pattern.items()}

    def owner(self, hostname: str) -> Owner | None:
        """The most specific claim covering ``hostname``; None when nothing claims it."""
        best: tuple[tuple[int, int], str] | None = None
        for pattern in hostnames.covering(hostname):
            if pattern in self._by_pattern:
                key = hostnames.specificity(pattern)
                if best is None or key > best[0]:
                    best = (key, pattern)
        if best is None:
            return None
        tenants = sorted(self._by_pattern[best[1]])
        if len(tenants) > 1:
            return Owner(None, "conflicting claims", best[1], tuple(tenants))
        return Owner(tenants[0], self.source, best[1])
