"""The reflector, one pass at a time, over scripted list/watch streams (no server).

In scope: the list → replace → watch sequence, resourceVersion bookkeeping (list, events,
bookmarks), 410 Gone in both forms, which failures re-list and which only re-watch, backoff,
and the store's synthesised deletes. Names follow client-go's ``reflector_test.go``.
"""

from __future__ import annotations

import asyncio

import pytest

from gwwatch.engine import ObjectRef
from gwwatch.runtime import errors
from gwwatch.runtime.backoff import Backoff
from gwwatch.runtime.reflector import ListPage, Reflector, WatchTiming
from gwwatch.runtime.store import Store
from tests.unit.runtime_fakes import (
    Exhausted,
    FakeClock,
    FakeListWatch,
    bookmark,
    error_event,
    event,
    obj,
)

A1, B1 = obj("a", "10"), obj("b", "11")
STREAM_WITH_ERROR_410GONE = [event("MODIFIED", obj("a", "20")), error_event(410)]
STREAM_WITH_BOOKMARK_THEN_410 = [bookmark("150"), error_event(410)]


def ref(name: str) -> ObjectRef:
    return ObjectRef("HTTPRoute", "ns", name)


class Harness:
    def __init__(self, lw: FakeListWatch, *, store: Store | None = None) -> None:
        self.clock = FakeClock()
        self.changed: list[ObjectRef] = []
        self.store = store or Store("HTTPRoute")
        self.restarts: list[str] = []
        harness = self

        class Observer:
            def watch_event(self, kind: str, event_type: str) -> None:
                pass

            def watch_restart(self, kind: str, reason: str) -> None:
                harness.restarts.append(reason)

            def relisted(self, kind: str, when: float) -> None:
                pass

        self.reflector = Reflector(
            "HTTPRoute", lw, self.store, self.changed.append,
            timing=WatchTiming(backoff=lambda: Backoff(clock=self.clock, rand=lambda: 0.0)),
            observer=Observer(), clock=self.clock, sleep=self.clock.sleep, rand=lambda: 0.5)


