"""Listeners that differ only by protocol, and the implementation's own feature set.

Gateway API v1.6.1, apis/v1/gateway_types.go (GatewaySpec.Listeners) and
pkg/features/gateway.go; each test quotes the sentence it holds gwwatch to.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from gwwatch import cli
from gwwatch.engine import analyse, parse
from gwwatch.engine.attachment import LISTENER_ISOLATION
from gwwatch.engine.model import GatewayClass, Invalid, ObjectRef
from gwwatch.engine.precedence import Request
from gwwatch.engine.vocabulary import FindingKind, Reason, Severity
from tests.unit import builders as b

TLS_PASSTHROUGH = {"mode": "Passthrough"}


def _tls_pair(order: str) -> list[dict[str, Any]]:
    tls = b.listener("tls", port=443, protocol="TLS", hostname="api.acme.com",
                     tls=TLS_PASSTHROUGH)
    https = b.listener("https", port=443, protocol="HTTPS", hostname="api.acme.com",
                       tls=b.TLS_TERMINATE)
    return [tls, https] if order == "tls-first" else [https, tls]


def _pair_objects(order: str) -> list[dict[str, Any]]:
    return [
        b.namespace("team-a", hostnames="api.acme.com"),  # the owner, by its claim
        b.gateway(listeners=_tls_pair(order)),
        b.l4_route("TLSRoute", "owner", "team-a", hostnames=["api.acme.com"], created=b.ts(2)),
        # another tenant's, older: on one SNI hostname the oldest TLSRoute takes connections
        b.l4_route("TLSRoute", "thief", "team-b", hostnames=["api.acme.com"], created=b.ts(1)),
        b.http_route("web", "team-c", hostnames=["api.acme.com"], created=b.ts(3)),
    ]


class TestListenersDistinctByProtocol:
    """gateway_types.go: "The set of listeners that all share a protocol value MUST have
    _different_ values for _at least one_ of these fields to be distinct: * **HTTP, HTTPS,
    TLS**: Port, Hostname". A TLS and an HTTPS listener for one hostname on one port share no
    protocol value, so both are distinct; and on conflicts "The implementation MUST NOT pick
    one conflicting Listener as the winner"."""

    @pytest.mark.parametrize("order", ["tls-first", "https-first"])
    def test_both_listeners_are_live_and_routes_attach_by_the_rules(self, order: str) -> None:
        graph = b.scan(*_pair_objects(order))
        state = graph.listeners(b.GW)
        assert state is not None
        assert {li.name for li in state.live} == {"tls", "https"}
        assert dict(state.conflicted) == {}
        for name, ns, kind, listener in (("owner", "team-a", "TLSRoute", "tls"),
                                         ("thief", "team-b", "TLSRoute", "tls"),
                                         ("web", "team-c", "HTTPRoute", "https")):
            st = b.only_status(graph, name, ns, kind)
            assert st.accepted, (name, st.reason)
            assert [a.listener.name for a in st.attached] == [listener]

    @pytest.mark.parametrize("order", ["tls-first", "https-first"])
    def test_a_hijack_on_either_listener_is_found(self, order: str) -> None:
        graph = b.scan(*_pair_objects(order))
        (h,) = b.findings(graph, FindingKind.HIJACK)
        assert (h.route, h.other) == (b.route_ref("thief", "team-b", "TLSRoute"),
                                      b.route_ref("owner", "team-a", "TLSRoute"))
        assert (h.listener, h.severity) == ("tls", Severity.CRITICAL)

    def test_list_order_does_not_change_the_result(self) -> None:
        one, two = (b.scan(*_pair_objects(order)) for order in ("tls-first", "https-first"))
        assert [f.identity for f in one.findings()] == [f.identity for f in two.findings()]
        assert [f.message for f in one.findings()] == [f.message for f in two.findings()]
        assert dict(one.parent_statuses()) == dict(two.parent_statuses())
        for graph in (one, two):
            answer = graph.explain(gateway=b.GW, port=443, protocol="tls",
                                   request=Request(host="api.acme.com"))
            assert answer.listener is not None and answer.listener.name == "tls"
            assert any("https (api.acme.com) (HTTPS) shares port 443" in a
                       for a in answer.assumptions)
            answer = graph.explain(gateway=b.GW, port=443, protocol="http",
                                   request=Request(host="api.acme.com", path="/"))
            assert answer.winner is not None and answer.winner.route.ref.name == "web"

    @pytest.mark.parametrize("order", ["tls-first", "https-first"])
    def test_the_pair_is_a_posture_finding(self, order: str) -> None:
        """gateway_types.go ("Compatible Listeners"): an implementation that "cannot mix
        HTTPS and generic TLS listens on the same port would not consider those cases
        compatible, even though they are distinct"; and a client's SNI cannot say which of
        the two it means."""
        graph = b.scan(b.gateway(listeners=_tls_pair(order)))
        found = b.findings(graph, reason=Reason.AMBIGUOUS_LISTENERS)
        assert {(f.listener, f.severity, f.hostname) for f in found} == {
            ("tls", Severity.WARNING, "api.acme.com"), ("https", Severity.WARNING, "api.acme.com")}
        assert all(f.kind == FindingKind.POSTURE for f in found)

    def test_other_hostnames_or_ports_are_not_ambiguous(self) -> None:
        graph = b.scan(b.gateway(listeners=[
            b.listener("tls", port=443, protocol="TLS", hostname="db.acme.com",
                       tls=TLS_PASSTHROUGH),
            b.listener("https", port=443, protocol="HTTPS", hostname="api.acme.com",
                       tls=b.TLS_TERMINATE),
            b.listener("tls2", port=8443, protocol="TLS", hostname="api.acme.com",
                       tls=TLS_PASSTHROUGH)]))
        assert b.findings(graph, reason=Reason.AMBIGUOUS_LISTENERS) == []

    def test_one_protocol_twice_still_conflicts(self) -> None:
        """Two HTTPS listeners for one hostname and port (a ListenerSet's and the Gateway's)
        are not distinct: the ListenerSet's is not live."""
        graph = b.scan(
            b.gateway(listeners=[b.listener("https", port=443, protocol="HTTPS",
                                            hostname="api.acme.com", tls=b.TLS_TERMINATE)],
                      allowed_listeners={"from": "All"}),
            b.listener_set("extra", "team-b", listeners=[
                b.listener("dup", port=443, protocol="HTTPS", hostname="api.acme.com",
                           tls=b.TLS_TERMINATE)]))
        state = graph.listeners(b.GW)
        assert state is not None
        assert dict(state.conflicted) == {
            (ObjectRef("ListenerSet", "team-b", "extra"), "dup"): "HostnameConflict"}


