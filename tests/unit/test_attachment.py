"""Route attachment: parentRef → listeners, and the spec's reason when a parent refuses.

Sources (gateway-api v1.6.1): ``ParentReference`` (shared_types.go: defaults, sectionName,
port, "attached if at least one listener accepts it"), ``AllowedRoutes``/``RouteNamespaces``
(gateway_types.go: ``from`` default Same, Selector, kinds inferred from protocol), the
``RouteConditionReason`` values, HTTPRoute ``hostnames`` (intersection, hostname-less routes),
ListenerSet (listenerset_types.go: parents admit them through ``allowedListeners``; a Gateway
parentRef without sectionName reaches only the Gateway's own listeners, docs/architecture.md),
and the ``UnsupportedValue`` rule for unknown enum values (path, header, query, method types).
"""

from __future__ import annotations

from typing import Any

import pytest

from gwwatch.engine import hostnames
from gwwatch.engine.attachment import (
    ACCEPTED,
    NO_MATCHING_LISTENER_HOSTNAME,
    NO_MATCHING_PARENT,
    NOT_ALLOWED_BY_LISTENERS,
    UNSUPPORTED_VALUE,
    ParentStatus,
)
from gwwatch.engine.model import ObjectRef, parse
from gwwatch.engine.precedence import Request
from gwwatch.engine.vocabulary import FindingKind, Reason, Severity
from tests.unit import builders as b

LS = ObjectRef("ListenerSet", "team-b", "extra")


def _attached(st: ParentStatus) -> dict[str, tuple[str, ...]]:
    """listener name → the hostnames the route gets there."""
    return {a.listener.name: a.hostnames for a in st.attached}


def _one(*objs: dict[str, Any], route: str = "r", ns: str = "team-a",
         kind: str = "HTTPRoute") -> ParentStatus:
    return b.only_status(b.scan(*objs), route, ns, kind)


class TestParentRef:
    """Which Gateway and listeners a parentRef names."""

    def test_defaults_to_gateway_in_route_namespace(self) -> None:
        """namespace unspecified: the route's own namespace."""
        gw = b.gateway("gw", "team-a")
        st = _one(gw, b.http_route("r", "team-a", parents=[{"name": "gw"}]))
        assert (st.accepted, st.reason) == (True, ACCEPTED)
        assert st.gateway == ObjectRef("Gateway", "team-a", "gw")

    def test_default_namespace_does_not_reach_other_namespaces(self) -> None:
        st = _one(b.gateway(), b.http_route("r", "team-a", parents=[{"name": "gw"}]))
        assert (st.accepted, st.reason) == (False, NO_MATCHING_PARENT)

    def test_missing_gateway(self) -> None:
        st = _one(b.gateway(), b.http_route("r", parents=[b.parent("nope")]))
        assert (st.accepted, st.reason) == (False, NO_MATCHING_PARENT)

    def test_cross_namespace_needs_no_reference_grant(self) -> None:
        """Route → Gateway in another namespace: allowedRoutes decides, not ReferenceGrant."""
        st = _one(b.gateway(), b.http_route("r", "team-a"))
        assert st.accepted

    @pytest.mark.parametrize("extra", [
        pytest.param({"kind": "Service"}, id="kind-Service"),
        pytest.param({"group": "example.com"}, id="other-group"),
        pytest.param({"group": "", "kind": "Service"}, id="core-Service"),
        pytest.param({"group": ""}, id="core-group-Gateway"),
    ])
    def test_parent_that_is_not_a_gateway(self, extra: dict[str, str]) -> None:
        """Only gateway.networking.k8s.io Gateways (and ListenerSets) are parents here; an
        explicit empty group is the core API group, which has no Gateway kind."""
        st = _one(b.gateway(), b.http_route("r", parents=[{**b.parent(), **extra}]))
        assert (st.accepted, st.reason) == (False, NO_MATCHING_PARENT)

    def test_explicit_defaults_are_the_defaults(self) -> None:
        pr = b.parent(group=b.GROUP, kind="Gateway")
        assert _one(b.gateway(), b.http_route("r", parents=[pr])).accepted

    def test_one_status_per_parent_ref_in_order(self) -> None:
        gw2 = b.gateway("gw2", listeners=[b.listener(from_="Same")])
        graph = b.scan(b.gateway(), gw2, b.http_route(
            "r", parents=[b.parent("gw2"), b.parent(), b.parent("nope")]))
        sts = b.status(graph, "r")
        assert [(s.parent.name, s.accepted, s.reason) for s in sts] == [
            ("gw2", False, NOT_ALLOWED_BY_LISTENERS), ("gw", True, ACCEPTED),
            ("nope", False, NO_MATCHING_PARENT)]


