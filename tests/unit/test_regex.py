"""RegularExpression matches: RE2 semantics, and exact overlap with a witness.

``apis/v1/httproute_types.go`` (v1.6.1), ``PathMatchRegularExpression``: "Matches if the URL
path matches the given regular expression with case sensitivity. Since `"RegularExpression"`
has implementation-specific conformance, implementations can support POSIX, PCRE, RE2 or any
other regular expression dialect." gwwatch reads them as RE2, what Envoy-based implementations
compile them with, matching the whole path.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gwwatch.engine import FindingKind, parse, precedence
from gwwatch.engine import regex as rx
from gwwatch.engine.model import Match, ObjectRef
from gwwatch.engine.precedence import Request
from tests.unit import builders as b

HOST = "api.example.com"


def regex_path(pattern: str) -> Match:
    return Match(path_type="RegularExpression", path=pattern)


def takes(pattern: str, path: str) -> bool:
    return precedence.applies("HTTPRoute", regex_path(pattern), Request(HOST, path))


class TestRE2Semantics:
    """Tenant patterns run in RE2, never in Python's backtracking ``re``: where the two
    dialects differ, gwwatch answers as RE2 does."""

    def test_perl_classes_are_ascii(self) -> None:
        """RE2: ``\\d`` is ``[0-9]``; Python's ``re`` takes any Unicode digit."""
        assert takes(r"/v\d", "/v1")
        assert not takes(r"/v\d", "/v\u0663")  # ARABIC-INDIC DIGIT THREE

    def test_posix_classes(self) -> None:
        """RE2 reads ``[[:alpha:]]`` as a POSIX class; ``re`` as a set followed by ``]``."""
        assert takes("/[[:alpha:]]+", "/abc")

    @pytest.mark.parametrize("pattern", [r"/(a)\1", r"/(?=a)a", r"/(?<!b)a", r"/a{1001}"])
    def test_backtracking_syntax_is_refused(self, pattern: str) -> None:
        """Backreferences and lookaround need a backtracking engine: RE2 refuses them, so the
        match takes nothing and the route reports the value as unsupported."""
        assert rx.refusal(pattern) is not None
        assert not takes(pattern, "/aa") and not takes(pattern, "/a")
        route = parse(b.http_route("r", "team-a", hostnames=[HOST],
                                   rules=[b.rule(b.match(pattern, type="RegularExpression"))]))
        assert "is not RE2 syntax" in (route.unsupported or "")  # type: ignore[union-attr]

    def test_refused_header_regex_is_unsupported(self) -> None:
        route = parse(b.http_route("r", "team-a", hostnames=[HOST], rules=[b.rule(b.match(
            "/", headers=[{"name": "x", "type": "RegularExpression", "value": "(a)\\1"}]))]))
        assert "headers[0].value" in (route.unsupported or "")  # type: ignore[union-attr]

    def test_catastrophic_pattern_answers(self) -> None:
        """``/(.|.)*a{18}\\d`` took 17 s per path in Python's ``re`` (×4 for two more a's);
        RE2 answers in linear time (here: 30 a's and a 2,000-character path)."""
        assert not takes("/(.|.)*" + "a" * 30 + r"\d", "/" + "a" * 2000)
        assert takes("/(.|.)*" + "a" * 30 + r"\d", "/" + "a" * 2000 + "1")


def space(kind: str, value: str) -> rx.Space:
    return rx.Space(kind, value)


