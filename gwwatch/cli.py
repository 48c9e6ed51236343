"""Command line: ``gwwatch scan`` (offline analysis of manifests) and friends.

Exit codes: 0 nothing at or above ``--fail-on``; 1 findings at or above it; 2 usage or input
errors (argparse's own usage errors exit 2 as well). ``gwwatch explain``: 0 a route serves the
request, 1 none does, 2 usage or input errors.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from gwwatch import __version__, explain_cli, manifests, report
from gwwatch.engine import ConflictGraph, ObjectRef, Policy, analyse, at_or_above, parse
from gwwatch.engine import explain as resolve
from gwwatch.engine.model import Invalid, NamespaceInfo, Parsed
from gwwatch.engine.ownership import DEFAULT_TENANT_LABEL, INTRA_TENANT_SEVERITIES
from gwwatch.runtime import command

__all__ = ["build_parser", "load_graph", "main"]

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    pass


def _add_analysis_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="manifest files or directories (*.yaml, *.yml, *.json, recursively)")
    p.add_argument("--tenant-label", default=DEFAULT_TENANT_LABEL, metavar="KEY",
                   help="Namespace label whose value names the tenant; namespaces without it "
                        "are their own tenant (default: %(default)s; '' = namespace only)")
    p.add_argument("--ownership", metavar="FILE",
                   help="platform-owned claims, YAML mapping tenant -> [hostnames]; overrides "
                        "Namespace annotations")
    p.add_argument("--no-trust-annotations", action="store_true",
                   help="ignore gwwatch.io/hostnames annotations on Namespaces")
    p.add_argument("--intra-tenant-severity", choices=INTRA_TENANT_SEVERITIES, default="warning",
                   help="severity of a Hijack between namespaces of one tenant (default: "
                        "%(default)s; never critical)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gwwatch",
        description="Finds routes that take other tenants' traffic on shared Gateway API "
                    "Gateways.")
    parser.add_argument("--version", action="version", version=f"gwwatch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    scan = sub.add_parser("scan", help="analyse manifest files offline",
                          description="Analyse Gateway API manifests and report findings.")
    _add_analysis_options(scan)
    scan.add_argument("--output", "-o", choices=("text", "json"), default="text")
    scan.add_argument("--fail-on", choices=("critical", "warning", "info", "never"),
                      default="critical",
                      help="exit 1 when a finding is at or above this severity "
                           "(default: %(default)s)")
    explain = sub.add_parser(
        "explain", help="who serves one request at a Gateway, and why",
        description="Trace one request through a Gateway: the listener it reaches, the route "
                    "rule that serves it, and the precedence step on which every other "
                    "candidate lost. Exit 0 when a route serves it, 1 when none does.")
    _add_analysis_options(explain)
    explain_cli.add_arguments(explain)
    run = sub.add_parser(
        "run", help="watch a cluster: status conditions, Events and metrics on findings",
        description="Run the controller: watch Gateway API objects, report findings on the "
                    "routes involved (status conditions, Events) and as Prometheus metrics. "
                    "Every flag overrides its GWWATCH_* environment variable.")
    command.add_arguments(run)
    return parser


def load_ownership(path: str | None) -> dict[str, tuple[str, ...]]:
    if path is None:
        return {}
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise UsageError(f"{path}: cannot read ownership file: {exc}") from exc
    if not isinstance(data, dict) or not all(
        isinstance(v, list) and all(isinstance(h, str) for h in v) for v in data.values()
    ):
        raise UsageError(f"{path}: ownership file must map tenant -> list of hostnames")
    return {str(k): tuple(v) for k, v in data.items()}


def load_graph(args: argparse.Namespace) -> tuple[ConflictGraph, dict[ObjectRef, str]]:
    """Parse the manifests named in ``args`` and analyse them from scratch."""
    policy = Policy(intra_tenant_severity=args.intra_tenant_severity,
                    tenant_label=args.tenant_label or None,
                    trust_annotations=not args.no_trust_annotations,
                    ownership=load_ownership(args.ownership))
    try:
        sources = manifests.load(args.paths)
    except manifests.ManifestError as exc:
        raise UsageError(str(exc)) from exc
    parsed: list[Parsed] = []
    where: dict[ObjectRef, str] = {}
    for src in sources:
        obj = parse(src.obj, source=src.where)
        if obj is None:
            continue
        if isinstance(obj, Invalid):
            where[ObjectRef(obj.kind, obj.namespace, obj.name)] = src.where
        elif isinstance(obj, NamespaceInfo):
            where[ObjectRef("Namespace", "", obj.name)] = src.where
        else:
            where[obj.ref] = src.where
        parsed.append(obj)
    return analyse(parsed, policy), where


def _scan(args: argparse.Namespace) -> int:
    graph, where = load_graph(args)
    if args.output == "json":
        sys.stdout.write(json.dumps(report.scan_json(graph, where), indent=2) + "\n")
    else:
        sys.stdout.write(report.scan_text(graph))
    failing = any(at_or_above(f.severity, args.fail_on) for f in graph.findings())
    return EXIT_FINDINGS if failing else EXIT_OK


def _explain(args: argparse.Namespace) -> int:
    graph, _ = load_graph(args)
    try:
        query = explain_cli.query_from_args(args, graph)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    answer = resolve.explain(graph, gateway=query.gateway, port=query.port,
                             protocol=query.protocol, request=query.request, sni=query.sni)
    if args.output == "json":
        sys.stdout.write(json.dumps(explain_cli.render_json(answer), indent=2) + "\n")
    else:
        sys.stdout.write(explain_cli.render_text(answer, query))
    return EXIT_OK if answer.winner is not None else EXIT_FINDINGS


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "scan":
            return _scan(args)
        if args.command == "explain":
            return _explain(args)
        if args.command == "run":
            return command.run(args)
    except UsageError as exc:
        print(f"gwwatch: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    parser.error(f"unknown command {args.command}")
    return EXIT_USAGE  # pragma: no cover - parser.error exits