_TWO_PORTS = b.gateway(listeners=[
    b.listener("http", port=80),
    b.listener("http-alt", port=80, hostname="*.example.com"),
    b.listener("https", port=443, protocol="HTTPS"),
])


class TestSectionNameAndPort:
    """sectionName = listener name; port = every listener on it; with both, both must match."""

    def test_no_section_attaches_to_every_listener_that_accepts(self) -> None:
        st = _one(_TWO_PORTS, b.http_route("r"))
        assert set(_attached(st)) == {"http", "http-alt", "https"}

    def test_section_name(self) -> None:
        st = _one(_TWO_PORTS, b.http_route("r", parents=[b.parent(section="https")]))
        assert set(_attached(st)) == {"https"}

    def test_unknown_section_name(self) -> None:
        st = _one(_TWO_PORTS, b.http_route("r", parents=[b.parent(section="grpc")]))
        assert (st.accepted, st.reason) == (False, NO_MATCHING_PARENT)

    def test_port(self) -> None:
        st = _one(_TWO_PORTS, b.http_route("r", parents=[b.parent(port=80)]))
        assert set(_attached(st)) == {"http", "http-alt"}

    def test_port_without_listener(self) -> None:
        st = _one(_TWO_PORTS, b.http_route("r", parents=[b.parent(port=8080)]))
        assert (st.accepted, st.reason) == (False, NO_MATCHING_PARENT)

    def test_section_and_port_both_match(self) -> None:
        st = _one(_TWO_PORTS, b.http_route("r", parents=[b.parent(section="https", port=443)]))
        assert set(_attached(st)) == {"https"}

    def test_section_and_port_disagree(self) -> None:
        st = _one(_TWO_PORTS, b.http_route("r", parents=[b.parent(section="https", port=80)]))
        assert (st.accepted, st.reason) == (False, NO_MATCHING_PARENT)

    def test_partial_acceptance_is_acceptance(self) -> None:
        """1 of 2 listeners accepting the route: the route is attached (to that one)."""
        gw = b.gateway(listeners=[b.listener("open"), b.listener("closed", port=81,
                                                                    from_="Same")])
        st = _one(gw, b.http_route("r"))
        assert st.accepted
        assert set(_attached(st)) == {"open"}


