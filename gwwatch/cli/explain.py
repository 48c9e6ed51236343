"""``gwwatch explain``: its options and the request they describe.

The resolution itself is :func:`gwwatch.engine.explain.explain`; this module only turns the
command line into a request (``render`` turns the answer into text or JSON).
"""

from __future__ import annotations

import argparse
import ipaddress
import re
import sys
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qsl

from gwwatch.cli import analysis, render
from gwwatch.cli.exits import ExitCode, UsageError
from gwwatch.engine import Finding, hostnames
from gwwatch.engine import explain as resolve
from gwwatch.engine.graph import ConflictGraph
from gwwatch.engine.model import ObjectRef
from gwwatch.engine.precedence import Request

__all__ = ["Query", "add_parser", "findings_served", "query_from_args", "run"]


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "explain", help="who serves one request at a Gateway, and why",
        description="Trace one request through a Gateway: the listener it reaches, the route "
                    "rule that serves it, and the precedence step on which every other "
                    "candidate lost, and the current finding the winner takes part in. Reads "
                    "manifests, or the live cluster with --cluster (PATHs then lay a change "
                    "over it). Exit 0 when a route serves it, 1 when none does.")
    analysis.add_input_options(p)
    p.add_argument("--gateway", required=True, metavar="NAMESPACE/NAME",
                   help="the Gateway the request arrives at (a ListenerSet's name stands for "
                        "its Gateway)")
    p.add_argument("--port", type=int, metavar="N",
                   help="the port the client connects to (default: the Gateway's first "
                        "listener's)")
    p.add_argument("--host", metavar="HOST",
                   help="Host header / gRPC authority, or the SNI with --tls (default: none, "
                        "a request to the Gateway's address)")
    p.add_argument("--sni", metavar="NAME",
                   help="HTTPS only: the TLS SNI when it differs from --host (421 detection)")
    p.add_argument("--path", metavar="PATH",
                   help="request path, optionally with ?query (default: /)")
    p.add_argument("--method", metavar="M", help="HTTP method (default: GET)")
    p.add_argument("--header", action="append", default=[], metavar="K=V",
                   help="request header (gRPC: metadata); repeatable")
    p.add_argument("--query", action="append", default=[], metavar="K=V",
                   help="query parameter; repeatable")
    proto = p.add_mutually_exclusive_group()
    proto.add_argument("--grpc", metavar="SERVICE/METHOD", help="a unary gRPC call")
    proto.add_argument("--tls", action="store_true",
                       help="a TLS connection (passthrough, TLSRoute); --host is the SNI")
    proto.add_argument("--tcp", action="store_true", help="a TCP connection (TCPRoute)")
    proto.add_argument("--udp", action="store_true", help="a UDP datagram (UDPRoute)")
    analysis.add_output_option(p)
    p.set_defaults(handler=run, command_parser=p)


@dataclass(frozen=True, slots=True)
class Query:
    gateway: ObjectRef
    port: int
    protocol: str
    request: Request
    sni: str | None


def _pairs(values: list[str], option: str) -> list[tuple[str, str]]:
    out = []
    for raw in values:
        name, sep, value = raw.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"{option} {raw!r}: expected NAME=VALUE")
        out.append((name.strip(), value))
    return out


def _protocol(args: argparse.Namespace) -> str:
    if args.grpc is not None:
        return "grpc"
    for name in ("tls", "tcp", "udp"):
        if getattr(args, name):
            return name
    return "http"


def _names(refs: list[ObjectRef], limit: int = 10) -> str:
    shown = ", ".join(render.escape(r) for r in refs[:limit])
    return shown + (f" and {len(refs) - limit} more" if len(refs) > limit else "")


def _gateway(graph: ConflictGraph, text: str,
             where: str = "the input") -> tuple[ObjectRef, int | None]:
    """The Gateway named (or a ListenerSet's Gateway) and the port used without ``--port``."""
    namespace, sep, name = text.partition("/")
    if not sep or not namespace or not name or "/" in name:
        raise ValueError(f"--gateway {render.escape(text)!r}: expected NAMESPACE/NAME")
    ref = ObjectRef("Gateway", namespace, name)
    if graph.gateway(ref) is not None:
        return ref, resolve.default_port(graph, ref)
    ls = graph.listener_set(ObjectRef("ListenerSet", namespace, name))
    if ls is not None and ls.parent is not None and graph.gateway(ls.parent) is not None:
        return ls.parent, ls.listeners[0].port if ls.listeners else None
    gateways = graph.gateways()
    known = f"Gateways: {_names(gateways)}" if gateways else f"{where} holds no Gateway"
    listener_sets = graph.listener_sets()
    if listener_sets:
        known += f"; ListenerSets: {_names(listener_sets)}"
    raise ValueError(f"--gateway {render.escape(text)}: no Gateway (or ListenerSet) of that "
                     f"name in {where}; {known}")


