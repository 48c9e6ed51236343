"""One reconcile loop over a :class:`KeyQueue` (controller-runtime's ``Controller``).

:meth:`Controller.process_next` takes a key, calls ``reconcile(key)`` and gives the key back
with ``done`` whatever happens, so no key is reconciled twice at once. What the reconcile did
becomes a queue action in one place, :meth:`Controller._handle` (controller-runtime's
``reconcileHandler``):

=======================================  ====================================  ===============
reconcile                                queue                                 result counted
=======================================  ====================================  ===============
returns ``None`` or ``Result()``         ``forget``                            ``success``
returns ``Result(requeue_after=s)``      ``forget``, then ``add_after(s)``     ``requeue_after``
raises :class:`TerminalError`            ``forget`` (logged, never retried)    ``terminal``
raises anything else                     ``add_rate_limited`` (per-key         ``error``
                                         backoff; never before the error's
                                         ``retry_after``)
=======================================  ====================================  ===============

The status writer and the Event writer are two instances; they differ only in their reconcile
function and their queue's rate limiter. Logs are named for the controller: ``status_retry``
(an API error), ``status_failed`` (anything else, with its traceback), ``status_terminal``.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

import structlog

from gwwatch.runtime import errors
from gwwatch.runtime.queue import KeyQueue

__all__ = ["Controller", "Result", "TerminalError"]

log = structlog.get_logger("gwwatch.controller")

K = TypeVar("K", bound=Hashable)

_RESULTS: Final = ("success", "requeue_after", "terminal", "error")


@dataclass(frozen=True, slots=True)
class Result:
    """What a reconcile asks for besides success: to look at the key again later."""

    requeue_after: float = 0.0


class TerminalError(Exception):
    """Retrying cannot help (the server refused what we would send again): forget the key."""


Reconcile = Callable[[K], Awaitable[Result | None]]


class Controller(Generic[K]):
    def __init__(
        self,
        queue: KeyQueue[K],
        reconcile: Reconcile[K],
        *,
        workers: int = 1,
        log_context: Callable[[K], Mapping[str, object]] = lambda key: {"key": str(key)},
        on_result: Callable[[str, str], None] = lambda controller, result: None,
    ) -> None:
        self.name = queue.name  # names its logs and tasks: the queue's name
        self.queue = queue
        self.reconcile = reconcile
        self.workers = workers
        self.log_context = log_context
        self.on_result = on_result
        self.results: Counter[str] = Counter({r: 0 for r in _RESULTS})

    async def run(self) -> None:
        """``workers`` loops over the queue until cancelled."""
        async with asyncio.TaskGroup() as tg:
            for i in range(self.workers):
                tg.create_task(self._work(), name=f"{self.name}-{i}")

    async def _work(self) -> None:
        while True:
            await self.process_next()

    async def process_next(self) -> None:
        """Take one key, reconcile it, hand it back (``done``) whatever happened."""
        key = await self.queue.get()
        try:
            with structlog.contextvars.bound_contextvars(**self.log_context(key)):
                await self._handle(key)
        finally:
            self.queue.done(key)

    async def _handle(self, key: K) -> None:
        try:
            result = await self.reconcile(key)
        except TerminalError as exc:
            self.queue.forget(key)
            log.error(f"{self.name}_terminal", error=str(exc))
            self._count("terminal")
        except Exception as exc:
            retry_after = exc.retry_after if isinstance(exc, errors.ApiError) else None
            delay = self.queue.add_rate_limited(key, not_before=retry_after or 0.0)
            if isinstance(exc, errors.ApiError):  # expected: the server said no, try later
                log.warning(f"{self.name}_retry", error=str(exc), error_type=type(exc).__name__,
                            retry_in=round(delay, 2), requeues=self.queue.num_requeues(key))
            else:  # a bug or an answer nobody expected: with its traceback
                log.exception(f"{self.name}_failed", retry_in=round(delay, 2),
                              requeues=self.queue.num_requeues(key))
            self._count("error")
        else:
            self.queue.forget(key)
            if result is not None and result.requeue_after > 0:
                self.queue.add_after(key, result.requeue_after)
                self._count("requeue_after")
            else:
                self._count("success")

    def _count(self, result: str) -> None:
        self.results[result] += 1
        self.on_result(self.name, result)