class TestAllowedNamespaces:
    """``allowedRoutes.namespaces``: All, Same (the default), Selector."""

    @pytest.mark.parametrize(("from_", "route_ns", "accepted"), [
        ("All", "team-a", True),
        ("All", "infra", True),
        ("Same", "infra", True),
        ("Same", "team-a", False),
        (None, "infra", True),
        (None, "team-a", False),
    ])
    def test_from(self, from_: str | None, route_ns: str, accepted: bool) -> None:
        st = _one(b.gateway(listeners=[b.listener(from_=from_)]), b.http_route("r", route_ns),
                  ns=route_ns)
        assert st.accepted is accepted
        assert st.reason == (ACCEPTED if accepted else NOT_ALLOWED_BY_LISTENERS)

    @pytest.mark.parametrize(("selector", "selected"), [
        pytest.param({"matchLabels": {"env": "prod"}}, True, id="labels"),
        pytest.param({"matchLabels": {"env": "dev"}}, False, id="labels-other-value"),
        pytest.param({"matchLabels": {"env": "prod", "team": "b"}}, False, id="labels-all"),
        pytest.param({"matchLabels": {"owner": "x"}}, False, id="labels-missing-key"),
        pytest.param({"matchExpressions": [
            {"key": "env", "operator": "In", "values": ["prod", "staging"]}]}, True, id="In"),
        pytest.param({"matchExpressions": [
            {"key": "env", "operator": "In", "values": ["dev"]}]}, False, id="In-no"),
        pytest.param({"matchExpressions": [
            {"key": "owner", "operator": "In", "values": ["x"]}]}, False, id="In-absent"),
        pytest.param({"matchExpressions": [
            {"key": "env", "operator": "NotIn", "values": ["dev"]}]}, True, id="NotIn"),
        pytest.param({"matchExpressions": [
            {"key": "env", "operator": "NotIn", "values": ["prod"]}]}, False, id="NotIn-no"),
        pytest.param({"matchExpressions": [
            {"key": "owner", "operator": "NotIn", "values": ["x"]}]}, True, id="NotIn-absent"),
        pytest.param({"matchExpressions": [{"key": "env", "operator": "Exists"}]}, True,
                     id="Exists"),
        pytest.param({"matchExpressions": [{"key": "owner", "operator": "Exists"}]}, False,
                     id="Exists-no"),
        pytest.param({"matchExpressions": [{"key": "owner", "operator": "DoesNotExist"}]},
                     True, id="DoesNotExist"),
        pytest.param({"matchExpressions": [{"key": "env", "operator": "DoesNotExist"}]},
                     False, id="DoesNotExist-no"),
        pytest.param({"matchLabels": {"env": "prod"}, "matchExpressions": [
            {"key": "team", "operator": "In", "values": ["b"]}]}, False, id="labels-and-expr"),
        pytest.param({"matchLabels": {"team": "a"}, "matchExpressions": [
            {"key": "env", "operator": "Exists"},
            {"key": "owner", "operator": "DoesNotExist"}]}, True, id="all-requirements"),
    ])
    def test_selector(self, selector: dict[str, Any], selected: bool) -> None:
        """Label-selector semantics on the route's Namespace labels (requirements ANDed)."""
        gw = b.gateway(listeners=[b.listener(from_="Selector", selector=selector)])
        ns = b.namespace("team-a", labels={"env": "prod", "team": "a"})
        st = _one(gw, ns, b.http_route("r"))
        assert st.accepted is selected
        assert st.reason == (ACCEPTED if selected else NOT_ALLOWED_BY_LISTENERS)

    def test_selector_on_name_label_of_undeclared_namespace(self) -> None:
        """``kubernetes.io/metadata.name`` is on every Namespace, even one not in the input."""
        sel = {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In",
                                     "values": ["team-a"]}]}
        gw = b.gateway(listeners=[b.listener(from_="Selector", selector=sel)])
        assert _one(gw, b.http_route("r")).accepted
        assert not _one(gw, b.http_route("r", "team-b"), ns="team-b").accepted

    def test_namespace_labels_change_attachment(self) -> None:
        """The same route is admitted or not as its Namespace's labels change."""
        gw = b.gateway(listeners=[b.listener(from_="Selector",
                                             selector={"matchLabels": {"gw": "shared"}})])
        route = b.http_route("r")
        assert not _one(gw, b.namespace("team-a"), route).accepted
        assert _one(gw, b.namespace("team-a", labels={"gw": "shared"}), route).accepted


