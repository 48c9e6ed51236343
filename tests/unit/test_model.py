"""Parsing raw objects: which kinds and versions the engine reads, the CRD defaults it applies,
and malformed input, which becomes an ``Invalid`` record with a reason, never an exception.

Versions and limits are those of the standard-channel CRDs of gateway-api v1.6.1
(``config/crd/standard``): Gateway and HTTPRoute are served as v1 and v1beta1; GRPCRoute,
TLSRoute, TCPRoute, UDPRoute and ListenerSet as v1.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gwwatch.engine import parse
from gwwatch.engine.model import (
    Gateway,
    HeaderMatch,
    Invalid,
    ListenerSet,
    Match,
    NamespaceInfo,
    ParentRef,
    Route,
)
from tests.unit import builders as b


def _route(obj: object) -> Route:
    parsed = parse(obj)
    assert isinstance(parsed, Route), parsed
    return parsed


def _invalid(obj: object) -> Invalid:
    parsed = parse(obj, source="f.yaml:3")
    assert isinstance(parsed, Invalid), parsed
    return parsed


class TestKinds:
    """What ``parse`` reads, and what it leaves alone (``None``)."""

    @pytest.mark.parametrize(("obj", "record"), [
        pytest.param(b.gateway(), Gateway, id="Gateway-v1"),
        pytest.param(b.gateway(api_version=f"{b.GROUP}/v1beta1"), Gateway, id="Gateway-v1beta1"),
        pytest.param(b.http_route("r"), Route, id="HTTPRoute-v1"),
        pytest.param(b.http_route("r", api_version=f"{b.GROUP}/v1beta1"), Route,
                     id="HTTPRoute-v1beta1"),
        pytest.param(b.grpc_route("r"), Route, id="GRPCRoute-v1"),
        pytest.param(b.l4_route("TLSRoute", "r", hostnames=["a.example.com"]), Route,
                     id="TLSRoute-v1"),
        pytest.param(b.l4_route("TCPRoute", "r"), Route, id="TCPRoute-v1"),
        pytest.param(b.l4_route("UDPRoute", "r"), Route, id="UDPRoute-v1"),
        pytest.param(b.listener_set("ls", "team-a", listeners=[b.listener()]), ListenerSet,
                     id="ListenerSet-v1"),
        pytest.param(b.namespace("team-a"), NamespaceInfo, id="Namespace"),
    ])
    def test_served(self, obj: dict[str, Any], record: type) -> None:
        """Every kind gwwatch analyses, at every version the standard channel serves."""
        assert isinstance(parse(obj), record)

    @pytest.mark.parametrize("obj", [
        pytest.param({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}},
                     id="ConfigMap"),
        pytest.param({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}},
                     id="Deployment"),
        pytest.param({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                      "metadata": {"name": "x"}}, id="Ingress"),
        pytest.param({**b.http_route("r"), "apiVersion": "example.com/v1"},
                     id="HTTPRoute-other-group"),
        pytest.param({**b.http_route("r"), "apiVersion": f"{b.GROUP}/v9"},
                     id="HTTPRoute-unknown-version"),
        pytest.param({**b.gateway(), "kind": "BackendTLSPolicy"}, id="BackendTLSPolicy"),
        pytest.param({"apiVersion": f"{b.GROUP}/v1beta1", "kind": "ReferenceGrant",
                      "metadata": {"name": "x"}}, id="ReferenceGrant"),
        pytest.param({"kind": "HTTPRoute"}, id="no-apiVersion"),
        pytest.param({"apiVersion": b.V1}, id="no-kind"),
    ])
    def test_ignored(self, obj: dict[str, Any]) -> None:
        """Unrelated kinds, groups and versions are not gwwatch's business: ``None``."""
        assert parse(obj) is None

    @pytest.mark.parametrize("obj", [[], "HTTPRoute", 42, None, ["kind", "HTTPRoute"]])
    def test_non_mapping_is_invalid(self, obj: object) -> None:
        """A document that is not an object at all is reported, with its source."""
        inv = _invalid(obj)
        assert inv.reason
        assert inv.source == "f.yaml:3"


