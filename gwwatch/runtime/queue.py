"""A coalescing queue of dirty keys (client-go's workqueue, controller-runtime's semantics).

A request is only a key; the handler reads the latest state itself (level-based). So:

- adding a key that is already waiting does nothing (ten updates, one reconcile);
- a key being handled is never handed out again until :meth:`KeyQueue.done`; adding it
  meanwhile marks it dirty and it comes back once, after ``done``;
- :meth:`KeyQueue.add_after` schedules a key for later (rate-limited retries, backoff).

Order is first-in, first-out among ready keys.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

__all__ = ["KeyQueue", "ShutDown"]

K = TypeVar("K", bound=Hashable)


class ShutDown(Exception):
    """The queue was shut down; workers should return."""


class KeyQueue(Generic[K]):
    __slots__ = ("_dirty", "_order", "_processing", "_shutdown", "_timers", "_wakeup", "name")

    def __init__(self, name: str = "") -> None:
        self.name = name
        self._order: deque[K] = deque()
        self._dirty: set[K] = set()  # waiting to be handed out (in _order, or back after done)
        self._processing: set[K] = set()
        self._timers: dict[K, asyncio.TimerHandle] = {}
        self._wakeup = asyncio.Event()
        self._shutdown = False

    def __len__(self) -> int:
        """Keys waiting (not those being handled or scheduled for later)."""
        return len(self._order)

    @property
    def processing(self) -> frozenset[K]:
        return frozenset(self._processing)

    def add(self, key: K) -> None:
        if self._shutdown or key in self._dirty:
            return
        self._dirty.add(key)
        if key in self._processing:
            return  # ``done`` puts it back
        self._order.append(key)
        self._wakeup.set()

    def add_after(self, key: K, delay: float) -> None:
        """Add ``key`` in ``delay`` seconds; an earlier pending schedule for it wins."""
        if self._shutdown:
            return
        if delay <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        when = loop.time() + delay
        timer = self._timers.get(key)
        if timer is not None:
            if timer.when() <= when:
                return
            timer.cancel()
        self._timers[key] = loop.call_at(when, self._fire, key)

    def _fire(self, key: K) -> None:
        self._timers.pop(key, None)
        self.add(key)

    async def get(self) -> K:
        """The next ready key; the caller must call :meth:`done` with it."""
        return (await self.get_batch(1))[0]

    async def get_batch(self, limit: int) -> list[K]:
        """Up to ``limit`` ready keys (at least one); each must be given back with ``done``."""
        while not self._order:
            if self._shutdown:
                raise ShutDown(self.name)
            self._wakeup.clear()
            await self._wakeup.wait()
        out: list[K] = []
        while self._order and len(out) < limit:
            key = self._order.popleft()
            self._dirty.discard(key)
            self._processing.add(key)
            out.append(key)
        return out

    def done(self, key: K) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._order.append(key)
            self._wakeup.set()

    def shut_down(self) -> None:
        """Wake every waiting worker with :class:`ShutDown`; pending keys are dropped."""
        self._shutdown = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._order.clear()
        self._dirty.clear()
        self._wakeup.set()
