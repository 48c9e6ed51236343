"""The incident end to end, as a user sees it: ``examples/techresolve`` applied to a real API
server while ``gwwatch run`` watches as its ServiceAccount (deploy/base/rbac.yaml only).

Billing's route first, then staging's → within seconds the offender carries our condition
naming prod-billing/billing-api, billing's route carries TrafficHijacked, both have Events,
and the hijack series is 1; delete the offender → our entries go, Normal Events say so, and
the series is gone.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import yaml

from tests.controlplane import ApiError, ControlPlane
from tests.integration.controller_fixtures import (
    EXAMPLE,
    V1,
    Admin,
    Running,
    condition,
    eventually,
    our_entries,
    samples,
)

pytestmark = pytest.mark.integration

OFFENDER = ("staging-analytics", "metrics-dashboard")
VICTIM = ("prod-billing", "billing-api")
SERIES = {"kind": "Hijack", "hostname": "api.techresolve.com",
          "route": "staging-analytics/metrics-dashboard", "other": "prod-billing/billing-api"}


def docs(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((EXAMPLE / name).read_text()) if d]


async def apply(admin: Admin, name: str) -> None:
    for doc in docs(name):
        doc.get("metadata", {}).pop("creationTimestamp", None)  # the server sets it
        try:
            await admin.create(doc)
        except ApiError as e:
            if e.status != 409:  # the namespaces may exist from an earlier run in the session
                raise


async def test_incident_end_to_end(
    admin: Admin, control_plane: ControlPlane,
    start_controller: Callable[..., Awaitable[Running]],
) -> None:
    """The techresolve incident: condition, Events and metric appear, then go."""
    gw = await start_controller()
    try:
        for name in ("00-namespaces.yaml", "10-gateway.yaml", "20-billing-route.yaml"):
            await apply(admin, name)

        async def billing_attached() -> None:
            text = await gw.scrape()
            assert samples(text, "gwwatch_attachments", gateway="infra-gateways/prod-gateway",
                           listener="https") == [1.0]

        await eventually(billing_attached, what="billing route attached")
        started = time.monotonic()
        await apply(admin, "30-metrics-dashboard-route.yaml")

        async def offender_flagged() -> dict[str, Any]:
            route = await admin.route(*OFFENDER)
            cond = condition(route, "gwwatch.io/HostnameConflict")
            assert cond is not None
            return cond

        cond = await eventually(offender_flagged, timeout=5, what="offender's condition")
        latency = time.monotonic() - started
        assert cond["status"] == "True" and cond["reason"] == "HijacksTraffic"
        for part in ("prod-billing/billing-api", "api.techresolve.com", "PathPrefix /v1/charge",
                     "longer path prefix"):
            assert part in cond["message"]
        (entry,) = our_entries(await admin.route(*OFFENDER))
        assert entry["parentRef"]["name"] == "prod-gateway"

        async def victim_flagged() -> None:
            victim = condition(await admin.route(*VICTIM), "gwwatch.io/TrafficHijacked")
            assert victim is not None and victim["reason"] == "HijackedByRoute"
            assert "staging-analytics/metrics-dashboard" in victim["message"]

        await eventually(victim_flagged, timeout=5, what="victim's condition")

        async def warnings() -> None:
            for ns, reason in (("staging-analytics", "HijacksTraffic"),
                               ("prod-billing", "HijackedByRoute")):
                evs = [e for e in await admin.events(ns)
                       if e["reason"] == reason and e["type"] == "Warning"]
                assert len(evs) == 1, evs
                assert "api.techresolve.com" in evs[0]["message"]
                assert evs[0]["involvedObject"]["kind"] == "HTTPRoute"

        await eventually(warnings, timeout=5, what="Warning Events")
        text = await gw.scrape()
        assert samples(text, "gwwatch_finding_info", **SERIES) == [1.0]
        assert samples(text, "gwwatch_findings", kind="Hijack", severity="critical") == [1.0]
        _describe_shows_it(control_plane)
        print(f"\nevent→condition latency: {latency:.3f} s")

        await admin.delete(f"{V1}/namespaces/{OFFENDER[0]}/httproutes/{OFFENDER[1]}")

        async def cleared() -> None:
            assert our_entries(await admin.route(*VICTIM)) == []
            text = await gw.scrape()
            assert samples(text, "gwwatch_finding_info", **SERIES) == []
            assert samples(text, "gwwatch_findings", kind="Hijack", severity="critical") == [0]
            evs = [e for e in await admin.events("prod-billing")
                   if e["reason"] == "HijackedByRouteResolved"]
            assert len(evs) == 1 and evs[0]["type"] == "Normal"

        await eventually(cleared, timeout=5, what="entries and series removed")
    finally:
        for ns, name in (OFFENDER, VICTIM):
            await admin.delete(f"{V1}/namespaces/{ns}/httproutes/{name}")
        await admin.delete(f"{V1}/namespaces/infra-gateways/gateways/prod-gateway")
        await gw.stop()


def _describe_shows_it(cp: ControlPlane) -> None:
    """What the user runs: ``kubectl describe httproute`` shows our condition and the Event."""
    kubectl = cp.assets.kubectl or shutil.which("kubectl")
    if kubectl is None:
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        out = subprocess.run(
            [str(kubectl), f"--kubeconfig={cp.kubeconfig}", "describe", "httproute",
             "-n", OFFENDER[0], OFFENDER[1]], capture_output=True, text=True, timeout=20,
            check=True).stdout
        assert "gwwatch.io/HostnameConflict" in out
        assert "HijacksTraffic" in out
        assert "gwwatch.io/conflict-watcher" in out