class TestOverlap:
    """Two request spaces intersect when one string is in both: decided on their automata."""

    def test_prefix_is_element_wise(self) -> None:
        """httproute_types.go, PathPrefix: "the paths `/abc`, `/abc/`, and `/abc/def` would all
        match the prefix `/abc`, but the path `/abcd` would not"."""
        found = rx.intersect(space("regex", "/abcd.*"), space("prefix", "/abc"))
        assert found.decided and found.witness is None
        found = rx.intersect(space("regex", "/abc[d/].*"), space("prefix", "/abc"))
        assert found.decided and found.witness == "/abc/"

    def test_case_sensitive(self) -> None:
        """PathMatchRegularExpression: "Matches if the URL path matches the given regular
        expression with case sensitivity"."""
        assert rx.intersect(space("regex", "/API/.*"), space("exact", "/api/x")).witness is None
        found = rx.intersect(space("regex", "(?i)/API/.*"), space("exact", "/api/x"))
        assert found.decided and found.witness == "/api/x"

    @pytest.mark.parametrize(("a", "b", "witness"), [
        ("/v[0-9]+/users", "/v1.*", "/v1/users"),
        ("/v[0-9]+", "/v[a-z]+", None),
        ("/(.|.)*aaaaaaaaaaaaaaaaaa\\d", "/v1/.*", "/v1/aaaaaaaaaaaaaaaaaa0"),
        ("/(.*)*(.*)*(.*)*x", "/[^/]+", "/x"),
        ("/api/(v1|v2)/.*", "/api/v3/.*", None),
        ("/[^/]+/\\d{3}", "/foo/.*", "/foo/000"),
    ])
    def test_regex_against_regex(self, a: str, b: str, witness: str | None) -> None:
        found = rx.intersect(space("regex", a), space("regex", b))
        assert found.decided and found.witness == witness
        if witness is not None:  # really in both, as RE2 says
            assert rx.full_match(a, witness) and rx.full_match(b, witness)

    def test_quoted_text(self) -> None:
        """RE2's ``\\Q...\\E`` is literal text, an empty one nothing at all."""
        assert rx.intersect(space("regex", "/\\Qa.b\\E"), space("exact", "/a.b")).witness == "/a.b"
        assert rx.intersect(space("regex", "/\\Q\\E"), space("prefix", "/")).witness == "/"

    def test_undecided_is_never_guessed(self) -> None:
        """Word boundaries are not modelled; a product past the step budget is not searched
        further: both answer "undecided", never "disjoint"."""
        assert not rx.intersect(space("regex", r"/a\b.*"), space("prefix", "/a")).decided
        big = rx.intersect(space("regex", "/[ab]{1000}c"), space("regex", "/[ab]*a[ab]{999}c"))
        assert not big.decided and big.witness is None
        assert big.steps <= 2 * rx.MAX_STEPS

    def test_header_values_intersect(self) -> None:
        """Two header regexes on one name: a request carrying a value both accept."""
        a = Match(path_type="PathPrefix", path="/", headers=(
            b_header("x-env", "pr.*"),))
        c = Match(path_type="PathPrefix", path="/", headers=(
            b_header("x-env", ".*od"),))
        reqs = precedence.witnesses("HTTPRoute", a, c, HOST)
        assert reqs and dict(reqs[0].headers)["x-env"] == "prod"


def b_header(name: str, pattern: str) -> object:
    from gwwatch.engine.model import HeaderMatch

    return HeaderMatch(name, "RegularExpression", pattern)


def test_hijack_by_regex_names_a_witness_path() -> None:
    """A regex no literal sample of which is a path (``/v1/(admin|charge)[0-9]+``) under the
    owner's ``PathPrefix /v1``, winning by its more specific hostname: the overlap is found on
    the automata, and the finding's request space shows a concrete path both take (what
    ``gwwatch explain`` then prints)."""
    graph = b.scan(
        b.gateway(listeners=[b.listener("http", port=80, from_="All")]),
        b.namespace("infra"), b.namespace("team-a"), b.namespace("team-evil"),
        b.http_route("api", "team-a", hostnames=["*.example.com"], created=b.ts(1),
                     rules=[b.rule(b.match("/v1"))]),
        b.http_route("evil", "team-evil", hostnames=[HOST], created=b.ts(5), rules=[
            b.rule(b.match("/v1/(admin|charge)[0-9]+", type="RegularExpression"))]))
    victim = ObjectRef("HTTPRoute", "team-a", "api")
    hijacks = [f for f in graph.findings_of(victim) if f.kind == FindingKind.HIJACK]
    assert len(hijacks) == 1
    assert hijacks[0].request_space == (
        "RegularExpression /v1/(admin|charge)[0-9]+ (e.g. /v1/admin0)")
    assert "(e.g. /v1/admin0)" in hijacks[0].message
    answer = graph.explain(gateway=ObjectRef("Gateway", "infra", "gw"), port=80,
                           protocol="http", request=Request(HOST, "/v1/admin0"))
    assert answer.winner is not None and answer.winner.route.ref.name == "evil"


