"""A coalescing queue of dirty keys with per-key rate limiting (client-go's workqueue).

A request is only a key; the handler reads the latest state itself (level-based). So:

- adding a key that is already waiting does nothing (ten updates, one reconcile);
- a key being handled is never handed out again until :meth:`KeyQueue.done`; adding it
  meanwhile marks it dirty and it comes back once, after ``done``;
- :meth:`KeyQueue.add_after` schedules a key for later (an earlier schedule wins);
- :meth:`KeyQueue.add_rate_limited` schedules it after the delay its rate limiter gives —
  per key, exponential in the number of failures since the last :meth:`KeyQueue.forget`
  (client-go's ``AddRateLimited`` / ``Forget`` / ``NumRequeues``).

Order is first-in, first-out among ready keys. The rate limiters are client-go's
``default_rate_limiters.go``: :class:`ExponentialRateLimiter` (per key),
:class:`BucketRateLimiter` (overall) and :class:`MaxOfRateLimiter` (the longer of several).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Callable, Hashable, KeysView
from typing import Final, Generic, Protocol, TypeVar

__all__ = [
    "BucketRateLimiter",
    "ExponentialRateLimiter",
    "KeyQueue",
    "MaxOfRateLimiter",
    "RateLimiter",
    "ShutDown",
]

K = TypeVar("K", bound=Hashable)
K_contra = TypeVar("K_contra", bound=Hashable, contravariant=True)


class ShutDown(Exception):
    """The queue was shut down; workers should return."""


class RateLimiter(Protocol[K_contra]):
    """How long a key waits before its next try (client-go ``workqueue.TypedRateLimiter``)."""

    def when(self, key: K_contra) -> float:
        """The delay before retrying ``key`` (a failure just happened; it is counted)."""

    def forget(self, key: K_contra) -> None:
        """``key`` succeeded (or was given up): its next failure starts from the base delay."""

    def num_requeues(self, key: K_contra) -> int:
        """Failures of ``key`` since it was last forgotten."""


class ExponentialRateLimiter(Generic[K]):
    """``base * 2**failures`` per key, capped at ``cap``, with up to ``jitter`` × the delay
    added at random (so keys failing together do not retry together).

    :meth:`ready_in` says how long until the delay last handed out for a key has elapsed:
    the status writer spaces restores of an entry someone else keeps dropping with it.
    """

    __slots__ = ("_clock", "_failures", "_rand", "_ready_at", "base", "cap", "jitter")

    def __init__(self, *, base: float, cap: float, jitter: float = 0.0,
                 clock: Callable[[], float] = time.monotonic,
                 rand: Callable[[], float] = random.random) -> None:
        self.base = base
        self.cap = cap
        self.jitter = jitter
        self._clock = clock
        self._rand = rand
        self._failures: dict[K, int] = {}
        self._ready_at: dict[K, float] = {}

    def when(self, key: K) -> float:
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        # 2**64 is past any cap; beyond it the float would only overflow.
        delay = min(self.base * 2.0 ** min(failures, 64), self.cap)
        delay *= 1.0 + self.jitter * self._rand()
        self._ready_at[key] = self._clock() + delay
        return delay

    def forget(self, key: K) -> None:
        self._failures.pop(key, None)
        self._ready_at.pop(key, None)

    def num_requeues(self, key: K) -> int:
        return self._failures.get(key, 0)

    def ready_in(self, key: K) -> float:
        """Seconds until the last delay given for ``key`` has passed (0: it has)."""
        ready_at = self._ready_at.get(key)
        return max(0.0, ready_at - self._clock()) if ready_at is not None else 0.0

    def since_ready(self, key: K) -> float | None:
        """Seconds since the last delay given for ``key`` passed (None: none was given)."""
        ready_at = self._ready_at.get(key)
        return None if ready_at is None else self._clock() - ready_at

    def keys(self) -> KeysView[K]:
        """Keys remembered (each has failed since it was last forgotten)."""
        return self._failures.keys()


class BucketRateLimiter(Generic[K]):
    """One token bucket for all keys: ``qps`` tokens a second, at most ``burst`` saved (client-go
    ``BucketRateLimiter``). Bounds the retries of many keys failing at once."""

    __slots__ = ("_clock", "_last", "_tokens", "burst", "qps")

    def __init__(self, *, qps: float, burst: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.qps = qps
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()

    def when(self, key: K) -> float:
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.qps)
        self._last = now
        self._tokens -= 1.0  # reserved now, possibly in debt: the debt is the wait
        return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    def forget(self, key: K) -> None:
        pass

    def num_requeues(self, key: K) -> int:
        return 0


class MaxOfRateLimiter(Generic[K]):
    """The longest delay of several limiters; requeues as the per-key ones count them."""

    __slots__ = ("limiters",)

    def __init__(self, *limiters: RateLimiter[K]) -> None:
        self.limiters = limiters

    def when(self, key: K) -> float:
        return max(limiter.when(key) for limiter in self.limiters)

    def forget(self, key: K) -> None:
        for limiter in self.limiters:
            limiter.forget(key)

    def num_requeues(self, key: K) -> int:
        return max(limiter.num_requeues(key) for limiter in self.limiters)


# client-go's DefaultControllerRateLimiter is 5 ms .. 1000 s per key and 10 qps / burst 100
# overall; a write to the API server that failed is retried after a second at the earliest.
_DEFAULT_BASE: Final = 1.0
_DEFAULT_CAP: Final = 300.0


class KeyQueue(Generic[K]):
    __slots__ = ("_dirty", "_order", "_processing", "_shutdown", "_timers", "_wakeup", "limiter",
                 "name")

    def __init__(self, name: str = "", *, limiter: RateLimiter[K] | None = None) -> None:
        self.name = name
        self.limiter: RateLimiter[K] = limiter or ExponentialRateLimiter(
            base=_DEFAULT_BASE, cap=_DEFAULT_CAP, jitter=1.0)
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

    @property
    def scheduled(self) -> int:
        """Keys waiting for a delay (``add_after``, ``add_rate_limited``) to pass."""
        return len(self._timers)

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

    def add_rate_limited(self, key: K, *, not_before: float = 0.0) -> float:
        """Add ``key`` once its rate limiter allows (one more failure counted), and not before
        ``not_before`` seconds (a server's ``Retry-After``); returns the delay."""
        delay = max(self.limiter.when(key), not_before)
        self.add_after(key, delay)
        return delay

    def forget(self, key: K) -> None:
        """Stop counting ``key``'s failures (it succeeded, or is given up)."""
        self.limiter.forget(key)

    def num_requeues(self, key: K) -> int:
        return self.limiter.num_requeues(key)

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

    def clear(self) -> None:
        """Drop every waiting and scheduled key (those being handled stay until ``done``)."""
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._dirty.difference_update(self._order)
        self._order.clear()

    def shut_down(self) -> None:
        """Wake every waiting worker with :class:`ShutDown`; pending keys are dropped."""
        self._shutdown = True
        self.clear()
        self._dirty.clear()
        self._wakeup.set()
