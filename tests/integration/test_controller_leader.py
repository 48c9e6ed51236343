"""Two replicas as real processes (``python -m gwwatch run``, ServiceAccount credentials,
settings from GWWATCH_* as in a Pod): exactly one writes; ``kill -9`` of the leader and the
other takes over within the lease duration and carries on; SIGTERM exits 0 and releases the
Lease.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from tests.integration.controller_fixtures import (
    GWWATCH_NS,
    LEASE,
    Admin,
    Hijack,
    Process,
    condition,
    eventually,
    our_entries,
    scrape,
    value,
)

pytestmark = pytest.mark.integration


async def leader_of(procs: list[Process]) -> Process:
    states = []
    for p in procs:
        assert p.popen.poll() is None, f"{p.identity} exited:\n{p.tail()}"
        text = await p.scrape()
        states.append(value(text, "gwwatch_leader"))
    assert sorted(states) == [0.0] * (len(procs) - 1) + [1.0], states
    return procs[states.index(1.0)]


async def ready(p: Process) -> None:
    try:
        body = await scrape(p.port, "/readyz")
    except OSError as exc:
        raise AssertionError(f"{p.identity} not listening: {exc}") from exc
    assert body.strip() == "ok", body


async def test_two_replicas_one_writer_and_failover(
    admin: Admin, hijack: Hijack, spawn_controller: Callable[..., Process],
) -> None:
    """Exactly one replica writes status and Events; killing it hands over within the lease
    duration (+ one retry period), and the new leader carries on."""
    procs = [spawn_controller("replica-a"), spawn_controller("replica-b")]
    for p in procs:
        await eventually(lambda p=p: ready(p), timeout=30, what=f"{p.identity} ready")
    leader = await eventually(lambda: leader_of(procs), timeout=15, what="one leader")
    standby = next(p for p in procs if p is not leader)

    await hijack.create_owner(admin)
    await hijack.create_thief(admin)

    async def flagged() -> None:
        assert condition(await admin.route(hijack.thief_ns, hijack.thief),
                         "gwwatch.io/HostnameConflict") is not None
        assert condition(await admin.route(hijack.owner_ns, hijack.owner),
                         "gwwatch.io/TrafficHijacked") is not None

    await eventually(flagged, what="hijack reported")
    events = [e for e in await admin.events(hijack.thief_ns) if e["reason"] == "HijacksTraffic"]
    assert {e["reportingInstance"] for e in events} == {leader.identity}
    standby_text = await standby.scrape()
    assert value(standby_text, "gwwatch_status_writes_total") == 0
    assert value(standby_text, "gwwatch_events_total", result="created") == 0
    # ... and yet the standby sees the same findings (it watches and serves metrics).
    assert value(standby_text, "gwwatch_finding_info", **hijack.labels) == 1

    leader.kill()
    killed_at = time.monotonic()

    async def took_over() -> None:
        assert value(await standby.scrape(), "gwwatch_leader") == 1

    await eventually(took_over, timeout=20, interval=0.05, what="standby takes over")
    takeover = time.monotonic() - killed_at
    bound = LEASE["lease_duration_seconds"] + 1.2 * LEASE["retry_period_seconds"] + 1.5
    print(f"\ntakeover after kill -9: {takeover:.2f} s (lease {LEASE['lease_duration_seconds']} s)")
    assert takeover <= bound, f"takeover took {takeover:.1f} s"

    await hijack.delete_thief(admin)

    async def cleared_by_new_leader() -> None:
        assert our_entries(await admin.route(hijack.owner_ns, hijack.owner)) == []
        assert value(await standby.scrape(), "gwwatch_status_writes_total",
                     result="updated") >= 1

    await eventually(cleared_by_new_leader, what="new leader writes")

    code = await asyncio.to_thread(standby.terminate)
    assert code == 0, standby.tail()
    lease = await admin.get(f"/apis/coordination.k8s.io/v1/namespaces/{GWWATCH_NS}/leases/gwwatch")
    assert lease is not None and not lease["spec"].get("holderIdentity"), lease
