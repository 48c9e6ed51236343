"""Precedence: which match wins a request, and the words for why.

Source: ``HTTPRouteRule.Matches`` and ``HTTPRouteSpec.Hostnames`` in apis/v1/httproute_types.go,
``GRPCRouteRule.Matches`` in grpcroute_types.go (gateway-api v1.6.1); docs/architecture.md:

- hostname: most characters in a matching non-wildcard hostname, then in a matching hostname;
- HTTP: Exact path; PathPrefix with most characters; method; most headers; most query params;
- gRPC: most characters in service, then in method; most headers;
- ties across routes: oldest creationTimestamp, then ``{namespace}/{name}`` alphabetically;
  within a route: the first matching rule (and, in it, the first match);
- RegularExpression precedence is implementation-specific (reported as such).

PathPrefix matches element by element: ``/abc`` matches ``/abc`` and ``/abc/def``, not ``/abcd``.
A property test checks the engine's order against an oracle written from that text.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from gwwatch.engine import hostnames, parse, precedence
from gwwatch.engine.model import HeaderMatch, Match, ObjectRef, Route, RouteRule
from gwwatch.engine.precedence import Candidate, Request
from tests.unit import builders as b

HOST = "api.example.com"


def _route(obj: dict[str, Any]) -> Route:
    route = parse(obj)
    assert isinstance(route, Route), route
    return route


def http(path: str = "/", *, type: str = "PathPrefix", method: str | None = None,
         headers: dict[str, str] | None = None, query: dict[str, str] | None = None,
         hostname: str = HOST, created: str | None = b.ts(1), name: str = "r",
         ns: str = "team-a") -> Candidate:
    """One HTTPRoute candidate with a single match."""
    route = _route(b.http_route(name, ns, created=created, matches=[
        b.match(path, type=type, method=method, headers=headers, query=query)]))
    return Candidate(route, hostname, 0, 0, route.rules[0].matches[0])


def grpc(service: str | None = None, method: str | None = None, *,
         headers: dict[str, str] | None = None, hostname: str = HOST,
         created: str | None = b.ts(1), name: str = "g", ns: str = "team-a") -> Candidate:
    route = _route(b.grpc_route(name, ns, created=created,
                                matches=[b.grpc_match(service, method, headers=headers)]))
    return Candidate(route, hostname, 0, 0, route.rules[0].matches[0])


def l4(kind: str, *, hostname: str = hostnames.ANY, created: str | None = b.ts(1),
       name: str = "t", ns: str = "team-a") -> Candidate:
    route = _route(b.l4_route(kind, name, ns, created=created,
                              hostnames=[hostname] if kind == "TLSRoute" else None))
    return Candidate(route, hostname, 0, 0, route.rules[0].matches[0])


def _wins(winner: Candidate, loser: Candidate) -> precedence.Comparison:
    """Assert ``winner`` outranks ``loser`` whatever the input order; the comparison."""
    assert precedence.select([loser, winner])[0] is winner
    assert precedence.select([winner, loser])[0] is winner
    return precedence.compare(winner, loser)


class TestHTTPSteps:
    """Each step decides when every earlier step ties."""

    @pytest.mark.parametrize(("winner", "loser", "step"), [
        pytest.param(http(hostname="api.example.com"), http(hostname="*.example.com"),
                     "hostname-precise", id="precise-hostname"),
        pytest.param(http(hostname="*.api.example.com"), http(hostname="*.example.com"),
                     "hostname-length", id="longer-wildcard"),
        pytest.param(http(hostname="*.example.com"), http(hostname=hostnames.ANY),
                     "hostname-length", id="wildcard-over-any"),
        pytest.param(http("/", hostname="api.example.com"),
                     http("/v1/charge", type="Exact", hostname="*.example.com"),
                     "hostname-precise", id="hostname-before-path"),
        pytest.param(http("/a", type="Exact"), http("/a/b/c/d"), "path-type",
                     id="exact-over-longer-prefix"),
        pytest.param(http("/abc/def"), http("/abc"), "path-length", id="longer-prefix"),
        pytest.param(http("/a/b"), http("/a", method="GET", headers={"x": "1"}),
                     "path-length", id="prefix-before-method"),
        pytest.param(http("/a", method="GET"), http("/a"), "method", id="method"),
        pytest.param(http("/a", method="GET"), http("/a", headers={"x": "1", "y": "2", "z": "3"}),
                     "method", id="method-before-headers"),
        pytest.param(http("/a", headers={"x": "1", "y": "2"}), http("/a", headers={"x": "1"}),
                     "headers", id="more-headers"),
        pytest.param(http("/a", headers={"x": "1"}), http("/a", query={"p": "1", "q": "2"}),
                     "headers", id="headers-before-query"),
        pytest.param(http("/a", query={"q": "1"}), http("/a"), "query", id="more-query"),
        pytest.param(http("/a", query={"q": "1"}, created=b.ts(2), name="z"),
                     http("/a", created=b.ts(1), name="a"), "query", id="query-before-age"),
        pytest.param(http(created=b.ts(1), name="z"), http(created=b.ts(2), name="a"), "age",
                     id="oldest"),
        pytest.param(http(name="bar", ns="foo"), http(name="baz", ns="foo"), "name",
                     id="foo/bar-before-foo/baz"),
        pytest.param(http(name="z", ns="team-a"), http(name="a", ns="team-b"), "name",
                     id="namespace-first"),
        pytest.param(http(name="x", ns="a-b"), http(name="x", ns="a"), "name",
                     id="string-order-of-namespace/name"),
    ])
    def test_step(self, winner: Candidate, loser: Candidate, step: str) -> None:
        assert _wins(winner, loser).step == step

    def test_rule_order_within_a_route(self) -> None:
        """Equal matches in one route: the first rule wins."""
        route = _route(b.http_route("r", rules=[b.rule(b.match("/a")), b.rule(b.match("/a"))]))
        first, second = (Candidate(route, HOST, i, 0, route.rules[i].matches[0]) for i in (0, 1))
        assert _wins(first, second).step == "rule"

    def test_match_order_within_a_rule(self) -> None:
        route = _route(b.http_route("r", matches=[b.match("/a"), b.match("/a")]))
        first, second = (Candidate(route, HOST, 0, i, route.rules[0].matches[i]) for i in (0, 1))
        assert _wins(first, second).step == "match"

    def test_later_rule_with_stronger_match_wins(self) -> None:
        """Rule order only breaks ties: a later rule with a longer prefix still wins."""
        route = _route(b.http_route("r", rules=[b.rule(b.match("/a")),
                                                b.rule(b.match("/a/b"))]))
        first, second = (Candidate(route, HOST, i, 0, route.rules[i].matches[0]) for i in (0, 1))
        assert _wins(second, first).step == "path-length"

    @pytest.mark.parametrize(("winner", "loser", "basis"), [
        pytest.param(http(hostname="api.example.com"), http(hostname="*.example.com"),
                     "more specific hostname", id="hostname"),
        pytest.param(http("/v1/charge"), http("/"), "longer path prefix", id="prefix"),
        pytest.param(http(created=b.ts(1)), http(created=b.ts(2)), "older route", id="age"),
    ])
    def test_basis_words(self, winner: Candidate, loser: Candidate, basis: str) -> None:
        """The precedence basis, in the words findings quote."""
        assert _wins(winner, loser).basis == basis

    @pytest.mark.parametrize(("winner", "loser", "word"), [
        (http("/a", type="Exact"), http("/a"), "exact"),
        (http("/a", method="GET"), http("/a"), "method"),
        (http("/a", headers={"x": "1"}), http("/a"), "header"),
        (http("/a", query={"q": "1"}), http("/a"), "query"),
        (http(name="a"), http(name="b"), "alphabetical"),
    ])
    def test_basis_names_the_criterion(self, winner: Candidate, loser: Candidate,
                                       word: str) -> None:
        assert word in _wins(winner, loser).basis.lower()

    def test_regex_is_implementation_specific(self) -> None:
        """RegularExpression path precedence is not the spec's: the comparison says so."""
        regex = http("/v1/.*", type="RegularExpression")
        plain = http("/v1")
        (winner, loser) = precedence.select([regex, plain])
        assert precedence.compare(winner, loser).implementation_specific
        assert not precedence.compare(http("/v1/a"), plain).implementation_specific

    def test_identical_candidates(self) -> None:
        same = http()
        assert precedence.compare(same, same).step == "same"