class TestKinds:
    """``allowedRoutes.kinds``: explicit, or inferred from the listener protocol."""

    @pytest.mark.parametrize(("protocol", "kind", "accepted"), [
        ("HTTP", "HTTPRoute", True),
        ("HTTP", "GRPCRoute", True),
        ("HTTPS", "HTTPRoute", True),
        ("HTTPS", "GRPCRoute", True),
        ("HTTP", "TLSRoute", False),
        ("HTTP", "TCPRoute", False),
        ("TLS", "TLSRoute", True),
        ("TLS", "HTTPRoute", False),
        ("TCP", "TCPRoute", True),
        ("TCP", "HTTPRoute", False),
        ("UDP", "UDPRoute", True),
        ("UDP", "TCPRoute", False),
    ])
    def test_inferred_from_protocol(self, protocol: str, kind: str, accepted: bool) -> None:
        gw = b.gateway(listeners=[b.listener(protocol=protocol)])
        if kind == "HTTPRoute":
            route = b.http_route("r")
        elif kind == "GRPCRoute":
            route = b.grpc_route("r")
        else:
            route = b.l4_route(kind, "r", hostnames=["a.example.com"] if kind == "TLSRoute"
                               else None)
        st = _one(gw, route, kind=kind)
        assert st.accepted is accepted
        assert st.reason == (ACCEPTED if accepted else NOT_ALLOWED_BY_LISTENERS)

    def test_explicit_kinds_exclude_others(self) -> None:
        gw = b.gateway(listeners=[b.listener(kinds=["GRPCRoute"])])
        assert _one(gw, b.grpc_route("g"), route="g", kind="GRPCRoute").accepted
        st = _one(gw, b.http_route("r"))
        assert (st.accepted, st.reason) == (False, NOT_ALLOWED_BY_LISTENERS)

    def test_explicit_kind_of_another_group(self) -> None:
        gw = b.gateway(listeners=[b.listener(kinds=[{"group": "example.com",
                                                     "kind": "HTTPRoute"}])])
        st = _one(gw, b.http_route("r"))
        assert (st.accepted, st.reason) == (False, NOT_ALLOWED_BY_LISTENERS)

    def test_explicit_default_group(self) -> None:
        gw = b.gateway(listeners=[b.listener(kinds=[{"group": b.GROUP, "kind": "HTTPRoute"}])])
        assert _one(gw, b.http_route("r")).accepted


class TestHostnames:
    """Listener × route hostnames: intersect or be refused (NoMatchingListenerHostname)."""

    @pytest.mark.parametrize(("listener", "route", "got"), [
        pytest.param("*.example.com", ["www.example.com"], ("www.example.com",),
                     id="precise-under-wildcard"),
        pytest.param("www.example.com", ["*.example.com"], ("www.example.com",),
                     id="wildcard-route-on-precise-listener"),
        pytest.param("*.com", ["*.example.com"], ("*.example.com",), id="narrower-route"),
        pytest.param("*.example.com", ["*.com"], ("*.example.com",), id="narrower-listener"),
        pytest.param("*.example.com", ["test.example.com", "test.example.net"],
                     ("test.example.com",), id="non-matching-hostnames-ignored"),
        pytest.param(None, ["a.example.com", "*.example.net"], ("a.example.com",
                                                                "*.example.net"),
                     id="listener-without-hostname"),
        pytest.param("*.example.com", None, ("*.example.com",), id="route-inherits-wildcard"),
        pytest.param("api.example.com", None, ("api.example.com",), id="route-inherits-precise"),
        pytest.param(None, None, (hostnames.ANY,), id="neither-has-hostnames"),
    ])
    def test_intersection(self, listener: str | None, route: list[str] | None,
                          got: tuple[str, ...]) -> None:
        gw = b.gateway(listeners=[b.listener(hostname=listener)])
        st = _one(gw, b.http_route("r", hostnames=route))
        assert st.accepted
        assert _attached(st) == {"http": got}

    @pytest.mark.parametrize(("listener", "route"), [
        ("*.example.com", ["example.com"]),
        ("www.example.com", ["foo.example.com"]),
        ("*.example.com", ["test.example.net"]),
        ("*.foo.com", ["*.bar.com"]),
    ])
    def test_no_intersection(self, listener: str, route: list[str]) -> None:
        gw = b.gateway(listeners=[b.listener(hostname=listener)])
        st = _one(gw, b.http_route("r", hostnames=route))
        assert (st.accepted, st.reason) == (False, NO_MATCHING_LISTENER_HOSTNAME)

    def test_only_intersecting_listeners_attached(self) -> None:
        gw = b.gateway(listeners=[b.listener("a", hostname="a.example.com"),
                                  b.listener("b", port=81, hostname="b.example.com")])
        st = _one(gw, b.http_route("r", hostnames=["b.example.com"]))
        assert _attached(st) == {"b": ("b.example.com",)}

    def test_tls_route_hostnames_intersect_too(self) -> None:
        gw = b.gateway(listeners=[b.listener(protocol="TLS", hostname="*.example.com")])
        ok = _one(gw, b.l4_route("TLSRoute", "t", hostnames=["db.example.com"]), route="t",
                  kind="TLSRoute")
        assert _attached(ok) == {"http": ("db.example.com",)}
        no = _one(gw, b.l4_route("TLSRoute", "t", hostnames=["db.example.net"]), route="t",
                  kind="TLSRoute")
        assert (no.accepted, no.reason) == (False, NO_MATCHING_LISTENER_HOSTNAME)

    @pytest.mark.parametrize("kind", ["TCPRoute", "UDPRoute"])
    def test_l4_routes_have_no_hostnames(self, kind: str) -> None:
        gw = b.gateway(listeners=[b.listener(protocol=kind[:3])])
        st = _one(gw, b.l4_route(kind, "t"), route="t", kind=kind)
        assert _attached(st) == {"http": (hostnames.ANY,)}


