"""Faults, on a real control plane: the API server restarted mid-watch, resourceVersions
expired by an etcd compaction (410 → re-list, deletes synthesised), and objects at and beyond
what the CRDs allow. After each, findings converge — none lost, none stale — and the
controller keeps running.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests import builders as b
from tests.controlplane import ControlPlane
from tests.integration.controller_fixtures import (
    Admin,
    Hijack,
    Running,
    condition,
    eventually,
    httproute,
    our_entries,
    samples,
    value,
)

pytestmark = pytest.mark.integration


async def flagged(admin: Admin, h: Hijack) -> None:
    assert condition(await admin.route(h.thief_ns, h.thief),
                     "gwwatch.io/HostnameConflict") is not None
    assert condition(await admin.route(h.owner_ns, h.owner),
                     "gwwatch.io/TrafficHijacked") is not None


def second(tenants: Callable[..., str], h: Hijack) -> Hijack:
    """Another incident on the same Gateway, with a hostname of its own."""
    return Hijack(gw_ns=h.gw_ns, owner_ns=tenants("owner"), thief_ns=tenants("thief"),
                  hostname=f"api-{secrets.token_hex(3)}.example.test")


async def converged(admin: Admin, gw: Running, gone: Hijack, present: Hijack) -> None:
    assert our_entries(await admin.route(gone.owner_ns, gone.owner)) == []
    await flagged(admin, present)
    text = await gw.scrape()
    assert samples(text, "gwwatch_finding_info", **gone.labels) == []
    assert samples(text, "gwwatch_finding_info", **present.labels) == [1.0]


async def test_apiserver_restart_mid_watch_converges(
    admin: Admin, control_plane: ControlPlane, hijack: Hijack, tenants: Callable[..., str],
    start_controller: Callable[..., Awaitable[Running]],
) -> None:
    """kube-apiserver killed (connections reset) and started again: the watches reconnect
    (its new watch cache answers old resourceVersions with 410, so they re-list), and what
    changed afterwards is seen."""
    gw = await start_controller()
    await hijack.create_owner(admin)
    await hijack.create_thief(admin)
    await eventually(lambda: flagged(admin, hijack), what="first hijack flagged")
    await control_plane.arestart_apiserver(graceful=False)
    other = second(tenants, hijack)
    await hijack.delete_thief(admin)
    await admin.create(httproute(other.owner, gw_ns=other.gw_ns, gw=other.gateway,
                                 hostname=other.hostname), other.owner_ns)
    await other.create_thief(admin)
    await eventually(lambda: converged(admin, gw, hijack, other), timeout=40,
                     what="findings after the restart")
    text = await gw.scrape()
    assert value(text, "gwwatch_watch_restarts_total", kind="HTTPRoute") >= 1
    assert value(text, "gwwatch_reconcile_errors_total") == 0


async def test_expired_resource_versions_relist_and_synthesise_deletes(
    admin: Admin, control_plane: ControlPlane, hijack: Hijack, tenants: Callable[..., str],
    start_controller: Callable[..., Awaitable[Running]],
) -> None:
    """The controller is cut off; meanwhile the offender is deleted and a new incident is
    created; etcd is compacted and the apiserver restarted so every old resourceVersion is
    gone. Back online, the watch gets 410, the reflector lists again, and the offender —
    never seen deleted — is deleted by the re-list."""
    gw = await start_controller()
    await hijack.create_owner(admin)
    await hijack.create_thief(admin)
    await eventually(lambda: flagged(admin, hijack), what="first hijack flagged")
    relists_before = value(await gw.scrape(), "gwwatch_relists_total", kind="HTTPRoute")

    gw.kube.partition()
    await hijack.delete_thief(admin)
    other = second(tenants, hijack)
    await admin.create(httproute(other.owner, gw_ns=other.gw_ns, gw=other.gateway,
                                 hostname=other.hostname), other.owner_ns)
    await other.create_thief(admin)
    await control_plane.aexpire_resource_versions()
    gw.kube.heal()

    await eventually(lambda: converged(admin, gw, hijack, other), timeout=60,
                     what="findings after the re-list")
    text = await gw.scrape()
    assert value(text, "gwwatch_relists_total", kind="HTTPRoute") > relists_before
    assert value(text, "gwwatch_watch_restarts_total", kind="HTTPRoute", reason="Expired") >= 1


def big_gateway(name: str, domain: str) -> dict[str, Any]:
    """64 listeners: the most a Gateway may have."""
    return b.gateway(name, None, listeners=[b.listener(f"l{i}", hostname=f"h{i}.{domain}")
                                            for i in range(64)])


def route_at_limits(name: str, gw_ns: str, hostnames: list[str], prefix: str = "/",
                    version: str = "v1") -> dict[str, Any]:
    """32 parentRefs (one per listener section), 16 hostnames."""
    return b.http_route(name, None, api_version=f"{b.GROUP}/{version}",
                        parents=[b.parent("big", gw_ns, section=f"l{i}") for i in range(32)],
                        hostnames=hostnames, matches=[b.match(prefix)])


async def test_objects_at_the_limits_never_stop_the_controller(
    admin: Admin, tenants: Callable[..., str], hijack: Hijack,
    start_controller: Callable[..., Awaitable[Running]],
) -> None:
    """A 64-listener Gateway; routes with 32 parentRefs and 16 hostnames, one created
    through v1beta1 with a 253-character name; an owner whose status.parents already holds
    20 entries of the implementation; Namespace claim annotations that are garbage. gwwatch
    reports what fits (never more than 32 parents, so no 422), names stay bounded, nothing
    raises, and a plain incident afterwards is still caught."""
    gw = await start_controller()
    domain = f"big-{secrets.token_hex(3)}.example.test"
    infra = tenants("infra")
    owner_ns = tenants("owner")
    thief_ns = tenants("thief")
    await admin.modify(f"/api/v1/namespaces/{thief_ns}", lambda ns: ns["metadata"].setdefault(
        "annotations", {}).update({"gwwatch.io/hostnames": "!!, a..b, *.*.x, ,,\u00e9.x",
                                   "gwwatch.io/shared-with": "x" * 5000}))
    await admin.create(big_gateway("big", domain), infra)
    await admin.create(route_at_limits("owner", infra, [f"*.{domain}"]), owner_ns)
    # The implementation already reports on 20 of the owner's parentRefs.
    impl = [{"parentRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway",
                           "name": "big", "namespace": infra, "sectionName": f"l{i}"},
             "controllerName": "example.net/gateway",
             "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted",
                             "message": "ok", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}
            for i in range(20)]
    await admin.update_status(owner_ns, "owner", lambda parents: impl)
    long_name = ".".join(["x" * 63] * 3) + "." + "y" * 61  # 253 characters
    assert len(long_name) == 253
    await admin.create(route_at_limits(long_name, infra, [f"h{i}.{domain}" for i in range(16)],
                                       prefix="/pay", version="v1beta1"), thief_ns)

    async def reported() -> None:
        thief = await admin.route(thief_ns, long_name)
        assert len(our_entries(thief)) == 16  # one per hijacked listener
        owner = await admin.route(owner_ns, "owner")
        parents = owner["status"]["parents"]
        assert parents[:20] == impl  # theirs untouched, first
        assert len(parents) == 32  # ours filled the rest, no more
        for entry in our_entries(thief):
            for cond in entry["conditions"]:
                assert len(cond["message"]) <= 32768
        events = [e for e in await admin.events(thief_ns) if e["reason"] == "HijacksTraffic"]
        assert events and all(len(e["message"]) <= 1024 for e in events)

    await eventually(reported, timeout=30, what="findings at the limits reported")
    text = await gw.scrape()
    assert value(text, "gwwatch_status_writes_total", result="invalid") == 0
    assert value(text, "gwwatch_reconcile_errors_total") == 0
    assert not gw.task.done()

    # Still working: the plain incident is caught.
    await hijack.create_owner(admin)
    await hijack.create_thief(admin)
    await eventually(lambda: flagged(admin, hijack), what="a plain hijack afterwards")
