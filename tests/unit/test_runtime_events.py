"""Events on routes (:mod:`gwwatch.runtime.events`) as the app wires them, over a fake API."""

from __future__ import annotations

import re
from typing import Any

from gwwatch.engine import ObjectRef
from gwwatch.runtime import events
from gwwatch.runtime.app import App
from gwwatch.runtime.store import Store
from gwwatch.settings import Settings
from tests.unit.runtime_fakes import FakeKube

ROUTE = ObjectRef("HTTPRoute", "going", "r")


def route_obj() -> dict[str, Any]:
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": "r", "namespace": "going", "resourceVersion": "1"}}


def namespace_obj(terminating: bool) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "going", "resourceVersion": "1"}
    if terminating:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta,
            "status": {"phase": "Terminating" if terminating else "Active"}}


def app_with(terminating: bool) -> tuple[App, FakeKube]:
    kube = FakeKube(lambda method, path, params, body: body or {})
    app = App(Settings(leader_election=False, metrics_port=0), kube)
    stores = app.informers.stores
    stores["Namespace"] = Store("Namespace")
    stores["Namespace"].upsert(namespace_obj(terminating))
    stores["HTTPRoute"] = Store("HTTPRoute")
    stores["HTTPRoute"].upsert(route_obj())
    return app, kube


async def test_no_event_is_posted_into_a_terminating_namespace() -> None:
    """The server refuses it with a 403; there is nobody left to read it anyway."""
    job = events.EventJob(ROUTE, "Normal", "HijacksTrafficResolved", "m", "id")
    app, kube = app_with(terminating=True)
    await app.events.recorder.record(job)
    assert kube.count("POST") == 0

    app, kube = app_with(terminating=False)
    await app.events.recorder.record(job)
    assert kube.count("POST") == 1


def test_event_names_cut_from_long_route_names_stay_valid() -> None:
    """A route name cut at 200 characters must not leave "-." or ".." in the Event's name."""
    dns_subdomain = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
    for name in ("a" * 199 + "-" + "b" * 50, "a" * 198 + "-.-" + "b" * 50,
                 "a" * 199 + "." + "b" * 50, "r" * 253):
        job = events.EventJob(ObjectRef("HTTPRoute", "ns", name), "Warning", "X", "m", "id")
        ev = events.event_name(job)
        assert dns_subdomain.match(ev), ev
        assert len(ev) <= 253