class TestUnsupportedValue:
    """Unknown enum values: Accepted=False, reason UnsupportedValue (never an exception)."""

    @pytest.mark.parametrize("m", [
        pytest.param(b.match("/v1", type="Glob"), id="path-type"),
        pytest.param(b.match("/v1", headers=[{"name": "x", "value": "1", "type": "Prefix"}]),
                     id="header-type"),
        pytest.param(b.match("/v1", query=[{"name": "q", "value": "1", "type": "Prefix"}]),
                     id="query-type"),
        pytest.param(b.match("/v1", method="FETCH"), id="method"),
    ])
    def test_http(self, m: dict[str, Any]) -> None:
        st = _one(b.gateway(), b.http_route("r", matches=[m]))
        assert (st.accepted, st.reason) == (False, UNSUPPORTED_VALUE)
        assert st.message

    def test_grpc_method_type(self) -> None:
        route = b.grpc_route("g", matches=[b.grpc_match("pkg.Svc", type="Prefix")])
        st = _one(b.gateway(), route, route="g", kind="GRPCRoute")
        assert (st.accepted, st.reason) == (False, UNSUPPORTED_VALUE)

    @pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT",
                                        "OPTIONS", "TRACE", "PATCH"])
    def test_every_http_method_is_supported(self, method: str) -> None:
        st = _one(b.gateway(), b.http_route("r", matches=[b.match("/v1", method=method)]))
        assert st.accepted

    def test_regular_expression_is_supported(self) -> None:
        """RegularExpression is implementation-specific, not unknown."""
        st = _one(b.gateway(), b.http_route("r", matches=[
            b.match("/v[0-9]+", type="RegularExpression")]))
        assert st.accepted


