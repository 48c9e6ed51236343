"""The command line: ``gwwatch scan``, ``explain``, ``run``, ``version`` and ``completion``.

One module per command (``scan``, ``explain``, ``run``, ``version``, ``completion``), the
options ``scan`` and ``explain`` share and the graph they describe (``analysis``), the live
cluster (``cluster``, ``connect``), the findings a scan reports (``report``), output for
people and scripts (``render``, ``sarif``), and the exit codes (``exits``). Exit codes are
:class:`~gwwatch.cli.exits.ExitCode`.

Installed as ``gwwatch`` and as ``kubectl-gwwatch`` (:func:`kubectl_main`), which kubectl runs
for ``kubectl gwwatch ...``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from gwwatch import __version__
from gwwatch.cli import completion, explain, run, scan, version
from gwwatch.cli.analysis import load_graph
from gwwatch.cli.exits import ExitCode, UsageError

__all__ = ["ExitCode", "build_parser", "kubectl_main", "load_graph", "main"]


def build_parser(prog: str = "gwwatch") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Finds routes that take other tenants' traffic on shared Gateway API "
                    "Gateways.")
    parser.add_argument("--version", action="version", version=f"gwwatch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in (scan, explain, run, version, completion):
        command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None, *, prog: str = "gwwatch") -> int:
    args, unknown = build_parser(prog).parse_known_args(argv)
    if unknown:  # the command's own usage, not the top level's
        args.command_parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        code: int = args.handler(args)
    except UsageError as exc:
        print(f"gwwatch: error: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    return code


def kubectl_main() -> int:
    """``kubectl gwwatch ...``: kubectl finds ``kubectl-gwwatch`` on ``PATH`` and runs it with
    the words after ``gwwatch`` (its own flags such as ``--context`` are not passed on: give
    them after ``gwwatch``, with ``--cluster``)."""
    return main(prog="kubectl gwwatch")