class TestGRPCSteps:
    """GRPCRoute: hostname, then service characters, method characters, header count."""

    @pytest.mark.parametrize(("winner", "loser", "step"), [
        pytest.param(grpc("pkg.Svc", hostname="api.example.com"),
                     grpc("pkg.Svc", hostname="*.example.com"), "hostname-precise",
                     id="hostname"),
        pytest.param(grpc("pkg.v1.Billing"), grpc("pkg.Billing"), "grpc-service",
                     id="longer-service"),
        pytest.param(grpc("pkg.Billing"), grpc("pkg.Bill", "AVeryLongMethodName"),
                     "grpc-service", id="service-before-method"),
        pytest.param(grpc("pkg.Svc", "Charge"), grpc("pkg.Svc"), "grpc-method",
                     id="longer-method"),
        pytest.param(grpc("pkg.Svc", "Get"), grpc("pkg.Svc", headers={"x": "1", "y": "2"}),
                     "grpc-method", id="method-before-headers"),
        pytest.param(grpc("pkg.Svc", headers={"x": "1"}), grpc("pkg.Svc"), "headers",
                     id="more-headers"),
        pytest.param(grpc("pkg.Svc", created=b.ts(1), name="z"),
                     grpc("pkg.Svc", created=b.ts(2), name="a"), "age", id="oldest"),
        pytest.param(grpc("pkg.Svc", name="a"), grpc("pkg.Svc", name="b"), "name",
                     id="namespace/name"),
    ])
    def test_step(self, winner: Candidate, loser: Candidate, step: str) -> None:
        assert _wins(winner, loser).step == step


