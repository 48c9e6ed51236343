"""``gwwatch run``: flags (each overrides its ``GWWATCH_*`` variable) and the process around
:class:`gwwatch.runtime.app.App` — logging, the API client, signals, exit codes.

SIGTERM or SIGINT stop it gracefully: watches end, the Lease is released (a standby takes over
at once), and the process exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import Any

import pydantic
import structlog

from gwwatch import logs
from gwwatch.cli.exits import ExitCode
from gwwatch.engine.vocabulary import INTRA_TENANT_SEVERITIES
from gwwatch.runtime import errors
from gwwatch.settings import Settings

__all__ = ["add_parser", "run", "settings_from"]

# flag → Settings field; BooleanOptionalAction flags give --x/--no-x.
_FLAGS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("--kubeconfig", "kubeconfig", {"metavar": "PATH",
                                    "help": "kubeconfig (default: $KUBECONFIG, ~/.kube/config, "
                                            "else in-cluster)"}),
    ("--context", "context", {"help": "kubeconfig context"}),
    ("--controller-name", "controller_name",
     {"metavar": "DOMAIN/PATH", "help": "controllerName of our status.parents entries "
                                        "(default gwwatch.io/conflict-watcher)"}),
    ("--tenant-label", "tenant_label",
     {"metavar": "KEY", "help": "Namespace label naming the tenant ('' = namespace only)"}),
    ("--trust-annotations", "trust_namespace_annotations",
     {"action": argparse.BooleanOptionalAction,
      "help": "count gwwatch.io/hostnames claims on Namespaces (default on)"}),
    ("--intra-tenant-severity", "intra_tenant_severity",
     {"choices": INTRA_TENANT_SEVERITIES,
      "help": "severity of a Hijack between namespaces of one tenant (default warning)"}),
    ("--ownership-configmap", "ownership_configmap",
     {"metavar": "NAME", "help": "ConfigMap in gwwatch's namespace: tenant -> hostnames"}),
    ("--namespace", "namespace", {"help": "gwwatch's own namespace (Lease, ConfigMap)"}),
    ("--metrics-bind-address", "metrics_bind_address", {"metavar": "ADDR"}),
    ("--metrics-port", "metrics_port", {"type": int, "metavar": "PORT"}),
    ("--leader-election", "leader_election",
     {"action": argparse.BooleanOptionalAction,
      "help": "elect a leader on a Lease before writing (default on)"}),
    ("--lease-name", "lease_name", {}),
    ("--lease-namespace", "lease_namespace", {}),
    ("--identity", "identity", {"help": "this replica's Lease holder identity"}),
    ("--max-finding-series", "max_finding_series", {"type": int, "metavar": "N"}),
    ("--log-format", "log_format", {"choices": ("auto", "json", "console")}),
    ("--log-level", "log_level", {"choices": ("debug", "info", "warning", "error")}),
)


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "run", help="watch a cluster: status conditions, Events and metrics on findings",
        description="Run the controller: watch Gateway API objects, report findings on the "
                    "routes involved (status conditions, Events) and as Prometheus metrics. "
                    "Every flag overrides its GWWATCH_* environment variable.")
    for flag, dest, kwargs in _FLAGS:
        p.add_argument(flag, dest=dest, default=None, **kwargs)
    p.set_defaults(handler=run, command_parser=p)


def settings_from(args: argparse.Namespace) -> Settings:
    """Environment first, then every flag that was given."""
    given = {dest: getattr(args, dest) for _, dest, _ in _FLAGS
             if getattr(args, dest, None) is not None}
    return Settings(**given)


async def _main(settings: Settings) -> int:
    from gwwatch.runtime.app import App
    from gwwatch.runtime.kube import connect

    log = structlog.get_logger("gwwatch")
    loop = asyncio.get_running_loop()
    me = asyncio.current_task()
    assert me is not None
    stopping = asyncio.Event()

    def stop(signame: str) -> None:
        if not stopping.is_set():
            log.info("signal", signal=signame)
            stopping.set()
            me.cancel()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop, sig.name)
    try:
        kube = await connect(kubeconfig=settings.kubeconfig, context=settings.context)
        await App(settings, kube).run()
    except asyncio.CancelledError:
        if stopping.is_set():
            return ExitCode.OK
        raise
    except errors.ApiError as exc:
        log.error("api_unreachable", error=str(exc))
        return ExitCode.FAILED
    return ExitCode.OK


def run(args: argparse.Namespace) -> int:
    try:
        settings = settings_from(args)
    except pydantic.ValidationError as exc:
        print(f"gwwatch: error: invalid settings:\n{exc}", file=sys.stderr)
        return ExitCode.USAGE
    logs.configure(fmt=settings.log_format, level=settings.log_level)
    return asyncio.run(_main(settings))
