"""``gwwatch explain``: the command line end to end over small manifests in ``tmp_path``.

In scope: exit codes, the JSON contract, the text trace's wording (listener, winner, the step on
which each other candidate lost), requests without a hostname, gRPC, TLS/TCP/UDP, HTTPS
misdirected requests, ListenerSets, and agreement with the findings' precedence words.
The conformance corpus (``test_conformance.py``) covers routing breadth; these tests pin the
command's behaviour.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from gwwatch import cli
from gwwatch.engine import explain as resolve
from gwwatch.engine.precedence import Request
from tests.unit import builders as b

GW = f"{b.GW_NS}/{b.GW_NAME}"


def write(tmp_path: Path, *objs: object) -> str:
    path = tmp_path / "manifests.yaml"
    path.write_text(yaml.safe_dump_all(objs), encoding="utf-8")
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(["explain", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code, out, err = run(capsys, *argv, "--output", "json")
    assert err == ""
    result: dict[str, Any] = json.loads(out)
    return code, result


def two_prefixes(tmp_path: Path) -> str:
    """``/`` and ``/api`` from two routes of two tenants on one hostname."""
    return write(
        tmp_path,
        b.gateway(),
        b.http_route("root", "team-a", hostnames=["shop.example.com"],
                     matches=[b.match("/")], created=b.ts(1)),
        b.http_route("api", "team-b", hostnames=["shop.example.com"],
                     rules=[b.rule(b.match("/api"), backend="api-svc")], created=b.ts(2)),
    )


class TestExitCodes:
    def test_served_is_0(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """A request some route serves exits 0."""
        path = two_prefixes(tmp_path)
        code, _, _ = run(capsys, path, "--gateway", GW, "--host", "shop.example.com")
        assert code == 0

    def test_not_served_is_1(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """No route for the hostname: exit 1, and the JSON says route null (HTTP 404)."""
        path = two_prefixes(tmp_path)
        code, out = run_json(capsys, path, "--gateway", GW, "--host", "other.example.com")
        assert code == 1
        assert out["route"] is None and out["rule"] is None and out["match"] is None
        assert out["backends"] == [] and out["candidates"] == []
        assert out["outcome"] == resolve.NO_ROUTE
        assert out["listener"] == "http"

    @pytest.mark.parametrize("argv", [
        pytest.param(["--gateway", "infra/nope"], id="unknown-gateway"),
        pytest.param(["--gateway", "no-slash"], id="gateway-not-ns-name"),
        pytest.param(["--gateway", GW, "--header", "novalue"], id="header-without-equals"),
        pytest.param(["--gateway", GW, "--query", "=v"], id="query-without-name"),
        pytest.param(["--gateway", GW, "--path", "api"], id="relative-path"),
        pytest.param(["--gateway", GW, "--tcp", "--path", "/"], id="path-with-tcp"),
        pytest.param(["--gateway", GW, "--udp", "--host", "a.example.com"], id="host-with-udp"),
        pytest.param(["--gateway", GW, "--tls", "--sni", "a.example.com"], id="sni-with-tls"),
        pytest.param(["--gateway", GW, "--grpc", "NoMethod"], id="grpc-without-method"),
        pytest.param(["--gateway", GW, "--grpc", "svc/M", "--method", "GET"],
                     id="method-with-grpc"),
        pytest.param(["--gateway", GW, "--port", "0"], id="port-zero"),
    ])
    def test_usage_errors_are_2(self, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                argv: list[str]) -> None:
        """Options that name nothing or contradict each other exit 2 with a message."""
        path = two_prefixes(tmp_path)
        code, out, err = run(capsys, path, *argv)
        assert code == 2
        assert out == ""
        assert err.startswith("gwwatch: error: ")

    def test_unknown_gateway_lists_the_gateways(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        path = write(tmp_path, b.gateway(), b.gateway("other", "edge"),
                     b.listener_set("extra", "team-a", listeners=[b.listener("x", port=81)]))
        code, out, err = run(capsys, path, "--gateway", "infra/nope")
        assert (code, out) == (2, "")
        assert err == ("gwwatch: error: --gateway infra/nope: no Gateway (or ListenerSet) of "
                       f"that name in the input; Gateways: edge/other, {GW}; ListenerSets: "
                       "team-a/extra\n")

    def test_no_listener_on_the_port_of_a_tcp_request_is_2(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Whatever the protocol: a port without a listener is a mistyped --port."""
        path = two_prefixes(tmp_path)
        code, out, err = run(capsys, path, "--gateway", GW, "--tcp", "--port", "5432")
        assert (code, out) == (2, "")
        assert "has no listener on it; its listeners: http (80/HTTP)" in err

    @pytest.mark.parametrize(("option", "value"), [
        ("--host", "bad host!"), ("--host", "a..example.com"), ("--host", "-a.example.com"),
        ("--host", "*.example.com"), ("--host", "a.example.com:http"), ("--host", ""),
        ("--sni", "a.example.com:443"), ("--host", "a\x1b[2J.example.com"),
    ])
    def test_bad_host_is_2(self, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                           option: str, value: str) -> None:
        path = two_prefixes(tmp_path)
        code, out, err = run(capsys, path, "--gateway", GW, f"{option}={value}")
        assert (code, out) == (2, "")
        assert err.startswith(f"gwwatch: error: {option} ")
        assert err.endswith(": not a hostname or an IP address\n")
        assert "\x1b" not in err and len(err.splitlines()) == 1

    @pytest.mark.parametrize("host", ["shop.example.com", "SHOP.example.com.",
                                      "shop.example.com:8080", "10.0.0.1", "10.0.0.1:80",
                                      "[2001:db8::1]:443", "2001:db8::1", "localhost"])
    def test_good_hosts(self, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                        host: str) -> None:
        path = two_prefixes(tmp_path)
        code, _, err = run(capsys, path, "--gateway", GW, "--host", host)
        assert code in (0, 1) and err == ""

    def test_missing_file_is_2(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        code, _, err = run(capsys, str(tmp_path / "absent.yaml"), "--gateway", GW)
        assert code == 2
        assert "no such file" in err

    def test_grpc_with_tls_is_refused_by_argparse(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        path = two_prefixes(tmp_path)
        with pytest.raises(SystemExit) as exc:
            cli.main(["explain", path, "--gateway", GW, "--grpc", "s/m", "--tls"])
        assert exc.value.code == 2
        assert "not allowed with argument" in capsys.readouterr().err

    def test_scan_still_works(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """Adding ``explain`` leaves ``scan`` and its JSON as they were."""
        path = two_prefixes(tmp_path)
        code = cli.main(["scan", path, "--output", "json", "--fail-on", "never"])
        out = json.loads(capsys.readouterr().out)
        assert code == 0
        assert {r["name"] for r in out["routes"]} == {"root", "api"}
        assert out["routes"][0]["parents"][0]["kind"] == "Gateway"


class TestJson:
    def test_shape(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """The documented keys, the winner's backends, and each loser with lostOn."""
        path = two_prefixes(tmp_path)
        code, out = run_json(capsys, path, "--gateway", GW, "--host", "shop.example.com",
                             "--path", "/api/orders")
        assert code == 0
        assert {"listener", "route", "rule", "match", "backends", "basis",
                "candidates"} <= set(out)
        assert out["listener"] == "http"
        assert out["route"] == {"kind": "HTTPRoute", "namespace": "team-b", "name": "api"}
        assert (out["rule"], out["match"]) == (0, 0)
        assert out["backends"] == [{"kind": "Service", "namespace": "team-b", "name": "api-svc",
                                    "port": 80, "weight": 1}]
        assert out["basis"].startswith("longer path prefix")
        assert out["candidates"] == [{
            "route": {"kind": "HTTPRoute", "namespace": "team-a", "name": "root"},
            "rule": 0, "match": 0,
            "lostOn": "shorter path prefix than team-b/api",
        }]

    def test_path_prefix_is_element_wise(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """``/api`` does not take ``/apis``: the shorter prefix wins it alone."""
        path = two_prefixes(tmp_path)
        code, out = run_json(capsys, path, "--gateway", GW, "--host", "shop.example.com",
                             "--path", "/apis")
        assert code == 0
        assert out["route"]["name"] == "root"
        assert out["candidates"] == []
        assert out["basis"].startswith("the only HTTPRoute match")

    def test_weights_and_every_backend(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        route = b.http_route("split", hostnames=["a.example.com"], rules=[{
            "backendRefs": [{"name": "v1", "port": 8080, "weight": 90},
                            {"name": "v2", "namespace": "other", "port": 8081, "weight": 10}],
        }])
        path = write(tmp_path, b.gateway(), route)
        _, out = run_json(capsys, path, "--gateway", GW, "--host", "a.example.com")
        assert out["backends"] == [
            {"kind": "Service", "namespace": "team-a", "name": "v1", "port": 8080, "weight": 90},
            {"kind": "Service", "namespace": "other", "name": "v2", "port": 8081, "weight": 10},
        ]


class TestLostOn:
    """The text trace names the step on which each candidate lost, in the findings' words."""

    def test_shorter_path_prefix(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        path = two_prefixes(tmp_path)
        code, out, _ = run(capsys, path, "--gateway", GW, "--host", "shop.example.com",
                           "--path", "/api/x")
        assert code == 0
        lines = out.splitlines()
        assert lines[0] == "HTTP GET shop.example.com /api/x -> Gateway infra/gw port 80"
        assert lines[1].startswith("listener: http (HTTP, no hostname): the only HTTP listener")
        assert lines[2].startswith("route: HTTPRoute team-b/api rule 0 match 0 (PathPrefix /api")
        assert "  backend: Service team-b/api-svc:80 weight 1" in lines
        assert lines[-2] == "other candidates:"
        assert lines[-1].startswith("  HTTPRoute team-a/root rule 0 match 0")
        assert lines[-1].endswith(": shorter path prefix than team-b/api")

    def test_newer_route(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """Identical matches: the older route wins, the newer one loses on age."""
        path = write(
            tmp_path, b.gateway(),
            b.http_route("young", "team-a", hostnames=["x.example.com"], created=b.ts(20)),
            b.http_route("old", "team-z", hostnames=["x.example.com"], created=b.ts(10)),
        )
        code, out, _ = run(capsys, path, "--gateway", GW, "--host", "x.example.com")
        assert code == 0
        assert "route: HTTPRoute team-z/old rule 0" in out
        assert "  why: older route" in out
        assert out.rstrip().endswith(": newer route than team-z/old")

    def test_alphabetical_when_equally_old(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        path = write(
            tmp_path, b.gateway(),
            b.http_route("b", "team-a", hostnames=["x.example.com"], created=b.ts(1)),
            b.http_route("a", "team-a", hostnames=["x.example.com"], created=b.ts(1)),
        )
        code, out, _ = run(capsys, path, "--gateway", GW, "--host", "x.example.com")
        assert code == 0
        assert "route: HTTPRoute team-a/a " in out
        assert out.rstrip().endswith(": namespace/name later in alphabetical order than team-a/a")

    def test_less_specific_hostname(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """An exact hostname beats a wildcard, whatever the paths say."""
        path = write(
            tmp_path, b.gateway(),
            b.http_route("wild", "team-a", hostnames=["*.example.com"],
                         matches=[b.match("/deep/path")], created=b.ts(1)),
            b.http_route("exact", "team-b", hostnames=["pay.example.com"], created=b.ts(2)),
        )
        code, out = run_json(capsys, path, "--gateway", GW, "--host", "pay.example.com",
                             "--path", "/deep/path")
        assert code == 0
        assert out["route"]["name"] == "exact"
        assert out["hostname"] == "pay.example.com"
        assert out["candidates"][0]["lostOn"] == "less specific hostname than team-b/exact"
        assert "issue 5120" in out["basis"]  # the findings' note on hostname precedence

    def test_later_rule_of_the_same_route(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        route = b.http_route("r", hostnames=["a.example.com"], rules=[
            b.rule(b.match("/"), backend="first"), b.rule(b.match("/"), backend="second")])
        path = write(tmp_path, b.gateway(), route)
        _, out = run_json(capsys, path, "--gateway", GW, "--host", "a.example.com")
        assert out["rule"] == 0 and out["backends"][0]["name"] == "first"
        assert [(c["rule"], c["lostOn"]) for c in out["candidates"]] == [
            (1, "later rule than team-a/r")]

    def test_matches_that_do_not_apply_are_no_candidates(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        path = write(
            tmp_path, b.gateway(),
            b.http_route("get", "team-a", hostnames=["a.example.com"],
                         matches=[b.match("/", method="GET")]),
            b.http_route("hdr", "team-b", hostnames=["a.example.com"],
                         matches=[b.match("/", headers={"Version": "two"})]),
            b.http_route("qry", "team-c", hostnames=["a.example.com"],
                         matches=[b.match("/", query={"animal": "whale"})]),
        )
        _, out = run_json(capsys, path, "--gateway", GW, "--host", "a.example.com",
                          "--method", "POST", "--header", "version=two",
                          "--path", "/?animal=whale")
        # POST: "get" does not apply; the header match (name case-insensitive) outranks the query.
        assert out["route"]["name"] == "hdr"
        assert [(c["route"]["name"], c["lostOn"]) for c in out["candidates"]] == [
            ("qry", "fewer header matches than team-b/hdr")]


class TestNotServed:
    """Why nothing serves a request, in the words of the step where it stops."""

    def objs(self) -> list[object]:
        return [
            b.gateway(listeners=[b.listener("http"), b.listener("pay", hostname="pay.example.com"),
                                 b.listener("empty", hostname="empty.example.com")]),
            b.http_route("shop", hostnames=["shop.example.com"], parents=[b.parent(section="http")],
                         matches=[b.match("/", method="GET")]),
            b.http_route("pay", parents=[b.parent(section="pay")], rules=[{}]),
        ]

    @pytest.mark.parametrize(("argv", "why"), [
        pytest.param(["--host", "empty.example.com"],
                     "no HTTPRoute is attached to listener empty", id="nothing-attached"),
        pytest.param(["--host", "www.example.com"],
                     "none of the 1 HTTPRoute(s) on listener http has a hostname matching "
                     "www.example.com", id="no-hostname-matches"),
        pytest.param(["--host", "shop.example.com", "--method", "PUT"],
                     "1 HTTPRoute(s) on listener http match the hostname, but none of their "
                     "matches accepts the request", id="no-match-applies"),
    ])
    def test_reason(self, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                    argv: list[str], why: str) -> None:
        path = write(tmp_path, *self.objs())
        code, out = run_json(capsys, path, "--gateway", GW, *argv)
        assert code == 1
        assert out["outcome"] == resolve.NO_ROUTE
        assert out["basis"] == why

    def test_rule_without_backends_is_served_with_500(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The route serves it (exit 0); the trace says the answer is a 500."""
        path = write(tmp_path, *self.objs())
        code, text, _ = run(capsys, path, "--gateway", GW, "--host", "pay.example.com")
        assert code == 0
        assert "  backend: none, the rule has no backendRefs (HTTP 500)" in text


class TestHostAbsent:
    def test_only_hostnameless_listener_and_routes(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """By address: the listener without a hostname, and only its routes without hostnames."""
        gw = b.gateway(listeners=[
            b.listener("named", hostname="a.example.com"), b.listener("bare")])
        path = write(
            tmp_path, gw,
            b.http_route("named-route", hostnames=["a.example.com"],
                         parents=[b.parent(section="bare")], matches=[b.match("/x")]),
            b.http_route("catch-all", parents=[b.parent(section="bare")], created=b.ts(5)),
        )
        code, out = run_json(capsys, path, "--gateway", GW, "--path", "/x")
        assert code == 0
        assert out["host"] is None
        assert out["listener"] == "bare"
        assert out["route"]["name"] == "catch-all"
        assert out["hostname"] == "*"
        assert out["candidates"] == []  # named-route has a hostname: it cannot serve it

    def test_no_hostnameless_listener_is_404(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        gw = b.gateway(listeners=[b.listener("named", hostname="a.example.com")])
        path = write(tmp_path, gw, b.http_route("r"))
        code, out, _ = run(capsys, path, "--gateway", GW)
        assert code == 1
        assert "(Gateway address)" in out.splitlines()[0]
        assert "listener: none: no HTTP listener on port 80 without a hostname" in out
        assert "route: none (404)" in out

    @pytest.mark.parametrize(("given", "seen"), [
        pytest.param("A.Example.COM", "a.example.com", id="case"),
        pytest.param("a.example.com:8080", "a.example.com", id="port"),
        pytest.param("a.example.com.", "a.example.com", id="trailing-dot"),
        pytest.param("10.0.0.7:80", None, id="ipv4"),
        pytest.param("[2001:db8::1]:443", None, id="ipv6"),
        pytest.param(None, None, id="none"),
    ])
    def test_normalise_host(self, given: str | None, seen: str | None) -> None:
        assert resolve.normalise_host(given) == seen

    def test_ip_host_is_a_request_by_address(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        path = write(tmp_path, b.gateway(), b.http_route("r"))
        code, out = run_json(capsys, path, "--gateway", GW, "--host", "192.0.2.1:80")
        assert code == 0 and out["host"] is None and out["route"]["name"] == "r"


class TestListeners:
    def test_most_specific_listener_hostname_wins(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A request never falls through to a wider listener, even when its routes would match."""
        gw = b.gateway(listeners=[
            b.listener("wild", hostname="*.example.com"),
            b.listener("exact", hostname="a.example.com"),
        ])
        path = write(
            tmp_path, gw,
            b.http_route("on-wild", parents=[b.parent(section="wild")], matches=[b.match("/x")]),
            b.http_route("on-exact", parents=[b.parent(section="exact")],
                         matches=[b.match("/y")]),
        )
        code, out = run_json(capsys, path, "--gateway", GW, "--host", "a.example.com",
                             "--path", "/x")
        assert code == 1
        assert out["listener"] == "exact"
        assert "over wild (*.example.com)" in out["listenerBasis"]
        code, out = run_json(capsys, path, "--gateway", GW, "--host", "b.example.com",
                             "--path", "/x")
        assert code == 0 and out["listener"] == "wild" and out["route"]["name"] == "on-wild"

    def test_default_port_is_the_first_listener(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        gw = b.gateway(listeners=[b.listener("alt", port=8080), b.listener("http", port=80)])
        path = write(
            tmp_path, gw,
            b.http_route("on-alt", parents=[b.parent(section="alt")]),
            b.http_route("on-80", parents=[b.parent(section="http")]),
        )
        _, out = run_json(capsys, path, "--gateway", GW)
        assert (out["port"], out["listener"], out["route"]["name"]) == (8080, "alt", "on-alt")
        _, out = run_json(capsys, path, "--gateway", GW, "--port", "80")
        assert (out["port"], out["listener"], out["route"]["name"]) == (80, "http", "on-80")
        code, out, err = run(capsys, path, "--gateway", GW, "--port", "9999")
        assert (code, out) == (2, "")  # a usage error naming what exists, not a 404
        assert err == (f"gwwatch: error: --port 9999: Gateway {GW} has no listener on it; "
                       "its listeners: alt (8080/HTTP), http (80/HTTP)\n")

    def test_listener_set_listener(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A ListenerSet's listener is part of its Gateway; its name may stand for the Gateway."""
        gw = b.gateway(allowed_listeners={"from": "All"})
        ls = b.listener_set("extra", "team-a", listeners=[
            b.listener("shop", port=8443, hostname="shop.example.com", from_="Same")])
        route = b.http_route("shop", parents=[
            b.parent("extra", "team-a", kind="ListenerSet")])
        path = write(tmp_path, gw, ls, route)
        code, out = run_json(capsys, path, "--gateway", GW, "--port", "8443",
                             "--host", "shop.example.com")
        assert code == 0
        assert out["listener"] == "shop"
        assert out["listenerParent"] == {"kind": "ListenerSet", "namespace": "team-a",
                                         "name": "extra"}
        assert out["route"]["name"] == "shop"
        code, out = run_json(capsys, path, "--gateway", "team-a/extra",
                             "--host", "shop.example.com")
        assert code == 0 and out["port"] == 8443 and out["gateway"]["name"] == b.GW_NAME
        code, text, _ = run(capsys, path, "--gateway", GW, "--port", "8443",
                            "--host", "shop.example.com")
        assert "listener: shop of ListenerSet team-a/extra (HTTP, shop.example.com)" in text


class TestProtocols:
    def test_grpc(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """gRPC requests see GRPCRoutes only; service beats method-only on precedence."""
        path = write(
            tmp_path, b.gateway(),
            b.grpc_route("by-method", "team-a", hostnames=["rpc.example.com"],
                         matches=[b.grpc_match(method="Echo")], created=b.ts(1)),
            b.grpc_route("by-service", "team-b", hostnames=["rpc.example.com"],
                         matches=[b.grpc_match("echo.Echo", "Echo")], created=b.ts(2)),
            # newer than the GRPCRoutes: cross serving rejects it on the listener (an older
            # HTTPRoute would get both GRPCRoutes rejected instead)
            b.http_route("http-root", hostnames=["rpc.example.com"], created=b.ts(3)),
        )
        code, out = run_json(capsys, path, "--gateway", GW, "--host", "rpc.example.com",
                             "--grpc", "echo.Echo/Echo")
        assert code == 0
        assert out["protocol"] == "grpc"
        assert out["route"] == {"kind": "GRPCRoute", "namespace": "team-b",
                                "name": "by-service"}
        assert [c["lostOn"] for c in out["candidates"]] == [
            "shorter service match than team-b/by-service"]
        code, text, _ = run(capsys, path, "--gateway", GW, "--host", "rpc.example.com",
                            "--grpc", "echo.Echo/Other")
        assert code == 1
        assert "route: none (gRPC Unimplemented)" in text

    def test_grpc_metadata(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        path = write(
            tmp_path, b.gateway(),
            b.grpc_route("plain", hostnames=["rpc.example.com"], created=b.ts(1)),
            b.grpc_route("canary", hostnames=["rpc.example.com"], created=b.ts(2),
                         matches=[b.grpc_match(headers={"x-canary": "yes"})]),
        )
        _, out = run_json(capsys, path, "--gateway", GW, "--host", "rpc.example.com",
                          "--grpc", "s.S/M", "--header", "X-Canary=yes")
        assert out["route"]["name"] == "canary"
        _, out = run_json(capsys, path, "--gateway", GW, "--host", "rpc.example.com",
                          "--grpc", "s.S/M")
        assert out["route"]["name"] == "plain"

    def test_tls_routes_on_sni(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        gw = b.gateway(listeners=[b.listener("tls", port=443, protocol="TLS")])
        path = write(
            tmp_path, gw,
            b.l4_route("TLSRoute", "wild", "team-a", hostnames=["*.example.com"],
                       created=b.ts(1)),
            b.l4_route("TLSRoute", "exact", "team-b", hostnames=["db.example.com"],
                       created=b.ts(2)),
        )
        code, out = run_json(capsys, path, "--gateway", GW, "--tls", "--host", "db.example.com")
        assert code == 0
        assert out["protocol"] == "tls" and out["listener"] == "tls"
        assert out["route"] == {"kind": "TLSRoute", "namespace": "team-b", "name": "exact"}
        assert out["candidates"][0]["lostOn"] == "less specific hostname than team-b/exact"
        code, out = run_json(capsys, path, "--gateway", GW, "--tls", "--host", "x.example.org")
        assert code == 1 and out["route"] is None
        code, text, _ = run(capsys, path, "--gateway", GW, "--tls", "--host", "x.example.org")
        assert "route: none (connection rejected)" in text
        code, text, _ = run(capsys, path, "--gateway", GW, "--tls", "--host", "db.example.com")
        assert text.splitlines()[0] == "TLS SNI db.example.com -> Gateway infra/gw port 443"

    def test_http_is_not_served_by_a_tls_listener(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        gw = b.gateway(listeners=[b.listener("tls", port=443, protocol="TLS")])
        path = write(tmp_path, gw, b.l4_route("TLSRoute", "t", hostnames=["a.example.com"]))
        code, out = run_json(capsys, path, "--gateway", GW, "--host", "a.example.com")
        assert code == 1
        assert out["listenerBasis"] == "no HTTP/HTTPS listener on port 443 (only TLS)"

    @pytest.mark.parametrize(("kind", "flag", "protocol"), [
        pytest.param("TCPRoute", "--tcp", "TCP", id="tcp"),
        pytest.param("UDPRoute", "--udp", "UDP", id="udp"),
    ])
    def test_l4_oldest_route_wins(self, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                  kind: str, flag: str, protocol: str) -> None:
        gw = b.gateway(listeners=[b.listener("l4", port=5000, protocol=protocol)])
        path = write(
            tmp_path, gw,
            b.l4_route(kind, "second", created=b.ts(2)),
            b.l4_route(kind, "first", created=b.ts(1)),
        )
        code, out = run_json(capsys, path, "--gateway", GW, flag)
        assert code == 0
        assert out["route"] == {"kind": kind, "namespace": "team-a", "name": "first"}
        assert out["candidates"][0]["lostOn"] == "newer route than team-a/first"


class TestMisdirected:
    def https(self, tmp_path: Path) -> str:
        gw = b.gateway(listeners=[
            b.listener("any", port=443, protocol="HTTPS"),
            b.listener("pay", port=443, protocol="HTTPS", hostname="pay.example.com"),
        ])
        return write(
            tmp_path, gw,
            b.http_route("shop", hostnames=["shop.example.com"],
                         parents=[b.parent(section="any")]),
            b.http_route("pay", hostnames=["pay.example.com"],
                         parents=[b.parent(section="pay")]),
        )

    def test_sni_and_host_on_different_listeners_is_421(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        path = self.https(tmp_path)
        code, out = run_json(capsys, path, "--gateway", GW, "--host", "pay.example.com",
                             "--sni", "shop.example.com")
        assert code == 1
        assert out["outcome"] == resolve.MISDIRECTED and out["route"] is None
        assert "HTTP 421" in out["basis"]
        code, text, _ = run(capsys, path, "--gateway", GW, "--host", "pay.example.com",
                            "--sni", "shop.example.com")
        assert "(SNI shop.example.com)" in text.splitlines()[0]
        assert "route: none (421)" in text

    def test_sni_defaults_to_host(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        path = self.https(tmp_path)
        code, out = run_json(capsys, path, "--gateway", GW, "--host", "pay.example.com")
        assert code == 0 and out["listener"] == "pay" and out["route"]["name"] == "pay"

    def test_host_of_no_listener_stays_on_the_sni_listener(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Host and SNI on the same listener route normally on the Host."""
        path = self.https(tmp_path)
        code, out = run_json(capsys, path, "--gateway", GW, "--host", "shop.example.com",
                             "--sni", "other.example.com")
        assert code == 0 and out["listener"] == "any" and out["route"]["name"] == "shop"

    def test_sni_on_plain_http_is_ignored_and_said(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        path = two_prefixes(tmp_path)
        code, out = run_json(capsys, path, "--gateway", GW, "--host", "shop.example.com",
                             "--sni", "pay.example.com")
        assert code == 0
        assert "SNI pay.example.com ignored" in out["listenerBasis"]


class TestAgreesWithFindings:
    def test_hijack_basis_is_explains_basis(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The Hijack finding and explain name the same winner on the same precedence step."""
        objs = [
            b.gateway(),
            b.http_route("owner", "team-a", hostnames=["shop.example.com"], created=b.ts(1)),
            b.http_route("thief", "team-b", hostnames=["shop.example.com"],
                         matches=[b.match("/checkout")], created=b.ts(2)),
        ]
        (hijack,) = b.findings(b.scan(*objs), "Hijack")
        path = write(tmp_path, *objs)
        _, out = run_json(capsys, path, "--gateway", GW, "--host", "shop.example.com",
                          "--path", "/checkout")
        assert out["route"]["name"] == hijack.route.name == "thief"
        assert out["candidates"][0]["route"]["name"] == hijack.other.name == "owner"
        assert out["basis"].startswith(hijack.basis)
        assert out["basis"] in hijack.message


def test_explain_is_pure_over_the_graph() -> None:
    """The engine function needs no files: a graph and a request in, an answer out."""
    graph = b.scan(b.gateway(), b.http_route("r", hostnames=["a.example.com"],
                                             matches=[b.match("/")]))
    answer = resolve.explain(graph, gateway=b.GW, port=80, protocol="http",
                             request=Request(host="A.example.com:80", path="/z"))
    assert answer.outcome == resolve.SERVED
    assert answer.winner is not None and answer.winner.route.ref.name == "r"
    assert answer.backends[0].name == "svc"
    with pytest.raises(ValueError, match="unknown protocol"):
        resolve.explain(graph, gateway=b.GW, port=80, protocol="sctp", request=Request(None))


def test_text_escapes_control_characters(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """Names from manifests print as themselves: no line of their own, no escape sequence."""
    forged = "svc\x1b[1A\r\nroute: none (404): nothing"
    path = write(tmp_path, b.gateway(),
                 b.http_route("root", "team-a", hostnames=["shop.example.com"],
                              rules=[b.rule(b.match("/"), backend=forged)]))
    code, out, err = run(capsys, path, "--gateway", GW, "--host", "shop.example.com")
    assert (code, err) == (0, "")
    assert "\x1b" not in out and "\r" not in out
    assert not any(line.startswith("route: none") for line in out.splitlines())
    # the listener, route, why, backend lines, and one "assumes:" line (the class is unknown)
    assert len(out.splitlines()) == 6
    assert out.splitlines()[-1].startswith("assumes: GatewayClass test is not known")