class TestL4:
    """TLSRoute: most specific SNI hostname, then oldest, then namespace/name.
    TCPRoute and UDPRoute: oldest, then namespace/name."""

    def test_tls_hostname_then_age(self) -> None:
        precise = l4("TLSRoute", hostname="db.example.com", created=b.ts(2))
        wildcard = l4("TLSRoute", hostname="*.example.com", created=b.ts(1), name="w")
        assert _wins(precise, wildcard).step == "hostname-precise"
        older = l4("TLSRoute", hostname="db.example.com", created=b.ts(1), name="o")
        assert _wins(older, precise).step == "age"

    @pytest.mark.parametrize("kind", ["TCPRoute", "UDPRoute"])
    def test_tcp_udp_oldest_then_name(self, kind: str) -> None:
        assert _wins(l4(kind, created=b.ts(1), name="z"),
                     l4(kind, created=b.ts(2), name="a")).step == "age"
        assert _wins(l4(kind, name="a"), l4(kind, name="b")).step == "name"


class TestRequestMatching:
    """Which requests a match accepts (hostnames aside)."""

    @pytest.mark.parametrize(("prefix", "path", "expected"), [
        ("/abc", "/abc", True),
        ("/abc", "/abc/", True),
        ("/abc", "/abc/def", True),
        ("/abc", "/abcd", False),
        ("/abc", "/ab", False),
        ("/abc", "/ABC", False),
        ("/abc/def", "/abc/def/g", True),
        ("/abc/def", "/abc/defg", False),
        ("/", "/anything/at/all", True),
    ])
    def test_prefix_is_element_wise(self, prefix: str, path: str, expected: bool) -> None:
        """PathPrefix matches whole path elements, case-sensitively."""
        m = http(prefix).match
        assert precedence.applies("HTTPRoute", m, Request(HOST, path)) is expected

    def test_prefix_with_trailing_slash(self) -> None:
        """``/abc/`` as a prefix matches what ``/abc`` matches (the trailing / is ignored)."""
        m = http("/abc/").match
        assert precedence.applies("HTTPRoute", m, Request(HOST, "/abc"))
        assert not precedence.applies("HTTPRoute", m, Request(HOST, "/abcd"))

    @pytest.mark.parametrize(("path", "expected"), [
        ("/abc", True), ("/abc/", False), ("/Abc", False), ("/abcd", False)])
    def test_exact(self, path: str, expected: bool) -> None:
        """Exact `/abc` matches only `/abc`: not `/abc/`, `/Abc` or `/abcd`."""
        m = http("/abc", type="Exact").match
        assert precedence.applies("HTTPRoute", m, Request(HOST, path)) is expected

    def test_method_headers_query_all_required(self) -> None:
        m = http("/", method="POST", headers={"X-Env": "prod"}, query={"v": "2"}).match
        ok = Request(HOST, "/", "POST", (("x-env", "prod"),), (("v", "2"),))
        assert precedence.applies("HTTPRoute", m, ok)
        for bad in (Request(HOST, "/", "GET", ok.headers, ok.query),
                    Request(HOST, "/", "POST", (("x-env", "Prod"),), ok.query),
                    Request(HOST, "/", "POST", ok.headers, ()),
                    Request(HOST, "/", "POST", (), ok.query)):
            assert not precedence.applies("HTTPRoute", m, bad)

    @pytest.mark.parametrize(("path", "winner"), [
        ("/abc/def/x", "/abc/def"),
        ("/abc/defg", "/abc"),
        ("/abcd", "/abcd"),
        ("/abc", "/abc"),
        ("/other", "/"),
    ])
    def test_longest_element_wise_prefix_serves(self, path: str, winner: str) -> None:
        """The request goes to the first candidate (in precedence order) that accepts it."""
        cands = [http(p, name=f"r{i}") for i, p in enumerate(["/", "/abc", "/abcd",
                                                               "/abc/def"])]
        served = next(c for c in precedence.select(cands)
                      if precedence.applies("HTTPRoute", c.match, Request(HOST, path)))
        assert served.match.path == winner

    @pytest.mark.parametrize(("match", "request_", "expected"), [
        (grpc("pkg.Svc", "Get").match, Request(HOST, service="pkg.Svc", grpc_method="Get"),
         True),
        (grpc("pkg.Svc", "Get").match, Request(HOST, service="pkg.Svc", grpc_method="Put"),
         False),
        (grpc("pkg.Svc").match, Request(HOST, service="pkg.Svc", grpc_method="Put"), True),
        (grpc(None, "Get").match, Request(HOST, service="other.Svc", grpc_method="Get"), True),
        (grpc().match, Request(HOST, service="any.Svc", grpc_method="Any"), True),
    ])
    def test_grpc(self, match: Match, request_: Request, expected: bool) -> None:
        assert precedence.applies("GRPCRoute", match, request_) is expected


