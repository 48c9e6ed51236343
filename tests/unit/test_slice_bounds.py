"""Bounded analysis: no step grows with the square of the matches or routes on one hostname.

Cost is counted, not timed: every call of ``precedence.applies`` (does this match take this
request), ``precedence.witnesses`` (requests two matches share) and ``precedence.contains``
(does one match cover another) is one unit, deterministic on any machine. One change on a
slice of ``n`` matches may cost O(n log n) of them, never O(n^2): the tests grow a slice four
times and allow the count to grow at most six times (a quadratic step grows sixteen times).

The shapes are the hostile vectors of ``bench/hostile.py``: routes mirroring the same paths
(matches per hostname), one-match routes hijacking one victim, and deleting routes from a
busy hostname one by one. A differential test holds the indexed analysis to a plain scan of
every candidate: the same findings, word for word.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gwwatch.engine import ConflictGraph, FindingKind, Policy, conflicts, parse, precedence
from gwwatch.engine.model import ObjectRef, Parsed
from tests.unit import builders as b

HOST = "api.example.com"
VICTIM = ObjectRef("HTTPRoute", "team-victim", "api")


@contextmanager
def counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Count the calls of the engine's three request-space primitives."""
    calls = [0]
    for name in ("applies", "witnesses", "contains"):
        real = getattr(precedence, name)

        def wrapper(*args: Any, _real: Callable[..., Any] = real, **kw: Any) -> Any:
            calls[0] += 1
            return _real(*args, **kw)

        monkeypatch.setattr(precedence, name, wrapper)
    try:
        yield calls
    finally:
        monkeypatch.undo()


def _base() -> list[dict[str, Any]]:
    return [b.namespace("infra"), b.gateway(listeners=[b.listener("http", port=80, from_="All")])]


def _route(name: str, ns: str, paths: list[str], created: int, **kw: Any) -> dict[str, Any]:
    matches = [b.match(p, **kw) for p in paths]
    rules = [b.rule(*matches[i:i + 64], backend=f"svc-{name}")
             for i in range(0, len(matches), 64)]
    return b.http_route(name, ns, hostnames=[HOST], rules=rules, created=b.ts(created))


def _graph(objs: list[dict[str, Any]]) -> ConflictGraph:
    graph = ConflictGraph(Policy())
    graph.apply([parse(o) for o in objs])
    return graph


def _mirrored(per_route: int) -> tuple[ConflictGraph, Parsed]:
    """20 routes of 20 tenants, each with the same ``per_route`` prefixes; and an edit."""
    paths = [f"/p{j}" for j in range(per_route)]
    objs = _base()
    for i in range(20):
        objs += [b.namespace(f"team-{i}"), _route(f"r{i}", f"team-{i}", paths, 1 + i)]
    edited = _route("r19", "team-19", [*paths[:-1], f"/p{per_route - 1}/edited"], 20)
    return _graph(objs), parse(edited)


def _hijacked(n: int) -> tuple[ConflictGraph, Parsed]:
    """A victim's PathPrefix /v1 and ``n`` one-match routes of other tenants under it; and one
    more hijacker."""
    objs = [*_base(), b.namespace(VICTIM.namespace),
            _route("api", VICTIM.namespace, ["/v1"], 1)]
    for i in range(n):
        objs += [b.namespace(f"team-h{i}"), _route(f"h{i}", f"team-h{i}", [f"/v1/c{i}"], 10 + i)]
    objs.append(b.namespace("team-new"))
    return _graph(objs), parse(_route("new", "team-new", ["/v1/new"], 10 + n))


def _cost(monkeypatch: pytest.MonkeyPatch, graph: ConflictGraph,
          change: Callable[[ConflictGraph], object]) -> int:
    with counted(monkeypatch) as calls:
        change(graph)
    return calls[0]


def _growth(monkeypatch: pytest.MonkeyPatch, build: Callable[[int], tuple[ConflictGraph, Parsed]],
            small: int) -> tuple[int, int]:
    costs = []
    for size in (small, 4 * small):
        graph, obj = build(size)
        costs.append(_cost(monkeypatch, graph, lambda g, o=obj: g.upsert(o)))
    return costs[0], costs[1]


def test_matches_per_hostname_cost_grows_linearly(monkeypatch: pytest.MonkeyPatch) -> None:
    """20 routes mirroring 8, then 32 paths each (160, then 640 matches on one hostname)."""
    small, large = _growth(monkeypatch, _mirrored, 8)
    assert large <= 6 * small, (small, large)


def test_hijackers_of_one_victim_cost_grows_linearly(monkeypatch: pytest.MonkeyPatch) -> None:
    """50, then 200 one-match routes taking a victim's requests; one more arrives."""
    small, large = _growth(monkeypatch, _hijacked, 50)
    assert large <= 6 * small, (small, large)
    graph, obj = _hijacked(200)
    graph.upsert(obj)
    hijacks = [f for f in graph.findings_of(VICTIM) if f.kind == FindingKind.HIJACK]
    assert len(hijacks) == 201  # every one of them is still found


