"""Hostnames as the Gateway API reads them: validity, wildcards, intersection, specificity.

Sources: the ``Hostname`` type's CRD pattern (``apis/v1/shared_types.go``), the HTTPRoute
``hostnames`` doc (``apis/v1/httproute_types.go``) and the tables of
``site-src/concepts/hostnames.md`` (gateway-api v1.6.1). Laws are checked with hypothesis over a
small alphabet so that wildcards, subdomains and near-misses (``ample.com`` / ``example.com``)
actually meet.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gwwatch.engine import hostnames
from gwwatch.engine.conflicts import choose_listener
from gwwatch.engine.model import Listener, ObjectRef


class TestValidity:
    """``is_valid``: RFC 1123 labels, an optional leading ``*.`` label, no IPs, ≤ 253 chars."""

    @pytest.mark.parametrize("name", [
        pytest.param("example.com", id="two-labels"),
        pytest.param("com", id="one-label"),
        pytest.param("sub.domain.example.com", id="many-labels"),
        pytest.param("*.example.com", id="wildcard"),
        pytest.param("*.com", id="wildcard-tld"),
        pytest.param("a-b.c0.example", id="hyphen-digit"),
        pytest.param("0.example.com", id="digit-label"),
        pytest.param("xn--bcher-kva.example", id="punycode"),
        pytest.param("a" * 63 + ".com", id="long-label"),
        pytest.param(".".join(["a" * 49] * 5) + ".abc", id="253-chars"),
    ])
    def test_valid(self, name: str) -> None:
        """Precise names and one leading wildcard label are valid hostnames."""
        assert hostnames.is_valid(name)

    @pytest.mark.parametrize("name", [
        pytest.param("", id="empty"),
        pytest.param("*", id="bare-star"),
        pytest.param("f*.example.com", id="star-not-leftmost"),
        pytest.param("*oo.example.com", id="star-not-followed-by-dot"),
        pytest.param("foo.*.example.com", id="star-in-middle"),
        pytest.param("*.*.example.com", id="two-stars"),
        pytest.param("**.example.com", id="double-star"),
        pytest.param("192.168.0.1", id="ipv4"),
        pytest.param("Example.com", id="upper-case"),
        pytest.param("-a.example.com", id="leading-hyphen"),
        pytest.param("a-.example.com", id="trailing-hyphen"),
        pytest.param("a..example.com", id="empty-label"),
        pytest.param(".example.com", id="leading-dot"),
        pytest.param("example.com.", id="trailing-dot"),
        pytest.param("ex_ample.com", id="underscore"),
        pytest.param("example.com:443", id="port"),
        pytest.param(".".join(["a" * 49] * 5) + ".abcd", id="254-chars"),
    ])
    def test_invalid(self, name: str) -> None:
        """Anything else is not a hostname (the CRD would refuse it)."""
        assert not hostnames.is_valid(name)


class TestWildcardMatching:
    """``*.example.com`` matches one or more labels in front of ``example.com``, never itself."""

    @pytest.mark.parametrize(("pattern", "host", "expected"), [
        ("*.example.com", "www.example.com", True),
        ("*.example.com", "sub.domain.example.com", True),
        ("*.example.com", "example.com", False),
        ("*.example.com", "wwwexample.com", False),
        ("*.example.com", "www.example.net", False),
        ("*.ample.com", "www.example.com", False),
        ("*.com", "example.com", True),
        ("*.com", "www.example.com", True),
        ("www.example.com", "www.example.com", True),
        ("www.example.com", "foo.example.com", False),
        ("www.example.com", "example.com", False),
        (hostnames.ANY, "anything.example", True),
    ])
    def test_matches(self, pattern: str, host: str, expected: bool) -> None:
        """A request's host against a route or listener hostname."""
        assert hostnames.matches(pattern, host) is expected

    def test_host_header_is_case_insensitive(self) -> None:
        """Host names compare case-insensitively (a Host header may be ``WWW.Example.COM``)."""
        assert hostnames.matches("www.example.com", "WWW.Example.COM")
        assert hostnames.matches("*.example.com", "WWW.Example.COM")

    @pytest.mark.parametrize(("outer", "inner", "expected"), [
        ("*.example.com", "www.example.com", True),
        ("*.example.com", "*.foo.example.com", True),
        ("*.foo.example.com", "*.example.com", False),
        ("*.example.com", "example.com", False),
        ("*.example.com", "*.example.com", True),
        ("*.ample.com", "*.example.com", False),
        ("*.ample.com", "x.example.com", False),
        ("www.example.com", "*.example.com", False),
        ("www.example.com", "www.example.com", True),
        (hostnames.ANY, "*.com", True),
        ("*.com", hostnames.ANY, False),
    ])
    def test_covers(self, outer: str, inner: str, expected: bool) -> None:
        """``covers(outer, inner)``: every host ``inner`` matches, ``outer`` matches too."""
        assert hostnames.covers(outer, inner) is expected


