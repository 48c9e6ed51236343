"""``scan --output sarif``: the findings as a SARIF 2.1.0 log, for code-scanning UIs.

- One result per reported finding (a what-if: per finding the change adds or worsens; the
  removed ones are not results, there is nothing left to point at).
- ``ruleId`` is ``<kind>/<reason>`` (``Hijack/HijacksTraffic``): one rule per finding kind and
  reason, listed in ``tool.driver.rules`` as results use them.
- ``level``: critical → ``error``, warning → ``warning``, info → ``note``.
- The location is the offending object's ``file:line`` (the route; for a finding about a
  listener, the ListenerSet or Gateway declaring it) when it was read from a file, and the
  other route's as a related location. An object from the live cluster has no file: its
  result carries a logical location (``HTTPRoute namespace/name``) instead.
- ``partialFingerprints`` hash the finding's identity, so a result keeps its fingerprint when
  its wording changes; a what-if marks results ``baselineState`` ``new`` or ``updated``.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

from gwwatch import __version__
from gwwatch.cli.report import ADDED, CHANGED, REMOVED, Entry
from gwwatch.engine import Finding, ObjectRef
from gwwatch.engine.vocabulary import Severity

__all__ = ["LEVELS", "SCHEMA", "location_of", "rule_id", "sarif"]

SCHEMA: Final = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS: Final = {Severity.CRITICAL: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
_WHERE: Final = re.compile(r"(?P<path>.+):(?P<line>[0-9]+)(?: \(items\[[0-9]+\]\))?")
_STATES: Final = {ADDED: "new", CHANGED: "updated"}
_DESCRIPTIONS: Final = {
    "HijacksTraffic": "A route of another tenant takes requests on a hostname it does not own.",
    "Shadowed": "A match never serves a request: a route of higher precedence covers it.",
    "ListenerShadowed": "A more specific listener takes the hostname the route attaches to.",
    "SharesHostname": "Routes of different tenants serve one hostname (disjoint requests).",
    "OpenListenerWithoutHostname": "A listener without a hostname admits routes from every "
                                   "namespace.",
    "SharedOpenListener": "A listener shared between tenants admits any hostname.",
    "SelectorOnCustomLabel": "allowedRoutes selects namespaces by a label tenants can set.",
    "HostnameAcrossGateways": "One hostname is served by more than one Gateway.",
    "ConflictingClaims": "Two tenants claim the same hostname.",
    "ContestedClaim": "A hostname claim names another owner than the tenant of its oldest "
                      "route.",
}


def rule_id(f: Finding) -> str:
    return f"{f.kind}/{f.reason}"


def location_of(where: str) -> tuple[str, int] | None:
    """``file:line`` (as ``gwwatch.manifests`` names a document) → (file, line); None for
    standard input or anything else without a file."""
    m = _WHERE.fullmatch(where)
    if m is None or m["path"] == "<stdin>":
        return None
    return m["path"], int(m["line"])


def _uri(path: str) -> str:
    """A relative URI for a file under the working directory (what code-scanning UIs join to
    the repository root), else a ``file://`` URI."""
    p = Path(path)
    absolute = p if p.is_absolute() else Path.cwd() / p
    try:
        relative = Path(os.path.normpath(absolute)).relative_to(Path.cwd())
        return quote(relative.as_posix())
    except ValueError:
        return Path(os.path.normpath(absolute)).as_uri()


def _physical(where: str) -> dict[str, Any] | None:
    loc = location_of(where)
    if loc is None:
        return None
    return {"physicalLocation": {"artifactLocation": {"uri": _uri(loc[0])},
                                 "region": {"startLine": loc[1]}}}


def _logical(ref: ObjectRef) -> dict[str, Any]:
    return {"logicalLocations": [{"fullyQualifiedName": f"{ref.kind} {ref}",
                                  "name": ref.name, "kind": "resource"}]}


def _fingerprint(f: Finding) -> str:
    return hashlib.sha256(repr(f.identity).encode()).hexdigest()[:32]


def _rule(f: Finding) -> dict[str, Any]:
    text = _DESCRIPTIONS.get(f.reason, f"{f.kind}: {f.reason}")
    return {"id": rule_id(f), "name": str(f.reason),
            "shortDescription": {"text": text},
            "properties": {"kind": str(f.kind), "reason": str(f.reason)}}


def sarif(reported: Sequence[Entry], sources: Mapping[ObjectRef, str]) -> dict[str, Any]:
    """The SARIF log of ``reported`` (``sources``: where each object was read)."""
    rules: dict[str, int] = {}
    rule_docs: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for e in reported:
        f = e.finding
        if e.change == REMOVED:
            continue
        rid = rule_id(f)
        if rid not in rules:
            rules[rid] = len(rule_docs)
            rule_docs.append(_rule(f))
        result: dict[str, Any] = {
            "ruleId": rid,
            "ruleIndex": rules[rid],
            "level": LEVELS.get(f.severity, "warning"),
            "message": {"text": f.message},
            "partialFingerprints": {"gwwatchFinding/v1": _fingerprint(f)},
            "properties": {"severity": str(f.severity), "hostname": f.hostname},
        }
        subject = next((r for r in (f.route, f.listener_owner, f.gateway) if r is not None),
                       None)
        where = next((sources[r] for r in (f.route, f.listener_owner, f.gateway)
                      if r is not None and r in sources), "")
        physical = _physical(where)
        if physical is not None:
            result["locations"] = [physical]
        elif subject is not None:
            result["locations"] = [_logical(subject)]
        if f.other is not None:
            related = _physical(sources.get(f.other, "")) or _logical(f.other)
            result["relatedLocations"] = [{"id": 1, **related,
                                           "message": {"text": f"other route {f.other}"}}]
        if f.route is not None:
            result["properties"]["route"] = f"{f.route.kind} {f.route}"
        if f.other is not None:
            result["properties"]["other"] = f"{f.other.kind} {f.other}"
        if e.change in _STATES:
            result["baselineState"] = _STATES[e.change]
        results.append(result)
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "gwwatch", "version": __version__,
                                "rules": rule_docs}},
            "results": results,
        }],
    }
