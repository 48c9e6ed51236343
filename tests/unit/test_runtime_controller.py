"""The reconcile loop (:mod:`gwwatch.runtime.controller`) and its two instances, the status
writer and the Event writer: no server, real event loop, a fake API.

In scope: a reconcile's result or exception becomes forget / add_after / add_rate_limited, each
counted; a TerminalError forgets; no key is reconciled twice at once; a key re-added while it
is reconciled comes back after; a failed status write is retried with the queue's backoff,
never before Retry-After; a 422 is terminal; a deferred restore comes back when it may run; a
failed Event is counted and not retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import pytest

from gwwatch.engine import Diff, ObjectRef
from gwwatch.runtime import errors, events
from gwwatch.runtime.controller import Controller, Result, TerminalError
from gwwatch.runtime.queue import ExponentialRateLimiter, KeyQueue
from gwwatch.runtime.status import Outcome, StatusController, StatusWriter
from tests.unit.runtime_fakes import FakeKube
from tests.unit.test_runtime_status import (
    ME,
    OFFENDER,
    ROUTES,
    Results,
    Server,
    View,
    implementation_entry,
    incident,
)

Reconcile = Callable[[str], Awaitable[Result | None]]


def queue() -> KeyQueue[str]:
    return KeyQueue("test", limiter=ExponentialRateLimiter(base=10.0, cap=100.0))


@contextlib.asynccontextmanager
async def running(controller: Controller[Any]) -> AsyncIterator[None]:
    task = asyncio.create_task(controller.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class TestReconcileHandler:
    async def test_success_forgets_the_keys_failures(self) -> None:
        q = queue()
        q.limiter.when("a")  # it failed before
        c = Controller(q, lambda key: _none())
        q.add("a")
        await c.process_next()
        assert q.num_requeues("a") == 0 and c.results["success"] == 1
        assert len(q) == 0 and q.scheduled == 0 and not q.processing

    async def test_requeue_after_forgets_then_adds_after(self) -> None:
        q = queue()
        q.limiter.when("a")

        async def later(key: str) -> Result:
            return Result(requeue_after=0.01)

        c = Controller(q, later)
        q.add("a")
        await c.process_next()
        assert q.num_requeues("a") == 0 and q.scheduled == 1
        assert c.results["requeue_after"] == 1
        assert await asyncio.wait_for(q.get(), 1) == "a"

    async def test_an_error_requeues_with_the_keys_backoff(self) -> None:
        q = queue()

        async def fail(key: str) -> None:
            raise errors.Transient("connection refused")

        c = Controller(q, fail)
        for expected in (1, 2):
            q.add("a")
            await c.process_next()
            assert q.num_requeues("a") == expected and q.scheduled == 1
            q.clear()
        assert c.results["error"] == 2

    async def test_retry_after_is_respected(self) -> None:
        q = queue()

        async def busy(key: str) -> None:
            raise errors.TooManyRequests("slow down", code=429, retry_after=60.0)

        c = Controller(q, busy)
        q.add("a")
        await c.process_next()
        assert q.scheduled == 1
        assert q._timers["a"].when() - asyncio.get_running_loop().time() > 50

    async def test_unexpected_exceptions_are_retried_too(self) -> None:
        q = queue()

        async def bug(key: str) -> None:
            raise KeyError("a bug")

        c = Controller(q, bug)
        q.add("a")
        await c.process_next()
        assert q.num_requeues("a") == 1 and c.results["error"] == 1

    async def test_terminal_error_forgets_and_never_retries(self) -> None:
        q = queue()
        q.limiter.when("a")

        async def refused(key: str) -> None:
            raise TerminalError("422")

        c = Controller(q, refused)
        q.add("a")
        await c.process_next()
        assert q.num_requeues("a") == 0 and q.scheduled == 0 and len(q) == 0
        assert c.results["terminal"] == 1

    async def test_results_reach_the_observer(self) -> None:
        seen: list[tuple[str, str]] = []
        q: KeyQueue[str] = KeyQueue("named")
        c = Controller(q, lambda key: _none(),
                       on_result=lambda name, result: seen.append((name, result)))
        q.add("a")
        await c.process_next()
        assert seen == [("named", "success")]


class TestWorkers:
    async def test_a_key_is_never_reconciled_twice_at_once_and_comes_back_after(
            self) -> None:
        """Four workers, one key re-added while it is being reconciled: the reconciles never
        overlap, and the re-add is reconciled once more after the first."""
        q: KeyQueue[str] = KeyQueue("test")
        active: set[str] = set()
        calls: list[str] = []
        release = asyncio.Event()

        async def reconcile(key: str) -> None:
            assert key not in active
            active.add(key)
            calls.append(key)
            if len(calls) == 1:
                await release.wait()
            active.discard(key)

        c = Controller(q, reconcile, workers=4)
        async with running(c):
            q.add("a")
            for _ in range(5):
                await asyncio.sleep(0)
            q.add("a")
            q.add("a")
            for _ in range(5):
                await asyncio.sleep(0)
            assert calls == ["a"]  # not handed to another worker meanwhile
            release.set()
            for _ in range(20):
                await asyncio.sleep(0)
        assert calls == ["a", "a"]


async def _none() -> None:
    return None


def status_controller(server: Server, view: View) -> tuple[StatusController, FakeKube, Results]:
    kube = FakeKube(server.handle)
    results = Results()
    writer = StatusWriter(kube, controller=ME, view=view, resource_of=lambda kind: ROUTES,
                          read_cached=lambda ref: copy.deepcopy(server.obj), observer=results)
    return (StatusController(writer, view=view, workers=1,
                             read_cached=lambda ref: server.obj if ref == OFFENDER else None),
            kube, results)


class TestStatusController:
    async def test_conflicts_that_never_end_are_retried_with_backoff(self) -> None:
        server = Server()
        server.conflicts = 100
        sc, _, _ = status_controller(server, View(incident()))
        sc.queue.add(OFFENDER)
        await sc.controller.process_next()
        assert sc.queue.num_requeues(OFFENDER) == 1 and sc.queue.scheduled == 1
        assert sc.controller.results["error"] == 1

    async def test_422_is_terminal(self) -> None:
        server = Server()
        server.reject = True
        sc, kube, results = status_controller(server, View(incident()))
        sc.queue.add(OFFENDER)
        await sc.controller.process_next()
        assert sc.controller.results["terminal"] == 1 and sc.queue.scheduled == 0
        assert kube.count("PUT") == 1 and results.results == ["invalid"]

    async def test_a_deferred_restore_comes_back_when_it_may_run(self) -> None:
        server = Server()
        sc, _, _ = status_controller(server, View(incident()))
        for _ in range(2):  # write, then restore once at once
            sc.queue.add(OFFENDER)
            await sc.controller.process_next()
            server.obj["status"]["parents"] = [implementation_entry()]
            server.bump()
        sc.queue.add(OFFENDER)
        await sc.controller.process_next()
        assert sc.controller.results["requeue_after"] == 1 and sc.queue.scheduled == 1
        assert 1.0 <= sc.writer.retry_in(OFFENDER) <= 1.2

    async def test_routes_with_findings_or_our_entry_are_enqueued(self) -> None:
        server = Server()
        view = View(incident(), findings=[])
        sc, _, _ = status_controller(server, view)
        sc.on_change(Diff((), (), ()), [OFFENDER])
        assert len(sc.queue) == 0  # no finding, no entry of ours: nothing to write
        server.obj["status"]["parents"].append({"controllerName": ME, "parentRef": {}})
        sc.on_change(Diff((), (), ()), [OFFENDER])
        assert len(sc.queue) == 1

    async def test_new_term_forgets_writes_and_looks_at_every_route(self) -> None:
        server = Server()
        sc, _, _ = status_controller(server, View(incident()))
        sc.queue.add(OFFENDER)
        await sc.controller.process_next()
        assert sc.writer.remembered == 1
        sc.start_term([OFFENDER, ObjectRef("HTTPRoute", "x", "clean")])
        assert sc.writer.remembered == 0 and len(sc.queue) == 1


class TestEventController:
    def recorder(self, handler: Callable[..., Mapping[str, Any]]
                 ) -> tuple[events.EventRecorder, list[tuple[str, str]]]:
        seen: list[tuple[str, str]] = []

        class Obs:
            def event(self, event_type: str, result: str) -> None:
                seen.append((event_type, result))

        route = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
                 "metadata": {"name": "r", "namespace": "ns"}}
        return events.EventRecorder(FakeKube(handler), controller=ME, instance="i",
                                    read_cached=lambda ref: route, observer=Obs()), seen

    async def test_a_failed_event_is_counted_and_not_retried(self) -> None:
        def refuse(method: str, path: str, params: Any, body: Any) -> Mapping[str, Any]:
            raise errors.Transient("down")

        recorder, seen = self.recorder(refuse)
        ec = events.EventController(recorder)
        job = events.EventJob(ObjectRef("HTTPRoute", "ns", "r"), "Warning", "X", "m", "i")
        ec.enqueue([job])
        await ec.controller.process_next()
        assert seen == [("Warning", "error")] and ec.queue.scheduled == 0

    async def test_a_crashing_recorder_loses_one_event_not_the_rest(self) -> None:
        recorder, seen = self.recorder(lambda m, p, params, body: body or {})

        async def broken(job: events.EventJob) -> None:
            raise RuntimeError("a bug")

        recorder.record = broken  # type: ignore[method-assign]
        ec = events.EventController(recorder)
        ec.enqueue([events.EventJob(ObjectRef("HTTPRoute", "ns", "r"), "Warning", "X", "m",
                                    "i")])
        await ec.controller.process_next()
        assert seen == [("Warning", "error")] and ec.controller.results["terminal"] == 1
        assert ec.queue.scheduled == 0 and len(ec.queue) == 0

    async def test_the_queue_is_bounded_and_drops_are_counted(self) -> None:
        recorder, seen = self.recorder(lambda m, p, params, body: body or {})
        ec = events.EventController(recorder, limit=2)
        ec.enqueue([events.EventJob(ObjectRef("HTTPRoute", "ns", "r"), "Warning", "X", "m",
                                    str(i)) for i in range(3)])
        assert len(ec.queue) == 2 and seen == [("Warning", "dropped")]

    async def test_events_only_while_leading_and_the_rest_dropped_at_the_end(self) -> None:
        recorder, _ = self.recorder(lambda m, p, params, body: body or {})
        ec = events.EventController(recorder)
        hijack = next(f for f in incident().findings() if f.kind == "Hijack")
        ec.on_change(Diff((hijack,), (), ()))
        assert len(ec.queue) == 0  # not leading
        ec.start_term([hijack])
        assert len(ec.queue) == 2  # both routes told
        ec.end_term()
        assert len(ec.queue) == 0 and not ec.active


@pytest.mark.parametrize("outcome", [Outcome.UPDATED, Outcome.UNCHANGED, Outcome.GONE])
async def test_status_outcomes_other_than_deferred_and_invalid_forget(outcome: str) -> None:
    server = Server()
    sc, _, _ = status_controller(server, View(incident()))

    async def write(route: ObjectRef) -> str:
        return outcome

    sc.writer.write_status = write  # type: ignore[method-assign]
    sc.queue.limiter.when(OFFENDER)
    sc.queue.add(OFFENDER)
    await sc.controller.process_next()
    assert sc.queue.num_requeues(OFFENDER) == 0 and sc.controller.results["success"] == 1
