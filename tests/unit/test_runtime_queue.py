"""The coalescing key queue and its rate limiters (workqueue semantics): no server, real event
loop, a fake clock for the limiters."""

from __future__ import annotations

import asyncio

import pytest

from gwwatch.runtime.queue import (
    BucketRateLimiter,
    ExponentialRateLimiter,
    KeyQueue,
    MaxOfRateLimiter,
    ShutDown,
)
from tests.unit.runtime_fakes import FakeClock


class TestKeyQueue:
    async def test_duplicate_adds_coalesce(self) -> None:
        """Ten adds of one key before it is taken give one reconcile."""
        q: KeyQueue[str] = KeyQueue()
        for _ in range(10):
            q.add("a")
        q.add("b")
        assert await q.get_batch(10) == ["a", "b"]
        assert len(q) == 0

    async def test_key_in_flight_is_not_handed_out_twice(self) -> None:
        """A key added while being handled waits for done() and then comes back once."""
        q: KeyQueue[str] = KeyQueue()
        q.add("a")
        key = await q.get()
        q.add("a")
        q.add("a")
        assert len(q) == 0  # not ready while "a" is in flight
        q.add("b")
        assert await q.get() == "b"
        q.done(key)
        assert await q.get() == "a"
        q.done("a")
        q.done("b")
        assert len(q) == 0

    async def test_fifo_and_batch_limit(self) -> None:
        q: KeyQueue[int] = KeyQueue()
        for i in range(5):
            q.add(i)
        assert await q.get_batch(3) == [0, 1, 2]
        assert await q.get_batch(3) == [3, 4]

    async def test_get_waits_for_an_add(self) -> None:
        q: KeyQueue[str] = KeyQueue()
        waiter = asyncio.create_task(q.get())
        await asyncio.sleep(0)
        assert not waiter.done()
        q.add("x")
        assert await asyncio.wait_for(waiter, 1) == "x"

    async def test_add_after_delays_and_earliest_schedule_wins(self) -> None:
        q: KeyQueue[str] = KeyQueue()
        q.add_after("a", 0.2)
        q.add_after("a", 0.02)  # earlier: replaces
        q.add_after("a", 5.0)  # later: ignored
        assert len(q) == 0
        assert await asyncio.wait_for(q.get(), 1) == "a"

    async def test_shut_down_wakes_waiters(self) -> None:
        q: KeyQueue[str] = KeyQueue()
        waiter = asyncio.create_task(q.get())
        await asyncio.sleep(0)
        q.shut_down()
        with pytest.raises(ShutDown):
            await asyncio.wait_for(waiter, 1)
        q.add("ignored")
        assert len(q) == 0

    async def test_concurrent_workers_never_share_a_key(self) -> None:
        """Several workers over many re-adds: each key is handled by one at a time."""
        q: KeyQueue[int] = KeyQueue()
        active: set[int] = set()
        handled = 0

        async def worker() -> None:
            nonlocal handled
            while True:
                key = await q.get()
                assert key not in active
                active.add(key)
                await asyncio.sleep(0)
                q.add(key % 3)  # re-add keys while they are in flight
                active.discard(key)
                handled += 1
                q.done(key)
                if handled > 200:
                    return

        for i in range(10):
            q.add(i)
        await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(4))), 5)


class TestRateLimiting:
    """Per-key exponential backoff in the queue (client-go's ``AddRateLimited`` / ``Forget`` /
    ``NumRequeues``) and the overall bucket."""

    def test_exponential_per_key_and_forget_starts_again(self) -> None:
        clock = FakeClock()
        limiter: ExponentialRateLimiter[str] = ExponentialRateLimiter(
            base=1.0, cap=10.0, clock=clock)
        assert [limiter.when("a") for _ in range(5)] == [1.0, 2.0, 4.0, 8.0, 10.0]
        assert limiter.when("b") == 1.0  # each key counts its own failures
        assert limiter.num_requeues("a") == 5 and limiter.num_requeues("b") == 1
        limiter.forget("a")
        assert limiter.num_requeues("a") == 0 and limiter.when("a") == 1.0

    def test_jitter_only_lengthens(self) -> None:
        limiter: ExponentialRateLimiter[str] = ExponentialRateLimiter(
            base=1.0, cap=100.0, jitter=0.5, rand=lambda: 1.0)
        assert limiter.when("a") == 1.5 and limiter.when("a") == 3.0

    def test_ready_in_counts_down_the_last_delay(self) -> None:
        clock = FakeClock()
        limiter: ExponentialRateLimiter[str] = ExponentialRateLimiter(
            base=2.0, cap=10.0, clock=clock)
        assert limiter.ready_in("a") == 0.0 and limiter.since_ready("a") is None
        limiter.when("a")
        clock.now += 0.5
        assert limiter.ready_in("a") == 1.5
        clock.now += 3.0
        assert limiter.ready_in("a") == 0.0 and limiter.since_ready("a") == 1.5

    def test_bucket_bounds_many_keys_failing_at_once(self) -> None:
        clock = FakeClock()
        bucket: BucketRateLimiter[int] = BucketRateLimiter(qps=10.0, burst=3, clock=clock)
        delays = [bucket.when(i) for i in range(5)]
        assert delays[:3] == [0.0, 0.0, 0.0]  # the burst
        assert delays[3] == pytest.approx(0.1) and delays[4] == pytest.approx(0.2)
        clock.now += 10.0
        assert bucket.when(99) == 0.0  # refilled

    def test_max_of_takes_the_longest_and_forgets_in_all(self) -> None:
        clock = FakeClock()
        per_key: ExponentialRateLimiter[str] = ExponentialRateLimiter(
            base=1.0, cap=100.0, clock=clock)
        both = MaxOfRateLimiter(per_key, BucketRateLimiter(qps=1.0, burst=1, clock=clock))
        assert both.when("a") == 1.0  # the bucket had a token; the key's own backoff rules
        assert both.when("b") == pytest.approx(1.0)  # the bucket is empty: wait for a token
        assert both.when("a") == 2.0
        assert both.num_requeues("a") == 2
        both.forget("a")
        assert both.num_requeues("a") == 0

    async def test_add_rate_limited_schedules_after_the_limiters_delay(self) -> None:
        q: KeyQueue[str] = KeyQueue(limiter=ExponentialRateLimiter(base=0.02, cap=1.0))
        assert q.add_rate_limited("a") == pytest.approx(0.02)
        assert len(q) == 0 and q.scheduled == 1 and q.num_requeues("a") == 1
        assert await asyncio.wait_for(q.get(), 1) == "a"
        q.done("a")
        assert q.add_rate_limited("a") == pytest.approx(0.04)  # doubled: not forgotten
        q.forget("a")
        assert q.num_requeues("a") == 0

    async def test_retry_after_is_a_floor(self) -> None:
        q: KeyQueue[str] = KeyQueue(limiter=ExponentialRateLimiter(base=0.01, cap=1.0))
        assert q.add_rate_limited("a", not_before=5.0) == 5.0

    async def test_clear_drops_waiting_and_scheduled_keys_only(self) -> None:
        q: KeyQueue[str] = KeyQueue()
        q.add("busy")
        assert await q.get() == "busy"
        q.add("busy")  # dirty while handled
        q.add("waiting")
        q.add_after("later", 10.0)
        q.clear()
        assert len(q) == 0 and q.scheduled == 0
        q.done("busy")
        assert await asyncio.wait_for(q.get(), 1) == "busy"  # re-added while handled
