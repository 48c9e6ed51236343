"""Leader election's state machine over an in-memory Lease and a fake clock (no server).

In scope: create, renew, respect of an unexpired holder (by our own observation time),
takeover after the lease duration, races (409), release, loss after the renew deadline, and
that the leader's work runs only while leading.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Mapping
from typing import Any

import pytest

from gwwatch.runtime import errors
from gwwatch.runtime.leader import LeaderElector, LeaseConfig
from tests.unit.runtime_fakes import FakeClock


class MemoryLease:
    """A Lease on a pretend API server: resourceVersion checks, optional outage."""

    def __init__(self) -> None:
        self.lease: dict[str, Any] | None = None
        self.rv = 0
        self.down = False
        self.writes = 0

    async def get(self) -> dict[str, Any] | None:
        if self.down:
            raise errors.Transient("connection refused")
        return copy.deepcopy(self.lease)

    async def create(self, lease: Mapping[str, Any]) -> dict[str, Any]:
        if self.down:
            raise errors.Transient("connection refused")
        if self.lease is not None:
            raise errors.Conflict("exists", code=409)
        return self._store(lease)

    async def update(self, lease: Mapping[str, Any]) -> dict[str, Any]:
        if self.down:
            raise errors.Transient("connection refused")
        assert self.lease is not None
        if lease["metadata"].get("resourceVersion") != self.lease["metadata"]["resourceVersion"]:
            raise errors.Conflict("modified", code=409)
        return self._store(lease)

    def _store(self, lease: Mapping[str, Any]) -> dict[str, Any]:
        self.rv += 1
        self.writes += 1
        stored = copy.deepcopy(dict(lease))
        stored["metadata"] = {**stored.get("metadata", {}), "resourceVersion": str(self.rv)}
        self.lease = stored
        return copy.deepcopy(stored)

    @property
    def holder(self) -> str | None:
        return None if self.lease is None else self.lease["spec"].get("holderIdentity")


def elector(server: MemoryLease, clock: FakeClock, identity: str,
            changes: list[bool] | None = None) -> LeaderElector:
    cfg = LeaseConfig("gwwatch", "gwwatch-system", identity)
    return LeaderElector(cfg, server, clock=clock, wall_clock=clock, sleep=clock.sleep,
                         rand=lambda: 0.0,
                         on_change=(changes.append if changes is not None else lambda b: None))


class TestTryAcquireOrRenew:
    async def test_creates_a_missing_lease(self) -> None:
        server, clock = MemoryLease(), FakeClock()
        a = elector(server, clock, "a")
        assert await a.try_acquire_or_renew()
        spec = server.lease["spec"]  # type: ignore[index]
        assert spec["holderIdentity"] == "a" and spec["leaseDurationSeconds"] == 15
        assert spec["leaseTransitions"] == 0

    async def test_unexpired_lease_of_another_is_respected(self) -> None:
        server, clock = MemoryLease(), FakeClock()
        a, b = elector(server, clock, "a"), elector(server, clock, "b")
        await a.try_acquire_or_renew()
        assert not await b.try_acquire_or_renew()
        clock.now += 14
        assert not await b.try_acquire_or_renew()  # unchanged for 14 s of *b's* clock

    async def test_takeover_after_the_lease_duration_as_observed_locally(self) -> None:
        """b counts from when *it* first saw the record, not from renewTime (clock skew)."""
        server, clock = MemoryLease(), FakeClock()
        a, b = elector(server, clock, "a"), elector(server, clock, "b")
        await a.try_acquire_or_renew()
        clock.now += 100  # a is dead, but b has not looked yet
        assert not await b.try_acquire_or_renew()
        clock.now += 15.1
        assert await b.try_acquire_or_renew()
        spec = server.lease["spec"]  # type: ignore[index]
        assert spec["holderIdentity"] == "b" and spec["leaseTransitions"] == 1

    async def test_renewal_keeps_acquire_time_and_transitions(self) -> None:
        server, clock = MemoryLease(), FakeClock()
        a = elector(server, clock, "a")
        await a.try_acquire_or_renew()
        first = dict(server.lease["spec"])  # type: ignore[index]
        clock.now += 2
        assert await a.try_acquire_or_renew()
        spec = server.lease["spec"]  # type: ignore[index]
        assert spec["acquireTime"] == first["acquireTime"]
        assert spec["renewTime"] != first["renewTime"]
        assert spec["leaseTransitions"] == 0

    async def test_a_lost_race_is_not_leadership(self) -> None:
        """Two candidates read the same expired record; the second write gets 409."""
        server, clock = MemoryLease(), FakeClock()
        a, b = elector(server, clock, "a"), elector(server, clock, "b")
        await a.try_acquire_or_renew()
        server.lease["spec"]["holderIdentity"] = ""  # type: ignore[index]
        original_update = server.update

        async def racing_update(lease: Mapping[str, Any]) -> dict[str, Any]:
            server.update = original_update  # type: ignore[method-assign]
            server.rv += 1
            server.lease["metadata"]["resourceVersion"] = str(server.rv)  # type: ignore[index]
            return await original_update(lease)

        server.update = racing_update  # type: ignore[method-assign]
        assert not await b.try_acquire_or_renew()

    async def test_release_lets_a_standby_take_over_at_once(self) -> None:
        server, clock = MemoryLease(), FakeClock()
        a, b = elector(server, clock, "a"), elector(server, clock, "b")
        await a.acquire()
        assert not await b.try_acquire_or_renew()
        await a.release()
        spec = server.lease["spec"]  # type: ignore[index]
        assert spec["holderIdentity"] == "" and spec["leaseDurationSeconds"] == 1
        assert await b.try_acquire_or_renew()  # no waiting out the lease
        assert server.lease["spec"]["leaseTransitions"] == 0  # type: ignore[index]

    async def test_api_errors_mean_not_acquired(self) -> None:
        server, clock = MemoryLease(), FakeClock()
        server.down = True
        assert not await elector(server, clock, "a").try_acquire_or_renew()

    def test_config_is_checked_like_client_go(self) -> None:
        with pytest.raises(ValueError):
            LeaseConfig("l", "ns", "me", lease_duration=10, renew_deadline=10)
        with pytest.raises(ValueError):
            LeaseConfig("l", "ns", "me", renew_deadline=2, retry_period=2)


class TestLoops:
    async def test_acquire_retries_every_retry_period(self) -> None:
        server, clock = MemoryLease(), FakeClock()
        a, b = elector(server, clock, "a"), elector(server, clock, "b")
        await a.acquire()
        await b.acquire()  # a never renews: b takes over after the lease duration
        assert b.is_leader and server.holder == "b"
        assert set(clock.sleeps) == {2.0}
        assert 15 <= sum(clock.sleeps) <= 18

    async def test_leadership_is_lost_after_the_renew_deadline(self) -> None:
        server, clock = MemoryLease(), FakeClock()
        changes: list[bool] = []
        a = elector(server, clock, "a", changes)
        await a.acquire()
        server.down = True
        await a.renew()
        assert changes == [True, False] and not a.is_leader
        assert 10 <= sum(clock.sleeps) <= 12

    async def test_renewals_on_time_are_not_missed_late_or_failed_ones_are(self) -> None:
        """A renewal is missed when it fails or ends more than a retry period after it was
        due: what a stalled event loop does to it, long before the Lease is lost."""
        server, clock = MemoryLease(), FakeClock()
        seen: list[tuple[float, bool]] = []
        cfg = LeaseConfig("gwwatch", "gwwatch-system", "a")
        stalls = iter([0.0, 0.0, 3.5, 0.0, 0.0])
        ticks = 0

        async def sleep(seconds: float) -> None:  # the loop wakes up late once: 3.5 s stall
            nonlocal ticks
            ticks += 1
            if ticks > 6:
                server.down = True  # then the API goes away: failed renewals until lost
            await clock.sleep(seconds + next(stalls, 0.0))

        a = LeaderElector(cfg, server, clock=clock, wall_clock=clock, sleep=sleep,
                          rand=lambda: 0.0, on_renew=lambda late, missed: seen.append(
                              (late, missed)))
        await a.acquire()
        await a.renew()
        assert [m for _, m in seen[:5]] == [False, False, True, False, False]
        assert seen[2][0] == 3.5
        assert all(m for _, m in seen[6:]) and len(seen) > 6
        assert a.renewals_missed == sum(m for _, m in seen)

    async def test_leadership_is_lost_at_once_when_another_holds_it(self) -> None:
        server, clock = MemoryLease(), FakeClock()
        a = elector(server, clock, "a")
        await a.acquire()
        server.lease["spec"]["holderIdentity"] = "usurper"  # type: ignore[index]
        await a.renew()
        assert not a.is_leader and a.holder == "usurper"

    async def test_run_cancels_the_work_on_loss_and_campaigns_again(self) -> None:
        server, clock = MemoryLease(), FakeClock()
        a = elector(server, clock, "a")
        started = 0
        cancelled = 0

        async def lead() -> None:
            nonlocal started, cancelled
            started += 1
            if started == 1:
                server.down = True  # the API goes away during the first term
            else:
                server.down = False
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled += 1
                raise

        task = asyncio.create_task(a.run(lead))
        for _ in range(500):
            await asyncio.sleep(0)
            if started == 1 and server.down and not a.is_leader:
                server.down = False
            if started >= 2:
                break
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert started == 2 and cancelled == 2
        assert server.holder == ""  # released on the way out


class TestHangingApiServer:
    async def test_a_hanging_renewal_gives_up_leadership_by_the_renew_deadline(self) -> None:
        """Real time, small durations: each renewal is bounded by what is left of the renew
        deadline, so leadership ends before the lease could pass to a standby (not after
        the per-request timeouts, which add up past the lease duration)."""

        class Hanging(MemoryLease):
            hang = False

            async def get(self) -> dict[str, Any] | None:
                if self.hang:
                    await asyncio.sleep(3600)  # a blackholed apiserver
                return await super().get()

        server = Hanging()
        cfg = LeaseConfig("gwwatch", "gwwatch-system", "a", lease_duration=0.6,
                          renew_deadline=0.4, retry_period=0.1)
        a = LeaderElector(cfg, server, rand=lambda: 0.0)
        await a.acquire()
        server.hang = True
        last_ok = time.monotonic()
        await asyncio.wait_for(a.renew(), 5)
        assert not a.is_leader
        assert time.monotonic() - last_ok < cfg.lease_duration

    async def test_release_after_a_renewal_cancelled_mid_flight(self) -> None:
        """SIGTERM while a renewal's PUT reached the server but its answer did not: our copy
        of the Lease is stale (409), so read it again and release it, still ours."""

        class SlowAnswer(MemoryLease):
            slow = False
            landed = asyncio.Event()

            async def update(self, lease: Mapping[str, Any]) -> dict[str, Any]:
                out = await super().update(lease)
                if self.slow:  # once
                    self.slow = False
                    self.landed.set()
                    await asyncio.sleep(3600)  # written; the answer never comes
                return out

        server, clock = SlowAnswer(), FakeClock()
        a = elector(server, clock, "a")
        started = asyncio.Event()

        async def lead() -> None:
            server.slow = True
            started.set()
            await asyncio.sleep(3600)

        task = asyncio.create_task(a.run(lead))
        await asyncio.wait_for(server.landed.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert server.holder == ""
        assert server.lease is not None and server.lease["spec"]["leaseDurationSeconds"] == 1