class TestListenerSets:
    """ListenerSet parents: admitted by the Gateway's ``allowedListeners``, merged in order."""

    @staticmethod
    def _ls(name: str = "extra", ns: str = "team-b", hostname: str = "b.example.com",
            created: str | None = None, listener_name: str = "extra") -> dict[str, Any]:
        return b.listener_set(name, ns, created=created,
                              listeners=[b.listener(listener_name, hostname=hostname)])

    @staticmethod
    def _to_ls(name: str = "r", ns: str = "team-b", ls: str = "extra",
               ls_ns: str = "team-b", section: str | None = None,
               hostnames: list[str] | None = None) -> dict[str, Any]:
        return b.http_route(name, ns, hostnames=hostnames, parents=[
            b.parent(ls, ls_ns, kind="ListenerSet", group=b.GROUP, section=section)])

    def test_not_admitted_by_default(self) -> None:
        """``allowedListeners`` defaults to None: the ListenerSet's routes go nowhere."""
        st = _one(b.gateway(), self._ls(), self._to_ls(), ns="team-b")
        assert not st.accepted

    @pytest.mark.parametrize(("allowed", "ls_ns", "admitted"), [
        ({"from": "All"}, "team-b", True),
        ({"from": "Same"}, "team-b", False),
        ({"from": "Same"}, "infra", True),
        ({"from": "None"}, "infra", False),
        ({"from": "Selector", "selector": {"matchLabels": {"listeners": "ok"}}}, "team-b", True),
        ({"from": "Selector", "selector": {"matchLabels": {"listeners": "ok"}}}, "team-c", False),
    ])
    def test_allowed_listeners(self, allowed: dict[str, Any], ls_ns: str,
                               admitted: bool) -> None:
        objs = [b.gateway(allowed_listeners=allowed),
                b.namespace("team-b", labels={"listeners": "ok"}), b.namespace("team-c"),
                self._ls(ns=ls_ns), self._to_ls(ns=ls_ns, ls_ns=ls_ns)]
        st = _one(*objs, ns=ls_ns)
        assert st.accepted is admitted
        if admitted:
            assert st.gateway == b.GW
            assert [a.listener.owner for a in st.attached] == [
                ObjectRef("ListenerSet", ls_ns, "extra")]

    def test_gateway_parent_reaches_only_gateway_listeners(self) -> None:
        """A parentRef to the Gateway without sectionName does not reach ListenerSet listeners."""
        gw = b.gateway(listeners=[b.listener(hostname="a.example.com")],
                       allowed_listeners={"from": "All"})
        route = b.http_route("r", "team-b", hostnames=["b.example.com"])
        st = _one(gw, self._ls(), route, ns="team-b")
        assert (st.accepted, st.reason) == (False, NO_MATCHING_LISTENER_HOSTNAME)

    def test_section_name_is_a_listener_of_the_set(self) -> None:
        """Listener names need not be unique across a Gateway and its ListenerSets."""
        gw = b.gateway(listeners=[b.listener("http", hostname="a.example.com")],
                       allowed_listeners={"from": "All"})
        ls = self._ls(listener_name="http", hostname="b.example.com")
        st = _one(gw, ls, self._to_ls(section="http"), ns="team-b")
        assert st.accepted
        (att,) = st.attached
        assert (att.listener.owner, att.hostnames) == (LS, ("b.example.com",))

    def test_listener_set_listeners_allow_same_as_the_set_namespace(self) -> None:
        """``from: Same`` on a ListenerSet listener means the ListenerSet's namespace."""
        gw = b.gateway(allowed_listeners={"from": "All"})
        ls = b.listener_set("extra", "team-b", listeners=[
            b.listener("extra", hostname="b.example.com", from_="Same")])
        assert _one(gw, ls, self._to_ls(), ns="team-b").accepted
        other = self._to_ls(ns="team-c")
        assert not _one(gw, ls, other, ns="team-c").accepted

    def test_gateway_listener_wins_a_conflict(self) -> None:
        """Gateway listeners come first; a ListenerSet listener on the same port and hostname
        conflicts and carries nothing."""
        gw = b.gateway(listeners=[b.listener("http", hostname="b.example.com")],
                       allowed_listeners={"from": "All"})
        st = _one(gw, self._ls(), self._to_ls(), ns="team-b")
        assert not st.accepted

    @pytest.mark.parametrize(("first", "second", "winner"), [
        pytest.param(("one", b.ts(2)), ("two", b.ts(1)), "two", id="older-wins"),
        pytest.param(("one", b.ts(1)), ("two", b.ts(1)), "one", id="then-namespace-name"),
    ])
    def test_listener_sets_merge_oldest_first(self, first: tuple[str, str],
                                              second: tuple[str, str], winner: str) -> None:
        """Conflicting ListenerSets: the older (then alphabetically first) one keeps the port."""
        gw = b.gateway(listeners=[b.listener("http", hostname="a.example.com")],
                       allowed_listeners={"from": "All"})
        sets = [self._ls(name, created=created) for name, created in (first, second)]
        routes = [self._to_ls(f"r-{name}", ls=name) for name, _ in (first, second)]
        graph = b.scan(gw, *sets, *routes)
        accepted = {name for name, _ in (first, second)
                    if b.only_status(graph, f"r-{name}", "team-b").accepted}
        assert accepted == {winner}


