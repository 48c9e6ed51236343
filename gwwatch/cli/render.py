"""What ``scan`` and ``explain`` print: the JSON others script against, and text for people.

Names in the text come from manifests: every control character is escaped there, so a
manifest cannot move the cursor or print lines of its own (such as a fake "No findings.").
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

from gwwatch.engine import explain as resolve
from gwwatch.engine.attachment import ParentStatus
from gwwatch.engine.conflicts import safe
from gwwatch.engine.findings import Finding
from gwwatch.engine.graph import ConflictGraph
from gwwatch.engine.model import Invalid, ObjectRef
from gwwatch.engine.precedence import Candidate, Request
from gwwatch.engine.vocabulary import Severity

__all__ = ["escape", "explain_json", "explain_text", "finding_source", "findings_json",
           "json_text", "plural", "ref_json", "scan_json", "scan_text", "what_if_json",
           "what_if_text"]


def escape(text: object) -> str:
    """``text`` on one line with every non-printable character written as an escape
    (``\\n``, ``\\x1b``, ``\\u2028``), so that it prints as itself and nothing else."""
    value = str(text)
    if value.isprintable():
        return value
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in value)


def json_text(doc: object) -> str:
    return json.dumps(doc, indent=2) + "\n"


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def ref_json(ref: ObjectRef | None, *, kind: bool = True) -> dict[str, str] | None:
    if ref is None:
        return None
    out = {"namespace": ref.namespace, "name": ref.name}
    return {"kind": ref.kind, **out} if kind else out


def finding_source(f: Finding, sources: Mapping[ObjectRef, str]) -> str:
    """Where the offending object was read (``file:line``): the route, else the ListenerSet or
    Gateway whose listener the finding is about; ``""`` for an object not read from a file."""
    for ref in (f.route, f.listener_owner, f.gateway):
        if ref is not None and ref in sources:
            return sources[ref]
    return ""


def findings_json(findings: Sequence[Finding],
                  sources: Mapping[ObjectRef, str] | None = None) -> list[dict[str, Any]]:
    sources = sources or {}
    return [
        {
            "kind": f.kind,
            "reason": f.reason,
            "severity": f.severity,
            "hostname": f.hostname,
            "gateway": ref_json(f.gateway, kind=False),
            "listener": f.listener,
            "listenerOwner": ref_json(f.listener_owner),
            "route": ref_json(f.route),
            "other": ref_json(f.other),
            "message": f.message,
            "requestSpace": f.request_space,
            "basis": f.basis,
            "source": finding_source(f, sources),
        }
        for f in findings
    ]


def _parent_json(st: ParentStatus) -> dict[str, Any]:
    return {
        "gateway": ref_json(st.parent, kind=False),
        "kind": st.parent.kind,
        "listener": st.parent_ref.section_name,
        "port": st.parent_ref.port,
        "accepted": st.accepted,
        "reason": st.reason,
        "message": st.message,
        "listeners": [
            {"name": a.listener.name, "hostnames": list(a.hostnames)} for a in st.attached
        ],
    }


def _invalid_json(inv: Invalid) -> dict[str, str]:
    return {"kind": inv.kind, "namespace": inv.namespace, "name": inv.name,
            "source": inv.source, "reason": inv.reason}


def _routes_json(graph: ConflictGraph, refs: Sequence[ObjectRef],
                 sources: Mapping[ObjectRef, str]) -> list[dict[str, Any]]:
    routes = []
    for ref in refs:
        routes.append({
            "kind": ref.kind, "namespace": ref.namespace, "name": ref.name,
            "source": sources.get(ref, ""),
            "parents": [_parent_json(st) for st in graph.parents_of(ref)],
        })
    return routes


def scan_json(graph: ConflictGraph, sources: Mapping[ObjectRef, str],
              findings: Sequence[Finding] | None = None) -> dict[str, Any]:
    """The ``scan --output json`` contract; ``findings`` (default: all) are those reported."""
    return {
        "findings": findings_json(graph.findings() if findings is None else findings, sources),
        "routes": _routes_json(graph, graph.route_refs(), sources),
        "invalid": [_invalid_json(i) for i in graph.invalid_objects()],
    }


def what_if_json(changes: Sequence[tuple[Finding, str, Finding | None]],
                 graph: ConflictGraph, sources: Mapping[ObjectRef, str],
                 files: Sequence[ObjectRef], new: Sequence[ObjectRef],
                 invalid: Sequence[Invalid]) -> dict[str, Any]:
    """``scan --cluster PATHS --output json``: each finding the change adds, changes or removes
    (``change``; a changed one also says its ``previousSeverity``), the routes of the change
    with their parents once it applied, and its invalid objects."""
    docs = findings_json([f for f, _, _ in changes], sources)
    for doc, (_, change, previous) in zip(docs, changes, strict=True):
        doc["change"] = change
        if previous is not None:
            doc["previousSeverity"] = previous.severity
            doc["previousMessage"] = previous.message
    fresh = set(new)
    return {
        "whatIf": {
            "objects": [{**(ref_json(ref) or {}), "source": sources.get(ref, ""),
                         "new": ref in fresh} for ref in files],
        },
        "findings": docs,
        "routes": _routes_json(graph, [r for r in files if graph.route(r) is not None], sources),
        "invalid": [_invalid_json(i) for i in invalid],
    }


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return [fmt.format(*headers).rstrip(), *(fmt.format(*r).rstrip() for r in rows)]


def scan_text(graph: ConflictGraph, findings: Sequence[Finding] | None = None,
              sources: Mapping[ObjectRef, str] | None = None) -> str:
    """``findings`` (default: all) are those reported; ``sources`` adds each one's
    ``file:line``."""
    lines: list[str] = []
    findings = graph.findings() if findings is None else findings
    sources = sources or {}
    if findings:
        rows = [
            [f.severity.upper(), f.kind, escape(f.hostname),
             escape(f.route) if f.route else (escape(f.gateway) if f.gateway else "-"),
             escape(f.other) if f.other else "-"]
            for f in findings
        ]
        lines += _table(["SEVERITY", "KIND", "HOSTNAME", "ROUTE", "OTHER"], rows)
        lines.append("")
        for n, f in enumerate(findings, 1):
            at = finding_source(f, sources)
            lines.append(f"{n}. [{f.severity}] {f.kind}/{f.reason}: {escape(f.message)}"
                         + (f" (at {escape(at)})" if at else ""))
    else:
        lines.append("No findings.")
    refused = [
        (ref, st) for ref, sts in sorted(graph.parent_statuses()) for st in sts
        if not st.accepted
    ]
    if refused:
        lines += ["", "Routes not attached:"]
        lines += [f"  {ref.kind} {escape(ref)}: {escape(st.parent_ref.describe())}: "
                  f"{st.reason} ({escape(st.message)})" for ref, st in refused]
    invalid = graph.invalid_objects()
    if invalid:
        lines += ["", "Invalid objects (skipped):"]
        lines += [f"  {escape(i.kind)} {escape(i.namespace)}/{escape(i.name)} at "
                  f"{escape(i.source)}: {escape(i.reason)}"
                  for i in invalid]
    counts = {s: sum(1 for f in findings if f.severity == s) for s in Severity}
    by_severity = ", ".join(f"{counts[s]} {s}" for s in Severity)
    lines += ["", f"{plural(graph.route_count(), 'route')}, {plural(len(findings), 'finding')} "
              f"({by_severity}), {plural(len(invalid), 'invalid object')}"]
    return "\n".join(escape(line) for line in lines) + "\n"


_MARKS: Final = {"added": "+", "removed": "-", "changed": "~"}


def what_if_text(changes: Sequence[tuple[Finding, str, Finding | None]],
                 graph: ConflictGraph, sources: Mapping[ObjectRef, str],
                 files: Sequence[ObjectRef], new: Sequence[ObjectRef],
                 invalid: Sequence[Invalid]) -> str:
    """The change laid over the live cluster: each finding it adds (``+``), changes (``~``)
    or removes (``-``), then its routes that do not attach and its invalid objects."""
    fresh = set(new)
    lines = [f"What-if: {plural(len(files), 'object')} from the inputs over the live cluster "
             f"({len(fresh)} new, {len(files) - len(fresh)} replacing live objects)", ""]
    if changes:
        rows = [
            [f"{_MARKS[change]} {change}", f.severity.upper(), f.kind, escape(f.hostname),
             escape(f.route) if f.route else (escape(f.gateway) if f.gateway else "-"),
             escape(f.other) if f.other else "-"]
            for f, change, _ in changes
        ]
        lines += _table(["CHANGE", "SEVERITY", "KIND", "HOSTNAME", "ROUTE", "OTHER"], rows)
        lines.append("")
        for n, (f, change, previous) in enumerate(changes, 1):
            at = finding_source(f, sources)
            was = (f" (was {previous.severity})"
                   if previous is not None and previous.severity != f.severity else "")
            lines.append(f"{n}. {_MARKS[change]} {change} [{f.severity}]{was} {f.kind}/{f.reason}: "
                         f"{escape(f.message)}" + (f" (at {escape(at)})" if at else ""))
    else:
        lines.append("The change adds no finding and removes none.")
    file_routes = set(files)
    refused = [(ref, st) for ref in sorted(file_routes) for st in graph.parents_of(ref)
               if not st.accepted]
    if refused:
        lines += ["", "Routes of the change not attached:"]
        lines += [f"  {ref.kind} {escape(ref)}: {escape(st.parent_ref.describe())}: "
                  f"{st.reason} ({escape(st.message)})" for ref, st in refused]
    if invalid:
        lines += ["", "Invalid objects in the change (skipped):"]
        lines += [f"  {escape(i.kind)} {escape(i.namespace)}/{escape(i.name)} at "
                  f"{escape(i.source)}: {escape(i.reason)}" for i in invalid]
    counts = {c: [f for f, change, _ in changes if change == c]
              for c in ("added", "changed", "removed")}
    added = counts["added"]
    by_severity = ", ".join(f"{sum(1 for f in added if f.severity == s)} {s}" for s in Severity)
    lines += ["", f"{plural(len(added), 'finding')} added ({by_severity}), "
                  f"{len(counts['changed'])} changed, {len(counts['removed'])} removed"]
    return "\n".join(escape(line) for line in lines) + "\n"


# --- explain ---------------------------------------------------------------------------------


def _candidate_json(c: Candidate) -> dict[str, Any]:
    return {"route": ref_json(c.route.ref), "rule": c.rule, "match": c.match_index}


def explain_json(e: resolve.Explanation,
                 findings: Sequence[Finding] = ()) -> dict[str, Any]:
    """The ``explain --output json`` contract (plus ``listenerParent``/``listenerBasis``/
    ``outcome``, and ``findings``: the current findings the winner takes part in)."""
    w = e.winner
    return {
        "gateway": ref_json(e.gateway, kind=False),
        "port": e.port,
        "protocol": e.protocol,
        "host": e.host,
        "listener": e.listener.name if e.listener is not None else None,
        "listenerParent": ref_json(e.listener.owner) if e.listener is not None else None,
        "listenerBasis": e.listener_basis,
        "outcome": e.outcome,
        "route": ref_json(w.route.ref) if w is not None else None,
        "rule": w.rule if w is not None else None,
        "match": w.match_index if w is not None else None,
        "hostname": w.hostname if w is not None else None,
        "backends": [
            {"kind": b.kind, "namespace": b.namespace, "name": b.name, "port": b.port,
             "weight": b.weight}
            for b in e.backends
        ],
        "basis": e.basis,
        "candidates": [
            {**_candidate_json(lost.candidate), "lostOn": lost.comparison.lost_on}
            for lost in e.lost
        ],
        "findings": findings_json(findings),
        "assumptions": list(e.assumptions),
    }


def _request_words(e: resolve.Explanation, r: Request) -> str:
    host = e.host or "(Gateway address)"
    if e.protocol == "http":
        query = "&".join(f"{k}={v}" for k, v in r.query)
        headers = "".join(f", {k}: {v}" for k, v in r.headers)
        sni = f" (SNI {e.sni})" if e.sni is not None and e.sni != e.host else ""
        return f"HTTP {r.method} {host}{sni} {r.path}{'?' + query if query else ''}{headers}"
    if e.protocol == "grpc":
        headers = "".join(f", {k}: {v}" for k, v in r.headers)
        return f"gRPC {host} {r.service}/{r.grpc_method}{headers}"
    if e.protocol == "tls":
        return f"TLS SNI {e.host or '(none)'}"
    return e.protocol.upper()


def _route_words(c: Candidate) -> str:
    return (f"{c.route.kind} {safe(c.route.ref)} rule {c.rule} match {c.match_index} "
            f"({safe(c.match.describe())}, hostname {escape(c.hostname)})")


def explain_text(e: resolve.Explanation, request: Request,
                 findings: Sequence[Finding] = ()) -> str:
    """A short trace for a person: listener and why, winner and why, the losers and why, and
    the current findings the winner takes part in."""
    lines = [f"{safe(_request_words(e, request))} -> Gateway {escape(e.gateway)} port {e.port}"]
    if e.listener is not None:
        owner = "" if e.listener.owner.kind == "Gateway" else (
            f" of ListenerSet {e.listener.owner}")
        lines.append(f"listener: {escape(e.listener.name)}{escape(owner)} "
                     f"({e.listener.protocol}, {escape(e.listener.hostname or 'no hostname')}): "
                     f"{escape(e.listener_basis)}")
    else:
        lines.append(f"listener: none: {e.listener_basis}")
    w = e.winner
    if w is None:
        status = {
            "http": "421" if e.outcome == resolve.MISDIRECTED else "404",
            "grpc": "421" if e.outcome == resolve.MISDIRECTED else "gRPC Unimplemented",
            "tls": "connection rejected",
            "tcp": "connection refused",
            "udp": "datagram dropped",
        }.get(e.protocol)
        lines.append(f"route: none{f' ({status})' if status else ''}: {e.basis}")
    else:
        lines.append(f"route: {_route_words(w)}")
        lines.append(f"  why: {e.basis}")
        rule = w.route.rules[w.rule]
        rule_name = f" ({safe(rule.name)})" if rule.name else ""
        if e.backends:
            for b in e.backends:
                port = f":{b.port}" if b.port is not None else ""
                lines.append(f"  backend{rule_name}: {safe(b.kind)} {safe(b.namespace)}/"
                             f"{safe(b.name)}{port} weight {b.weight}")
        else:
            answer = " (HTTP 500)" if e.protocol == "http" else ""
            lines.append(f"  backend{rule_name}: none, the rule has no backendRefs{answer}")
    lines += [f"assumes: {escape(a)}" for a in e.assumptions]
    for f in findings:
        role = "offender" if f.route is not None and w is not None and (
            f.route == w.route.ref) else "other route"
        lines.append(f"finding: the winning route is the {role} of [{f.severity}] "
                     f"{f.kind}/{f.reason} on {escape(f.hostname)}: {escape(f.message)}")
    if e.lost:
        lines.append("other candidates:")
        lines += [f"  {_route_words(lost.candidate)}: {safe(lost.comparison.lost_on)}"
                  for lost in e.lost]
    return "\n".join(escape(line) for line in lines) + "\n"
