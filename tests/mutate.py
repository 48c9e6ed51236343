"""Mutated Kubernetes objects for fuzzing the engine: valid seeds, then a few random edits.

One generator for the bounded fuzz test in CI (``tests/unit/test_fuzz_engine.py``, where
hypothesis drives the ``random.Random`` and shrinks a failure) and the long offline run
(``python -m bench.fuzz``). Standard library only, like tests/builders.py.

    rng = random.Random(7)
    obj = mutate(rng.choice(seeds()), rng)

The edits: drop a field or an item, replace a value (wrong type, empty, huge, deeply nested,
unicode, a lone surrogate, a big integer, a regular expression), duplicate a field or an item,
move a value to another field, edit a string. ``hostile=True`` lets regular expressions that
backtrack for seconds (or forever) into the pool: for the offline run, where each input has a
time limit; the CI test keeps to patterns a backtracking engine matches at once.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import random
from typing import Any

from tests import builders as b

__all__ = ["REGEXES", "SLOW_REGEXES", "Harness", "mutate", "nesting", "seeds", "size"]

Obj = dict[str, Any]

# Patterns a backtracking engine matches at once, valid or not (an invalid one must be refused
# quietly, not raise).
REGEXES = (
    "/.*", "/v1/.*", "^/a$", "/(a|b)*c", "(?i)/API", r"/\d+", "/[a-z]+/x", "/é.*", "(?=x)/",
    r"(a)\1", "a{1000}", "/x{2,3}?", "(", "[", "*", "\\", "(?P<n>", "[z-a]", "a**",
    "(" * 120 + "a" + ")" * 120, r"\p{L}", "/\x00", "/\ud800.*", ".*" * 8, "(.*)+y",
    "[^/]+", "|", "", "/v1/charge", "^$", r"\Z", "(?#comment)/x",
)
# Patterns Python's ``re`` backtracks on for seconds to forever (issue 11, item 1).
SLOW_REGEXES = (
    "/(.|.)*" + "a" * 20 + r"\d", "/(.*)*(.*)*(.*)*x", "(a+)+$", "/(a|aa)*b", "(x+x+)+y",
    "(.*a){12}", "/(\\w+\\s?)*$",
)
_HOSTNAMES = ("api.example.com", "*.example.com", "*", "example.com", "a.b.example.com",
              "*.b.example.com", "API.EXAMPLE.COM", "xn--bcher-kva.example", "-bad-.com",
              "a..b", "*.*.example.com", "1.2.3.4", "[::1]", "é.example.com")


def seeds() -> list[Obj]:
    """Valid objects of every kind the engine reads, in a cluster that hangs together."""
    listeners = [
        b.listener("http", port=80, protocol="HTTP", hostname="*.example.com", from_="All"),
        b.listener("https", port=443, protocol="HTTPS", hostname="api.example.com",
                   from_="Selector", selector={"matchLabels": {"tier": "web"},
                                               "matchExpressions": [
                                                   {"key": "env", "operator": "In",
                                                    "values": ["prod"]}]},
                   tls=b.TLS_TERMINATE),
        b.listener("tls", port=8443, protocol="TLS", hostname="*.tls.example.com",
                   kinds=["TLSRoute"], tls={"mode": "Passthrough"}),
        b.listener("tcp", port=9000, protocol="TCP", from_="Same"),
        b.listener("udp", port=9001, protocol="UDP", from_=None),
    ]
    return [
        b.gateway_class("test", features=["Gateway", "HTTPRoute", "GRPCRoute", "TLSRoute",
                                          "HTTPRouteQueryParamMatching", "ListenerSet"]),
        b.namespace("infra"),
        b.namespace("team-a", labels={"tier": "web", "env": "prod"},
                    hostnames="api.example.com,*.a.example.com"),
        b.namespace("team-b", labels={"capsule.clastix.io/tenant": "blue"},
                    shared_with="team-a"),
        b.gateway(listeners=listeners, allowed_listeners={"from": "All"}, created=b.ts(1)),
        b.listener_set("extra", "team-b", created=b.ts(2), listeners=[
            b.listener("ls-http", port=80, protocol="HTTP", hostname="b.example.com")]),
        b.http_route("api", "team-a", hostnames=["api.example.com"], created=b.ts(3),
                     rules=[b.rule(b.match("/v1", method="GET", headers={"x-env": "prod"},
                                           query={"q": "1"})),
                            b.rule(b.match("/v1/charge", type="Exact"),
                                   b.match("/v[0-9]+/.*", type="RegularExpression"),
                                   name="charge")]),
        b.http_route("evil", "team-b", hostnames=["api.example.com", "*.example.com"],
                     created=b.ts(4), matches=[b.match("/v1/charge")]),
        b.http_route("ls", "team-b", hostnames=["b.example.com"], created=b.ts(5),
                     parents=[b.parent("extra", "team-b", kind="ListenerSet")]),
        b.grpc_route("grpc", "team-a", hostnames=["api.example.com"], created=b.ts(6),
                     matches=[b.grpc_match("pkg.Svc", "Get", headers={"x": "1"}),
                              b.grpc_match("pkg\\..*", type="RegularExpression")]),
        b.l4_route("TLSRoute", "tls", "team-a", hostnames=["x.tls.example.com"],
                   created=b.ts(7), parents=[b.parent(section="tls")]),
        b.l4_route("TCPRoute", "tcp", "infra", created=b.ts(8), parents=[b.parent(port=9000)]),
        b.l4_route("UDPRoute", "udp", "infra", created=b.ts(9)),
    ]


# --- values ------------------------------------------------------------------------------------


def nesting(depth: int, leaf: object = "x", *, mapping: bool = False) -> object:
    value = leaf
    for _ in range(depth):
        value = {"k": value} if mapping else [value]
    return value


def _text(rng: random.Random) -> str:
    pick = rng.randrange(9)
    if pick == 0:
        return ""
    if pick == 1:  # any code point, surrogates included
        return "".join(chr(rng.randrange(0x110000)) for _ in range(rng.randrange(1, 12)))
    if pick == 2:
        return "\ud800" + rng.choice(("", "a", "\udfff"))
    if pick == 3:
        return rng.choice(("x", "é", "\u202e", "\x1b[2J", "\n", "\x00", "/")) * rng.choice(
            (1, 64, 254, 1025, 100_000))
    if pick == 4:
        return rng.choice(_HOSTNAMES)
    if pick == 5:
        return rng.choice(("HTTPRoute", "Gateway", "All", "Same", "Selector", "None",
                           "PathPrefix", "Exact", "RegularExpression", "HTTP", "HTTPS", "TLS",
                           "TCP", "UDP", "GET", "In", "Exists", "ListenerSet", "Service",
                           "gateway.networking.k8s.io", "", "core"))
    if pick == 6:
        return rng.choice(("/", "/v1", "/v1/", "//", "/./x", "v1", "/v1/charge", "/%2e%2e"))
    if pick == 7:
        return rng.choice(REGEXES)
    return "".join(rng.choice("abz-.*/09_") for _ in range(rng.randrange(1, 20)))


def _value(rng: random.Random, hostile: bool, depth: int = 0) -> object:
    pick = rng.randrange(16)
    if pick == 0:
        return None
    if pick == 1:
        return rng.choice((True, False))
    if pick == 2:
        return rng.choice((0, -1, 1, 80, 65535, 65536, 2**31, 2**63, -(2**63)))
    if pick == 3:
        return rng.choice((10**5000, -(10**4400), float("nan"), float("inf"), 1.5, -0.0))
    if pick in (4, 5, 6):
        return _text(rng)
    if pick == 7:
        return rng.choice(SLOW_REGEXES) if hostile else rng.choice(REGEXES)
    if pick == 8:  # deep: past any valid object, sometimes past the recursion limit
        return nesting(rng.choice((8, 33, 200, 1200, 5000)), _text(rng),
                       mapping=rng.random() < 0.5)
    if pick == 9:  # wide
        return [rng.choice(("a", 1, None, {}))] * rng.choice((17, 65, 129, 10_000))
    if pick == 10:
        return {f"k{i}": "v" for i in range(rng.choice((0, 1, 100, 5000)))}
    if pick == 11:
        return []
    if pick == 12:
        return {}
    if depth < 3 and pick == 13:
        return [_value(rng, hostile, depth + 1) for _ in range(rng.randrange(1, 4))]
    if depth < 3 and pick == 14:
        return {_text(rng): _value(rng, hostile, depth + 1) for _ in range(rng.randrange(1, 4))}
    return rng.choice(_HOSTNAMES)


# --- edits -------------------------------------------------------------------------------------


def _slots(obj: object, out: list[tuple[Any, Any]], depth: int = 0) -> list[tuple[Any, Any]]:
    """The (container, key or index) pairs below ``obj``, parents before children: the first
    64 entries of each container, 12 levels down, 5,000 in all (a mutated list can hold a
    million entries)."""
    if depth > 12 or len(out) > 5000:
        return out
    if isinstance(obj, dict):
        for k in list(itertools.islice(obj, 64)):
            out.append((obj, k))
            _slots(obj[k], out, depth + 1)
    elif isinstance(obj, list):
        for i in range(min(len(obj), 64)):
            out.append((obj, i))
            _slots(obj[i], out, depth + 1)
    return out


def _copy(value: object) -> object:
    try:
        return copy.deepcopy(value)
    except RecursionError:  # a value nested past the recursion limit: share it
        return value


def _edit_string(s: str, rng: random.Random) -> str:
    pick = rng.randrange(7)
    if pick == 0:
        return s.upper()
    if pick == 1:
        return s[: rng.randrange(len(s) + 1)]
    if pick == 2:
        return s + _text(rng)
    if pick == 3:
        return "*." + s
    if pick == 4 and len(s) <= 2000:  # long, not unbounded: a few MB at most
        return s * rng.choice((2, 50, 300))
    if pick == 5:
        i = rng.randrange(len(s) + 1)
        return s[:i] + rng.choice(("\ud800", "\x00", ".", "..", "/", "*", " ", "é")) + s[i:]
    return s.replace(".", rng.choice(("", "..", "-", "_")))


def _one_edit(root: Obj, rng: random.Random, hostile: bool) -> None:
    slots = _slots(root, [])
    if not slots:
        return
    parent, key = rng.choice(slots)
    current = parent[key]
    op = rng.randrange(10)
    if op == 0:  # drop
        del parent[key]
    elif op in (1, 2):  # replace with anything
        parent[key] = _value(rng, hostile)
    elif op == 3:  # duplicate
        if isinstance(parent, list):
            parent.insert(key, _copy(current))
        else:
            other_parent, other_key = rng.choice(slots)
            if isinstance(other_parent, dict):
                other_parent[other_key] = _copy(current)
    elif op == 4:  # move a value to another field
        other_parent, other_key = rng.choice(slots)
        if other_parent is not parent or other_key != key:
            with contextlib.suppress(IndexError, TypeError):
                other_parent[other_key] = _copy(current)
    elif op == 5 and isinstance(current, str):  # edit a string
        parent[key] = _edit_string(current, rng)
    elif op == 6 and isinstance(current, list):  # grow a list past its limit
        if current and len(current) <= 1000:
            parent[key] = [_copy(x) for x in current] * rng.choice((2, 17, 65, 129))
    elif op == 7:  # wrong type: str <-> int <-> list <-> dict
        if isinstance(current, str):
            parent[key] = rng.choice((7, [current], {"value": current}))
        elif isinstance(current, bool | int) and abs(current) < 10**100:
            parent[key] = rng.choice((str(current), float(current), [current]))
        elif isinstance(current, list):
            parent[key] = rng.choice(({"0": current}, "list"))
        elif isinstance(current, dict):
            parent[key] = rng.choice(([current], "map", 0))
        else:
            parent[key] = "?"
    elif op == 8:  # a regular expression where one may go (or may not)
        regex = rng.choice(SLOW_REGEXES) if hostile and rng.random() < 0.3 else rng.choice(
            REGEXES)
        if isinstance(current, dict) and "value" in current:
            current["type"] = "RegularExpression"
            current["value"] = regex
        elif isinstance(current, dict) and ("service" in current or "method" in current):
            current["type"] = "RegularExpression"
            current[rng.choice(("service", "method"))] = regex
        else:
            parent[key] = regex
    else:  # a new, unexpected field
        if isinstance(current, dict):
            current[_text(rng)] = _value(rng, hostile)


def mutate(seed: Obj, rng: random.Random, *, edits: int | None = None,
           hostile: bool = False) -> Obj:
    """A deep copy of ``seed`` with 1-4 random edits (``edits`` to choose)."""
    obj: Obj = copy.deepcopy(seed)
    for _ in range(edits if edits is not None else rng.choice((1, 1, 2, 3, 4))):
        _one_edit(obj, rng, hostile)
    return obj


def size(obj: object) -> int:
    """Characters and items in ``obj``, counted without recursion (for reports)."""
    total, stack = 0, [obj]
    while stack:
        item = stack.pop()
        total += 1
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            total += len(item)
    return total


# --- driving the engine ------------------------------------------------------------------------


class Harness:
    """A graph holding the seed cluster; :meth:`exercise` puts one object through every entry
    point (``parse``, ``what_if``, ``upsert``, ``delete``, the queries) and puts the seed back.

    An exception escaping the engine propagates; a broken promise raises AssertionError.
    """

    def __init__(self, deletes: float = 1.0) -> None:
        """``deletes``: how often an input also deletes (then restores) a seed object."""
        from gwwatch.engine import ConflictGraph, parse

        self.deletes = deletes
        self.parse = parse
        self.graph = ConflictGraph()
        self.base = {self.key(p): p for p in (parse(o) for o in seeds()) if p is not None}
        self.graph.apply(self.base.values())
        self.findings = self.graph.findings()

    @staticmethod
    def key(parsed: Any) -> Any:
        from gwwatch.engine import Invalid, ObjectRef
        from gwwatch.engine.model import NamespaceInfo

        if isinstance(parsed, Invalid):
            return ObjectRef(parsed.kind, parsed.namespace, parsed.name or f"<{parsed.source}>")
        if isinstance(parsed, NamespaceInfo):
            return ObjectRef("Namespace", "", parsed.name)
        return parsed.ref

    def exercise(self, obj: object, rng: random.Random) -> None:
        from gwwatch.engine.model import (
            Gateway,
            GatewayClass,
            Invalid,
            ListenerSet,
            NamespaceInfo,
            Route,
        )

        parsed = self.parse(obj, source="fuzz")
        if parsed is None:
            return
        assert isinstance(parsed, Gateway | GatewayClass | ListenerSet | Route | NamespaceInfo |
                          Invalid)
        graph = self.graph
        key = self.key(parsed)
        graph.what_if([parsed])
        assert graph.findings() == self.findings, "what_if() left the graph changed"
        graph.upsert(parsed)
        for ref in graph.route_refs()[:3]:
            graph.findings_of(ref)
            graph.parents_of(ref)
        graph.invalid_objects()
        gone = rng.choice(sorted(self.base)) if rng.random() < self.deletes else None
        if gone is not None:
            graph.what_if((), [gone])
            graph.delete(gone)
            graph.findings()
        # put the seed cluster back, one change at a time
        if gone is not None:
            graph.upsert(self.base[gone])
        if key in self.base:
            graph.upsert(self.base[key])
        else:
            graph.delete(key)
        assert graph.findings() == self.findings, "the seed cluster did not come back"
