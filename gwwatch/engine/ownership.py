"""Tenants and who owns a hostname (docs/architecture.md, "Tenants and ownership").

A tenant is a namespace, or the value of a tenant label shared by several namespaces; an
unlabelled namespace is a tenant of its own, never the label value of the same spelling
(:class:`Tenants` names them apart). The owner of a hostname is decided by the first rule that
applies:

1. a platform claim: the ownership file or ConfigMap (tenant → hostnames); it decides alone;
2. a Namespace annotation ``gwwatch.io/hostnames`` (unless annotations are not trusted); the
   most specific claim covering the hostname wins, and two tenants claiming it equally means
   no claim wins (``ConflictingClaims``);
3. the tenant of the oldest route whose hostname covers it.

Annotation claims add, never subtract: where rule 2 and rule 3 name different owners, the
hostname is *contested* and the findings of both readings count (:func:`readings`).

Sharing is opted into by the *owner*: ``gwwatch.io/shared-with`` on the owner's namespace lists
the tenants it shares with. An offender cannot lower its own findings.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Final

from gwwatch.engine import hostnames
from gwwatch.engine.model import NamespaceInfo
from gwwatch.engine.vocabulary import INTRA_TENANT_SEVERITIES, Severity

__all__ = [
    "DEFAULT_TENANT_LABEL",
    "HOSTNAMES_ANNOTATION",
    "NAMESPACE_PREFIX",
    "SHARED_WITH_ANNOTATION",
    "Claims",
    "Owner",
    "Policy",
    "Readings",
    "Tenants",
    "parse_list",
    "readings",
    "tenant_of",
]

DEFAULT_TENANT_LABEL: Final = "capsule.clastix.io/tenant"
HOSTNAMES_ANNOTATION: Final = "gwwatch.io/hostnames"
SHARED_WITH_ANNOTATION: Final = "gwwatch.io/shared-with"
# How an unlabelled namespace is named where a label value is spelled the same (and how
# shared-with and the ownership file may always name one). No label value or namespace name
# can contain ":", so no tenant name of one kind can be mistaken for the other.
NAMESPACE_PREFIX: Final = "ns:"


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
    """The tenant label's value, else the namespace's name: the tenant as spelled, before
    :class:`Tenants` tells an unlabelled namespace from a label value of the same spelling."""
    value = _label_value(ns, policy.tenant_label)
    return value if value is not None else ns.name


def _label_value(ns: NamespaceInfo, label: str | None) -> str | None:
    if not label:
        return None
    value = ns.labels.get(label)
    # The API server refuses ":" in a label value; one read from a file is no tenant name.
    if not value or ":" in value:
        return None
    return value


class Tenants:
    """Tenant names, each naming one tenant only.

    A namespace carrying the tenant label belongs to the tenant named by the label's value. A
    namespace without it is a tenant of its own, named by its name, or ``ns:NAME`` while some
    namespace carries ``NAME`` (in any case) as its label value: the unlabelled namespace
    ``billing`` is never the label-value tenant ``billing``. Without a tenant label every name
    is a namespace's.

    A name written by someone (``gwwatch.io/shared-with``, the ownership file) reads the same
    way: ``ns:NAME`` is always the namespace ``NAME`` as a tenant of its own; a bare name is the
    tenant named so, the label-value tenant whenever a namespace carries that value. So a name
    copied from a finding means what the finding meant, and a newcomer who creates a namespace
    spelled like a tenant's label value joins no one's tenant and no one's opt-in.
    """

    __slots__ = ("_label", "_members", "_values")

    def __init__(self, label: str | None) -> None:
        self._label = label or None
        self._values: Counter[str] = Counter()  # label value, lower case → namespaces with it
        self._members: dict[str, set[str]] = {}  # label value → the namespaces carrying it

    def put(self, old: NamespaceInfo | None, new: NamespaceInfo | None) -> set[str]:
        """Record a Namespace changing from ``old`` to ``new``; the (lower-case) spellings that
        became, or stopped being, a label value: an unlabelled namespace so named is named
        differently from now on."""
        before = _label_value(old, self._label) if old is not None else None
        after = _label_value(new, self._label) if new is not None else None
        if before == after:
            return set()
        flipped: set[str] = set()
        if before is not None and old is not None:
            members = self._members.get(before, set())
            members.discard(old.name)
            if not members:
                self._members.pop(before, None)
            key = before.lower()
            self._values[key] -= 1
            if self._values[key] <= 0:
                del self._values[key]
                flipped.add(key)
        if after is not None and new is not None:
            self._members.setdefault(after, set()).add(new.name)
            key = after.lower()
            if not self._values[key]:
                flipped.add(key)
            self._values[key] += 1
        return flipped

    def name(self, ns: NamespaceInfo) -> str:
        """The name of the tenant ``ns`` belongs to."""
        value = _label_value(ns, self._label)
        return value if value is not None else self.namespace_name(ns.name)

    def namespace_name(self, namespace: str) -> str:
        """The name of the unlabelled namespace ``namespace`` as a tenant of its own."""
        if namespace.lower() in self._values:
            return NAMESPACE_PREFIX + namespace
        return namespace

    def canonical(self, written: str) -> str:
        """A tenant name as written in shared-with or the ownership file → its name now."""
        if written.startswith(NAMESPACE_PREFIX):
            return self.namespace_name(written[len(NAMESPACE_PREFIX):])
        return written

    def namespaces(self, tenant: str) -> set[str]:
        """The namespaces of the tenant named ``tenant`` (unseen ones included by name)."""
        if tenant.startswith(NAMESPACE_PREFIX):
            return {tenant[len(NAMESPACE_PREFIX):]}
        members = self._members.get(tenant)
        return set(members) if members else {tenant}


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
    # What the other reading of a contested hostname says ("" when nothing contests it).
    contested: str = ""
    # This is the annotation reading of a contested hostname: a Namespace annotation claim
    # (which whoever can annotate a namespace may write) that the oldest route does not bear
    # out. Findings computed under it carry ``Finding.contested``.
    annotation_reading: bool = False


@dataclass(frozen=True, slots=True)
class Readings:
    """The owners a hostname's findings are computed for: one, or, when the hostname is
    contested, the annotation reading then the evidence reading."""

    owners: tuple[Owner, ...] = ()
    contested: bool = False


def readings(platform: Owner | None, annotation: Owner | None,
             evidence: Owner | None) -> Readings:
    """Who owns a hostname, from the three rules' answers (each None when its rule is silent).

    A platform claim decides alone (conflicting platform claims: no owner). Otherwise annotation
    claims add, never subtract: where the annotation reading (the most specific claim, or no
    owner when two tenants claim one name) and the evidence (the oldest route) name different
    owners, both readings count, and the findings of each are reported.
    """
    if platform is not None:
        return Readings((platform,))
    if annotation is None:
        return Readings((evidence,) if evidence is not None else ())
    if evidence is None or evidence.tenant == annotation.tenant:
        return Readings((annotation,))
    if annotation.tenant is None:  # conflicting claims: no claim wins, the evidence stands
        contenders = ", ".join(annotation.contenders)
        return Readings((replace(evidence, contested=(
            f"tenants {contenders} claim it by conflicting namespace annotations "
            f"{annotation.claim}")),))
    return Readings((
        replace(annotation, annotation_reading=True, contested=(
            f"the oldest route claiming it, {evidence.claim}, belongs to tenant "
            f"{evidence.tenant}")),
        replace(evidence, contested=(
            f"tenant {annotation.tenant} claims it by namespace annotation {annotation.claim}")),
    ), contested=True)


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