class TestListAndWatch:
    async def test_watch_starts_from_the_lists_resource_version(self) -> None:
        """The watch resumes exactly where the list's snapshot ends, with bookmarks and a
        server-side timeout in [5, 10) minutes under a longer client read timeout."""
        lw = FakeListWatch(pages=[ListPage([A1, B1], "100", "")],
                           scripts=[STREAM_WITH_ERROR_410GONE])
        h = Harness(lw)
        await h.reflector.list_and_watch()
        assert lw.list_calls == [{"limit": "500"}]  # the first list is a consistent read
        (params,) = lw.watch_calls
        assert params["resourceVersion"] == "100"
        assert params["allowWatchBookmarks"] == "true"
        assert 300 <= int(params["timeoutSeconds"]) < 600
        assert lw.read_timeouts[0] > int(params["timeoutSeconds"])
        assert h.changed == [ref("a"), ref("b"), ref("a")]
        assert h.reflector.synced.is_set()

    async def test_paginated_list_follows_continue_and_keeps_the_snapshot(self) -> None:
        """Pages are followed with ``continue``; the objects of every page land in one
        replace."""
        lw = FakeListWatch(pages=[ListPage([A1], "100", "tok"), ListPage([B1], "100", "")],
                           scripts=[[error_event(410)]])
        h = Harness(lw)
        await h.reflector.list_and_watch()
        assert lw.list_calls[1] == {"limit": "500", "continue": "tok"}
        assert sorted(h.store) == [ref("a"), ref("b")]
        assert lw.watch_calls[0]["resourceVersion"] == "100"

    async def test_full_relist_if_expired_synthesises_deletes(self) -> None:
        """After 410 the next pass lists again; objects the new list lacks become deletes and
        unchanged objects are not reported."""
        lw = FakeListWatch(pages=[ListPage([A1, B1], "100", ""), ListPage([B1], "300", "")],
                           scripts=[STREAM_WITH_ERROR_410GONE, [error_event(410)]])
        h = Harness(lw)
        await h.reflector.list_and_watch()
        h.changed.clear()
        await h.reflector.list_and_watch()
        assert h.changed == [ref("a")]  # deleted while we were not watching
        assert h.store.get(ref("a")) is None
        assert lw.watch_calls[-1]["resourceVersion"] == "300"

    async def test_relist_after_watch_expiry_reads_not_older_than_last_sync(self) -> None:
        """client-go's relistResourceVersion: after a watch expired, list at the last synced
        version (served from the watch cache)."""
        lw = FakeListWatch(pages=[ListPage([A1], "100", ""), ListPage([A1], "200", "")],
                           scripts=[[error_event(410)], [error_event(410)]])
        h = Harness(lw)
        await h.reflector.list_and_watch()
        await h.reflector.list_and_watch()
        assert lw.list_calls[1] == {"limit": "500", "resourceVersion": "100",
                                    "resourceVersionMatch": "NotOlderThan"}

    async def test_relist_reads_not_older_than_the_last_version_the_watch_saw(self) -> None:
        """client-go sets lastSyncResourceVersion from every watch event and bookmark: a
        re-list after the watch moved to 500 must not read an older snapshot (at 100)."""
        lw = FakeListWatch(pages=[ListPage([A1], "100", ""), ListPage([A1], "600", ""),
                                  ListPage([A1], "700", "")],
                           scripts=[[event("ADDED", obj("b", "500")), error_event(410)],
                                    [bookmark("650"), error_event(410)]])
        h = Harness(lw)
        await h.reflector.list_and_watch()
        await h.reflector.list_and_watch()
        await h.reflector.list_once()
        assert [c.get("resourceVersion") for c in lw.list_calls] == [None, "500", "650"]

    async def test_list_too_large_resource_version_falls_back_to_a_consistent_list(
            self) -> None:
        """A lagging apiserver (HA, behind etcd) answers 504 "Too large resource version":
        read the latest instead of failing the list for ever."""
        too_large = errors.from_status({
            "kind": "Status", "code": 504, "reason": "Timeout",
            "message": "Too large resource version: 900, current: 800",
            "details": {"causes": [{"reason": "ResourceVersionTooLarge",
                                    "message": "Too large resource version"}]}})
        lw = FakeListWatch(pages=[ListPage([A1], "900", ""), too_large,
                                  ListPage([B1], "800", "")],
                           scripts=[[error_event(410)]])
        h = Harness(lw)
        await h.reflector.list_and_watch()
        await h.reflector.list_once()
        assert lw.list_calls[1]["resourceVersion"] == "900"
        assert lw.list_calls[2] == {"limit": "500"}
        assert sorted(h.store) == [ref("b")]
        assert h.reflector.resource_version == "800"

    async def test_list_expired_falls_back_to_a_consistent_list(self) -> None:
        """When even the list at the last synced version is too old, list the latest ("")."""
        lw = FakeListWatch(
            pages=[ListPage([A1], "100", ""), errors.Expired("gone", code=410),
                   ListPage([B1], "500", "")],
            scripts=[[error_event(410)], [error_event(410)]])
        h = Harness(lw)
        await h.reflector.list_and_watch()
        await h.reflector.list_and_watch()
        assert lw.list_calls[2] == {"limit": "500"}
        assert sorted(h.store) == [ref("b")]

    async def test_http_410_on_watch_request_ends_the_pass(self) -> None:
        """410 as the watch request's HTTP status is the same as an ERROR event."""
        lw = FakeListWatch(pages=[ListPage([A1], "100", "")],
                           scripts=[errors.Expired("too old", code=410)])
        h = Harness(lw)
        await h.reflector.list_and_watch()
        assert h.restarts == ["Expired"]

    async def test_bookmarks_only_move_the_resource_version(self) -> None:
        """A bookmark changes no object and reports no key; the next watch starts there."""
        lw = FakeListWatch(pages=[ListPage([A1], "100", "")],
                           scripts=[[bookmark("150")], STREAM_WITH_BOOKMARK_THEN_410])
        h = Harness(lw)
        await h.reflector.list_and_watch()
        assert h.changed == [ref("a")]
        assert [c["resourceVersion"] for c in lw.watch_calls] == ["100", "150"]

    async def test_watch_events_update_store_and_resume_point(self) -> None:
        """ADDED/MODIFIED/DELETED reach the store; a re-delivered version reports nothing."""
        lw = FakeListWatch(pages=[ListPage([A1], "100", "")], scripts=[[
            event("ADDED", obj("c", "101")), event("MODIFIED", obj("c", "101")),
            event("DELETED", obj("a", "102")), error_event(410)]])
        h = Harness(lw)
        await h.reflector.list_and_watch()
        assert h.changed == [ref("a"), ref("c"), ref("a")]
        assert sorted(h.store) == [ref("c")]
        assert h.reflector.resource_version == "102"

    @pytest.mark.parametrize("failure", [
        pytest.param(errors.TooManyRequests("slow down", code=429, retry_after=3.0), id="429"),
        pytest.param(errors.Transient("connection refused"), id="connection-refused"),
    ])
    async def test_no_relist_on_too_many_requests_or_connection_refused(
            self, failure: errors.ApiError) -> None:
        """Back off and watch again from the same resourceVersion, without listing."""
        lw = FakeListWatch(pages=[ListPage([A1], "100", "")],
                           scripts=[failure, [event("MODIFIED", obj("a", "120")),
                                              error_event(410)]])
        h = Harness(lw)
        await h.reflector.list_and_watch()
        assert len(lw.list_calls) == 1
        assert [c["resourceVersion"] for c in lw.watch_calls] == ["100", "100"]
        assert h.clock.sleeps and h.clock.sleeps[0] >= (failure.retry_after or 0.8)

    async def test_stream_cut_mid_watch_resumes_from_last_event(self) -> None:
        """A connection reset after some events resumes from the last version seen."""
        lw = FakeListWatch(pages=[ListPage([A1], "100", "")], scripts=[
            [event("MODIFIED", obj("a", "130")), errors.Transient("reset by peer")],
            [error_event(410)]])
        h = Harness(lw)
        await h.reflector.list_and_watch()
        assert [c["resourceVersion"] for c in lw.watch_calls] == ["100", "130"]

    async def test_watch_ended_by_server_is_resumed_without_backoff(self) -> None:
        """The server's timeoutSeconds ends a healthy watch: watch again at once."""
        lw = FakeListWatch(pages=[ListPage([A1], "100", "")], scripts=[
            [event("MODIFIED", obj("a", "110"))], [error_event(410)]])
        h = Harness(lw)
        await h.reflector.list_and_watch()
        assert h.clock.sleeps == []
        assert [c["resourceVersion"] for c in lw.watch_calls] == ["100", "110"]

    async def test_watch_closing_at_once_without_events_backs_off(self) -> None:
        """A server that closes every watch immediately cannot make us spin."""
        lw = FakeListWatch(pages=[ListPage([A1], "100", "")], scripts=[[], [], [error_event(410)]])
        h = Harness(lw)
        await h.reflector.list_and_watch()
        assert len(h.clock.sleeps) == 2
        assert h.clock.sleeps[1] > h.clock.sleeps[0]  # exponential

    async def test_non_retriable_watch_error_ends_the_pass_with_it(self) -> None:
        """403 (and other non-retriable errors) propagate: the outer loop backs off and
        lists again."""
        lw = FakeListWatch(pages=[ListPage([A1], "100", "")],
                           scripts=[errors.Forbidden("no", code=403)])
        h = Harness(lw)
        with pytest.raises(errors.Forbidden):
            await h.reflector.list_and_watch()

    async def test_in_stream_error_other_than_410_is_an_api_error(self) -> None:
        """An ERROR event with code 500 is retried as transient (same resourceVersion)."""
        lw = FakeListWatch(pages=[ListPage([A1], "100", "")],
                           scripts=[[error_event(500, "InternalError")], [error_event(410)]])
        h = Harness(lw)
        await h.reflector.list_and_watch()
        assert [c["resourceVersion"] for c in lw.watch_calls] == ["100", "100"]

    async def test_stalled_watch_is_abandoned_after_its_timeout(self) -> None:
        """A connection that stays open but silent past timeoutSeconds + grace is given up
        (the client-side timeout), and the watch starts again from the same version."""

        class SilentListWatch(FakeListWatch):
            def watch(self, params, *, read_timeout):  # type: ignore[no-untyped-def]
                if len(self.watch_calls) >= 1:
                    return super().watch(params, read_timeout=read_timeout)
                self.watch_calls.append(dict(params))

                class Hang:
                    async def __aenter__(self):  # type: ignore[no-untyped-def]
                        await asyncio.sleep(3600)

                    async def __aexit__(self, *exc):  # type: ignore[no-untyped-def]
                        return False

                return Hang()

        lw = SilentListWatch(pages=[ListPage([A1], "100", "")], scripts=[[error_event(410)]])
        h = Harness(lw)
        h.reflector.timing = WatchTiming(min_timeout=0.01, max_timeout=0.02, grace=0.01)
        await asyncio.wait_for(h.reflector.list_and_watch(), 5)
        assert [c["resourceVersion"] for c in lw.watch_calls] == ["100", "100"]


