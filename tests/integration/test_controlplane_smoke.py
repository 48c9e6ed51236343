"""Smoke tests of the test control plane itself, through kr8s, against the real server.

They pin down the server behaviour the controller relies on: Gateway API objects, paginated
lists with a consistent snapshot, watches from a resourceVersion, the status subresource and
the CRD's validation of it, RBAC for ServiceAccounts, restarts and 410 Gone.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import aclosing
from pathlib import Path
from typing import Any

import kr8s
import kr8s.asyncio
import pytest
import yaml
from kr8s.asyncio.objects import new_class

from tests import builders as b
from tests.controlplane import ApiError, ControlPlane

pytestmark = pytest.mark.integration

GROUP_VERSION = "gateway.networking.k8s.io/v1"
Gateway = new_class("Gateway", version=GROUP_VERSION, namespaced=True, plural="gateways")
HTTPRoute = new_class("HTTPRoute", version=GROUP_VERSION, namespaced=True, plural="httproutes")

CONTROLLER = "gwwatch.io/conflict-watcher"
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


def gateway(name: str = "shared") -> dict[str, Any]:
    return b.gateway(name, None, gateway_class="example",
                     listeners=[b.listener("http", hostname="*.example.com", from_=None)])


def httproute(name: str, hostname: str = "app.example.com") -> dict[str, Any]:
    return b.http_route(name, None, parents=[b.parent("shared", None)], hostnames=[hostname],
                        rules=[b.rule(backend="app", port=8080)])


def condition(**overrides: Any) -> dict[str, Any]:
    cond = {
        "type": "gwwatch.io/HostnameConflict",
        "status": "True",
        "reason": "HijacksTraffic",
        "message": "route t/b takes app.example.com from t/a",
        "lastTransitionTime": "2025-01-01T00:00:00Z",
        "observedGeneration": 1,
    }
    cond.update(overrides)
    return {k: v for k, v in cond.items() if v is not None}


def parents_status(*conditions: dict[str, Any]) -> dict[str, Any]:
    return {
        "status": {
            "parents": [
                {
                    "parentRef": {"name": "shared"},
                    "controllerName": CONTROLLER,
                    "conditions": list(conditions),
                }
            ]
        }
    }


async def routes_page(
    api: Any, namespace: str, limit: int, cont: str | None = None
) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": limit}
    if cont:
        params["continue"] = cont
    async with api.call_api(
        "GET", version=GROUP_VERSION, namespace=namespace, url="httproutes", params=params
    ) as resp:
        return dict(resp.json())


async def watch_events(
    api: Any, namespace: str, resource_version: str, *, timeout_seconds: int = 20
) -> AsyncIterator[dict[str, Any]]:
    """Raw watch of HTTPRoutes (kr8s' own watch hides 410s and has no timeout)."""
    params = {
        "watch": "true",
        "resourceVersion": resource_version,
        "allowWatchBookmarks": "true",
        "timeoutSeconds": str(timeout_seconds),
    }
    async with api.call_api(
        "GET",
        version=GROUP_VERSION,
        namespace=namespace,
        url="httproutes",
        params=params,
        stream=True,
        timeout=timeout_seconds + 5,
    ) as resp:
        async for line in resp.aiter_lines():
            if line:
                yield json.loads(line)


async def test_version_is_stamped(kr8s_api: Any, control_plane: ControlPlane) -> None:
    version = await kr8s_api.version()
    want = control_plane.assets.versions.kubernetes
    assert version["gitVersion"] == want
    assert (version["major"], version["minor"]) == ("1", want.split(".")[1])


async def test_gateway_api_crds_are_established(kr8s_api: Any, control_plane: ControlPlane) -> None:
    names = {c.name for c in control_plane.crds}
    assert {
        "gateways.gateway.networking.k8s.io",
        "gatewayclasses.gateway.networking.k8s.io",
        "httproutes.gateway.networking.k8s.io",
        "grpcroutes.gateway.networking.k8s.io",
        "listenersets.gateway.networking.k8s.io",
        "referencegrants.gateway.networking.k8s.io",
    } <= names
    async with kr8s_api.call_api(
        "GET", version="apiextensions.k8s.io/v1", url="customresourcedefinitions"
    ) as resp:
        items = resp.json()["items"]
    served = {i["metadata"]["name"]: i for i in items}
    for name in names:
        conds = {c["type"]: c["status"] for c in served[name]["status"]["conditions"]}
        assert conds.get("Established") == "True", name
        assert (
            served[name]["metadata"]["annotations"]["gateway.networking.k8s.io/bundle-version"]
            == control_plane.assets.versions.gateway_api
        )
    assert control_plane.skipped_manifests == []


async def test_safe_upgrades_policy_is_enforced(control_plane: ControlPlane) -> None:
    """The bundle's ValidatingAdmissionPolicy was applied: it refuses an older CRD bundle."""
    crd = yaml.safe_load(
        (control_plane.assets.crd_dir / "gateway.networking.k8s.io_httproutes.yaml").read_text()
    )
    url = f"{CRDS}/{crd['metadata']['name']}?dryRun=All"
    current = control_plane.request("GET", f"{CRDS}/{crd['metadata']['name']}")
    crd["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
    control_plane.request("PUT", url, crd)  # the same bundle again: allowed

    crd["metadata"]["annotations"]["gateway.networking.k8s.io/bundle-version"] = "v1.2.0"
    with pytest.raises(ApiError) as err:
        control_plane.request("PUT", url, crd)
    assert err.value.status == 422
    assert "safe-upgrades.gateway.networking.k8s.io" in err.value.body


async def test_create_gateway_and_httproute(kr8s_api: Any, namespace: str) -> None:
    gw = Gateway(gateway(), namespace=namespace, api=kr8s_api)
    await gw.create()
    route = HTTPRoute(httproute("app"), namespace=namespace, api=kr8s_api)
    await route.create()

    await route.refresh()
    ref = route.raw["spec"]["parentRefs"][0]
    # The CRD's schema defaults are applied by the server.
    assert (ref["group"], ref["kind"]) == ("gateway.networking.k8s.io", "Gateway")
    match = route.raw["spec"]["rules"][0]["matches"][0]
    assert match == {"path": {"type": "PathPrefix", "value": "/"}}
    assert route.raw["metadata"]["generation"] == 1

    found = [r.name async for r in HTTPRoute.list(namespace=namespace, api=kr8s_api)]
    assert found == ["app"]

    bad = httproute("bad", hostname="-not-a-hostname-")
    with pytest.raises(kr8s.ServerError) as err:
        await HTTPRoute(bad, namespace=namespace, api=kr8s_api).create()
    assert err.value.response is not None and err.value.response.status_code == 422


async def test_list_is_paginated_with_a_consistent_snapshot(kr8s_api: Any, namespace: str) -> None:
    for i in range(5):
        await HTTPRoute(httproute(f"r{i}"), namespace=namespace, api=kr8s_api).create()

    first = await routes_page(kr8s_api, namespace, limit=2)
    assert [i["metadata"]["name"] for i in first["items"]] == ["r0", "r1"]
    token = first["metadata"]["continue"]
    assert token

    # Created after the first page: a continued list reads the first page's snapshot.
    await HTTPRoute(httproute("r5"), namespace=namespace, api=kr8s_api).create()

    names = [i["metadata"]["name"] for i in first["items"]]
    pages = 1
    while token:
        page = await routes_page(kr8s_api, namespace, limit=2, cont=token)
        assert page["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
        names += [i["metadata"]["name"] for i in page["items"]]
        token = page["metadata"].get("continue")
        pages += 1
    assert names == ["r0", "r1", "r2", "r3", "r4"]
    assert pages == 3

    fresh = await routes_page(kr8s_api, namespace, limit=10)
    assert len(fresh["items"]) == 6 and not fresh["metadata"].get("continue")


async def test_watch_from_resource_version_sees_add_modify_delete(
    kr8s_api: Any, namespace: str
) -> None:
    start = (await routes_page(kr8s_api, namespace, limit=1))["metadata"]["resourceVersion"]
    route = HTTPRoute(httproute("watched"), namespace=namespace, api=kr8s_api)
    await route.create()
    await route.patch({"spec": {"hostnames": ["other.example.com"]}})
    await route.delete()

    seen: list[tuple[str, str]] = []
    async with asyncio.timeout(20), aclosing(watch_events(kr8s_api, namespace, start)) as events:
        async for event in events:
            if event["type"] == "BOOKMARK":
                continue
            obj = event["object"]
            seen.append((event["type"], obj["spec"]["hostnames"][0]))
            if event["type"] == "DELETED":
                break
    assert seen == [
        ("ADDED", "app.example.com"),
        ("MODIFIED", "other.example.com"),
        ("DELETED", "other.example.com"),
    ]


async def test_status_subresource_is_validated_by_the_crd(kr8s_api: Any, namespace: str) -> None:
    route = HTTPRoute(httproute("status"), namespace=namespace, api=kr8s_api)
    await route.create()

    await route.patch(parents_status(condition()), subresource="status")
    await route.refresh()
    entry = route.raw["status"]["parents"][0]
    assert entry["controllerName"] == CONTROLLER
    assert entry["parentRef"]["name"] == "shared"
    assert entry["conditions"][0]["reason"] == "HijacksTraffic"
    generation = route.raw["metadata"]["generation"]
    assert generation == 1  # a status write does not bump the generation

    invalid = {
        "reason with a space": (parents_status(condition(reason="Hijacks Traffic")), "reason"),
        "missing lastTransitionTime": (
            parents_status(condition(lastTransitionTime=None)),
            "lastTransitionTime",
        ),
        "unknown status": (parents_status(condition(status="Maybe")), "status"),
        "no conditions (minItems 1)": (parents_status(), "conditions"),
        "controllerName without a path": (
            {
                "status": {
                    "parents": [
                        {
                            **parents_status(condition())["status"]["parents"][0],
                            "controllerName": "gwwatch",
                        }
                    ]
                }
            },
            "controllerName",
        ),
    }
    for what, (patch, field) in invalid.items():
        with pytest.raises(kr8s.ServerError) as err:
            await route.patch(patch, subresource="status")
        assert err.value.response is not None
        assert err.value.response.status_code == 422, what
        status = err.value.status
        assert isinstance(status, dict) and status["reason"] == "Invalid", what
        assert any(field in c.get("field", "") for c in status["details"]["causes"]), (what, status)

    # Status changes do not bump metadata.generation; status sent to the main resource is dropped.
    await route.patch({"status": {"parents": []}, "metadata": {"labels": {"x": "y"}}})
    await route.refresh()
    assert route.raw["metadata"]["generation"] == generation
    assert route.raw["status"]["parents"][0]["controllerName"] == CONTROLLER


async def test_service_account_rbac(
    control_plane: ControlPlane, namespace: str, sa_kubeconfig: Any
) -> None:
    path: Path = sa_kubeconfig("reader")
    api = await kr8s.asyncio.api(kubeconfig=str(path))

    async with api.call_api(
        "POST",
        version="authentication.k8s.io/v1",
        url="selfsubjectreviews",
        content=json.dumps({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}),
    ) as resp:
        user = resp.json()["status"]["userInfo"]["username"]
    assert user == f"system:serviceaccount:{namespace}:reader"

    with pytest.raises(kr8s.ServerError) as err:
        await routes_page(api, namespace, limit=10)
    assert err.value.response is not None and err.value.response.status_code == 403
    assert isinstance(err.value.status, dict) and err.value.status["reason"] == "Forbidden"

    control_plane.create(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "route-reader"},
            "rules": [
                {
                    "apiGroups": ["gateway.networking.k8s.io"],
                    "resources": ["httproutes"],
                    "verbs": ["list"],
                }
            ],
        },
        namespace,
    )
    control_plane.create(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "route-reader"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "route-reader",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": namespace}],
        },
        namespace,
    )
    async with asyncio.timeout(10):
        while True:
            try:
                page = await routes_page(api, namespace, limit=10)
                break
            except kr8s.ServerError:
                await asyncio.sleep(0.2)  # the RBAC authorizer's informer catches up
    assert page["items"] == []
    # ... and only what the Role grants: not other namespaces.
    with pytest.raises(kr8s.ServerError) as err:
        await routes_page(api, "default", limit=10)
    assert err.value.response is not None and err.value.response.status_code == 403


