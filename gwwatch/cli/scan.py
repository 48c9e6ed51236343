"""``gwwatch scan``: analyse manifests, the live cluster, or a change laid over it, and report
the findings (text, JSON or SARIF)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from gwwatch.cli import analysis, render, report, sarif
from gwwatch.cli.exits import ExitCode
from gwwatch.engine import Invalid
from gwwatch.engine.vocabulary import FAIL_ON_CHOICES

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "scan", help="analyse manifests, the live cluster, or a change against it",
        description="Analyse Gateway API manifests (or the live cluster with --cluster) and "
                    "report findings. With --cluster and PATHs, the files are laid over the "
                    "live objects and the report is what the change adds and removes.")
    analysis.add_input_options(p)
    analysis.add_output_option(p, "sarif")
    p.add_argument("--fail-on", choices=FAIL_ON_CHOICES, default="critical",
                   help="exit 1 when a finding (with --cluster PATHS: one the change adds or "
                        "worsens) is at or above this severity (default: %(default)s)")
    p.add_argument("--baseline", metavar="FILE",
                   help="a previous `scan --output json` report: report (and fail on) only "
                        "findings not in it")
    p.set_defaults(handler=run, command_parser=p)


def run(args: argparse.Namespace) -> int:
    baseline = report.load_baseline(args.baseline) if args.baseline else None
    result = analysis.analyse_args(args, what_if=True)
    graph = result.graph
    entries = report.entries(graph.findings(), result.diff, result.previous)
    suppressed = 0
    if baseline is not None:
        entries, suppressed = baseline.split(entries)
    if not result.what_if and not args.cluster:
        analysis.note_name_order(graph)
    if suppressed:
        print(f"gwwatch: note: {render.plural(suppressed, 'finding')} in the baseline "
              f"{render.escape(args.baseline)} not reported", file=sys.stderr)
    if args.output == "sarif":
        sys.stdout.write(render.json_text(sarif.sarif(entries, result.sources)))
    elif result.what_if:
        changes = [(e.finding, e.change or "", e.previous) for e in entries]
        invalid = [f.parsed for f in result.files if isinstance(f.parsed, Invalid)]
        refs = [f.ref for f in result.files]
        if args.output == "json":
            sys.stdout.write(render.json_text(render.what_if_json(
                changes, graph, result.sources, refs, result.new, invalid)))
        else:
            sys.stdout.write(render.what_if_text(
                changes, graph, result.sources, refs, result.new, invalid))
    elif args.output == "json":
        sys.stdout.write(render.json_text(render.scan_json(
            graph, result.sources, [e.finding for e in entries])))
    else:
        sys.stdout.write(render.scan_text(graph, [e.finding for e in entries], result.sources))
    return ExitCode.FINDINGS if report.failing(entries, args.fail_on) else ExitCode.OK
