"""What gwwatch reports: findings and their stable identity.

Severities, finding kinds and reasons are words of :mod:`gwwatch.engine.vocabulary`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gwwatch.engine.model import ObjectRef
from gwwatch.engine.vocabulary import FindingKind, Reason, Severity, severity_rank

__all__ = [
    "Diff",
    "Finding",
    "diff",
]


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing worth telling. ``route`` is the offender (Hijack), the never-winning route
    (Shadowed) or the non-owner (SharedHostname); ``other`` the victim, winner or owner's route.
    """

    kind: FindingKind
    reason: Reason
    severity: Severity
    hostname: str
    gateway: ObjectRef | None
    listener: str | None
    route: ObjectRef | None
    other: ObjectRef | None
    message: str
    request_space: str = ""
    basis: str = ""
    tenant: str | None = None  # the route's tenant
    other_tenant: str | None = None
    # Who declares ``listener``: the Gateway, or a ListenerSet whose listener names may repeat
    # the Gateway's own.
    listener_owner: ObjectRef | None = None
    # True when the finding holds only in the annotation reading of a contested hostname: a
    # Namespace annotation claim names an owner that the oldest route (the evidence) does not,
    # and the evidence reading does not find this. Whoever can annotate a namespace can write
    # such a claim, so admission never refuses on it alone. Not part of the identity: the
    # finding stays the same finding when the evidence comes to bear it out.
    contested: bool = False

    @property
    def identity(self) -> tuple[object, ...]:
        """Stable across re-analysis: what the finding is about, not how it is worded."""
        return (self.kind, self.reason, self.gateway, self.listener_owner, self.listener,
                self.hostname, self.route, self.other)

    def sort_key(self) -> tuple[object, ...]:
        return (severity_rank(self.severity), self.kind, self.hostname, str(self.gateway),
                self.listener or "", str(self.route), str(self.other))


@dataclass(frozen=True, slots=True)
class Diff:
    added: tuple[Finding, ...]
    removed: tuple[Finding, ...]
    changed: tuple[Finding, ...]  # same identity, new wording or severity

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)


def diff(before: Iterable[Finding], after: Iterable[Finding]) -> Diff:
    old = {f.identity: f for f in before}
    new = {f.identity: f for f in after}
    return Diff(
        added=tuple(sorted((f for k, f in new.items() if k not in old), key=Finding.sort_key)),
        removed=tuple(sorted((f for k, f in old.items() if k not in new), key=Finding.sort_key)),
        changed=tuple(sorted((f for k, f in new.items() if k in old and old[k] != f),
                             key=Finding.sort_key)),
    )
