"""The engine's vocabulary is data the rest of gwwatch can trust: what ``readable_versions``
says the engine reads is exactly what ``parse`` reads, the enums stand in for the strings found
in Kubernetes objects and in earlier output, and the one age key orders as the findings do."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gwwatch.engine import parse
from gwwatch.engine.model import Gateway, GatewayClass, ListenerSet, NamespaceInfo, Route
from gwwatch.engine.vocabulary import (
    FAIL_ON_CHOICES,
    GROUP,
    HOSTNAME_KINDS,
    ROUTE_KINDS,
    FindingKind,
    Protocol,
    RouteKind,
    Severity,
    age_key,
    at_or_above,
    group_of,
    kinds_for_protocol,
    readable_versions,
    severity_rank,
)
from tests.unit import builders as b

_OBJECTS: dict[str, dict[str, Any]] = {
    "Namespace": b.namespace("team-a"),
    "Gateway": b.gateway(),
    "GatewayClass": b.gateway_class("acme", features=["Gateway"]),
    "ListenerSet": b.listener_set("extra", "team-a", listeners=[b.listener("x", port=81)]),
    "HTTPRoute": b.http_route("r"),
    "GRPCRoute": b.grpc_route("g", "team-a", parents=[b.parent("gw", "infra")]),
    "TLSRoute": b.l4_route("TLSRoute", "t", "team-a", parents=[b.parent("gw", "infra")]),
    "TCPRoute": b.l4_route("TCPRoute", "t", "team-a", parents=[b.parent("gw", "infra")]),
    "UDPRoute": b.l4_route("UDPRoute", "u", "team-a", parents=[b.parent("gw", "infra")]),
}
_RECORDS = {"Namespace": NamespaceInfo, "Gateway": Gateway, "GatewayClass": GatewayClass,
            "ListenerSet": ListenerSet}


def _at(obj: dict[str, Any], api_version: str) -> dict[str, Any]:
    return {**obj, "apiVersion": api_version}


def _api_version(kind: str, version: str) -> str:
    group = group_of(kind)
    return f"{group}/{version}" if group else version


class TestReadableVersions:
    @pytest.mark.parametrize("kind", sorted(_OBJECTS))
    def test_every_listed_version_parses(self, kind: str) -> None:
        versions = readable_versions(kind)
        assert versions, f"{kind}: the engine reads it, so it must list versions"
        for version in versions:
            got = parse(_at(_OBJECTS[kind], _api_version(kind, version)))
            assert isinstance(got, _RECORDS.get(kind, Route)), (kind, version, got)

    @pytest.mark.parametrize("kind", sorted(_OBJECTS))
    @pytest.mark.parametrize("version", ["v1alpha1", "v2", "v1beta2", "v1alpha4"])
    def test_no_other_version_parses(self, kind: str, version: str) -> None:
        if version in readable_versions(kind):
            pytest.fail(f"{kind} {version} is listed: pick versions the engine does not read")
        assert parse(_at(_OBJECTS[kind], _api_version(kind, version))) is None

    @pytest.mark.parametrize("kind", sorted(_OBJECTS))
    def test_another_group_is_not_read(self, kind: str) -> None:
        version = readable_versions(kind)[0]
        assert parse(_at(_OBJECTS[kind], f"example.com/{version}")) is None

    @pytest.mark.parametrize("api_version", ["/v1", "core/v1", "v1/"])
    def test_a_namespace_is_core_v1_only(self, api_version: str) -> None:
        assert parse(_at(_OBJECTS["Namespace"], api_version)) is None

    @pytest.mark.parametrize("kind", ["ReferenceGrant", "BackendTLSPolicy", "Service", ""])
    def test_kinds_not_read_list_nothing(self, kind: str) -> None:
        assert readable_versions(kind) == ()
        assert group_of(kind) is None

    def test_route_kinds_are_in_the_gateway_group_newest_version_first(self) -> None:
        for kind, spec in ROUTE_KINDS.items():
            assert (spec.kind, spec.group) == (kind, GROUP)
            assert spec.served_versions[0] == "v1"
            assert readable_versions(kind) == spec.served_versions


class TestRouteKindSpecs:
    @pytest.mark.parametrize("protocol", list(Protocol))
    def test_a_listener_admits_what_the_specs_say(self, protocol: Protocol) -> None:
        """kinds_for_protocol, the specs and parse's inferred kinds agree."""
        gw = parse(b.gateway(listeners=[b.listener(protocol=protocol)]))
        assert isinstance(gw, Gateway)
        want = [k for k, spec in ROUTE_KINDS.items() if protocol in spec.protocols]
        assert list(gw.listeners[0].kinds) == want == list(kinds_for_protocol(protocol))

    def test_every_kind_admitted_somewhere_competes_there(self) -> None:
        for spec in ROUTE_KINDS.values():
            assert spec.protocols <= set(spec.traffic_protocols), spec.kind

    def test_hostnames_are_parsed_only_for_kinds_that_carry_them(self) -> None:
        for kind in ROUTE_KINDS:
            obj = _OBJECTS[kind]
            route = parse({**obj, "spec": {**obj["spec"], "hostnames": ["a.example.com"]}})
            assert isinstance(route, Route)
            assert route.hostnames == (("a.example.com",) if kind in HOSTNAME_KINDS else ())


class TestEnumsAreTheirStrings:
    def test_equal_hash_format_and_json_as_the_string(self) -> None:
        for member in (*RouteKind, *Protocol, *Severity, *FindingKind):
            assert member == member.value and hash(member) == hash(member.value)
            assert f"{member}" == str(member) == member.value
            assert json.dumps({member: member}) == json.dumps({member.value: member.value})

    def test_values(self) -> None:
        assert [str(k) for k in RouteKind] == [
            "HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute", "UDPRoute"]
        assert FAIL_ON_CHOICES == ("critical", "warning", "info", "never")


class TestSeverities:
    def test_rank_orders_most_severe_first_and_unknown_last(self) -> None:
        ranks = [severity_rank(s) for s in ("critical", "warning", "info", "bogus")]
        assert ranks == sorted(ranks) and len(set(ranks)) == 4

    def test_never_fails_nothing(self) -> None:
        assert not any(at_or_above(s, "never") for s in Severity)

    def test_unknown_threshold_is_an_error(self) -> None:
        with pytest.raises(KeyError):
            at_or_above(Severity.CRITICAL, "urgent")


class TestAgeKey:
    def test_oldest_first_never_applied_last_then_by_name(self) -> None:
        objs = [("2026-02-01T00:00:00Z", "a/x"), (None, "a/a"), ("2026-01-01T00:00:00Z", "b/b"),
                ("2026-01-01T00:00:00Z", "a/z"), (None, "0/0")]
        ordered = sorted(objs, key=lambda o: age_key(*o))
        assert ordered == [("2026-01-01T00:00:00Z", "a/z"), ("2026-01-01T00:00:00Z", "b/b"),
                           ("2026-02-01T00:00:00Z", "a/x"), (None, "0/0"), (None, "a/a")]
