"""``gwwatch scan``: analyse manifests offline and report the findings."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from gwwatch.cli import analysis, render
from gwwatch.cli.exits import ExitCode
from gwwatch.engine.vocabulary import FAIL_ON_CHOICES, at_or_above

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "scan", help="analyse manifest files offline",
        description="Analyse Gateway API manifests and report findings.")
    analysis.add_input_options(p)
    analysis.add_output_option(p)
    p.add_argument("--fail-on", choices=FAIL_ON_CHOICES, default="critical",
                   help="exit 1 when a finding is at or above this severity "
                        "(default: %(default)s)")
    p.set_defaults(handler=run, command_parser=p)


def run(args: argparse.Namespace) -> int:
    graph, where = analysis.load_graph(args)
    analysis.note_name_order(graph)
    if args.output == "json":
        sys.stdout.write(render.json_text(render.scan_json(graph, where)))
    else:
        sys.stdout.write(render.scan_text(graph))
    failing = any(at_or_above(f.severity, args.fail_on) for f in graph.findings())
    return ExitCode.FINDINGS if failing else ExitCode.OK
