"""``gwwatch explain``: its options, the request they describe, and the two renderings.

The resolution itself is :func:`gwwatch.engine.explain.explain`; this module only turns the
command line into a request and the answer into text or JSON.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from gwwatch import report
from gwwatch.engine import explain as resolve
from gwwatch.engine.conflicts import safe
from gwwatch.engine.graph import ConflictGraph
from gwwatch.engine.model import ObjectRef
from gwwatch.engine.precedence import Candidate, Request

__all__ = ["Query", "add_arguments", "query_from_args", "render_json", "render_text"]


def add_arguments(p: argparse.ArgumentParser) -> None:
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
    p.add_argument("--output", "-o", choices=("text", "json"), default="text")


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


def _gateway(graph: ConflictGraph, text: str) -> tuple[ObjectRef, int | None]:
    """The Gateway named (or a ListenerSet's Gateway) and the port used without ``--port``."""
    namespace, sep, name = text.partition("/")
    if not sep or not namespace or not name or "/" in name:
        raise ValueError(f"--gateway {text!r}: expected NAMESPACE/NAME")
    ref = ObjectRef("Gateway", namespace, name)
    if ref in graph.topology.gateways:
        return ref, resolve.default_port(graph, ref)
    ls = graph.topology.listener_sets.get(ObjectRef("ListenerSet", namespace, name))
    if ls is not None and ls.parent is not None and ls.parent in graph.topology.gateways:
        return ls.parent, ls.listeners[0].port if ls.listeners else None
    raise ValueError(f"--gateway {text}: no Gateway (or ListenerSet) of that name in the input")


def query_from_args(args: argparse.Namespace, graph: ConflictGraph) -> Query:
    """The request the options describe; ``ValueError`` (a usage error) when they contradict."""
    protocol = _protocol(args)
    gateway, first_port = _gateway(graph, args.gateway)
    port = args.port if args.port is not None else first_port
    if port is None or not 1 <= port <= 65535:
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


# --- rendering ---------------------------------------------------------------------------------


def _candidate_json(c: Candidate) -> dict[str, Any]:
    return {"route": report.ref_json(c.route.ref), "rule": c.rule, "match": c.match_index}


def render_json(e: resolve.Explanation) -> dict[str, Any]:
    """The ``explain --output json`` contract (plus ``listenerParent``/``listenerBasis``/
    ``outcome``)."""
    w = e.winner
    return {
        "gateway": report.ref_json(e.gateway, kind=False),
        "port": e.port,
        "protocol": e.protocol,
        "host": e.host,
        "listener": e.listener.name if e.listener is not None else None,
        "listenerParent": report.ref_json(e.listener.owner) if e.listener is not None else None,
        "listenerBasis": e.listener_basis,
        "outcome": e.outcome,
        "route": report.ref_json(w.route.ref) if w is not None else None,
        "rule": w.rule if w is not None else None,
        "match": w.match_index if w is not None else None,
        "hostname": w.hostname if w is not None else None,
        "backends": [
            {"kind": b.kind, "namespace": b.namespace, "name": b.name, "port": b.port,
             "weight": b.weight}
            for b in e.backends
        ],
        "basis": e.basis,
        "candidates": [
            {**_candidate_json(lost.candidate), "lostOn": lost.comparison.lost_on}
            for lost in e.lost
        ],
    }


def _request_words(e: resolve.Explanation, q: Query) -> str:
    r = q.request
    host = e.host or "(Gateway address)"
    if e.protocol == "http":
        query = "&".join(f"{k}={v}" for k, v in r.query)
        headers = "".join(f", {k}: {v}" for k, v in r.headers)
        sni = f" (SNI {e.sni})" if e.sni is not None and e.sni != e.host else ""
        return f"HTTP {r.method} {host}{sni} {r.path}{'?' + query if query else ''}{headers}"
    if e.protocol == "grpc":
        headers = "".join(f", {k}: {v}" for k, v in r.headers)
        return f"gRPC {host} {r.service}/{r.grpc_method}{headers}"
    if e.protocol == "tls":
        return f"TLS SNI {e.host or '(none)'}"
    return e.protocol.upper()


def _route_words(c: Candidate) -> str:
    return (f"{c.route.kind} {safe(c.route.ref)} rule {c.rule} match {c.match_index} "
            f"({safe(c.match.describe())}, hostname {c.hostname})")


def render_text(e: resolve.Explanation, q: Query) -> str:
    """A short trace for a person: listener and why, winner and why, the losers and why."""
    lines = [f"{safe(_request_words(e, q))} -> Gateway {e.gateway} port {e.port}"]
    if e.listener is not None:
        owner = "" if e.listener.owner.kind == "Gateway" else (
            f" of ListenerSet {e.listener.owner}")
        lines.append(f"listener: {e.listener.name}{owner} ({e.listener.protocol}, "
                     f"{e.listener.hostname or 'no hostname'}): {e.listener_basis}")
    else:
        lines.append(f"listener: none: {e.listener_basis}")
    w = e.winner
    if w is None:
        status = {
            "http": "421" if e.outcome == resolve.MISDIRECTED else "404",
            "grpc": "421" if e.outcome == resolve.MISDIRECTED else "gRPC Unimplemented",
            "tls": "connection rejected",
            "tcp": "connection refused",
            "udp": "datagram dropped",
        }.get(e.protocol)
        lines.append(f"route: none{f' ({status})' if status else ''}: {e.basis}")
    else:
        lines.append(f"route: {_route_words(w)}")
        lines.append(f"  why: {e.basis}")
        rule = w.route.rules[w.rule]
        rule_name = f" ({safe(rule.name)})" if rule.name else ""
        if e.backends:
            for b in e.backends:
                port = f":{b.port}" if b.port is not None else ""
                lines.append(f"  backend{rule_name}: {safe(b.kind)} {safe(b.namespace)}/"
                             f"{safe(b.name)}{port} weight {b.weight}")
        else:
            answer = " (HTTP 500)" if e.protocol == "http" else ""
            lines.append(f"  backend{rule_name}: none, the rule has no backendRefs{answer}")
    if e.lost:
        lines.append("other candidates:")
        lines += [f"  {_route_words(lost.candidate)}: {safe(lost.comparison.lost_on)}"
                  for lost in e.lost]
    return "\n".join(lines) + "\n"
