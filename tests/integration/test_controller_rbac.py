"""deploy/base/rbac.yaml is exactly what gwwatch uses: no permission missing, none in excess.

Every in-process controller of the session records its API calls (``RecordingKube``). This
module drives the paths that are otherwise rare — creating the Lease, re-reading a route after
a 409, folding a repeated Event into an existing one, watching the ownership ConfigMap, status
of GRPCRoutes and TLSRoutes — and then audits the journal against the rules:

- every call the controller made is allowed by some rule (RBAC would have said 403 anyway);
- every verb of every rule was used, and every resource of a list/watch rule was listed and
  watched. The status-update rule and the route ``get`` rule count as used when any route kind
  used them: one code path serves all five kinds.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from tests import builders
from tests.controlplane import ControlPlane
from tests.integration.controller_fixtures import (
    GWWATCH_NS,
    JOURNAL,
    RBAC,
    V1,
    Admin,
    Call,
    Hijack,
    Running,
    condition,
    eventually,
)

pytestmark = pytest.mark.integration
GROUP = "gateway.networking.k8s.io"
# One code path serves every route kind: any kind's use counts for these (verb, resource) rules.
_ANY_KIND = {"update", "get"}


@dataclass(frozen=True)
class Request:
    verb: str
    group: str
    resource: str  # "httproutes" or "httproutes/status"
    namespace: str
    name: str
    field_selector: str


def classify(call: Call) -> Request | None:
    """The RBAC view of an HTTP call; None for discovery (non-resource URLs)."""
    parts = call.path.strip("/").split("/")
    if parts[0] == "api":
        group, rest = "", parts[2:]
    elif parts[0] == "apis" and len(parts) >= 3:
        group, rest = parts[1], parts[3:]
    else:
        return None
    if not rest:
        return None
    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    resource, name, sub = [*rest, "", ""][:3]
    verb = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(
        call.method, "")
    if call.method == "GET":
        verb = "watch" if call.params.get("watch") == "true" else ("get" if name else "list")
    return Request(verb, group, f"{resource}/{sub}" if sub else resource, namespace, name,
                   call.params.get("fieldSelector", ""))


@dataclass(frozen=True)
class Rule:
    namespace: str | None  # None: ClusterRole (everywhere)
    groups: frozenset[str]
    resources: frozenset[str]
    verbs: frozenset[str]
    names: frozenset[str]

    def allows(self, r: Request) -> bool:
        if self.namespace is not None and r.namespace != self.namespace:
            return False
        if r.group not in self.groups or r.resource not in self.resources:
            return False
        if r.verb not in self.verbs:
            return False
        if not self.names:
            return True
        name = r.name or (r.field_selector.removeprefix("metadata.name=")
                          if r.field_selector.startswith("metadata.name=") else "")
        return name in self.names


def rules() -> list[Rule]:
    out = []
    for doc in yaml.safe_load_all(RBAC.read_text()):
        if doc and doc["kind"] in ("ClusterRole", "Role"):
            ns = doc["metadata"]["namespace"] if doc["kind"] == "Role" else None
            for r in doc["rules"]:
                out.append(Rule(ns, frozenset(r["apiGroups"]), frozenset(r["resources"]),
                                frozenset(r["verbs"]), frozenset(r.get("resourceNames", ()))))
    return out


# A request answered this soon after a restarted apiserver reported ready may still have been
# judged before its RBAC caches were synced.
_RESTART_GRACE = 2.0


def audit(journal: Iterable[Call], restarts: Iterable[tuple[float, float]] = ()) -> list[str]:
    """Problems with the calls in ``journal``; 403s while an apiserver restarted don't count
    (it answers before its RBAC caches are synced — the controller retries those)."""
    problems = []
    windows = list(restarts)
    requests = [r for c in journal if c.status != "Forbidden" and (r := classify(c))]
    forbidden = [c for c in journal if c.status == "Forbidden" and not any(
        start <= c.at <= ready + _RESTART_GRACE for start, ready in windows)]
    if forbidden:
        problems.append(f"403 from the API server: {forbidden[:5]}")
    rs = rules()
    for req in set(requests):
        if not any(rule.allows(req) for rule in rs):
            problems.append(f"not granted by rbac.yaml: {req}")
    for rule in rs:
        for verb in sorted(rule.verbs):
            used = {req.resource for req in requests if req.verb == verb and rule.allows(req)}
            if verb in _ANY_KIND and used:
                continue
            for resource in sorted(rule.resources - used):
                problems.append(f"granted but never used: {verb} {resource} "
                                f"(in {rule.namespace or 'cluster'})")
    return problems


def grpc_route(name: str, gw_ns: str, hostname: str, service: str | None) -> dict[str, Any]:
    return builders.grpc_route(
        name, None, parents=[builders.parent("kinds", gw_ns, section="http")],
        hostnames=[hostname], matches=[builders.grpc_match(service)] if service else None)


def tls_route(name: str, gw_ns: str, hostname: str) -> dict[str, Any]:
    return builders.l4_route("TLSRoute", name, None, hostnames=[hostname],
                             parents=[builders.parent("kinds", gw_ns, section="tls")])


def kinds_gateway(domain: str) -> dict[str, Any]:
    return builders.gateway("kinds", None, listeners=[
        builders.listener("http", hostname=f"*.{domain}"),
        builders.listener("tls", port=443, protocol="TLS", hostname=f"*.{domain}",
                          tls={"mode": "Passthrough"})])


async def test_rbac_is_exactly_what_gwwatch_uses(
    admin: Admin, hijack: Hijack, tenants: Callable[..., str],
    start_controller: Callable[..., Awaitable[Running]], control_plane: ControlPlane,
) -> None:
    """Drive the rare paths, then audit every call of the session against rbac.yaml."""
    lease = f"/apis/coordination.k8s.io/v1/namespaces/{GWWATCH_NS}/leases/gwwatch"
    await admin.delete(lease)  # so the Lease is created, not just renewed
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": "gwwatch-ownership", "namespace": GWWATCH_NS},
          "data": {"ownership.yaml": "nobody-here: [unused.invalid]\n"}}
    cm_path = f"/api/v1/namespaces/{GWWATCH_NS}/configmaps/gwwatch-ownership"
    made_cm = await admin.get(cm_path) is None
    if made_cm:
        await admin.create(cm)
    try:
        await _drive(admin, hijack, tenants, start_controller)
    finally:
        if made_cm:  # the deploy tests apply their own, server-side
            await admin.delete(cm_path)
    problems = audit(JOURNAL, control_plane.restarts)
    assert not problems, "\n".join(problems)


async def _drive(admin: Admin, hijack: Hijack, tenants: Callable[..., str],
                 start_controller: Callable[..., Awaitable[Running]]) -> None:
    first = await start_controller(ownership_configmap="gwwatch-ownership")
    thief_status = (f"{V1}/namespaces/{hijack.thief_ns}/httproutes/{hijack.thief}/status")
    provoked = False

    async def conflict_once(method: str, path: str) -> None:
        """Before our first status write on the thief, someone else writes the route."""
        nonlocal provoked
        if method == "PUT" and path == thief_status and not provoked:
            provoked = True
            await admin.modify(path.removesuffix("/status"), lambda o: o["metadata"].setdefault(
                "annotations", {}).update({"touched": "by-someone-else"}))

    first.kube.before = conflict_once
    await hijack.create_owner(admin)
    await hijack.create_thief(admin)

    domain = f"k-{secrets.token_hex(3)}.example.test"
    gw_ns, a, b = tenants("kinds"), tenants("kinds-a"), tenants("kinds-b")
    await admin.create(kinds_gateway(domain), gw_ns)
    await admin.create(grpc_route("g-owner", gw_ns, f"grpc.{domain}", None), a)
    await admin.create(tls_route("t-owner", gw_ns, f"*.{domain}"), a)
    await admin.create(grpc_route("g-thief", gw_ns, f"grpc.{domain}", "pay.Billing"), b)
    await admin.create(tls_route("t-thief", gw_ns, f"tls.{domain}"), b)

    async def all_flagged() -> None:
        for ns, plural, name in ((hijack.thief_ns, "httproutes", hijack.thief),
                                 (b, "grpcroutes", "g-thief"), (b, "tlsroutes", "t-thief")):
            route = await admin.get(f"{V1}/namespaces/{ns}/{plural}/{name}")
            assert route is not None
            assert condition(route, "gwwatch.io/HostnameConflict") is not None, (plural, name)

    await eventually(all_flagged, timeout=15, what="HTTP, gRPC and TLS hijacks reported")
    assert provoked
    conflicts = [c for c in JOURNAL if c.path == thief_status and c.status == "Conflict"]
    assert conflicts, "the injected write should have made ours conflict"
    await first.stop()  # releases the Lease (update)

    second = await start_controller(ownership_configmap="gwwatch-ownership")

    async def folded() -> None:  # a new process tells the same finding: count goes to 2
        evs = [e for e in await admin.events(hijack.thief_ns) if e["reason"] == "HijacksTraffic"]
        assert len(evs) == 1 and evs[0]["count"] == 2, evs

    await eventually(folded, what="repeated Event folded into the first")
    await second.stop()