class TestIntersection:
    """Listener × route hostname intersection, row by row from ``hostnames.md``."""

    @pytest.mark.parametrize(("listener", "route", "intersected"), [
        pytest.param("www.example.com", "www.example.com", "www.example.com",
                     id="precise-precise"),
        pytest.param("*.example.com", "www.example.com", "www.example.com",
                     id="wildcard-listener-precise-route"),
        pytest.param("*.example.com", "sub.domain.example.com", "sub.domain.example.com",
                     id="wildcard-many-labels"),
        pytest.param("www.example.com", "*.example.com", "www.example.com",
                     id="precise-listener-wildcard-route"),
        pytest.param("sub.domain.example.com", "*.example.com", "sub.domain.example.com",
                     id="many-labels-other-way"),
        pytest.param("*.example.com", "*.example.com", "*.example.com", id="same-wildcard"),
        pytest.param("*.com", "*.example.com", "*.example.com", id="wildcard-narrower-route"),
        pytest.param("*.example.com", "*.com", "*.example.com", id="wildcard-narrower-listener"),
        pytest.param(hostnames.ANY, "www.example.com", "www.example.com", id="any-precise"),
        pytest.param(hostnames.ANY, hostnames.ANY, hostnames.ANY, id="any-any"),
    ])
    def test_intersects(self, listener: str, route: str, intersected: str) -> None:
        """The intersected hostname is the narrower of the two."""
        assert hostnames.intersect(listener, route) == intersected
        assert hostnames.intersect(route, listener) == intersected

    @pytest.mark.parametrize(("listener", "route"), [
        ("www.example.com", "foo.example.com"),
        ("*.example.com", "example.com"),
        ("*.example.com", "test.example.net"),
        ("*.foo.com", "*.bar.com"),
        ("*.ample.com", "*.example.com"),
        ("example.com", "*.example.com"),
    ])
    def test_disjoint(self, listener: str, route: str) -> None:
        """No host matches both: no intersection (the route is not attached there)."""
        assert hostnames.intersect(listener, route) is None


class TestListenerSpecificity:
    """Requests go to the most specific listener hostname: precise, longer wildcard, then none.

    gateway_types.go: "Exact matches MUST be processed before wildcard matches, and wildcard
    matches MUST be processed before fallback (empty Hostname value) matches", and the more
    labels right of the wildcard, the higher the precedence.
    """

    @staticmethod
    def _listeners(*names: str | None) -> list[Listener]:
        gw = ObjectRef("Gateway", "infra", "gw")
        return [Listener(gw, gw, f"l{i}", 80, "HTTP", h, "All", None, ("HTTPRoute",), ())
                for i, h in enumerate(names)]

    @pytest.mark.parametrize(("host", "expected"), [
        ("foo.example.com", "foo.example.com"),
        ("bar.example.com", "*.example.com"),
        ("a.bar.foo.example.com", "*.foo.example.com"),
        ("bar.foo.example.com", "*.foo.example.com"),
        ("example.com", None),
        ("example.net", None),
    ])
    def test_most_specific_listener(self, host: str, expected: str | None) -> None:
        """Whatever the order the listeners are declared in."""
        names = ["*.example.com", None, "foo.example.com", "*.foo.example.com"]
        for order in (names, list(reversed(names))):
            chosen = choose_listener(self._listeners(*order), host)
            assert chosen is not None
            assert chosen.hostname == expected

    def test_no_fallback_listener(self) -> None:
        """Without a listener lacking a hostname, an unmatched host reaches no listener."""
        assert choose_listener(self._listeners("*.example.com"), "example.com") is None

    @pytest.mark.parametrize(("more", "less"), [
        ("www.example.com", "*.example.com"),
        ("*.example.com", "*.com"),
        ("*.com", hostnames.ANY),
        ("*.foo.example.com", "*.example.com"),
    ])
    def test_specificity_order(self, more: str, less: str) -> None:
        """hostnames.md: more specific labels first."""
        assert hostnames.specificity(more) > hostnames.specificity(less)


