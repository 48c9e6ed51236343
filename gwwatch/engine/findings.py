"""What gwwatch reports: findings, their severities and their stable identity."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from gwwatch.engine.model import ObjectRef

__all__ = [
    "CRITICAL",
    "INFO",
    "KINDS",
    "SEVERITIES",
    "WARNING",
    "Diff",
    "Finding",
    "at_or_above",
    "diff",
]

CRITICAL: Final = "critical"
WARNING: Final = "warning"
INFO: Final = "info"
SEVERITIES: Final = (CRITICAL, WARNING, INFO)
KINDS: Final = ("Hijack", "Shadowed", "SharedHostname", "Posture")
_ORDER: Final = {CRITICAL: 0, WARNING: 1, INFO: 2}


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing worth telling. ``route`` is the offender (Hijack), the never-winning route
    (Shadowed) or the non-owner (SharedHostname); ``other`` the victim, winner or owner's route.
    """

    kind: str
    reason: str  # e.g. HijacksTraffic, Shadowed, SharesHostname, OpenListenerWithoutHostname
    severity: str
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

    @property
    def identity(self) -> tuple[object, ...]:
        """Stable across re-analysis: what the finding is about, not how it is worded."""
        return (self.kind, self.reason, self.gateway, self.listener_owner, self.listener,
                self.hostname, self.route, self.other)

    def sort_key(self) -> tuple[object, ...]:
        return (_ORDER.get(self.severity, 9), self.kind, self.hostname, str(self.gateway),
                self.listener or "", str(self.route), str(self.other))


def at_or_above(severity: str, threshold: str) -> bool:
    """``threshold`` may be ``never``; ``info`` is the lowest."""
    if threshold == "never":
        return False
    return _ORDER[severity] <= _ORDER[threshold]


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
