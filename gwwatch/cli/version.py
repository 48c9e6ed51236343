"""``gwwatch version``: what this build is (for a bug report, or to check a CI image).

The git commit comes from the installation's PEP 610 record (``pip install`` of a git URL
writes it) or, in a source checkout, from ``git rev-parse``; otherwise it is unknown.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any, Final

from gwwatch import __version__
from gwwatch.cli.exits import ExitCode
from gwwatch.engine.vocabulary import ROUTE_KINDS, readable_versions

__all__ = ["GATEWAY_API", "add_parser", "build_info", "git_commit", "run"]

# The Gateway API release whose CRDs and rules the engine implements (docs/architecture.md,
# "Gateway API rules the engine implements"; tests/unit/test_cli_version.py holds it to the
# release the test control plane installs).
GATEWAY_API: Final = "v1.6.1"
GATEWAY_API_CHANNEL: Final = "standard"


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "version", help="print the version and build details",
        description="Print gwwatch's version, the Python running it, the git commit it was "
                    "built from (when known) and the Gateway API release it targets.")
    p.add_argument("--output", "-o", choices=("text", "json"), default="text")
    p.set_defaults(handler=run, command_parser=p)


def _from_install() -> str | None:
    try:
        text = metadata.distribution("gwwatch").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    try:
        doc = json.loads(text) if text else None
    except ValueError:
        return None
    vcs = doc.get("vcs_info") if isinstance(doc, dict) else None
    commit = vcs.get("commit_id") if isinstance(vcs, dict) else None
    return commit if isinstance(commit, str) and commit else None


def _from_checkout() -> str | None:
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return None
    try:
        done = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"],
                              capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and commit else None


def git_commit() -> str | None:
    return _from_install() or _from_checkout()


def build_info() -> dict[str, Any]:
    kinds = ("Gateway", "ListenerSet", *(str(k) for k in ROUTE_KINDS))
    return {
        "version": __version__,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": f"{sys.platform}/{platform.machine()}",
        "gitCommit": git_commit(),
        "gatewayAPI": {"version": GATEWAY_API, "channel": GATEWAY_API_CHANNEL,
                       "kinds": {k: list(readable_versions(k)) for k in kinds}},
    }


def run(args: argparse.Namespace) -> int:
    info = build_info()
    if args.output == "json":
        sys.stdout.write(json.dumps(info, indent=2) + "\n")
        return ExitCode.OK
    api = info["gatewayAPI"]
    kinds = ", ".join(f"{k} {'/'.join(v)}" for k, v in api["kinds"].items())
    sys.stdout.write(
        f"gwwatch {info['version']}\n"
        f"python: {info['python']} ({info['platform']})\n"
        f"git commit: {info['gitCommit'] or 'unknown'}\n"
        f"gateway api: {api['version']} ({api['channel']} channel): {kinds}\n")
    return ExitCode.OK