class TestGatewayClass:
    """gatewayclass_types.go: "SupportedFeatures is the set of features the GatewayClass
    support." (``status.supportedFeatures``, a list of ``{name}``)."""

    def test_parsed_with_its_features(self) -> None:
        parsed = parse(b.gateway_class("acme", features=[LISTENER_ISOLATION, "HTTPRoute"]))
        assert parsed == GatewayClass("acme", "example.com/gateway",
                                      frozenset({LISTENER_ISOLATION, "HTTPRoute"}))
        assert parsed.ref == ObjectRef("GatewayClass", "", "acme")

    def test_no_status_or_an_empty_list_publishes_nothing(self) -> None:
        for features in (None, []):
            parsed = parse(b.gateway_class("acme", features=features))
            assert isinstance(parsed, GatewayClass) and parsed.features is None

    def test_plain_strings_of_older_releases(self) -> None:
        obj = b.gateway_class("acme")
        obj["status"] = {"supportedFeatures": ["Gateway", LISTENER_ISOLATION]}
        parsed = parse(obj)
        assert isinstance(parsed, GatewayClass)
        assert parsed.features == {"Gateway", LISTENER_ISOLATION}

    @pytest.mark.parametrize("edit", [
        pytest.param(lambda o: o["spec"].pop("controllerName"), id="no-controllerName"),
        pytest.param(lambda o: o.__setitem__("status", {"supportedFeatures": [{"x": 1}]}),
                     id="feature-without-name"),
        pytest.param(lambda o: o.__setitem__(
            "status", {"supportedFeatures": [{"name": f"F{i}"} for i in range(65)]}),
            id="more-than-64"),
    ])
    def test_malformed(self, edit: Any) -> None:
        obj = b.gateway_class("acme")
        edit(obj)
        assert isinstance(parse(obj), Invalid)