class TestDefaults:
    """The defaults the CRDs apply, applied by the parser to manifests that omit them."""

    def test_parent_ref_defaults(self) -> None:
        """group gateway.networking.k8s.io, kind Gateway, namespace = the route's."""
        route = _route(b.http_route("r", "team-a", parents=[{"name": "gw"}]))
        assert route.parent_refs == (
            ParentRef("gateway.networking.k8s.io", "Gateway", "team-a", "gw", None, None),)

    def test_namespace_defaults_to_default(self) -> None:
        """A manifest without metadata.namespace is applied to ``default`` by kubectl."""
        obj = b.http_route("r")
        del obj["metadata"]["namespace"]
        assert _route(obj).ref.namespace == "default"

    def test_no_rules_is_one_prefix_slash_rule(self) -> None:
        """HTTPRoute ``rules`` default: one rule matching PathPrefix /."""
        route = _route(b.http_route("r"))
        assert [r.matches for r in route.rules] == [(Match("PathPrefix", "/"),)]

    def test_rule_without_matches_is_prefix_slash(self) -> None:
        route = _route(b.http_route("r", rules=[b.rule()]))
        assert route.rules[0].matches == (Match("PathPrefix", "/"),)

    def test_match_without_path_is_prefix_slash(self) -> None:
        route = _route(b.http_route("r", matches=[b.match(None, method="GET")]))
        assert route.rules[0].matches == (Match("PathPrefix", "/", method="GET"),)

    def test_path_type_defaults_to_prefix(self) -> None:
        obj = b.http_route("r", matches=[{"path": {"value": "/v1"}}])
        assert _route(obj).rules[0].matches == (Match("PathPrefix", "/v1"),)

    def test_prefix_trailing_slash_ignored(self) -> None:
        """PathPrefix: "When specified, a trailing `/` is ignored"."""
        route = _route(b.http_route("r", matches=[b.match("/abc/")]))
        assert route.rules[0].matches[0].path == "/abc"

    def test_exact_keeps_trailing_slash(self) -> None:
        """Exact `/abc/` is not `/abc`."""
        route = _route(b.http_route("r", matches=[b.match("/abc/", type="Exact")]))
        assert route.rules[0].matches[0].path == "/abc/"

    def test_header_match_type_defaults_to_exact(self) -> None:
        route = _route(b.http_route("r", matches=[b.match(headers={"X-Env": "prod"})]))
        assert route.rules[0].matches[0].headers == (HeaderMatch("x-env", "Exact", "prod"),)

    def test_duplicate_header_names_after_first_ignored(self) -> None:
        """Header names are case-insensitive; only the first of equivalent names counts."""
        headers = [{"name": "X-Env", "value": "prod"}, {"name": "x-env", "value": "dev"}]
        route = _route(b.http_route("r", matches=[b.match(headers=headers)]))
        assert route.rules[0].matches[0].headers == (HeaderMatch("x-env", "Exact", "prod"),)

    def test_duplicate_query_names_are_exact_strings(self) -> None:
        """Query-param names match exactly: ``Page`` and ``page`` differ; a repeat is ignored."""
        query = [{"name": "page", "value": "1"}, {"name": "Page", "value": "2"},
                 {"name": "page", "value": "3"}]
        route = _route(b.http_route("r", matches=[b.match(query=query)]))
        assert {(q.name, q.value) for q in route.rules[0].matches[0].query} == {
            ("page", "1"), ("Page", "2")}

    def test_grpc_rule_without_matches_matches_everything(self) -> None:
        route = _route(b.grpc_route("r"))
        assert route.rules[0].matches == (Match(),)

    def test_grpc_method_type_defaults_to_exact(self) -> None:
        route = _route(b.grpc_route("r", matches=[b.grpc_match("pkg.Svc", "Get")]))
        (m,) = route.rules[0].matches
        assert (m.grpc_type, m.service, m.method) == ("Exact", "pkg.Svc", "Get")

    def test_duplicate_route_hostnames_collapse(self) -> None:
        route = _route(b.http_route("r", hostnames=["a.example.com", "a.example.com"]))
        assert route.hostnames == ("a.example.com",)

    @pytest.mark.parametrize(("protocol", "kinds"), [
        ("HTTP", {"HTTPRoute", "GRPCRoute"}),
        ("HTTPS", {"HTTPRoute", "GRPCRoute"}),
        ("TLS", {"TLSRoute"}),
        ("TCP", {"TCPRoute"}),
        ("UDP", {"UDPRoute"}),
    ])
    def test_kinds_inferred_from_protocol(self, protocol: str, kinds: set[str]) -> None:
        """``allowedRoutes.kinds`` empty: the kinds are those the protocol carries."""
        gw = parse(b.gateway(listeners=[b.listener(protocol=protocol)]))
        assert isinstance(gw, Gateway)
        assert set(gw.listeners[0].kinds) == kinds

    def test_explicit_kinds_must_suit_the_protocol(self) -> None:
        """An explicit kind the protocol cannot carry is not admitted (InvalidRouteKinds)."""
        gw = parse(b.gateway(listeners=[b.listener(kinds=["HTTPRoute", "TCPRoute"])]))
        assert isinstance(gw, Gateway)
        assert gw.listeners[0].kinds == ("HTTPRoute",)
        assert "TCPRoute" in gw.listeners[0].invalid_kinds

    def test_allowed_routes_default_is_same(self) -> None:
        gw = parse(b.gateway(listeners=[b.listener(from_=None)]))
        assert isinstance(gw, Gateway)
        assert gw.listeners[0].allowed_from == "Same"

    def test_allowed_listeners_default_is_none(self) -> None:
        """Gateways admit no ListenerSet unless ``allowedListeners`` says so."""
        gw = parse(b.gateway())
        assert isinstance(gw, Gateway)
        assert gw.allowed_listeners_from == "None"

    def test_namespace_carries_its_name_label(self) -> None:
        """The API server sets ``kubernetes.io/metadata.name``; manifests usually omit it."""
        ns = parse(b.namespace("team-a", labels={"team": "a"}))
        assert isinstance(ns, NamespaceInfo)
        assert ns.labels == {"team": "a", "kubernetes.io/metadata.name": "team-a"}