class TestHTTPAndGRPCOnOneListener:
    """Cross serving. grpcroute_types.go (v1.6.1, GRPCRouteSpec.Hostnames): "If a Route (A) of
    type HTTPRoute or GRPCRoute is attached to a Listener and that listener already has another
    Route (B) of the other type attached and the intersection of the hostnames of A and B is
    non-empty, then the implementation MUST accept exactly one of these two routes, determined
    by the following criteria, in order: * The oldest Route based on creation timestamp. * The
    Route appearing first in alphabetical order by "{namespace}/{name}". The rejected Route
    MUST raise an 'Accepted' condition with a status of 'False' in the corresponding
    RouteParentStatus."

    gwwatch: the rejected route is not attached to that listener at all (the spec rejects the
    route, not some of its hostnames), and is not accepted by a parentRef left with no listener.
    """

    def test_older_kind_wins_the_hostname(self) -> None:
        graph = b.scan(b.gateway(listeners=[b.listener(hostname="*.example.com")]),
                       b.http_route("web", "team-a", hostnames=["api.example.com"],
                                    created=b.ts(1)),
                       b.grpc_route("rpc", "team-b", hostnames=["*.example.com"],
                                    created=b.ts(2)))
        assert b.only_status(graph, "web", "team-a").accepted
        rejected = b.only_status(graph, "rpc", "team-b", "GRPCRoute")
        assert not rejected.accepted
        assert rejected.reason == Reason.REJECTED_BY_OTHER_KIND
        assert "HTTPRoute team-a/web" in rejected.message
        assert graph.claims(b.GW, 80, "GRPCRoute") == []

    @pytest.mark.parametrize(("http_name", "grpc_name", "accepted"), [
        pytest.param("a", "b", "HTTPRoute", id="http-first-by-name"),
        pytest.param("b", "a", "GRPCRoute", id="grpc-first-by-name"),
    ])
    def test_same_age_goes_by_namespace_name(self, http_name: str, grpc_name: str,
                                             accepted: str) -> None:
        """"The Route appearing first in alphabetical order by "{namespace}/{name}"."""
        graph = b.scan(b.gateway(),
                       b.http_route(http_name, "team-a", hostnames=["api.example.com"],
                                    created=b.ts(1)),
                       b.grpc_route(grpc_name, "team-a", hostnames=["api.example.com"],
                                    created=b.ts(1)))
        states = {kind: b.only_status(graph, name, "team-a", kind).accepted
                  for kind, name in (("HTTPRoute", http_name), ("GRPCRoute", grpc_name))}
        assert states == {"HTTPRoute": accepted == "HTTPRoute",
                          "GRPCRoute": accepted == "GRPCRoute"}

    def test_finding_names_the_rejected_route_and_its_cause(self) -> None:
        graph = b.scan(b.gateway(),
                       b.grpc_route("rpc", "team-b", hostnames=["api.example.com"],
                                    created=b.ts(1)),
                       b.http_route("web", "team-a", hostnames=["api.example.com"],
                                    created=b.ts(2)))
        (f,) = b.findings(graph, reason=Reason.REJECTED_BY_OTHER_KIND)
        assert (f.kind, f.severity) == (FindingKind.SHADOWED, Severity.WARNING)
        assert f.route == b.route_ref("web", "team-a")
        assert f.other == b.route_ref("rpc", "team-b", "GRPCRoute")
        assert (f.hostname, f.listener) == ("api.example.com", "http")
        assert "GRPCRoute team-b/rpc" in f.message and "HTTPRoute team-a/web" in f.message

    def test_rejection_that_takes_the_owners_traffic_is_a_hijack(self) -> None:
        """Another tenant's older GRPCRoute gets the owner's newer HTTPRoute rejected: the
        owner (by its namespace's claim) loses every HTTP request for the hostname."""
        objs = [b.namespace("team-a", hostnames="api.example.com"), b.namespace("team-b"),
                b.gateway(),
                b.grpc_route("rpc", "team-b", hostnames=["*.example.com"], created=b.ts(1)),
                b.http_route("web", "team-a", hostnames=["api.example.com"], created=b.ts(2))]
        graph = b.scan(*objs)
        (h,) = b.findings(graph, FindingKind.HIJACK)
        assert h.severity == Severity.CRITICAL
        assert h.route == b.route_ref("rpc", "team-b", "GRPCRoute")  # the taker
        assert h.other == b.route_ref("web", "team-a")  # the owner's, rejected
        assert h.hostname == "api.example.com"
        assert "cross serving" in h.basis
        assert not b.only_status(graph, "web", "team-a").accepted
        # the claim is contested by the older route; the Hijack reading says all there is
        assert b.findings(graph, reason=Reason.REJECTED_BY_OTHER_KIND) == []
        # the same routes without the claim: the older route's tenant owns the name
        plain = b.scan(*objs[1:])
        assert b.findings(plain, FindingKind.HIJACK) == []
        assert [f.reason for f in plain.findings_of(b.route_ref("web", "team-a"))] == [
            Reason.REJECTED_BY_OTHER_KIND]

    def test_partial_intersection_rejects_the_route_on_the_listener(self) -> None:
        """One shared hostname is enough: the newer route loses the listener, its other
        hostnames there included; it stays on another listener of the same parentRef."""
        graph = b.scan(
            b.gateway(listeners=[b.listener("http"), b.listener("alt", port=8080)]),
            b.grpc_route("rpc", "team-b", hostnames=["api.example.com"],
                         parents=[b.parent(section="http")], created=b.ts(1)),
            b.http_route("web", "team-a", hostnames=["api.example.com", "www.example.com"],
                         created=b.ts(2)))
        st = b.only_status(graph, "web", "team-a")
        assert st.accepted
        assert [a.listener.name for a in st.attached] == ["alt"]
        assert graph.rejected_by(b.route_ref("web", "team-a")) == {
            (b.GW, "http"): b.route_ref("rpc", "team-b", "GRPCRoute")}
        answer = graph.explain(gateway=b.GW, port=80, protocol="http",
                               request=Request(host="www.example.com", path="/"))
        assert answer.winner is None
        answer = graph.explain(gateway=b.GW, port=8080, protocol="http",
                               request=Request(host="www.example.com", path="/"))
        assert answer.winner is not None and answer.winner.route.ref.name == "web"

    def test_a_rejected_route_rejects_nothing(self) -> None:
        """Only an accepted route "already ... attached" can get another one rejected."""
        graph = b.scan(
            b.gateway(),
            b.http_route("a", "team-a", hostnames=["a.example.com"], created=b.ts(1)),
            b.grpc_route("g", "team-b", hostnames=["*.example.com"], created=b.ts(2)),
            b.http_route("c", "team-c", hostnames=["c.example.com"], created=b.ts(3)))
        assert not b.only_status(graph, "g", "team-b", "GRPCRoute").accepted
        assert b.only_status(graph, "c", "team-c").accepted

    def test_disjoint_hostnames_and_other_listeners_are_left_alone(self) -> None:
        graph = b.scan(
            b.gateway(listeners=[b.listener("http"), b.listener("alt", port=8080)]),
            b.http_route("web", "team-a", hostnames=["www.example.com"],
                         parents=[b.parent(section="http")], created=b.ts(1)),
            b.grpc_route("rpc", "team-b", hostnames=["rpc.example.com"], created=b.ts(2)),
            b.grpc_route("alt", "team-b", hostnames=["www.example.com"],
                         parents=[b.parent(section="alt")], created=b.ts(3)))
        assert all(st.accepted for _, sts in graph.parent_statuses() for st in sts)
        assert b.findings(graph, reason=Reason.REJECTED_BY_OTHER_KIND) == []

    def test_incremental_rejection_follows_the_cause(self) -> None:
        """Deleting the older route re-admits the newer one; adding it back rejects it again."""
        graph = b.scan(b.gateway(),
                       b.http_route("web", "team-a", hostnames=["api.example.com"],
                                    created=b.ts(2)))
        rpc = parse(b.grpc_route("rpc", "team-b", hostnames=["api.example.com"],
                                 created=b.ts(1)))
        assert rpc is not None
        d = graph.upsert(rpc)
        assert [f.reason for f in d.added] == [Reason.REJECTED_BY_OTHER_KIND]
        assert not b.only_status(graph, "web", "team-a").accepted
        d = graph.delete(b.route_ref("rpc", "team-b", "GRPCRoute"))
        assert [f.reason for f in d.removed] == [Reason.REJECTED_BY_OTHER_KIND]
        assert b.only_status(graph, "web", "team-a").accepted