async def test_restart_apiserver_keeps_data_and_ends_open_watches(
    kr8s_api: Any, control_plane: ControlPlane, namespace: str
) -> None:
    route = HTTPRoute(httproute("survivor"), namespace=namespace, api=kr8s_api)
    await route.create()
    rv = route.raw["metadata"]["resourceVersion"]
    port = control_plane.apiserver_port

    events: list[str] = []

    async def consume() -> None:
        async for event in watch_events(kr8s_api, namespace, rv, timeout_seconds=60):
            events.append(event["type"])

    watcher = asyncio.create_task(consume())
    await asyncio.sleep(0.5)
    took = await control_plane.arestart_apiserver()
    async with asyncio.timeout(5):
        await watcher  # the server closed the stream cleanly, long before timeoutSeconds
    assert took < 30
    assert control_plane.apiserver_port == port

    await route.refresh()
    assert route.raw["metadata"]["resourceVersion"] == rv
    # The new apiserver's watch cache starts after rv: resuming from it is 410 Gone.
    resumed = [e async for e in watch_events(kr8s_api, namespace, rv, timeout_seconds=2)]
    assert resumed[0]["type"] == "ERROR"
    assert resumed[0]["object"]["code"] == 410


async def test_expired_resource_versions_get_410(
    kr8s_api: Any, control_plane: ControlPlane, namespace: str
) -> None:
    for i in range(3):
        await HTTPRoute(httproute(f"r{i}"), namespace=namespace, api=kr8s_api).create()
    first = await routes_page(kr8s_api, namespace, limit=2)
    listed_at = first["metadata"]["resourceVersion"]
    await HTTPRoute(httproute("later"), namespace=namespace, api=kr8s_api).create()

    compacted = await control_plane.aexpire_resource_versions()
    assert compacted > int(listed_at)

    with pytest.raises(kr8s.ServerError) as err:
        await routes_page(kr8s_api, namespace, limit=2, cont=first["metadata"]["continue"])
    assert err.value.response is not None and err.value.response.status_code == 410
    assert isinstance(err.value.status, dict) and err.value.status["reason"] == "Expired"

    events = [e async for e in watch_events(kr8s_api, namespace, listed_at, timeout_seconds=2)]
    assert [(e["type"], e["object"].get("code")) for e in events] == [("ERROR", 410)]

    # Re-list and watch from the new list's resourceVersion: works again.
    fresh = await routes_page(kr8s_api, namespace, limit=50)
    assert sorted(i["metadata"]["name"] for i in fresh["items"]) == ["later", "r0", "r1", "r2"]
    await HTTPRoute(httproute("after"), namespace=namespace, api=kr8s_api).create()
    watch = watch_events(kr8s_api, namespace, fresh["metadata"]["resourceVersion"])
    async with asyncio.timeout(10), aclosing(watch) as events:
        async for event in events:
            if event["type"] != "BOOKMARK":
                break
    assert (event["type"], event["object"]["metadata"]["name"]) == ("ADDED", "after")