def _host(option: str, value: str, *, port: bool) -> str:
    """``value`` when it is a hostname or an IP address (with ``:port`` where ``port``)."""
    text = value.strip()
    host = text
    if port and text.startswith("[") and "]" in text:  # [v6] or [v6]:port
        host, _, rest = text[1:].partition("]")
        if rest and not (rest.startswith(":") and rest[1:].isdigit()):
            host = text
    elif port and text.count(":") == 1:
        host, _, number = text.partition(":")
        if not number.isdigit():
            host = text
    try:
        ipaddress.ip_address(host)
        return value
    except ValueError:
        pass
    if _HOSTNAME.fullmatch(host) is None or len(host.rstrip(".")) > 253:
        raise ValueError(f"{option} {render.escape(value)!r}: not a hostname or an IP address")
    return value


_HOSTNAME: Final = re.compile(
    r"[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*"
    r"\.?")


def _check_port(graph: ConflictGraph, query: Query) -> None:
    """A port none of the Gateway's listeners is on is a usage error naming the listeners."""
    state = graph.listeners(query.gateway)
    live = state.live if state is not None else ()
    if any(li.port == query.port for li in live):
        return
    listeners = ", ".join(
        f"{render.escape(li.name)} ({li.port}/{li.protocol}"
        f"{'' if li.owner.kind == 'Gateway' else f' of ListenerSet {render.escape(li.owner)}'})"
        for li in live) or "none"
    raise ValueError(f"--port {query.port}: Gateway {render.escape(query.gateway)} has no "
                     f"listener on it; its listeners: {listeners}")


def query_from_args(args: argparse.Namespace, graph: ConflictGraph) -> Query:
    """The request the options describe; ``ValueError`` (a usage error) when they contradict."""
    protocol = _protocol(args)
    if args.host is not None:
        _host("--host", args.host, port=True)
    if args.sni is not None:
        _host("--sni", args.sni, port=False)
    gateway, first_port = _gateway(graph, args.gateway,
                                   "the cluster" if getattr(args, "cluster", False)
                                   else "the input")
    port = args.port if args.port is not None else first_port
    if port is None:
        raise ValueError(f"--gateway {render.escape(args.gateway)}: Gateway "
                         f"{render.escape(gateway)} has no listener")
    if not 1 <= port <= 65535:
        raise ValueError(f"--port {port}: not a port number")
    headers = tuple((k.lower(), v) for k, v in _pairs(args.header, "--header"))
    query = _pairs(args.query, "--query")
    http_only = [o for o, v in (("--path", args.path), ("--method", args.method),
                                ("--query", args.query)) if v]
    if protocol != "http" and http_only:
        raise ValueError(f"{', '.join(http_only)}: only for HTTP requests")
    if protocol not in ("http", "grpc"):
        extra = [o for o, v in (("--header", args.header), ("--sni", args.sni)) if v]
        if protocol in ("tcp", "udp") and args.host is not None:
            extra.append("--host")
        if extra:
            hint = " (--host is the SNI)" if protocol == "tls" and args.sni else ""
            raise ValueError(f"{', '.join(extra)}: not for --{protocol}{hint}")
    if protocol == "grpc":
        service, sep, method = args.grpc.partition("/")
        if not sep or not service or not method or "/" in method:
            raise ValueError(f"--grpc {args.grpc!r}: expected SERVICE/METHOD")
        request = Request(host=args.host, path=f"/{service}/{method}", method="POST",
                          headers=headers, service=service, grpc_method=method)
    elif protocol == "http":
        path = args.path or "/"
        path, _, raw_query = path.partition("?")
        if not path.startswith("/"):
            raise ValueError(f"--path {args.path!r}: must start with '/'")
        query = parse_qsl(raw_query, keep_blank_values=True) + query
        request = Request(host=args.host, path=path, method=args.method or "GET",
                          headers=headers, query=tuple(query))
    else:
        request = Request(host=args.host)
    return Query(gateway, port, protocol, request, args.sni)


def findings_served(graph: ConflictGraph, answer: resolve.Explanation) -> list[Finding]:
    """The current findings the winning route takes part in, on this Gateway and listener, for
    this request: those where it is the offender (the route that takes the requests, or the
    one that should not win), and those whose other route lost this very request to it."""
    w = answer.winner
    if w is None or answer.listener is None:
        return []
    host = resolve.normalise_host(answer.host)
    lost = {lost.candidate.route.ref for lost in answer.lost}
    out = []
    for f in graph.findings_of(w.route.ref):
        if f.gateway != answer.gateway or f.listener not in (None, answer.listener.name):
            continue
        if f.listener_owner is not None and f.listener_owner != answer.listener.owner:
            continue
        if host is not None and f.hostname and not hostnames.matches(f.hostname, host):
            continue
        if f.route == w.route.ref or (f.other == w.route.ref and f.route in lost):
            out.append(f)
    return out


def run(args: argparse.Namespace) -> int:
    graph = analysis.analyse_args(args).graph
    try:
        query = query_from_args(args, graph)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    try:
        _check_port(graph, query)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    answer = graph.explain(gateway=query.gateway, port=query.port, protocol=query.protocol,
                           request=query.request, sni=query.sni)
    findings = findings_served(graph, answer)
    if args.output == "json":
        sys.stdout.write(render.json_text(render.explain_json(answer, findings)))
    else:
        sys.stdout.write(render.explain_text(answer, query.request, findings))
    return ExitCode.OK if answer.winner is not None else ExitCode.NOT_SERVED