def _set(obj: dict[str, Any], path: str, value: object) -> dict[str, Any]:
    """Set ``spec.rules.0.matches`` style paths (list indices as numbers) in a copy."""
    import copy
    out = copy.deepcopy(obj)
    node: Any = out
    keys = [int(k) if k.isdigit() else k for k in path.split(".")]
    for k in keys[:-1]:
        node = node[k]
    node[keys[-1]] = value
    return out


_R = b.http_route("r", hostnames=["a.example.com"], matches=[b.match("/v1")])
_G = b.gateway()


class TestMalformed:
    """Malformed objects become ``Invalid`` with a reason naming what is wrong."""

    @pytest.mark.parametrize(("obj", "words"), [
        pytest.param({"apiVersion": b.V1, "kind": "HTTPRoute"}, "metadata", id="no-metadata"),
        pytest.param(_set(_R, "metadata", "r"), "metadata", id="metadata-not-object"),
        pytest.param(_set(_R, "metadata.name", "Bad_Name"), "name", id="bad-name"),
        pytest.param(_set(_R, "metadata.name", "a" * 254), "name", id="name-too-long"),
        pytest.param(_set(_R, "metadata.name", 7), "name", id="name-not-string"),
        pytest.param({"apiVersion": b.V1, "kind": "HTTPRoute", "metadata": {"name": "r"}},
                     "spec", id="no-spec"),
        pytest.param(_set(_R, "spec", ["x"]), "spec", id="spec-not-object"),
        pytest.param(_set(_R, "spec.hostnames", "a.example.com"), "hostnames",
                     id="hostnames-not-list"),
        pytest.param(_set(_R, "spec.hostnames", ["foo_bar.example.com"]), "hostname",
                     id="bad-hostname"),
        pytest.param(_set(_R, "spec.hostnames", ["10.0.0.1"]), "hostname", id="ip-hostname"),
        pytest.param(_set(_R, "spec.hostnames", [f"h{i}.example.com" for i in range(17)]),
                     "16", id="17-hostnames"),
        pytest.param(_set(_R, "spec.parentRefs", [b.parent() for _ in range(33)]), "32",
                     id="33-parentRefs"),
        pytest.param(_set(_R, "spec.parentRefs", [{"namespace": "infra"}]), "name",
                     id="parentRef-without-name"),
        pytest.param(_set(_R, "spec.parentRefs", [{"name": "gw", "port": "eighty"}]), "port",
                     id="parentRef-port-string"),
        pytest.param(_set(_R, "spec.parentRefs", [{"name": "gw", "port": 0}]), "port",
                     id="parentRef-port-zero"),
        pytest.param(_set(_R, "spec.rules", {"matches": []}), "rules", id="rules-not-list"),
        pytest.param(_set(_R, "spec.rules", [b.rule() for _ in range(17)]), "16",
                     id="17-rules"),
        pytest.param(_set(_R, "spec.rules", [b.rule(*[b.match(f"/{i}") for i in range(65)])]),
                     "64", id="65-matches-in-a-rule"),
        pytest.param(_set(_R, "spec.rules",
                          [b.rule(*[b.match(f"/{r}/{i}") for i in range(15)]) for r in range(9)]),
                     "128", id="135-matches-in-a-route"),
        pytest.param(_set(_R, "spec.rules.0.matches.0.path.value", "v1"), "/",
                     id="path-not-absolute"),
        pytest.param(_set(_R, "spec.rules.0.matches.0.path.value", "/a//b"), "path",
                     id="path-double-slash"),
        pytest.param(_set(_R, "spec.rules.0.matches.0.path.value", "/" + "a" * 1024), "1024",
                     id="path-too-long"),
        pytest.param(_set(_R, "spec.rules.0.matches.0.path.value", 17), "path",
                     id="path-not-string"),
        pytest.param(_set(_R, "spec.rules.0.matches.0.headers", {"x": "y"}), "headers",
                     id="headers-not-list"),
        pytest.param(_set(_R, "spec.rules.0.matches.0.headers",
                          [{"name": ":method", "value": "GET"}]), "name",
                     id="pseudo-header-name"),
        pytest.param(_set(_R, "spec.rules.0.matches.0.headers",
                          [{"name": f"h{i}", "value": "v"} for i in range(17)]), "16",
                     id="17-headers"),
        pytest.param(_set(_R, "spec.rules.0.matches.0.headers", [{"name": "x", "value": 1}]),
                     "value", id="header-value-not-string"),
        pytest.param(_set(_R, "spec.rules.0.matches.0.method", ["GET"]), "method",
                     id="method-not-string"),
    ])
    def test_route(self, obj: dict[str, Any], words: str) -> None:
        """Missing fields, wrong types, bad values and more than the CRD limits."""
        inv = _invalid(obj)
        assert words in inv.reason, inv.reason
        assert inv.kind == "HTTPRoute"

    @pytest.mark.parametrize(("obj", "words"), [
        pytest.param(_set(_G, "spec.gatewayClassName", None), "gatewayClassName",
                     id="no-class"),
        pytest.param(_set(_G, "spec.listeners", []), "listeners", id="no-listeners"),
        pytest.param(_set(_G, "spec.listeners", {"name": "x"}), "listeners",
                     id="listeners-not-list"),
        pytest.param(_set(_G, "spec.listeners", [b.listener(f"l{i}", port=1000 + i)
                                                 for i in range(65)]), "64", id="65-listeners"),
        pytest.param(_set(_G, "spec.listeners.0.port", 0), "port", id="port-zero"),
        pytest.param(_set(_G, "spec.listeners.0.port", 65536), "port", id="port-too-big"),
        pytest.param(_set(_G, "spec.listeners.0.port", "80"), "port", id="port-string"),
        pytest.param(_set(_G, "spec.listeners.0.port", True), "port", id="port-bool"),
        pytest.param(_set(_G, "spec.listeners.0.name", None), "name", id="listener-no-name"),
        pytest.param(_set(_G, "spec.listeners.0.protocol", None), "protocol",
                     id="listener-no-protocol"),
        pytest.param(_set(_G, "spec.listeners", [b.listener("a"), b.listener("a", port=81)]),
                     "unique", id="duplicate-listener-names"),
        pytest.param(_set(_G, "spec.listeners.0.hostname", "*.*.example.com"), "hostname",
                     id="bad-listener-hostname"),
        pytest.param(_set(_G, "spec.listeners.0.allowedRoutes.namespaces.from", "Some"), "from",
                     id="unknown-from"),
        pytest.param(_set(_G, "spec.listeners.0.allowedRoutes.namespaces",
                          {"from": "Selector", "selector": {"matchExpressions": [
                              {"key": "team", "operator": "Like", "values": ["a"]}]}}),
                     "operator", id="unknown-selector-operator"),
        pytest.param(_set(_G, "spec.listeners.0.allowedRoutes.kinds", [{"group": "x"}]), "kind",
                     id="kind-without-kind"),
    ])
    def test_gateway(self, obj: dict[str, Any], words: str) -> None:
        inv = _invalid(obj)
        assert words in inv.reason, inv.reason
        assert (inv.kind, inv.namespace, inv.name) == ("Gateway", "infra", "gw")

    def test_listener_set_without_parent(self) -> None:
        obj = b.listener_set("ls", "team-a", listeners=[b.listener()])
        del obj["spec"]["parentRef"]
        assert "parentRef" in _invalid(obj).reason

    def test_grpc_method_needs_service_or_method(self) -> None:
        obj = b.grpc_route("r", matches=[{"method": {"type": "Exact"}}])
        assert "service" in _invalid(obj).reason

    def test_namespace_labels_not_map(self) -> None:
        obj = b.namespace("team-a")
        obj["metadata"]["labels"] = ["team-a"]
        assert "labels" in _invalid(obj).reason

    def test_namespace_annotations_not_map(self) -> None:
        obj = b.namespace("team-a")
        obj["metadata"]["annotations"] = "gwwatch.io/hostnames=a.example.com"
        assert "annotations" in _invalid(obj).reason