def test_deleting_routes_one_by_one_costs_linearly_per_delete(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A hostname with n one-match routes of n tenants; the first route deleted."""
    costs = []
    for n in (60, 240):
        objs = _base()
        for i in range(n):
            objs += [b.namespace(f"team-{i}"), _route(f"r{i}", f"team-{i}", [f"/p{i}"], 1 + i)]
        graph = _graph(objs)
        costs.append(_cost(monkeypatch, graph,
                           lambda g: g.delete(ObjectRef("HTTPRoute", "team-0", "r0"))))
    assert costs[1] <= 6 * costs[0], costs


def _contested(per_rule: int) -> list[dict[str, Any]]:
    """The owner's catch-all matches and an attacker's, ``4 * per_rule`` each, each with a
    header of its own, and a third route whose exact paths take every witness request: every
    pair of the owner's and the attacker's matches shares requests and none decides, so an
    exact analysis tries them all (requests like /x with both headers are the attacker's)."""
    def routes(name: str, ns: str, created: int, **kw: Any) -> list[dict[str, Any]]:
        return [b.http_route(f"{name}{r}", ns, hostnames=[HOST], created=b.ts(created), rules=[
            b.rule(*(b.match("/", headers={f"x-{name}{r}-{k}-{i}": "1"}, **kw)
                     for i in range(per_rule))) for k in range(2)]) for r in range(2)]

    guard = b.http_route("guard", "team-g", hostnames=[HOST], created=b.ts(9), rules=[
        b.rule(b.match("/gwwatch-probe", type="Exact"), b.match("/", type="Exact"))])
    return [*_base(), *(b.namespace(ns) for ns in (VICTIM.namespace, "team-evil", "team-g")),
            *routes("api", VICTIM.namespace, 1), *routes("evil", "team-evil", 5, method="GET"),
            guard]


def test_a_slice_past_its_budget_still_reports_the_hijacker(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Past its work budget the analysis stops; the attacker's routes it has not decided are
    reported as possible hijackers, said to be bounded, never dropped; and the cost of the
    whole slice grows linearly (120, then 480 matches a side)."""
    costs = []
    for per_rule in (15, 60):
        with counted(monkeypatch) as calls:
            graph = _graph(_contested(per_rule))
        costs.append(calls[0])
    assert costs[1] <= 6 * costs[0], costs
    hijacks = [f for f in graph.findings() if f.kind == FindingKind.HIJACK]
    bounded = {f.route.name for f in hijacks if f.route is not None
               and f.route.namespace == "team-evil" and "analysis bounded" in f.message}
    assert bounded == {"evil0", "evil1"}
    assert all(f.severity == "critical" for f in hijacks)
    assert {f.route.name for f in hijacks if f.route is not None
            and "analysis bounded" not in f.message} == {"guard"}  # decided exactly


def test_stranded_owner_past_the_budget_still_hears_of_its_hijackers(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The owner's routes of ``_contested`` attached only to a listener without hostname, the
    others to the Gateway's more specific listener for the hostname too: requests go there,
    and the listener-specificity analysis, past its budget, names every route serving them."""
    objs = _contested(60)
    objs.append(b.gateway("gw2", listeners=[
        b.listener("http", port=80, from_="All"),
        b.listener("api", port=80, hostname=HOST, from_="All")]))
    for o in objs:
        if o["kind"] == "HTTPRoute":
            o["spec"]["parentRefs"] = ([b.parent("gw2", section="http")]
                                      if o["metadata"]["namespace"] == VICTIM.namespace
                                      else [b.parent("gw2")])
    with counted(monkeypatch) as calls:
        graph = _graph(objs)
    assert calls[0] < 240 * 480
    bounded = {f.route.name for f in graph.findings() if f.kind == FindingKind.HIJACK
               and f.route is not None and "analysis bounded" in f.message}
    assert bounded >= {"evil0", "evil1"}


# --- the index changes nothing: a plain scan of every candidate finds the same ----------------


class _Scan(conflicts._Slice):
    """Every candidate is a candidate for everything, and the budget never runs out."""

    def accepting(self, req: precedence.Request) -> Iterator[int]:
        return iter(range(len(self.ranked)))

    def overlapping(self, m: Any) -> list[int]:
        return list(range(len(self.ranked)))

    def containers(self, c: Any, upto: int) -> Iterator[int]:
        return iter(range(upto))

    def charge(self, n: int = 1) -> None:
        return None


_PATHS = ["/", "/a", "/a/b", "/a/b/c", "/b", "/ab"]
_match = st.builds(
    lambda path, type_, method, header, query: b.match(
        path, type=type_, method=method, headers={"x-h": header} if header else None,
        query={"q": query} if query else None),
    st.sampled_from(_PATHS), st.sampled_from(["PathPrefix", "PathPrefix", "Exact"]),
    st.sampled_from([None, None, "GET", "POST"]), st.sampled_from([None, None, "1", "2"]),
    st.sampled_from([None, None, "1"]))
_routes = st.lists(
    st.tuples(st.sampled_from(["team-a", "team-b", "team-c"]),
              st.lists(_match, min_size=1, max_size=4),
              st.sampled_from([[HOST], [HOST], ["*.example.com"]])),
    min_size=2, max_size=7)


@settings(max_examples=150, deadline=None)
@given(_routes)
def test_indexed_analysis_equals_a_plain_scan(routes: list[Any]) -> None:
    objs = [*_base(), *(b.namespace(ns) for ns in ("team-a", "team-b", "team-c")),
            b.gateway("gw2", listeners=[b.listener("http", port=80, from_="All"),
                                        b.listener("api", port=80, hostname=HOST, from_="All")])]
    for i, (ns, matches, hosts) in enumerate(routes):
        # gw2's listener "api" takes HOST from its listener "http": a route attached only to
        # "http" is stranded there (listener_hijacks)
        parents = ([b.parent("gw"), b.parent("gw2")] if i % 3 == 1
                   else [b.parent("gw2", section="http")] if i % 3 == 2 else None)
        objs.append(b.http_route(f"r{i}", ns, hostnames=hosts, rules=[b.rule(*matches)],
                                 parents=parents, created=b.ts(i % 4)))
    indexed = _graph(objs).findings()
    real = conflicts._Slice
    conflicts._Slice = _Scan  # type: ignore[misc]
    try:
        scanned = _graph(objs).findings()
    finally:
        conflicts._Slice = real  # type: ignore[misc]
    assert indexed == scanned
