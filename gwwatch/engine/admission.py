"""Admission decisions: may this change to a Gateway API object land?

The runtime asks the conflict graph which findings a change would add (``what_if``), then
hands them here with the object under review. The rules:

- Refuse only a **new critical Hijack whose offender is the object under review**: the route
  that would take the requests (``Finding.route``), or a ListenerSet whose listener the
  requests would reach (``Finding.listener_owner``) unless the ListenerSet belongs to the
  victim's tenant. A victim's or owner's update is never refused because of someone else's
  hijack; Gateways (platform-owned) get warnings only; a DELETE is never refused.
- A critical Hijack that holds only under a contested Namespace annotation claim
  (``Finding.contested``: the oldest route's reading does not find it) is said, not refused:
  whoever can annotate a namespace could otherwise get the oldest route's own updates refused.
  The evidence reading, or a platform claim, still refuses.
- Every other new finding at warning or above comes back as an admission warning.
- ``mode``: ``off`` answers allowed without looking, ``warn`` turns refusals into warnings,
  ``deny`` refuses.

Pure: findings in, a :class:`Decision` out. Messages are bounded so that the API server keeps
them whole (it keeps at most 4096 characters of warnings per request).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from gwwatch.engine import hostnames
from gwwatch.engine.findings import Diff, Finding
from gwwatch.engine.model import Gateway, Listener, ListenerSet, ObjectRef, Parsed, Route
from gwwatch.engine.ownership import HOSTNAMES_ANNOTATION, SHARED_WITH_ANNOTATION
from gwwatch.engine.vocabulary import (
    HOSTNAME_PROTOCOLS,
    ROUTE_KINDS,
    FindingKind,
    Severity,
    route_kind_spec,
    severity_rank,
)

__all__ = [
    "OPERATIONS",
    "REVIEWED_KINDS",
    "Decision",
    "Mode",
    "Outcome",
    "attributable",
    "decide",
    "narrowed",
    "reach",
    "related",
    "unchecked",
]


class Mode(StrEnum):
    OFF = "off"  # admit everything without a look (the webhook stays registered)
    WARN = "warn"  # never refuse; what would be refused comes back as a warning
    DENY = "deny"  # refuse a new critical Hijack by the object under review


class Outcome(StrEnum):
    """How a request was answered (the ``decision`` label of the admission metrics)."""

    ALLOWED = "allowed"  # admitted, nothing to say
    WARNED = "warned"  # admitted with warnings
    DENIED = "denied"
    UNCHECKED = "unchecked"  # admitted without a check: mode off, replica not synced, unparsable


OPERATIONS: Final = ("CREATE", "UPDATE", "DELETE", "CONNECT")
# What the webhook reviews: every route kind, ListenerSets, and Gateways (warnings only).
REVIEWED_KINDS: Final = frozenset(("Gateway", "ListenerSet", *(str(k) for k in ROUTE_KINDS)))
_PREFIX: Final = "gwwatch: "
# The API server keeps at most 4096 characters of warnings per request (all sources) and may
# cut single ones to 256 when over; stay under with room for other webhooks' warnings.
_WARNINGS_BUDGET: Final = 3000
_WARNING_LIMIT: Final = 1000
_MESSAGE_LIMIT: Final = 3000


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    outcome: Outcome
    message: str = ""  # why it is refused (empty when allowed)
    warnings: tuple[str, ...] = ()
    refusing: tuple[Finding, ...] = ()  # the findings that refuse it (warn mode: would)


def unchecked(why: str) -> Decision:
    """Admitted without a check, saying so (a replica still syncing, an unreadable object)."""
    return Decision(True, Outcome.UNCHECKED, warnings=(_cut(_PREFIX + why, _WARNING_LIMIT),))


def reach(obj: Parsed, *, claimed_under: Callable[[str], int],
          listeners_of: Callable[[ObjectRef], Iterable[Listener]]) -> int:
    """How many claimed hostnames a what-if of ``obj`` analyses again: its cost, known before
    paying it (``claimed_under`` is the graph's, ``listeners_of`` a parent's listeners).

    A route with hostnames reaches what they cover; one without, what its parents' listeners
    cover; a route kind without hostnames only its arena's catch-all. A Gateway or ListenerSet
    reaches what its hostname-carrying listeners cover. A wildcard over a busy domain, a
    listener without hostname: thousands in a large cluster.
    """
    def under(listeners: Iterable[Listener]) -> int:
        return sum(claimed_under(li.hostname or hostnames.ANY) if li.protocol in
                   HOSTNAME_PROTOCOLS else 1 for li in listeners)

    if isinstance(obj, Route):
        spec = route_kind_spec(obj.kind)
        if spec is None or not spec.carries_hostnames:
            return 1
        if obj.hostnames:
            return sum(claimed_under(h) for h in obj.hostnames)
        return sum(under(listeners_of(pr.target)) for pr in obj.parent_refs)
    if isinstance(obj, (Gateway, ListenerSet)):
        return under(obj.listeners)
    return 1


def narrowed(obj: Route | ListenerSet, *, budget: int, claimed_under: Callable[[str], int]
             ) -> tuple[Route | ListenerSet | None, tuple[str, ...]]:
    """``obj`` keeping only the hostnames (a route's) or listeners (a ListenerSet's) a what-if
    can afford, cheapest first, ``budget`` claimed hostnames in all; and what was left out.
    ``None`` when nothing fits.

    A broad wildcard added beside an exact hostname (or listener) must not buy the exact one a
    pass: the exact part is still checked, the broad part is said to be unchecked. Leaving
    parts out of a new object only removes claims, so the findings of what remains are a
    subset of the whole's.
    """
    if isinstance(obj, Route):
        parts: list[tuple[int, str]] = [(claimed_under(h), h) for h in obj.hostnames]
    else:
        parts = [(claimed_under(li.hostname or hostnames.ANY) if li.protocol in
                  HOSTNAME_PROTOCOLS else 1, li.name) for li in obj.listeners]
    kept: set[int] = set()
    left: list[str] = []
    spent = 0
    for cost, i in sorted((cost, i) for i, (cost, _) in enumerate(parts)):
        if spent + cost <= budget:
            kept.add(i)
            spent += cost
        else:
            left.append(parts[i][1] if isinstance(obj, Route) else
                        f"listener {parts[i][1]} ({obj.listeners[i].hostname or 'no hostname'})")
    if not kept:
        return None, tuple(left)
    if isinstance(obj, Route):
        return (dataclasses.replace(
            obj, hostnames=tuple(h for i, h in enumerate(obj.hostnames) if i in kept)),
            tuple(left))
    return (dataclasses.replace(
        obj, listeners=tuple(li for i, li in enumerate(obj.listeners) if i in kept)),
        tuple(left))


def related(subject: Parsed, pending: Iterable[Parsed]) -> list[Parsed]:
    """The pending objects that can change the findings of ``subject``'s change.

    A route's findings depend only on routes whose hostnames intersect its own (the slices it
    contests and their owner) and on listeners; a pending route on disjoint hostnames is left
    out of the what-if, which then costs what the few related objects cost. Anything that is
    not a route with hostnames (a Gateway, a ListenerSet, a route without hostnames) may
    touch every route on its listeners: everything pending is related to it, and it to all.
    """
    if not isinstance(subject, Route) or not subject.hostnames:
        return list(pending)
    out: list[Parsed] = []
    for obj in pending:
        if not isinstance(obj, Route) or not obj.hostnames or any(
                hostnames.intersect(a, b) is not None
                for a in subject.hostnames for b in obj.hostnames):
            out.append(obj)
    return out


def attributable(change: Diff, *, base: Diff | None = None,
                 previous: Callable[[tuple[object, ...]], Finding | None] = lambda _: None,
                 ) -> tuple[Finding, ...]:
    """The findings a change adds, from ``what_if`` diffs.

    ``change`` is the what-if of the pending overlay plus the object under review, ``base``
    the what-if of the overlay alone (``None``: no overlay): what the overlay adds by itself is
    not the reviewed object's doing. A finding that exists already but would become more
    severe (``changed``, ``previous`` gives the current one) counts as added.
    """
    before = {f.identity: f for f in (base.added + base.changed)} if base is not None else {}
    out: list[Finding] = []
    for f in change.added:
        was = before.get(f.identity)
        if was is None or _stronger(f, was):
            out.append(f)
    for f in change.changed:
        was = before.get(f.identity) or previous(f.identity)
        if was is not None and _stronger(f, was):
            out.append(f)
    return tuple(sorted(out, key=Finding.sort_key))


def _stronger(f: Finding, was: Finding) -> bool:
    """More severe, or as severe and no longer resting on a contested annotation claim alone
    (the evidence now bears it out: the change made it refusable)."""
    rank, before = severity_rank(f.severity), severity_rank(was.severity)
    return rank < before or (rank == before and was.contested and not f.contested)


def decide(
    *,
    mode: str,
    operation: str,
    subject: ObjectRef,
    added: Sequence[Finding],
    tenant: Callable[[str], str] = lambda ns: ns,
    claim_hint: str = "",
) -> Decision:
    """Answer one admission request from the findings the change would add.

    ``subject`` is the object under review, ``added`` what :func:`attributable` gives,
    ``tenant`` maps a namespace to its tenant, ``claim_hint`` names where the platform claims
    hostnames (the ownership ConfigMap) for the "how to proceed" text.
    """
    if mode == Mode.OFF or operation not in ("CREATE", "UPDATE"):
        return Decision(True, Outcome.UNCHECKED if mode == Mode.OFF else Outcome.ALLOWED)
    if subject.kind not in REVIEWED_KINDS:
        return Decision(True, Outcome.ALLOWED)
    offending = [f for f in added if _offends(f, subject, tenant)]
    refusing = tuple(f for f in offending if not f.contested)
    claimed = [_on_contested_claim(f) for f in offending if f.contested]
    others = [f for f in added if f not in offending
              and severity_rank(f.severity) <= severity_rank(Severity.WARNING)]
    if refusing and mode == Mode.DENY:
        return Decision(False, Outcome.DENIED, message=_refusal(refusing, claim_hint),
                        warnings=_warnings(others, first=claimed), refusing=refusing)
    texts = [f"would be refused (webhook mode {mode}): {f.message}" for f in refusing]
    warnings = _warnings(others, first=[*texts, *claimed])
    return Decision(True, Outcome.WARNED if warnings else Outcome.ALLOWED, warnings=warnings,
                    refusing=refusing)


def _offends(f: Finding, subject: ObjectRef, tenant: Callable[[str], str]) -> bool:
    """Whether ``f`` is a critical Hijack by ``subject`` (its offender, not its victim)."""
    if f.kind != FindingKind.HIJACK or f.severity != Severity.CRITICAL:
        return False
    if subject.kind == "Gateway":
        return False  # the platform's object: warnings only
    if subject.kind == "ListenerSet":
        # Its listener receives the requests the offending route takes; a ListenerSet of the
        # victim's own tenant is the owner's change, never refused for someone else's route.
        return f.listener_owner == subject and f.other_tenant != tenant(subject.namespace)
    return f.route == subject


def _on_contested_claim(f: Finding) -> str:
    """The warning for a critical Hijack by the subject that holds only because of a contested
    Namespace annotation claim: said, never refused."""
    return (f"not refused, {f.hostname} is owned by tenant {f.other_tenant} only by a contested "
            f"claim ({HOSTNAMES_ANNOTATION} namespace annotation; the oldest route claiming it "
            f"belongs to another tenant, and only a platform claim decides alone): "
            f"{f.severity} {f.kind}: {f.message}")


def _refusal(refusing: Sequence[Finding], claim_hint: str) -> str:
    first = refusing[0]
    more = f" (and {len(refusing) - 1} more hijacks)" if len(refusing) > 1 else ""
    taker = first.tenant or (first.route.namespace if first.route else "")
    owner = first.other_tenant or ""
    where = claim_hint or (f"the ownership ConfigMap, or the {HOSTNAMES_ANNOTATION} annotation "
                           f"on one of {taker}'s namespaces")
    how = (f" To proceed: serve other requests (another hostname or path) so the owner's "
           f"route keeps them; or tenant {owner} shares {first.hostname} with tenant {taker} "
           f"({SHARED_WITH_ANNOTATION}: \"{taker}\" on one of its namespaces); or the platform "
           f"team assigns {first.hostname} to tenant {taker} ({where}).")
    text = f"{_PREFIX}refused: {first.message}{more}."
    return _cut(text, _MESSAGE_LIMIT - len(how)) + how


def _warnings(findings: Iterable[Finding], *, first: Iterable[str] = ()) -> tuple[str, ...]:
    texts = [*first, *(f"{f.severity} {f.kind}: {f.message}" for f in findings)]
    out: list[str] = []
    used = 0
    for i, text in enumerate(texts):
        item = _cut(_PREFIX + text, _WARNING_LIMIT)
        if used + len(item) > _WARNINGS_BUDGET:
            out.append(f"{_PREFIX}and {len(texts) - i} more findings (kubectl describe the "
                       f"route once admitted, or gwwatch explain)")
            break
        out.append(item)
        used += len(item)
    return tuple(out)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