def _isolation_objects(*extra: dict[str, Any]) -> list[dict[str, Any]]:
    """team-a owns api.example.com (oldest route, on the exact listener); team-b's route sits
    on the wildcard listener of the same port with an exact path the owner's prefix covers."""
    return [
        *extra,
        b.gateway(listeners=[
            b.listener("wild", hostname="*.example.com"),
            b.listener("api", hostname="api.example.com")], gateway_class="acme"),
        b.http_route("owner", "team-a", hostnames=["api.example.com"],
                     parents=[b.parent(section="api")], created=b.ts(1)),
        b.http_route("other", "team-b", hostnames=["api.example.com"],
                     parents=[b.parent(section="wild")],
                     matches=[b.match("/login", type="Exact")], created=b.ts(2)),
    ]


class TestListenerIsolation:
    """gateway_types.go ("General Listener behavior"): "if Listeners are defined for
    "foo.example.com" and "*.example.com", a request to "foo.example.com" SHOULD only be routed
    using routes attached to the "foo.example.com" Listener (and not the "*.example.com"
    Listener). ... This concept is known as "Listener Isolation", and it is an Extended
    feature of Gateway API. Implementations that do not support Listener Isolation MUST
    clearly document this, and MUST NOT claim support for the `GatewayHTTPListenerIsolation`
    feature.\""""

    @pytest.mark.parametrize("extra", [
        pytest.param((), id="class-unknown"),
        pytest.param((b.gateway_class("acme"),), id="class-publishes-nothing"),
        pytest.param((b.gateway_class("acme", features=["Gateway", LISTENER_ISOLATION]),),
                     id="class-isolates"),
    ])
    def test_isolated_or_assumed_so(self, extra: tuple[dict[str, Any], ...]) -> None:
        """Today's behaviour: the wildcard listener's route never sees api.example.com."""
        graph = b.scan(*_isolation_objects(*extra))
        assert b.findings(graph, FindingKind.HIJACK) == []
        (f,) = b.findings(graph, reason=Reason.LISTENER_SHADOWED)
        assert f.route == b.route_ref("other", "team-b")
        answer = graph.explain(gateway=b.GW, port=80, protocol="http",
                               request=Request(host="api.example.com", path="/login"))
        assert answer.winner is not None and answer.winner.route.ref.name == "owner"
        assert len(answer.assumptions) == 1
        assert "listener isolation" in answer.assumptions[0].lower()

    def test_without_isolation_the_wildcard_listener_competes(self) -> None:
        graph = b.scan(*_isolation_objects(b.gateway_class("acme", features=["Gateway",
                                                                            "HTTPRoute"])))
        assert b.findings(graph, reason=Reason.LISTENER_SHADOWED) == []
        (h,) = b.findings(graph, FindingKind.HIJACK)
        assert (h.route, h.other) == (b.route_ref("other", "team-b"),
                                      b.route_ref("owner", "team-a"))
        assert h.severity == Severity.CRITICAL
        answer = graph.explain(gateway=b.GW, port=80, protocol="http",
                               request=Request(host="api.example.com", path="/login"))
        assert answer.winner is not None and answer.winner.route.ref.name == "other"
        (assumed,) = answer.assumptions
        assert f"does not claim {LISTENER_ISOLATION}" in assumed
        assert "without listener isolation" in answer.listener_basis

    def test_the_class_arriving_and_leaving_changes_the_findings(self) -> None:
        """Incremental: the GatewayClass is watched like any other object."""
        graph = b.scan(*_isolation_objects())
        cls = parse(b.gateway_class("acme", features=["Gateway"]))
        assert cls is not None
        d = graph.upsert(cls)
        assert {f.reason for f in d.added} == {Reason.HIJACKS_TRAFFIC}
        assert {f.reason for f in d.removed} == {Reason.LISTENER_SHADOWED}
        d = graph.delete(ObjectRef("GatewayClass", "", "acme"))
        assert {f.reason for f in d.added} == {Reason.LISTENER_SHADOWED}
        assert graph.findings() == analyse(
            [p for p in (parse(o) for o in _isolation_objects()) if p is not None]).findings()

    def test_tls_routes_are_not_affected(self) -> None:
        """The feature is about HTTP listeners; SNI still picks one TLS listener."""
        objs = [b.gateway_class("acme", features=["Gateway"]),
                b.gateway(listeners=[
                    b.listener("wild", port=443, protocol="TLS", hostname="*.acme.com",
                               tls=TLS_PASSTHROUGH),
                    b.listener("api", port=443, protocol="TLS", hostname="api.acme.com",
                               tls=TLS_PASSTHROUGH)], gateway_class="acme"),
                b.l4_route("TLSRoute", "owner", "team-a", hostnames=["api.acme.com"],
                           parents=[b.parent(section="api")], created=b.ts(1)),
                b.l4_route("TLSRoute", "other", "team-b", hostnames=["api.acme.com"],
                           parents=[b.parent(section="wild")], created=b.ts(2))]
        graph = b.scan(*objs)
        assert b.findings(graph, FindingKind.HIJACK) == []
        assert [f.reason for f in b.findings(graph, FindingKind.SHADOWED)] == [
            Reason.LISTENER_SHADOWED]


