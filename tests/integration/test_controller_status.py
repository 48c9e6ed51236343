"""Sharing ``status.parents`` with a Gateway implementation, on a real API server.

A second writer plays the implementation: it keeps its own entry (controllerName
``example.net/gateway``) on the same routes, writing read-modify-write as the spec asks. Its
entry and conditions must survive every write of ours, concurrent writes must lose nothing, and
when it drops our entry we put it back — with backoff, never in a hot loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.integration.controller_fixtures import (
    ME,
    V1,
    Admin,
    Hijack,
    Running,
    condition,
    eventually,
    our_entries,
    value,
)

pytestmark = pytest.mark.integration

IMPL = "example.net/gateway"


def impl_entry(h: Hijack, generation: int) -> dict[str, Any]:
    return {"parentRef": {"group": "gateway.networking.k8s.io", "kind": "Gateway",
                          "namespace": h.gw_ns, "name": h.gateway},
            "controllerName": IMPL,
            "conditions": [
                {"type": "Accepted", "status": "True", "reason": "Accepted",
                 "message": f"write {generation}", "lastTransitionTime": "2026-01-01T00:00:00Z",
                 "observedGeneration": 1},
                {"type": "ResolvedRefs", "status": "True", "reason": "ResolvedRefs",
                 "message": "ok", "lastTransitionTime": "2026-01-01T00:00:00Z",
                 "observedGeneration": 1}]}


def set_impl(h: Hijack, generation: int) -> Callable[[list[dict[str, Any]]], list[dict[str, Any]]]:
    """The implementation's edit: replace its own entry in place (or put it first)."""
    def change(parents: list[dict[str, Any]]) -> list[dict[str, Any]]:
        mine = impl_entry(h, generation)
        for i, p in enumerate(parents):
            if p.get("controllerName") == IMPL:
                parents[i] = mine
                return parents
        return [mine, *parents]
    return change