# --- property: the engine's order against an oracle from the spec text ------------------------

_STEPS_HTTP = ["hostname-precise", "hostname-length", "path-type", "path-length", "method",
               "headers", "query", "age", "name", "rule", "match"]
_STEPS_GRPC = ["hostname-precise", "hostname-length", "grpc-service", "grpc-method", "headers",
               "age", "name", "rule", "match"]


@dataclass(frozen=True)
class _Verdict:
    step: str | None  # None: the spec leaves this pair's order to the implementation
    first_wins: bool = False


def _host_len(h: str) -> int:
    return 0 if h == hostnames.ANY else len(h)


def _oracle(a: Candidate, c: Candidate) -> _Verdict:
    """Who wins between two candidates, straight from the bullet lists of the spec."""
    def decide(step: str, va: object, vc: object, larger_wins: bool = True) -> _Verdict | None:
        if va == vc:
            return None
        assert isinstance(va, int | str) and isinstance(vc, int | str)
        return _Verdict(step, (va > vc) if larger_wins else (va < vc))  # type: ignore[operator]

    grpc_kind = a.route.kind == "GRPCRoute"
    ma, mc = a.match, c.match
    steps: list[tuple[str, object, object, bool]] = [
        ("hostname-precise", hostnames.precise_length(a.hostname),
         hostnames.precise_length(c.hostname), True),
        ("hostname-length", _host_len(a.hostname), _host_len(c.hostname), True),
    ]
    if grpc_kind:
        if precedence.involves_regex(ma) or precedence.involves_regex(mc):
            for step, va, vc, larger in steps:
                verdict = decide(step, va, vc, larger)
                if verdict is not None:
                    return verdict
            return _Verdict(None)
        steps += [("grpc-service", len(ma.service or ""), len(mc.service or ""), True),
                  ("grpc-method", len(ma.method or ""), len(mc.method or ""), True)]
    else:
        types = {ma.path_type, mc.path_type}
        if "RegularExpression" in types or (types == {"Exact"} and ma.path != mc.path):
            # regex: implementation-specific; two different Exact paths never both match
            for step, va, vc, larger in steps:
                verdict = decide(step, va, vc, larger)
                if verdict is not None:
                    return verdict
            return _Verdict(None)
        steps += [("path-type", int(ma.path_type == "Exact"), int(mc.path_type == "Exact"), True),
                  ("path-length", len(ma.path or ""), len(mc.path or ""), True),
                  ("method", int(ma.method is not None), int(mc.method is not None), True)]
    steps.append(("headers", len(ma.headers), len(mc.headers), True))
    if not grpc_kind:
        steps.append(("query", len(ma.query), len(mc.query), True))
    for step, va, vc, larger in steps:
        verdict = decide(step, va, vc, larger)
        if verdict is not None:
            return verdict
    if a.route.ref != c.route.ref:
        if (a.route.created is None) != (c.route.created is None):
            return _Verdict(None)  # a manifest never applied has no age: the spec is silent
        verdict = decide("age", a.route.created or "", c.route.created or "", False)
        if verdict is not None:
            return verdict
        verdict = decide("name", f"{a.route.ref.namespace}/{a.route.ref.name}",
                         f"{c.route.ref.namespace}/{c.route.ref.name}", False)
        assert verdict is not None
        return verdict
    verdict = decide("rule", a.rule, c.rule, False) or decide(
        "match", a.match_index, c.match_index, False)
    return verdict or _Verdict("same")


