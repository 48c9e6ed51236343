"""Supervising long-running tasks: the one concurrency style of the runtime.

Every long-running task is a child of an :class:`asyncio.TaskGroup` (controller-runtime's
runnable groups, kopf's guarded tasks): leaving the group cancels and awaits them all, so no
task is created bare and nothing cancels by hand on shutdown. Two helpers:

- :func:`keep_running` restarts an endless loop that crashed (a bug, an answer nobody
  expected) after a backoff, instead of letting it end its TaskGroup — which would end the
  process;
- :func:`until_first_returns` runs several coroutines and cancels the rest when one returns
  (the leader's work and its renewals).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

from gwwatch.runtime.backoff import Backoff

__all__ = ["crash_backoff", "keep_running", "until_first_returns"]

log = structlog.get_logger("gwwatch.tasks")


def crash_backoff() -> Backoff:
    """Between restarts of a task that crashed: 1 s, doubling to 30 s."""
    return Backoff(initial=1.0, maximum=30.0)


async def keep_running(name: str, run: Callable[[], Awaitable[None]], *,
                       backoff: Callable[[], Backoff] = crash_backoff) -> None:
    """Run ``run()`` for ever: whatever escapes it is logged and it starts again after a
    backoff. Only cancellation ends it."""
    delays = backoff()
    while True:
        try:
            await run()
            log.error("task_returned", task=name)  # these loops are endless
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("task_crashed", task=name)
        await asyncio.sleep(delays.next())


class _Returned(Exception):
    """One coroutine of :func:`until_first_returns` returned: end the group."""


async def until_first_returns(*coros: Awaitable[None]) -> None:
    """Run ``coros`` together until the first returns; the others are cancelled (and awaited).
    An exception from any of them propagates (as itself, not as an ExceptionGroup)."""

    async def guarded(coro: Awaitable[None]) -> None:
        await coro
        raise _Returned

    try:
        async with asyncio.TaskGroup() as tg:
            for coro in coros:
                tg.create_task(guarded(coro))
    except* _Returned:
        pass
    except* Exception as group:
        raise group.exceptions[0] from None
