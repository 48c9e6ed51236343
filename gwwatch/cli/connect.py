"""Reaching the API server from the command line: the ``--kubeconfig``/``--context`` options and
the one-line errors when that fails (``run``, ``scan --cluster`` and ``explain --cluster``
share them)."""

from __future__ import annotations

import argparse
import os

import yaml

from gwwatch.cli.exits import UsageError
from gwwatch.cli.render import escape
from gwwatch.runtime import errors
from gwwatch.runtime.kube import Kr8sKube

__all__ = ["add_options", "connect", "connect_error", "kubeconfig_error", "server_name"]


def add_options(p: argparse.ArgumentParser) -> None:
    """``--kubeconfig`` and ``--context`` (only with ``--cluster``)."""
    p.add_argument("--kubeconfig", metavar="PATH",
                   help="with --cluster: the kubeconfig (default: $KUBECONFIG, "
                        "~/.kube/config, else in-cluster)")
    p.add_argument("--context", metavar="NAME", help="with --cluster: the kubeconfig context")


def kubeconfig_error(path: str, where: str) -> str | None:
    """A kubeconfig named but not readable (kr8s would fall back to other credentials)."""
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        return f"{where}: cannot read: {exc.strerror or exc}"
    return None


def connect_error(exc: Exception, *, kubeconfig: str | None, context: str | None) -> str:
    """kr8s' words for a client configuration it cannot load, as one line; ``context`` is how
    the user wrote the context (``--context=x``), when they did."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if text.startswith("No such context") and context is not None:
        return f"{context}: no such context in {escape(kubeconfig or 'the kubeconfig')}"
    if text == "Unable to find valid credentials":
        return ("no credentials: no kubeconfig ($KUBECONFIG, ~/.kube/config) and not in a "
                "cluster; pass --kubeconfig PATH")
    return f"cannot load the client configuration: {escape(text)}"


def server_name(*, kubeconfig: str | None, context: str | None) -> str:
    """The API server's address as the kubeconfig (or the in-cluster environment) names it,
    for an error message; best effort."""
    env = os.environ
    path = kubeconfig or (env.get("KUBECONFIG", "").split(os.pathsep)[0] or
                          os.path.expanduser("~/.kube/config"))
    try:
        with open(path, encoding="utf-8") as f:
            config = yaml.safe_load(f.read(1024 * 1024))
        context = context or config["current-context"]
        (cluster,) = [c["context"]["cluster"] for c in config["contexts"]
                      if c["name"] == context]
        (server,) = [c["cluster"]["server"] for c in config["clusters"] if c["name"] == cluster]
        return f"API server {escape(server)}"
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError):
        pass
    host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT")
    if host and port:
        return f"API server https://{escape(host)}:{escape(port)}"
    return "the API server"


async def connect(kubeconfig: str | None, context: str | None) -> Kr8sKube:
    """A client for ``--kubeconfig``/``--context``; any failure is a :class:`UsageError`."""
    from gwwatch.runtime.kube import connect as kube_connect

    if kubeconfig is not None:
        problem = kubeconfig_error(kubeconfig, f"--kubeconfig={escape(kubeconfig)}")
        if problem is not None:
            raise UsageError(problem)
    try:
        return await kube_connect(kubeconfig=kubeconfig, context=context)
    except errors.ApiError as exc:
        raise UsageError(f"{server_name(kubeconfig=kubeconfig, context=context)} unreachable: "
                         f"{escape(exc)}") from exc
    except Exception as exc:  # kr8s' own words for a bad kubeconfig: one line, no traceback
        raise UsageError(connect_error(
            exc, kubeconfig=kubeconfig,
            context=f"--context={escape(context)}" if context is not None else None)) from exc
