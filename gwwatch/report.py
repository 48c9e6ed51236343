"""Rendering scan results: the JSON contract others script against, and a table for people."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gwwatch.engine.attachment import ParentStatus
from gwwatch.engine.findings import Finding
from gwwatch.engine.graph import ConflictGraph
from gwwatch.engine.model import Invalid, ObjectRef

__all__ = ["findings_json", "ref_json", "scan_json", "scan_text"]


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
    for ref in sorted(graph.routes):
        routes.append({
            "kind": ref.kind, "namespace": ref.namespace, "name": ref.name,
            "source": sources.get(ref, ""),
            "parents": [_parent_json(st) for st in graph.status.get(ref, ())],
        })
    return {
        "findings": findings_json(graph.findings()),
        "routes": routes,
        "invalid": [_invalid_json(i) for _, i in sorted(graph.invalid.items())],
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
            [f.severity.upper(), f.kind, f.hostname,
             str(f.route) if f.route else (str(f.gateway) if f.gateway else "-"),
             str(f.other) if f.other else "-"]
            for f in findings
        ]
        lines += _table(["SEVERITY", "KIND", "HOSTNAME", "ROUTE", "OTHER"], rows)
        lines.append("")
        for n, f in enumerate(findings, 1):
            lines.append(f"{n}. [{f.severity}] {f.kind}/{f.reason}: {f.message}")
    else:
        lines.append("No findings.")
    refused = [
        (ref, st) for ref, sts in sorted(graph.status.items()) for st in sts if not st.accepted
    ]
    if refused:
        lines += ["", "Routes not attached:"]
        lines += [f"  {ref.kind} {ref}: {st.parent_ref.describe()}: {st.reason} ({st.message})"
                  for ref, st in refused]
    if graph.invalid:
        lines += ["", "Invalid objects (skipped):"]
        lines += [f"  {i.kind} {i.namespace}/{i.name} at {i.source}: {i.reason}"
                  for _, i in sorted(graph.invalid.items())]
    counts = {s: sum(1 for f in findings if f.severity == s) for s in ("critical", "warning",
                                                                     "info")}
    lines += ["", f"{len(graph.routes)} routes, {len(findings)} findings "
              f"({counts['critical']} critical, {counts['warning']} warning, "
              f"{counts['info']} info), {len(graph.invalid)} invalid objects"]
    return "\n".join(lines) + "\n"