_HOSTS = ["api.example.com", "*.example.com", "*.api.example.com", hostnames.ANY]
_names = st.tuples(st.sampled_from(["a", "a-b", "b"]), st.sampled_from(["x", "y"]))
_created = st.sampled_from([b.ts(1), b.ts(2), None])
_headers = st.lists(st.sampled_from(["h1", "h2"]), max_size=2, unique=True).map(
    lambda names: tuple(HeaderMatch(n, "Exact", "1") for n in names))


@st.composite
def _http_match(draw: st.DrawFn) -> Match:
    path_type = draw(st.sampled_from(["Exact", "PathPrefix", "PathPrefix", "RegularExpression"]))
    path = draw(st.sampled_from(["/", "/a", "/ab", "/a/b"]))
    return Match(path_type=path_type, path=path if path_type != "RegularExpression" else path
                 + ".*", method=draw(st.sampled_from([None, "GET"])), headers=draw(_headers),
                 query=draw(_headers))


@st.composite
def _grpc_match(draw: st.DrawFn) -> Match:
    service = draw(st.sampled_from([None, "pkg.Svc", "pkg.v1.Svc"]))
    method = draw(st.sampled_from([None, "Get", "Charge"]))
    if service is None and method is None:
        return Match(headers=draw(_headers))
    return Match(grpc_type=draw(st.sampled_from(["Exact"] * 4 + ["RegularExpression"])),
                 service=service, method=method, headers=draw(_headers))


@st.composite
def _candidates(draw: st.DrawFn, kind: str) -> list[Candidate]:
    """Routes with unique refs, each 1–2 rules of 1–2 matches, each on 1–2 hostnames."""
    refs = draw(st.lists(_names, min_size=1, max_size=3, unique=True))
    matcher = _http_match() if kind == "HTTPRoute" else _grpc_match()
    out = []
    for ns, name in refs:
        rules = tuple(RouteRule(None, tuple(draw(st.lists(matcher, min_size=1, max_size=2))),
                                ())
                      for _ in range(draw(st.integers(1, 2))))
        route = Route(ObjectRef(kind, ns, name), draw(_created), (), (), rules, None)
        for host in draw(st.lists(st.sampled_from(_HOSTS), min_size=1, max_size=2,
                                  unique=True)):
            out += [Candidate(route, host, ri, mi, m) for ri, r in enumerate(route.rules)
                    for mi, m in enumerate(r.matches)]
    return out


def _identity(c: Candidate) -> tuple[object, ...]:
    return (c.route.ref, c.hostname, c.rule, c.match_index)


class TestOrderProperties:
    """``rank`` is a total order, agrees with the spec's order, and ``compare`` names the step."""

    @settings(max_examples=120)
    @given(st.sampled_from(["HTTPRoute", "GRPCRoute"]).flatmap(_candidates), st.randoms())
    def test_total_order_and_oracle(self, cands: list[Candidate], rnd: Any) -> None:
        ranked = precedence.select(cands)
        shuffled = list(cands)
        rnd.shuffle(shuffled)
        assert [_identity(c) for c in precedence.select(shuffled)] == [
            _identity(c) for c in ranked]
        steps = _STEPS_HTTP if cands[0].route.kind == "HTTPRoute" else _STEPS_GRPC
        for i, w in enumerate(ranked):
            for loser in ranked[i + 1:]:
                assert precedence.rank(w) != precedence.rank(loser), "rank must be total"
                cmp = precedence.compare(w, loser)
                assert cmp.step in steps
                verdict = _oracle(w, loser)
                if verdict.step is None:
                    continue
                assert (verdict.step, verdict.first_wins) == (cmp.step, True), (
                    w.route.ref, w.hostname, w.match, loser.route.ref, loser.hostname,
                    loser.match)

    @settings(max_examples=40)
    @given(st.sampled_from(["HTTPRoute", "GRPCRoute"]).flatmap(_candidates))
    def test_regex_comparisons_say_so(self, cands: list[Candidate]) -> None:
        ranked = precedence.select(cands)
        assume(len(ranked) > 1)
        for w, loser in itertools.pairwise(ranked):
            cmp = precedence.compare(w, loser)
            if cmp.step.startswith("path") and (precedence.involves_regex(w.match)
                                                or precedence.involves_regex(loser.match)):
                assert cmp.implementation_specific
