"""The command line: ``gwwatch scan``, ``gwwatch explain`` and ``gwwatch run``.

One module per command (``scan``, ``explain``, ``run``), the options ``scan`` and ``explain``
share and the graph they describe (``analysis``), output for people and scripts (``render``),
and the exit codes (``exits``). Exit codes are :class:`~gwwatch.cli.exits.ExitCode`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from gwwatch import __version__
from gwwatch.cli import explain, run, scan
from gwwatch.cli.analysis import load_graph
from gwwatch.cli.exits import ExitCode, UsageError

__all__ = ["ExitCode", "build_parser", "load_graph", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gwwatch",
        description="Finds routes that take other tenants' traffic on shared Gateway API "
                    "Gateways.")
    parser.add_argument("--version", action="version", version=f"gwwatch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in (scan, explain, run):
        command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args, unknown = build_parser().parse_known_args(argv)
    if unknown:  # the command's own usage, not the top level's
        args.command_parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        code: int = args.handler(args)
    except UsageError as exc:
        print(f"gwwatch: error: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    return code
