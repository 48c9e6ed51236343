"""A GatewayClass travels through the controller's store and worker like any watched object.

gatewayclass_types.go (v1.6.1): "SupportedFeatures is the set of features the GatewayClass
support." The implementation writes it through the status subresource, so the store must keep
``status.supportedFeatures`` when it trims objects, and a status-only update of a GatewayClass
must reach the engine (it changes what the engine assumes about listener isolation).
"""

from __future__ import annotations

import copy
from typing import Any

from gwwatch.engine import FindingKind, ObjectRef, Policy, Reason
from gwwatch.runtime.queue import KeyQueue
from gwwatch.runtime.store import Store, trim
from gwwatch.runtime.worker import Change, GraphWorker
from tests import builders as b

CLASS = ObjectRef("GatewayClass", "", "acme")


def _objects() -> list[dict[str, Any]]:
    return [
        b.gateway(listeners=[b.listener("wild", hostname="*.example.com"),
                             b.listener("api", hostname="api.example.com")],
                  gateway_class="acme"),
        b.http_route("owner", "team-a", hostnames=["api.example.com"],
                     parents=[b.parent(section="api")], created=b.ts(1)),
        b.http_route("other", "team-b", hostnames=["api.example.com"],
                     parents=[b.parent(section="wild")],
                     matches=[b.match("/login", type="Exact")], created=b.ts(2)),
    ]


class _World:
    def __init__(self) -> None:
        self.stores: dict[str, Store] = {}
        self.changes: list[Change] = []
        self.worker = GraphWorker(policy=Policy(), stores=self.stores, queue=KeyQueue(),
                                  sinks=[self.changes.append])

    def put(self, obj: dict[str, Any]) -> ObjectRef:
        store = self.stores.setdefault(obj["kind"], Store(obj["kind"]))
        key = store.upsert(obj)
        assert key is not None
        return key


def test_trim_keeps_supported_features_only() -> None:
    obj = b.gateway_class("acme", features=["Gateway"])
    obj["status"]["conditions"] = [{"type": "Accepted", "status": "True"}]
    obj["metadata"]["managedFields"] = [{"manager": "x"}]
    kept = trim(obj)
    assert kept["status"] == {"supportedFeatures": [{"name": "Gateway"}]}
    assert "managedFields" not in kept["metadata"]


def test_a_status_update_of_the_class_reaches_the_engine() -> None:
    w = _World()
    keys = [w.put(o) for o in _objects()]
    cls = b.gateway_class("acme")  # no status yet: listener isolation assumed
    cls["metadata"]["resourceVersion"] = "1"
    keys.append(w.put(cls))
    assert keys[-1] == CLASS
    d = w.worker.process(keys).diff
    assert [f.reason for f in d.added if f.kind == FindingKind.SHADOWED] == [
        Reason.LISTENER_SHADOWED]
    published = copy.deepcopy(cls)  # the implementation reports: no isolation
    published["metadata"]["resourceVersion"] = "2"
    published["status"] = {"supportedFeatures": [{"name": "Gateway"}, {"name": "HTTPRoute"}]}
    d = w.worker.process([w.put(published)]).diff
    assert [(f.kind, f.route) for f in d.added] == [
        (FindingKind.HIJACK, ObjectRef("HTTPRoute", "team-b", "other"))]
    assert [f.reason for f in d.removed] == [Reason.LISTENER_SHADOWED]
