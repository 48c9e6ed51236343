"""What ``scan`` reports: each finding with what the change did to it (what-if), less those a
baseline already holds, and whether they fail the run.

- A plain scan reports every finding (``change`` None).
- A what-if (``scan --cluster PATHS``) reports the findings the change **adds**, those it
  **removes**, and those it **changes** (same identity, new severity or wording); ``--fail-on``
  looks at the added ones and at changed ones whose severity rose.
- ``--baseline FILE`` (a previous ``--output json`` report, of either kind) drops every
  reported finding whose identity the baseline holds (a removed one stays: it is news).

A finding's identity in JSON is what :attr:`gwwatch.engine.Finding.identity` is in the engine:
kind, reason, Gateway, listener (and its owner), hostname and the two routes; never the
wording or the severity.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from gwwatch.cli.exits import UsageError
from gwwatch.cli.render import escape, findings_json
from gwwatch.engine import Diff, Finding
from gwwatch.engine.vocabulary import at_or_above, severity_rank

__all__ = ["ADDED", "CHANGED", "REMOVED", "Baseline", "Entry", "entries", "failing",
           "identity_of", "load_baseline"]

ADDED: Final = "added"
REMOVED: Final = "removed"
CHANGED: Final = "changed"
_MAX_BASELINE: Final = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Entry:
    finding: Finding
    change: str | None = None  # None: a plain scan; else ADDED, REMOVED or CHANGED
    previous: Finding | None = None  # CHANGED: the finding before the change

    @property
    def worse(self) -> bool:
        """Added, or changed to a higher severity: what ``--fail-on`` looks at."""
        if self.change is None or self.change == ADDED:
            return True
        return (self.change == CHANGED and self.previous is not None
                and severity_rank(self.finding.severity) < severity_rank(self.previous.severity))


def entries(findings: Iterable[Finding] = (), diff: Diff | None = None,
            previous: Mapping[tuple[object, ...], Finding] | None = None) -> list[Entry]:
    """Plain findings, or a what-if's diff: added first, then changed, then removed."""
    if diff is None:
        return [Entry(f) for f in findings]
    previous = previous or {}
    return ([Entry(f, ADDED) for f in diff.added]
            + [Entry(f, CHANGED, previous.get(f.identity)) for f in diff.changed]
            + [Entry(f, REMOVED) for f in diff.removed])


def failing(reported: Iterable[Entry], fail_on: str) -> bool:
    return any(e.worse and at_or_above(e.finding.severity, fail_on) for e in reported)


def _ref_key(doc: object) -> tuple[str, str, str] | None:
    if not isinstance(doc, Mapping):
        return None
    return (str(doc.get("kind") or ""), str(doc.get("namespace") or ""),
            str(doc.get("name") or ""))


def identity_of(doc: Mapping[str, Any]) -> tuple[object, ...]:
    """A JSON finding's identity (see the module's docstring); the Gateway has no ``kind``
    in JSON, the routes and the listener's owner do."""
    gateway = doc.get("gateway")
    gw = ((str(gateway.get("namespace") or ""), str(gateway.get("name") or ""))
          if isinstance(gateway, Mapping) else None)
    return (str(doc.get("kind") or ""), str(doc.get("reason") or ""), gw,
            _ref_key(doc.get("listenerOwner")), doc.get("listener") or None,
            str(doc.get("hostname") or ""), _ref_key(doc.get("route")),
            _ref_key(doc.get("other")))


@dataclass(frozen=True, slots=True)
class Baseline:
    path: str
    identities: frozenset[tuple[object, ...]]

    def split(self, reported: Sequence[Entry]) -> tuple[list[Entry], int]:
        """The entries not in the baseline (removed ones always), and how many were."""
        docs = findings_json([e.finding for e in reported])
        kept = [e for e, doc in zip(reported, docs, strict=True)
                if e.change == REMOVED or identity_of(doc) not in self.identities]
        return kept, len(reported) - len(kept)


def load_baseline(path: str) -> Baseline:
    """A previous ``scan --output json`` report: the findings it holds (a what-if report's
    added and changed ones). Anything else is a :class:`UsageError` naming the file."""
    where = f"--baseline {escape(path)}"
    try:
        with open(path, "rb") as f:
            data = f.read(_MAX_BASELINE + 1)
    except OSError as exc:
        raise UsageError(f"{where}: cannot read: {exc.strerror or exc}") from exc
    if len(data) > _MAX_BASELINE:
        raise UsageError(f"{where}: larger than {_MAX_BASELINE // (1024 * 1024)} MiB")
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise UsageError(f"{where}: not JSON ({escape(exc)}); expected a report of "
                         f"gwwatch scan --output json") from exc
    findings = doc.get("findings") if isinstance(doc, Mapping) else None
    if not isinstance(findings, list) or not all(isinstance(f, Mapping) for f in findings):
        raise UsageError(f"{where}: no \"findings\" list; expected a report of "
                         f"gwwatch scan --output json")
    return Baseline(path, frozenset(identity_of(f) for f in findings
                                    if f.get("change") != REMOVED))