def drop_ours(parents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [p for p in parents if p.get("controllerName") != ME]


async def test_implementation_entry_survives_concurrent_writes(
    admin: Admin, hijack: Hijack, start_controller: Callable[..., Awaitable[Running]],
) -> None:
    """The implementation rewrites its entry 30 times while our findings change under it
    (offender's path changes → our message changes → we write): at the end both entries hold
    their latest content and the implementation's entry is still first."""
    gw = await start_controller()
    await hijack.create_owner(admin)
    await admin.update_status(hijack.owner_ns, hijack.owner, set_impl(hijack, 0))
    await hijack.create_thief(admin)
    await admin.update_status(hijack.thief_ns, hijack.thief, set_impl(hijack, 0))

    async def flagged() -> None:
        assert condition(await admin.route(hijack.thief_ns, hijack.thief),
                         "gwwatch.io/HostnameConflict") is not None

    await eventually(flagged, what="our condition")

    async def implementation() -> None:
        for i in range(1, 31):
            for ns, name in ((hijack.owner_ns, hijack.owner), (hijack.thief_ns, hijack.thief)):
                await admin.update_status(ns, name, set_impl(hijack, i))

    async def tenant() -> None:  # the offender keeps editing its route: our message changes
        for i in range(10):
            def edit(route: dict[str, Any], i: int = i) -> None:
                route["spec"]["rules"][0]["matches"][0]["path"]["value"] = f"/pay/v{i}"

            await admin.modify(f"{V1}/namespaces/{hijack.thief_ns}/httproutes/{hijack.thief}",
                               edit)
            await asyncio.sleep(0.05)

    await asyncio.gather(implementation(), tenant())

    async def settled() -> None:
        for ns, name in ((hijack.owner_ns, hijack.owner), (hijack.thief_ns, hijack.thief)):
            route = await admin.route(ns, name)
            parents = route["status"]["parents"]
            assert parents[0] == impl_entry(hijack, 30), "implementation's entry lost or moved"
            assert len(parents) == 2
        thief = condition(await admin.route(hijack.thief_ns, hijack.thief),
                          "gwwatch.io/HostnameConflict")
        assert thief is not None and "PathPrefix /pay/v9" in thief["message"]
        owner = condition(await admin.route(hijack.owner_ns, hijack.owner),
                          "gwwatch.io/TrafficHijacked")
        assert owner is not None

    await eventually(settled, timeout=10, what="both writers' latest content")
    text = await gw.scrape()
    assert value(text, "gwwatch_status_writes_total", result="updated") >= 3
    assert value(text, "gwwatch_status_writes_total", result="invalid") == 0

    await hijack.delete_thief(admin)

    async def ours_removed_theirs_kept() -> None:
        route = await admin.route(hijack.owner_ns, hijack.owner)
        assert route["status"]["parents"] == [impl_entry(hijack, 30)]

    await eventually(ours_removed_theirs_kept, what="our entry removed, theirs kept")


async def test_dropped_entry_is_restored_without_a_hot_loop(
    admin: Admin, hijack: Hijack, start_controller: Callable[..., Awaitable[Running]],
) -> None:
    """For 6 s the implementation removes our entry whenever it sees it (as a buggy
    implementation that rewrites the whole list would). We restore it each time, but each
    restore waits longer: a handful of writes, not hundreds. Once it stops, ours is back."""
    gw = await start_controller()
    await hijack.create_owner(admin)
    await hijack.create_thief(admin)

    async def flagged() -> None:
        assert our_entries(await admin.route(hijack.thief_ns, hijack.thief))

    await eventually(flagged, what="our entry")
    before = value(await gw.scrape(), "gwwatch_status_writes_total", result="updated")
    drops = 0
    deadline = time.monotonic() + 6.0
    while time.monotonic() < deadline:
        route = await admin.route(hijack.thief_ns, hijack.thief)
        if our_entries(route):
            await admin.update_status(hijack.thief_ns, hijack.thief, drop_ours)
            drops += 1
        await asyncio.sleep(0.05)
    restores = value(await gw.scrape(), "gwwatch_status_writes_total",
                     result="updated") - before
    assert drops >= 2, "we never restored the entry"
    assert restores <= 6, f"{restores} writes in 6 s: a hot loop"

    async def restored() -> None:
        entries = our_entries(await admin.route(hijack.thief_ns, hijack.thief))
        assert len(entries) == 1
        assert entries[0]["conditions"][0]["reason"] == "HijacksTraffic"

    await eventually(restored, timeout=20, what="our entry restored after the fight")


async def test_status_write_from_the_trimmed_cache_keeps_metadata(
    admin: Admin, hijack: Hijack, start_controller: Callable[..., Awaitable[Running]],
) -> None:
    """The cache keeps no managedFields and no foreign annotations; the status write made from
    it (the victim's, after its annotations were cached) must leave the route's annotations,
    labels and managedFields as they were."""
    await start_controller()
    await hijack.create_owner(admin)
    path = f"{V1}/namespaces/{hijack.owner_ns}/httproutes/{hijack.owner}"

    def annotate(route: dict[str, Any]) -> None:
        route["metadata"].setdefault("annotations", {})["example.net/keep"] = "yes" * 500
        route["metadata"].setdefault("labels", {})["team"] = "owners"

    await admin.modify(path, annotate)
    await asyncio.sleep(0.5)  # let the watch deliver it: the write below comes from the cache
    await hijack.create_thief(admin)

    async def flagged() -> None:
        route = await admin.route(hijack.owner_ns, hijack.owner)
        assert condition(route, "gwwatch.io/TrafficHijacked") is not None
        assert route["metadata"]["annotations"]["example.net/keep"] == "yes" * 500
        assert route["metadata"]["labels"]["team"] == "owners"
        assert route["metadata"].get("managedFields")

    await eventually(flagged, what="our condition beside untouched metadata")


async def test_a_rewritten_entry_is_put_back_at_once_counted_and_told(
    admin: Admin, hijack: Hijack, start_controller: Callable[..., Awaitable[Running]],
) -> None:
    """The offender rewrites gwwatch's entry on its own route to accuse the victim (any client
    allowed to update status may write any controllerName), ten times. Each forgery is put
    back within about a second — no backoff, unlike a drop —, counted in
    gwwatch_status_tampering_total{kind="HTTPRoute"}, and a StatusTampered Warning Event on
    the route says so (repeats fold into its count)."""
    gw = await start_controller()
    await hijack.create_owner(admin)
    await hijack.create_thief(admin)

    async def flagged() -> dict[str, Any]:
        entries = our_entries(await admin.route(hijack.thief_ns, hijack.thief))
        assert entries and entries[0]["conditions"][0]["reason"] == "HijacksTraffic"
        return entries[0]

    genuine = await eventually(flagged, what="our entry")

    def forge(parents: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for p in parents:
            if p.get("controllerName") == ME:
                p["conditions"] = [{
                    "type": "gwwatch.io/TrafficHijacked", "status": "True",
                    "reason": "HijackedByRoute",
                    "message": f"TrafficHijacked by {hijack.owner_ns}/{hijack.owner}",
                    "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1}]
        return parents

    restore_times: list[float] = []
    for _ in range(10):
        await admin.update_status(hijack.thief_ns, hijack.thief, forge)
        forged_at = time.monotonic()

        async def restored() -> None:
            entries = our_entries(await admin.route(hijack.thief_ns, hijack.thief))
            assert entries and entries[0]["conditions"][0]["reason"] == "HijacksTraffic"
            assert entries[0]["conditions"][0]["message"] == \
                genuine["conditions"][0]["message"]

        await eventually(restored, timeout=5, interval=0.02, what="forgery put back")
        restore_times.append(time.monotonic() - forged_at)
    # A backoff would have made the later restores wait 2, 4, 8 … s; "at once" is well below that
    # even on a loaded CI machine.
    assert max(restore_times) < 3.0, f"restores took {restore_times}"

    async def counted() -> None:
        # Counted once our PUT has returned, which can be a moment after a reader sees the entry
        # back: wait for the tenth count rather than scraping once.
        text = await gw.scrape()
        assert value(text, "gwwatch_status_tampering_total", kind="HTTPRoute") == 10

    await eventually(counted, timeout=5, what="ten forgeries counted")

    async def told() -> None:
        events = [e for e in await admin.events(hijack.thief_ns)
                  if e.get("reason") == "StatusTampered"
                  and e["involvedObject"]["name"] == hijack.thief]
        assert len(events) == 1 and events[0]["type"] == "Warning"
        assert events[0]["count"] >= 2

    await eventually(told, timeout=10, what="StatusTampered Event")