def test_explain_names_the_route_rejected_for_cross_serving() -> None:
    """grpcroute_types.go: "The rejected Route MUST raise an 'Accepted' condition with a status
    of 'False'": a request it would have served finds no route, and explain says why."""
    graph = b.scan(b.gateway(),
                   b.grpc_route("rpc", "team-b", hostnames=["api.example.com"], created=b.ts(1)),
                   b.http_route("web", "team-a", hostnames=["api.example.com"], created=b.ts(2)))
    answer = graph.explain(gateway=b.GW, port=80, protocol="http",
                           request=Request(host="api.example.com", path="/"))
    assert answer.winner is None
    assert "cross serving" in answer.basis
    assert "HTTPRoute team-a/web (older GRPCRoute team-b/rpc)" in answer.basis
    answer = graph.explain(gateway=b.GW, port=80, protocol="http",
                           request=Request(host="other.example.com", path="/"))
    assert "cross serving" not in answer.basis


def test_scan_reads_gateway_classes_from_files(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """``gwwatch scan`` takes GatewayClass objects from manifests like any other kind."""
    path = tmp_path / "all.yaml"
    cls = b.gateway_class("acme", features=["Gateway", "HTTPRoute"])
    path.write_text(yaml.safe_dump_all([cls, *_isolation_objects()]), encoding="utf-8")
    code = cli.main(["scan", str(path), "--output", "json", "--fail-on", "never"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [(f["kind"], f["route"]["name"]) for f in out["findings"]
            if f["kind"] == "Hijack"] == [("Hijack", "other")]
    path.write_text(yaml.safe_dump_all(_isolation_objects()), encoding="utf-8")
    cli.main(["scan", str(path), "--output", "json", "--fail-on", "never"])
    out = json.loads(capsys.readouterr().out)
    assert not [f for f in out["findings"] if f["kind"] == "Hijack"]
