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
from collections.abc import Mapping
from typing import Any, Final

import pydantic
import structlog

from gwwatch import logs
from gwwatch.cli import connect, render
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


def _given(args: argparse.Namespace) -> dict[str, Any]:
    return {dest: getattr(args, dest) for _, dest, _ in _FLAGS
            if getattr(args, dest, None) is not None}


def settings_from(args: argparse.Namespace) -> Settings:
    """Environment first, then every flag that was given."""
    return Settings(**_given(args))


_FLAG_OF: Final = {dest: flag for flag, dest, _ in _FLAGS}


def _source(field: str, given: Mapping[str, Any], value: object) -> str:
    """``--flag=value`` or ``GWWATCH_VAR=value``: where the user wrote it."""
    name = _FLAG_OF[field] if field in given else f"GWWATCH_{field.upper()}"
    return f"{name}={render.escape(value)}"


def settings_error(exc: pydantic.ValidationError, given: Mapping[str, Any]) -> str:
    """One line naming each setting that is wrong as the user wrote it (a flag or a variable),
    not as the model calls it."""
    parts = []
    for error in exc.errors():
        msg = str(error["msg"]).removeprefix("Value error, ")
        if error["loc"]:
            field = str(error["loc"][0])
            parts.append(f"{_source(field, given, error.get('input'))}: {msg}")
        else:  # a rule across settings: name those that were set
            inputs = error.get("input")
            named = ", ".join(_source(k, given, v) for k, v in inputs.items()
                              if k in _FLAG_OF or k in Settings.model_fields) if isinstance(
                inputs, Mapping) else ""
            parts.append(f"{msg} ({named})" if named else msg)
    return "; ".join(parts)


def _kubeconfig_error(settings: Settings, given: Mapping[str, Any]) -> str | None:
    """A kubeconfig named but not readable (kr8s would fall back to other credentials)."""
    if settings.kubeconfig is None:
        return None
    return connect.kubeconfig_error(settings.kubeconfig,
                                    _source("kubeconfig", given, settings.kubeconfig))


def _connect_error(settings: Settings, given: Mapping[str, Any], exc: Exception) -> str:
    context = (_source("context", given, settings.context)
               if settings.context is not None else None)
    return connect.connect_error(exc, kubeconfig=settings.kubeconfig, context=context)


def _server(settings: Settings) -> str:
    return connect.server_name(kubeconfig=settings.kubeconfig, context=settings.context)


async def _main(settings: Settings, given: Mapping[str, Any]) -> int:
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
    except asyncio.CancelledError:
        if stopping.is_set():
            return ExitCode.OK
        raise
    except errors.ApiError as exc:
        return _fail(f"{_server(settings)} unreachable: {render.escape(exc)}")
    except Exception as exc:  # kr8s' own words for a bad kubeconfig: one line, no traceback
        return _fail(_connect_error(settings, given, exc))
    app = App(settings, kube)
    try:
        await app.run()
    except asyncio.CancelledError:
        if stopping.is_set():
            return ExitCode.OK
        raise
    except errors.ApiError as exc:
        started = app.discovered.is_set()
        return _fail(f"{_server(settings)} unreachable: {render.escape(exc)}",
                     ExitCode.FAILED if started else ExitCode.USAGE)
    return ExitCode.OK


def _fail(message: str, code: ExitCode = ExitCode.USAGE) -> int:
    print(f"gwwatch: error: {message}", file=sys.stderr)
    return code


def run(args: argparse.Namespace) -> int:
    given = _given(args)
    try:
        settings = Settings(**given)
    except pydantic.ValidationError as exc:
        return _fail(f"invalid settings: {settings_error(exc, given)}")
    problem = _kubeconfig_error(settings, given)
    if problem is not None:
        return _fail(problem)
    logs.configure(fmt=settings.log_format, level=settings.log_level)
    return asyncio.run(_main(settings, given))
