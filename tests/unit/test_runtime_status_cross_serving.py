"""The status writer says why a route was rejected for cross serving, on the parentRef the
engine refused (grpcroute_types.go, v1.6.1: "The rejected Route MUST raise an 'Accepted'
condition with a status of 'False' in the corresponding RouteParentStatus": gwwatch's own
conditions go beside it, on the same parentRef, naming the route that caused it)."""

from __future__ import annotations

from gwwatch.engine import Reason
from gwwatch.runtime.status import HOSTNAME_CONFLICT, TRAFFIC_HIJACKED, wanted_entries
from tests.unit import builders as b


def test_the_rejected_route_gets_its_condition() -> None:
    graph = b.scan(b.gateway(),
                   b.grpc_route("rpc", "team-b", hostnames=["api.example.com"],
                                created=b.ts(1)),
                   b.http_route("web", "team-a", hostnames=["api.example.com"],
                                created=b.ts(2)))
    web = b.route_ref("web", "team-a")
    parents = graph.parents_of(web)
    assert not parents[0].accepted
    (entry,) = wanted_entries(web, graph.findings_of(web), parents)
    (cond,) = entry.conditions
    assert (cond.type, cond.reason) == (HOSTNAME_CONFLICT, Reason.REJECTED_BY_OTHER_KIND)
    assert "GRPCRoute team-b/rpc" in cond.message


def test_the_owner_rejected_by_a_hijack_is_told() -> None:
    graph = b.scan(b.namespace("team-a", hostnames="api.example.com"), b.gateway(),
                   b.grpc_route("rpc", "team-b", hostnames=["api.example.com"],
                                created=b.ts(1)),
                   b.http_route("web", "team-a", hostnames=["api.example.com"],
                                created=b.ts(2)))
    web = b.route_ref("web", "team-a")
    (entry,) = wanted_entries(web, graph.findings_of(web), graph.parents_of(web))
    assert [c.type for c in entry.conditions] == [TRAFFIC_HIJACKED]