class TestRun:
    async def test_run_backs_off_after_failed_lists_and_recovers(self) -> None:
        """The endless loop: failed lists back off 800 ms, then 1.6 s; after a 410 it lists
        again (the fake ends the loop when it runs out of watch scripts)."""
        lw = FakeListWatch(pages=[errors.Transient("refused"), errors.Transient("refused"),
                                  ListPage([A1], "100", ""), ListPage([A1], "100", "")],
                           scripts=[[error_event(410)]])
        h = Harness(lw)
        with pytest.raises(Exhausted):
            await h.reflector.run()
        assert h.clock.sleeps[:2] == [0.8, 1.6]
        assert h.reflector.lists == 2
        assert h.restarts[:2] == ["Transient", "Transient"]

    async def test_run_backs_off_between_passes_even_after_a_slow_list(self) -> None:
        """client-go's BackoffUntil: a watch that expires right after a 2 s list must not turn
        into a tight list loop; the backoff doubles while passes keep ending."""

        class SlowList(FakeListWatch):
            async def list(self, params):  # type: ignore[no-untyped-def]
                h.clock.now += 2.0  # a big list
                return await super().list(params)

        lw = SlowList(pages=[ListPage([A1], "100", "") for _ in range(4)],
                      scripts=[[error_event(410)] for _ in range(3)])
        h = Harness(lw)
        with pytest.raises(Exhausted):
            await h.reflector.run()
        assert len(lw.list_calls) == 4
        assert h.clock.sleeps == [0.8, 1.6, 3.2]

    async def test_run_backoff_forgets_after_two_healthy_minutes(self) -> None:
        class LongWatch(FakeListWatch):
            async def list(self, params):  # type: ignore[no-untyped-def]
                h.clock.now += 200.0  # stands for a watch that ran for minutes
                return await super().list(params)

        lw = LongWatch(pages=[ListPage([A1], "100", "") for _ in range(3)],
                       scripts=[[error_event(410)] for _ in range(2)])
        h = Harness(lw)
        with pytest.raises(Exhausted):
            await h.reflector.run()
        assert h.clock.sleeps == [0.8, 0.8]

    async def test_run_survives_exhausted_fake_as_error(self) -> None:
        """Anything that is not an ApiError propagates out of run() (the app restarts it)."""
        lw = FakeListWatch(pages=[ListPage([A1], "100", "")], scripts=[])
        h = Harness(lw)
        with pytest.raises(Exhausted):
            await h.reflector.run()


