"""Exponential backoff with jitter that forgets after a healthy spell.

client-go's reflector uses ``NewExponentialBackoffManager(800ms, 30s, 2min, 2.0, 1.0)``: start at
800 ms, double up to 30 s, add up to 100 % random jitter (so a fleet restarting together does not
reconnect together), and start again from 800 ms once two minutes passed without a failure.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

__all__ = ["Backoff"]


class Backoff:
    __slots__ = ("_clock", "_current", "_last", "_rand", "factor", "initial", "jitter", "maximum",
                 "reset_after")

    def __init__(
        self,
        *,
        initial: float = 0.8,
        maximum: float = 30.0,
        reset_after: float = 120.0,
        factor: float = 2.0,
        jitter: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.initial = initial
        self.maximum = maximum
        self.reset_after = reset_after
        self.factor = factor
        self.jitter = jitter
        self._clock = clock
        self._rand = rand
        self._current = 0.0
        self._last: float | None = None

    def next(self) -> float:
        """The delay before the next attempt (a failure just happened)."""
        now = self._clock()
        if self._last is not None and now - self._last > self.reset_after:
            self._current = 0.0
        self._last = now
        base = self.initial if self._current == 0.0 else min(self._current * self.factor,
                                                             self.maximum)
        self._current = base
        return base * (1.0 + self.jitter * self._rand())

    def reset(self) -> None:
        self._current = 0.0
        self._last = None