# --- no input makes the parser raise ----------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 70000) | st.sampled_from(
        ["", "/", "/a", "a.example.com", "*.example.com", "Exact", "PathPrefix", "All",
         "Selector", "HTTP", "gw", "x"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["name", "value", "type", "path", "from", "kind", "port", "hostname",
                         "namespaces", "selector", "matchLabels", "matchExpressions",
                         "operator", "key", "values", "method", "service", "headers"]),
        inner, max_size=3),
    max_leaves=8)

_PATHS = [
    "metadata", "metadata.name", "metadata.labels", "metadata.creationTimestamp", "spec",
    "spec.hostnames", "spec.hostnames.0", "spec.parentRefs", "spec.parentRefs.0",
    "spec.parentRefs.0.sectionName", "spec.rules", "spec.rules.0", "spec.rules.0.matches",
    "spec.rules.0.matches.0", "spec.rules.0.matches.0.path", "spec.rules.0.matches.0.headers",
    "spec.rules.0.matches.0.queryParams", "spec.rules.0.matches.0.method",
    "spec.rules.0.backendRefs", "spec.rules.0.backendRefs.0",
]
_GW_PATHS = [
    "spec.listeners", "spec.listeners.0", "spec.listeners.0.hostname",
    "spec.listeners.0.allowedRoutes", "spec.listeners.0.allowedRoutes.namespaces",
    "spec.listeners.0.allowedRoutes.kinds", "spec.allowedListeners", "spec.gatewayClassName",
]
_FUZZ_ROUTE = b.http_route("r", hostnames=["a.example.com"], matches=[
    b.match("/v1", method="GET", headers={"x": "1"}, query={"q": "1"})])
_FUZZ_GRPC = b.grpc_route("r", matches=[b.grpc_match("pkg.Svc", "Get", headers={"x": "1"})])
_FUZZ_GW = b.gateway(listeners=[b.listener(hostname="*.example.com", from_="Selector",
                                           selector={"matchLabels": {"a": "b"}})],
                     allowed_listeners={"from": "All"})


class TestNeverRaises:
    """Whatever a field holds, ``parse`` answers with a record, an Invalid or None."""

    @settings(max_examples=250)
    @given(st.sampled_from([(_FUZZ_ROUTE, _PATHS), (_FUZZ_GRPC, _PATHS),
                            (_FUZZ_GW, _GW_PATHS + _PATHS[:5])]).flatmap(
               lambda pair: st.tuples(st.just(pair[0]), st.sampled_from(pair[1]))),
           _json)
    def test_garbage_in_any_field(self, target: tuple[dict[str, Any], str],
                                  value: object) -> None:
        obj, path = target
        try:
            broken = _set(obj, path, value)
        except (KeyError, IndexError, TypeError):
            return
        result = parse(broken, source="x:1")
        assert result is None or isinstance(result, Gateway | Route | Invalid)
        if isinstance(result, Invalid):
            assert result.reason
