"""The coalescing key queue (workqueue semantics): no server, real event loop."""

from __future__ import annotations

import asyncio

import pytest

from gwwatch.runtime.queue import KeyQueue, ShutDown


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
