"""The controller follows a GatewayClass' published features on a real API server.

gateway_types.go (v1.6.1, "General Listener behavior"): "Implementations that do not support
Listener Isolation MUST clearly document this, and MUST NOT claim support for the
`GatewayHTTPListenerIsolation` feature." gatewayclass_types.go: "SupportedFeatures is the set of
features the GatewayClass support." The implementation publishes that list through the status
subresource; until it does, gwwatch assumes isolation (a route on the wildcard listener is
ListenerShadowed). Once the class says it supports HTTP routing without isolation, the same
route takes the owner's requests: a Hijack, on the routes' status.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable

import pytest

from tests import builders
from tests.integration.controller_fixtures import V1, Admin, Running, condition, eventually

pytestmark = pytest.mark.integration
CLASSES = "/apis/gateway.networking.k8s.io/v1/gatewayclasses"


async def test_published_features_decide_listener_isolation(
    admin: Admin, tenants: Callable[..., str],
    start_controller: Callable[..., Awaitable[Running]],
) -> None:
    suffix = secrets.token_hex(3)
    cls_name = f"e3-{suffix}"
    domain = f"iso-{suffix}.example.test"
    # creationTimestamps have one-second resolution: on a tie the namespace decides who is
    # older (the owner of the hostname), so the owner's namespace sorts first
    gw_ns, owner_ns, other_ns = tenants("infra"), tenants("a-owner"), tenants("z-other")
    await admin.create(builders.gateway_class(cls_name))
    try:
        await admin.create(builders.gateway(
            "gw", gw_ns, gateway_class=cls_name, listeners=[
                builders.listener("wild", hostname=f"*.{domain}"),
                builders.listener("api", hostname=f"api.{domain}")]))
        await admin.create(builders.http_route(
            "owner", owner_ns, hostnames=[f"api.{domain}"],
            parents=[builders.parent("gw", gw_ns, section="api")]))
        await admin.create(builders.http_route(
            "other", other_ns, hostnames=[f"api.{domain}"],
            parents=[builders.parent("gw", gw_ns, section="wild")],
            matches=[builders.match("/login", type="Exact")]))
        await start_controller()

        async def shadowed() -> None:
            c = condition(await admin.route(other_ns, "other"), "gwwatch.io/HostnameConflict")
            assert c is not None and c["reason"] == "ListenerShadowed", c

        await eventually(shadowed, timeout=30, what="ListenerShadowed while isolation assumed")

        def publish(obj: dict[str, object]) -> None:
            obj["status"] = {"supportedFeatures": [{"name": "Gateway"}, {"name": "HTTPRoute"}]}

        path = f"{CLASSES}/{cls_name}"
        obj = await admin.get(path)
        assert obj is not None
        publish(obj)
        await admin.request("PUT", f"{path}/status", obj)

        async def hijacked() -> None:
            c = condition(await admin.route(other_ns, "other"), "gwwatch.io/HostnameConflict")
            assert c is not None and c["reason"] == "HijacksTraffic", c
            assert "GatewayHTTPListenerIsolation" in c["message"]
            victim = condition(await admin.route(owner_ns, "owner"),
                               "gwwatch.io/TrafficHijacked")
            assert victim is not None

        await eventually(hijacked, timeout=30, what="the Hijack once the class publishes")
        assert (await admin.get(f"{V1}/namespaces/{other_ns}/httproutes/other")) is not None
    finally:
        await admin.delete(f"{CLASSES}/{cls_name}")
