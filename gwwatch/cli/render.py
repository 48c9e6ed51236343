"""What ``scan`` and ``explain`` print: the JSON others script against, and text for people.

Names in the text come from manifests: every control character is escaped there, so a
manifest cannot move the cursor or print lines of its own (such as a fake "No findings.").
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from gwwatch.engine import explain as resolve
from gwwatch.engine.attachment import ParentStatus
from gwwatch.engine.conflicts import safe
from gwwatch.engine.findings import Finding
from gwwatch.engine.graph import ConflictGraph
from gwwatch.engine.model import Invalid, ObjectRef
from gwwatch.engine.precedence import Candidate, Request
from gwwatch.engine.vocabulary import Severity

__all__ = ["escape", "explain_json", "explain_text", "findings_json", "json_text", "ref_json",
           "scan_json", "scan_text"]


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


def findings_json(findings: Sequence[Finding]) -> list[dict[str, Any]]:
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


def scan_json(graph: ConflictGraph, sources: Mapping[ObjectRef, str]) -> dict[str, Any]:
    routes = []
    for ref in graph.route_refs():
        routes.append({
            "kind": ref.kind, "namespace": ref.namespace, "name": ref.name,
            "source": sources.get(ref, ""),
            "parents": [_parent_json(st) for st in graph.parents_of(ref)],
        })
    return {
        "findings": findings_json(graph.findings()),
        "routes": routes,
        "invalid": [_invalid_json(i) for i in graph.invalid_objects()],
    }


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return [fmt.format(*headers).rstrip(), *(fmt.format(*r).rstrip() for r in rows)]


def scan_text(graph: ConflictGraph) -> str:
    lines: list[str] = []
    findings = graph.findings()
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
            lines.append(f"{n}. [{f.severity}] {f.kind}/{f.reason}: {escape(f.message)}")
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


# --- explain ---------------------------------------------------------------------------------


def _candidate_json(c: Candidate) -> dict[str, Any]:
    return {"route": ref_json(c.route.ref), "rule": c.rule, "match": c.match_index}


def explain_json(e: resolve.Explanation) -> dict[str, Any]:
    """The ``explain --output json`` contract (plus ``listenerParent``/``listenerBasis``/
    ``outcome``)."""
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


def explain_text(e: resolve.Explanation, request: Request) -> str:
    """A short trace for a person: listener and why, winner and why, the losers and why."""
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
    if e.lost:
        lines.append("other candidates:")
        lines += [f"  {_route_words(lost.candidate)}: {safe(lost.comparison.lost_on)}"
                  for lost in e.lost]
    return "\n".join(escape(line) for line in lines) + "\n"