def test_undecided_overlap_is_reported_as_may_overlap() -> None:
    """Two patterns whose product is too large to search within ``regex.MAX_STEPS``: the
    engine cannot tell, so the higher-ranked route of another tenant is reported as a possible
    hijacker, said to be bounded, never silently let through."""
    graph = b.scan(
        b.gateway(listeners=[b.listener("http", port=80, from_="All")]),
        b.namespace("infra"), b.namespace("team-a"), b.namespace("team-evil"),
        b.http_route("api", "team-a", hostnames=[HOST], created=b.ts(1), rules=[
            b.rule(b.match("/[ab]*a[ab]{999}c", type="RegularExpression"))]),
        b.http_route("evil", "team-evil", hostnames=[HOST], created=b.ts(5), rules=[
            b.rule(b.match("/[ab]{1000}c(x|yz)?", type="RegularExpression"))]))
    hijacks = [f for f in graph.findings_of(ObjectRef("HTTPRoute", "team-a", "api"))
               if f.kind == FindingKind.HIJACK]
    assert [f.route.name for f in hijacks if f.route is not None] == ["evil"]
    assert hijacks[0].message.endswith("(may overlap: regex analysis bounded)")


_SMALL = ["/" + "".join(t) for n in range(4) for t in itertools.product("/ab0.-", repeat=n)]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab/.*+?|()[]{}^$\\-,0123dDwWsSQEzAx", min_size=1, max_size=10),
       st.one_of(st.text(alphabet="ab/.*+?|()[]{}^$\\-,0123dDwWsSQEzAx", min_size=1,
                         max_size=10).map(lambda p: rx.Space("regex", p)),
                 st.sampled_from([rx.Space(k, v) for k in ("exact", "prefix")
                                  for v in ("/", "/a", "/a/b", "/ab")])))
def test_automata_agree_with_re2(pattern: str, other: rx.Space) -> None:
    """A witness is in both spaces as RE2 matches them; "disjoint" is never contradicted by a
    short path both take."""
    if rx.refusal(pattern) is not None or (other.kind == "regex"
                                           and rx.refusal(other.value) is not None):
        return
    mine = rx.Space("regex", pattern)
    found = rx.intersect(mine, other)

    def takes(space: rx.Space, path: str) -> bool:
        if space.kind == "exact":
            return path == space.value
        if space.kind == "prefix":
            return precedence.prefix_matches(space.value, path)
        return rx.full_match(space.value, path)

    if found.witness is not None:
        assert takes(mine, found.witness) and takes(other, found.witness)
    elif found.decided:
        assert not [p for p in _SMALL if takes(mine, p) and takes(other, p)]


@pytest.mark.parametrize(("a", "b", "service"), [
    (Match(grpc_type="RegularExpression", service=r"acme\.(pay|bill)[a-z]*"),
     Match(grpc_type="RegularExpression", service=r"acme\.p.*", method="Get.*"), "acme.pay"),
    (Match(grpc_type="RegularExpression", service="x[0-9]"),
     Match(grpc_type="RegularExpression", service="x[a-z]"), None),
])
def test_grpc_names_intersect(a: Match, b: Match, service: str | None) -> None:
    """grpcroute_types.go, GRPCMethodMatchRegularExpression: "Matches if the method or service
    matches the given regular expression with case sensitivity": two service patterns share a
    request when some name is in both (decided on their automata, no literal sample of
    either being one here)."""
    reqs = precedence.witnesses("GRPCRoute", a, b, HOST)
    assert [r.service for r in reqs] == ([service] if service else [])