class TestStore:
    def test_replace_synthesises_deletes_and_skips_unchanged(self) -> None:
        """replace() reports deleted keys and changed ones, not those at the same version."""
        store = Store("HTTPRoute")
        store.replace([A1, B1])
        assert store.replace([obj("b", "11"), obj("c", "12")]) == [ref("a"), ref("c")]

    def test_upsert_same_version_reports_nothing(self) -> None:
        store = Store("HTTPRoute")
        assert store.upsert(A1) == ref("a")
        assert store.upsert(obj("a", "10")) is None
        assert store.upsert(obj("a", "11")) == ref("a")

    def test_cluster_scoped_keys_have_no_namespace(self) -> None:
        store = Store("Namespace")
        key = store.upsert({"apiVersion": "v1", "kind": "Namespace",
                            "metadata": {"name": "team-a", "resourceVersion": "1"}})
        assert key == ObjectRef("Namespace", "", "team-a")


class TestBackoff:
    def test_doubles_to_the_cap_and_resets_after_a_healthy_spell(self) -> None:
        """800 ms → 30 s; after two quiet minutes, 800 ms again (client-go's manager)."""
        clock = FakeClock()
        b = Backoff(clock=clock, rand=lambda: 0.0)
        assert [b.next() for _ in range(7)] == [0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0]
        clock.now += 121
        assert b.next() == 0.8

    def test_jitter_adds_up_to_the_delay_itself(self) -> None:
        b = Backoff(rand=lambda: 1.0)
        assert b.next() == pytest.approx(1.6)
