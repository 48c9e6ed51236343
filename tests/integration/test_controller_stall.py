"""Nobody can stall the control loop (issue 11): while the graph is busy with a batch that
takes longer than the renew deadline, the leader keeps renewing its Lease on time, ``/healthz``
and ``/metrics`` answer at once, and no renewal is missed.

The slow batch is the real worker's real batch, made slow by a hook on the graph's ``apply``
that computes in pure Python for 12 s before applying (the cost of a hostile route, without
depending on which analysis is slow this month). The Lease timings are client-go's defaults
(lease 15 s, renew deadline 10 s, retry 2 s): a batch of 12 s run on the event loop loses the
Lease; a renewal counts as missed when it ends more than a retry period (2 s) after it was due,
which leaves room for a slow API server on a busy test machine but not for a stalled loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import pytest

from tests.integration.controller_fixtures import (
    Admin,
    Hijack,
    Running,
    condition,
    eventually,
    scrape,
    value,
)

pytestmark = pytest.mark.integration

STALL_S = 12.0
CLIENT_GO = {"lease_duration_seconds": 15.0, "renew_deadline_seconds": 10.0,
             "retry_period_seconds": 2.0}


async def probe(port: int, path: str, until: asyncio.Event) -> list[float]:
    """Round trips of ``path`` every 100 ms until ``until`` is set; a probe that does not
    answer within 5 s counts as 5 s."""
    out: list[float] = []
    while not until.is_set():
        started = time.monotonic()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(scrape(port, path), 5.0)
        out.append(time.monotonic() - started)
        await asyncio.sleep(0.1)
    return out


async def test_a_batch_longer_than_the_renew_deadline_stalls_nothing(
    admin: Admin, hijack: Hijack, start_controller: Callable[..., Awaitable[Running]],
) -> None:
    gw = await start_controller(**CLIENT_GO)
    await hijack.create_owner(admin)

    async def leading() -> None:
        assert value(await gw.scrape(), "gwwatch_leader") == 1

    await eventually(leading, timeout=30, what="leadership")
    graph = gw.app.worker.graph
    real_apply = graph.apply
    stalled = asyncio.Event()
    done = asyncio.Event()
    loop = asyncio.get_running_loop()

    def slow_apply(upserts: Iterable[Any], deletes: Iterable[Any]) -> Any:
        loop.call_soon_threadsafe(stalled.set)
        end = time.monotonic() + STALL_S
        while time.monotonic() < end:  # pure-Python work, as analysis is
            sum(i * i for i in range(2000))
        try:
            return real_apply(upserts, deletes)
        finally:
            loop.call_soon_threadsafe(done.set)

    graph.apply = slow_apply  # type: ignore[method-assign]
    before = await gw.scrape()
    renewals_before = value(before, "gwwatch_leader_renew_lateness_seconds_count")
    await hijack.create_thief(admin)
    await asyncio.wait_for(stalled.wait(), 30)
    healthz = asyncio.create_task(probe(gw.port, "/healthz", done))
    metrics = asyncio.create_task(probe(gw.port, "/metrics", done))
    await asyncio.wait_for(done.wait(), STALL_S + 30)
    health_rtts, metrics_rtts = await healthz, await metrics
    graph.apply = real_apply  # type: ignore[method-assign]

    after = await gw.scrape()
    assert value(after, "gwwatch_leader") == 1, "leadership lost during the slow batch"
    assert value(after, "gwwatch_leader_renewals_missed_total") == 0
    renewals = value(after, "gwwatch_leader_renew_lateness_seconds_count") - renewals_before
    assert renewals >= 4, f"only {renewals} renewals in a {STALL_S:.0f} s batch"
    assert len(health_rtts) >= 10
    assert max(health_rtts) < 1.0, f"/healthz took {max(health_rtts):.2f} s during the batch"
    assert max(metrics_rtts) < 2.0, f"/metrics took {max(metrics_rtts):.2f} s during the batch"

    async def flagged() -> None:  # and the batch's result still arrives
        route = await admin.route(hijack.thief_ns, hijack.thief)
        assert condition(route, "gwwatch.io/HostnameConflict") is not None

    await eventually(flagged, timeout=20, what="the slow batch's finding written")