# --- laws ------------------------------------------------------------------------------------

# A small universe where wildcards, subdomains and near-misses (``ab.b`` / ``b.b``) meet.
_HOSTS = sorted({".".join([*labels, tld])
                 for tld in ("com", "b")
                 for labels in ((), ("a",), ("b",), ("ab",), ("a", "b"), ("b", "a"),
                                ("ab", "b"), ("a", "ab", "b"))})
_PATTERNS = [hostnames.ANY, *_HOSTS, *(f"*.{h}" for h in _HOSTS)]
precise_hosts = st.sampled_from(_HOSTS)
patterns = st.sampled_from(_PATTERNS)
_BUDGET = settings(max_examples=150)


class TestLaws:
    """Algebraic laws the engine leans on, over a small alphabet of labels."""

    def test_universe_is_valid(self) -> None:
        assert all(p == hostnames.ANY or hostnames.is_valid(p) for p in _PATTERNS)

    @_BUDGET
    @given(patterns, patterns, patterns)
    def test_covers_is_a_partial_order(self, a: str, b: str, c: str) -> None:
        """Reflexive, antisymmetric, transitive."""
        assert hostnames.covers(a, a)
        if hostnames.covers(a, b) and hostnames.covers(b, a):
            assert a == b
        if hostnames.covers(a, b) and hostnames.covers(b, c):
            assert hostnames.covers(a, c)

    @_BUDGET
    @given(patterns, patterns, precise_hosts)
    def test_intersect(self, a: str, b: str, host: str) -> None:
        """Symmetric, covered by both sides, and a host is in both exactly when it is in it."""
        both = hostnames.intersect(a, b)
        assert both == hostnames.intersect(b, a)
        assert hostnames.intersect(a, a) == a
        if both is not None:
            assert hostnames.covers(a, both)
            assert hostnames.covers(b, both)
        in_both = hostnames.matches(a, host) and hostnames.matches(b, host)
        assert in_both == (both is not None and hostnames.matches(both, host))

    @_BUDGET
    @given(patterns, patterns, precise_hosts)
    def test_matches_consistent_with_covers(self, outer: str, inner: str, host: str) -> None:
        """What ``inner`` matches, a hostname covering it matches too; on a precise host
        ``covers`` is ``matches``, and ``covering(host)`` lists exactly the matching patterns."""
        if hostnames.covers(outer, inner) and hostnames.matches(inner, host):
            assert hostnames.matches(outer, host)
        assert hostnames.covers(outer, host) == hostnames.matches(outer, host)
        assert (outer in hostnames.covering(host)) == hostnames.matches(outer, host)

    def test_exhaustive_pairs(self) -> None:
        """Every pair of the universe: covers/intersect agree with the hosts they match."""
        for a in _PATTERNS:
            hosts_a = {h for h in _HOSTS if hostnames.matches(a, h)}
            for b in _PATTERNS:
                hosts_b = {h for h in _HOSTS if hostnames.matches(b, h)}
                if hostnames.covers(a, b):
                    assert hosts_b <= hosts_a, (a, b)
                both = hostnames.intersect(a, b)
                if both is None:
                    assert not hosts_a & hosts_b, (a, b)
                else:
                    assert {h for h in _HOSTS if hostnames.matches(both, h)} == hosts_a & hosts_b
