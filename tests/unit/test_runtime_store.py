"""The informer cache keeps only what gwwatch reads (issue 11: 100k routes within the shipped
limits). The engine must see the same object trimmed or not, and the status writer everything
it writes back."""

from __future__ import annotations

import copy
from typing import Any

from gwwatch.engine import ObjectRef, parse
from gwwatch.engine.model import NamespaceInfo
from gwwatch.runtime.store import Store, trim
from tests import builders as b

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def heavy(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` as the API server returns it after a kubectl apply and an implementation's
    status write."""
    out = copy.deepcopy(obj)
    meta = out["metadata"]
    meta.update(uid="u-1", resourceVersion="42", generation=3,
                creationTimestamp="2026-01-01T00:00:00Z",
                managedFields=[{"manager": "kubectl", "operation": "Apply",
                                "fieldsV1": {"f:spec": {"f:rules": {}}}}] * 5,
                ownerReferences=[{"kind": "X", "name": "y"}], finalizers=["a/b"])
    meta["annotations"] = {LAST_APPLIED: "{" + "x" * 5000 + "}",
                           "gwwatch.io/hostnames": "api.example.com",
                           "other.example/note": "hello"}
    out["status"] = {"parents": [{"controllerName": "example.net/gw", "parentRef": {"name": "g"},
                                  "conditions": []}],
                     "somethingElse": {"big": "z" * 1000}}
    return out


def test_trim_drops_what_nobody_reads_and_keeps_what_is_read() -> None:
    obj = heavy(b.http_route("api", "team-a", hostnames=["api.example.com"]))
    small = trim(obj)
    meta = small["metadata"]
    assert "managedFields" not in meta and "ownerReferences" not in meta
    assert "finalizers" not in meta
    assert meta["annotations"] == {"gwwatch.io/hostnames": "api.example.com"}
    assert {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "generation",
                                 "creationTimestamp")} == {
        "name": "api", "namespace": "team-a", "uid": "u-1", "resourceVersion": "42",
        "generation": 3, "creationTimestamp": "2026-01-01T00:00:00Z"}
    assert small["status"] == {"parents": obj["status"]["parents"]}
    assert small["spec"] == obj["spec"]
    assert len(repr(small)) < len(repr(obj)) / 4


def test_the_engine_reads_a_trimmed_object_as_the_whole_one() -> None:
    for obj in (b.http_route("api", "team-a", hostnames=["api.example.com"]),
                b.gateway(listeners=[b.listener("http", port=80, protocol="HTTP")]),
                b.namespace("team-a", labels={"capsule.clastix.io/tenant": "t"})):
        full = heavy(obj)
        full["metadata"].pop("annotations")  # a Namespace keeps its gwwatch.io/* ones below
        assert parse(trim(full), source="x") == parse(full, source="x")
    ns = heavy(b.namespace("team-a"))
    parsed = parse(trim(ns), source="x")
    assert isinstance(parsed, NamespaceInfo)
    assert parsed.annotations == {"gwwatch.io/hostnames": "api.example.com"}


def test_namespace_phase_and_deletion_stay_for_the_terminating_check() -> None:
    ns = b.namespace("gone")
    ns["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    ns["status"] = {"phase": "Terminating"}
    small = trim(ns)
    assert small["status"] == {"phase": "Terminating"}
    assert small["metadata"]["deletionTimestamp"] == "2026-01-01T00:00:00Z"


def test_the_store_keeps_trimmed_objects() -> None:
    store = Store("HTTPRoute")
    obj = heavy(b.http_route("api", "team-a"))
    key = store.upsert(obj)
    assert key is not None
    kept = store.get(key)
    assert kept is not None and "managedFields" not in kept["metadata"]
    store.replace([obj])
    kept = store.get(key)
    assert kept is not None and "managedFields" not in kept["metadata"]
    assert "somethingElse" not in kept["status"]


def test_the_store_keeps_objects_compact_and_hands_out_copies() -> None:
    store = Store("HTTPRoute")
    obj = heavy(b.http_route("api", "team-a", hostnames=["api.example.com"]))
    key = store.upsert(obj)
    assert key is not None
    first = store.get(key)
    assert first == trim(obj)
    assert first is not None
    first["spec"]["hostnames"] = ["changed"]  # a reader's change stays its own
    assert store.get(key) == trim(obj)
    assert store.upsert(obj) is None  # same resourceVersion: nothing changed


def test_mentions_says_certainly_not_without_decoding() -> None:
    store = Store("HTTPRoute")
    obj = heavy(b.http_route("api", "team-a"))
    key = store.upsert(obj)
    assert key is not None
    assert store.mentions(key, "example.net/gw")  # the implementation's entry
    assert not store.mentions(key, "gwwatch.io/conflict-watcher")
    assert not store.mentions(ObjectRef("HTTPRoute", "team-a", "missing"), "example.net/gw")
