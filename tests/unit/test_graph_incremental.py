"""The conflict graph kept current one change at a time equals an analysis from scratch.

Hypothesis draws a sequence of upserts and deletes of Namespaces, Gateways, ListenerSets and
routes (HTTPRoute, GRPCRoute, TCPRoute; valid and malformed versions) over a deliberately small
alphabet of names, hostnames, paths and tenants, so that attachments, conflicts, ownership
claims and sharing actually change. After every change, ``graph.findings()``, ``graph.status``,
``graph.routes`` and ``graph.invalid`` must equal those of ``analyse(objects now present)``,
compared by identity and by full content, and the diffs returned along the way must add up to
the findings.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from gwwatch.engine import ConflictGraph, Policy, analyse, parse
from gwwatch.engine.findings import Finding
from gwwatch.engine.model import Invalid, NamespaceInfo, ObjectRef, Parsed
from tests.unit import builders as b

NAMESPACES = ["a", "b", "c", "infra"]
HOSTS = ["api.ex.com", "*.ex.com", "www.ex.com", "shop.ex.com"]
TENANT = "capsule.clastix.io/tenant"
POLICIES = [
    Policy(),
    Policy(tenant_label=None),
    Policy(trust_annotations=False),
    Policy(ownership={"b": ("api.ex.com",), "c": ("*.ex.com",)}),
]

# --- objects -------------------------------------------------------------------------------

_namespaces = st.builds(
    lambda name, labels, claims, shared: b.namespace(
        name, labels=labels, hostnames=",".join(claims) if claims else None,
        shared_with=",".join(shared) if shared else None),
    st.sampled_from(NAMESPACES),
    st.sampled_from([{}, {TENANT: "t1"}, {"team": "x"}, {TENANT: "t1", "team": "x"}]),
    st.lists(st.sampled_from(["api.ex.com", "*.ex.com", "shop.ex.com"]), max_size=2,
             unique=True),
    st.lists(st.sampled_from(["a", "b", "t1"]), max_size=2, unique=True),
)

_LISTENERS = [
    b.listener("l1", port=80, hostname=None, from_="All"),
    b.listener("l1", port=80, hostname="*.ex.com", from_="All"),
    b.listener("l2", port=80, hostname="api.ex.com", from_="Same"),
    b.listener("l2", port=80, hostname="api.ex.com", from_="All"),
    b.listener("l2", port=80, hostname="api.ex.com", from_="Selector",
               selector={"matchLabels": {"team": "x"}}),
    b.listener("l3", port=443, protocol="HTTPS", hostname="*.ex.com", from_="All"),
    b.listener("l3", port=443, protocol="HTTPS", hostname="www.ex.com", from_=None),
    b.listener("l4", port=5432, protocol="TCP", from_="All"),
]


def _unique_names(listeners: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for li in listeners:
        out.setdefault(li["name"], li)
    return list(out.values())


_gateway_keys = st.sampled_from([("infra", "gw1"), ("a", "gw2")])


def _gateways_of(keys: st.SearchStrategy[tuple[str, str]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(
        lambda key, listeners, allowed, created: b.gateway(
            key[1], key[0], listeners=_unique_names(listeners), created=created,
            allowed_listeners=allowed),
        keys,
        st.lists(st.sampled_from(_LISTENERS), min_size=1, max_size=3),
        st.sampled_from([None, {"from": "All"}, {"from": "Same"},
                         {"from": "Selector", "selector": {"matchLabels": {"team": "x"}}}]),
        st.sampled_from([b.ts(1), None]),
    )


_gateways = _gateways_of(_gateway_keys)

_listener_sets = st.builds(
    lambda key, listeners, created: b.listener_set(
        key[1], key[0], listeners=_unique_names(listeners), parent="gw1",
        parent_namespace="infra", created=created),
    st.sampled_from([("b", "ls1"), ("infra", "ls2")]),
    st.lists(st.sampled_from([
        b.listener("l1", port=80, hostname="shop.ex.com", from_="Same"),
        b.listener("l1", port=80, hostname="*.ex.com", from_="All"),
        b.listener("x", port=80, hostname="api.ex.com", from_="All"),
    ]), min_size=1, max_size=2),
    st.sampled_from([b.ts(1), b.ts(2)]),
)

_PARENTS = [
    b.parent("gw1", "infra"),
    b.parent("gw2", "a"),
    b.parent("gw1", "infra", section="l1"),
    b.parent("gw1", "infra", port=443),
    b.parent("gw1", "infra", section="l2"),
    b.parent("ls1", "b", kind="ListenerSet"),
    b.parent("ls2", "infra", kind="ListenerSet", section="x"),
]
_MATCHES = [
    b.match("/"),
    b.match("/v1"),
    b.match("/v1", type="Exact"),
    b.match("/v1", method="GET"),
    b.match("/", headers={"x": "1"}),
    b.match("/v.*", type="RegularExpression"),
]
_created = st.sampled_from([b.ts(1), b.ts(2), b.ts(3), None])


def _http(key: tuple[str, str], hosts: list[str], parents: list[dict[str, Any]],
          rules: list[list[dict[str, Any]]], created: str | None,
          broken: bool) -> dict[str, Any]:
    obj = b.http_route(key[1], key[0], hostnames=hosts or None, parents=parents,
                       rules=[b.rule(*m) for m in rules], created=created)
    if broken:
        obj["spec"]["hostnames"] = ["not_a_hostname"]
    return obj


_http_routes = st.builds(
    _http,
    st.sampled_from([("a", "r1"), ("b", "r2"), ("c", "r3"), ("a", "r4")]),
    st.lists(st.sampled_from(HOSTS), max_size=2, unique=True),
    st.one_of(st.just([_PARENTS[0]]), st.just([_PARENTS[0]]),
              st.lists(st.sampled_from(_PARENTS), min_size=1, max_size=2, unique_by=repr)),
    st.lists(st.lists(st.sampled_from(_MATCHES), min_size=1, max_size=2), min_size=1,
             max_size=2),
    _created,
    st.sampled_from([False] * 9 + [True]),  # now and then a malformed version
)
_grpc_routes = st.builds(
    lambda hosts, parents, matches, created: b.grpc_route(
        "g1", "b", hostnames=hosts or None, parents=parents, matches=matches, created=created),
    st.lists(st.sampled_from(HOSTS), max_size=1),
    st.lists(st.sampled_from(_PARENTS[:3]), min_size=1, max_size=1),
    st.lists(st.sampled_from([b.grpc_match("pkg.Svc"), b.grpc_match("pkg.Svc", "Get"),
                              b.grpc_match(None, "Get")]), min_size=1, max_size=2),
    _created,
)
_tcp_routes = st.builds(
    lambda key, created: b.l4_route("TCPRoute", key[1], key[0], created=created,
                                    parents=[b.parent("gw1", "infra")]),
    st.sampled_from([("a", "t1"), ("c", "t2")]),
    _created,
)

_objects = st.one_of(_namespaces, _gateways, _listener_sets, _http_routes, _http_routes,
                     _http_routes, _grpc_routes, _tcp_routes)


def _ref(obj: dict[str, Any]) -> ObjectRef:
    meta = obj["metadata"]
    if obj["kind"] == "Namespace":
        return ObjectRef("Namespace", "", meta["name"])
    return ObjectRef(obj["kind"], meta["namespace"], meta["name"])


_op = st.tuples(st.sampled_from(["upsert", "upsert", "upsert", "delete"]), _objects)
# Most sequences start from a shared Gateway and a few routes, so conflicts occur early and
# the random changes that follow move them around.
_prelude = st.tuples(_gateways_of(st.just(("infra", "gw1"))),
                     st.lists(_http_routes, min_size=2, max_size=4)).map(
    lambda gr: [("upsert", gr[0]), *(("upsert", r) for r in gr[1])])
_ops = st.one_of(
    st.lists(_op, min_size=1, max_size=12),
    st.tuples(_prelude, st.lists(_op, max_size=10)).map(lambda pr: pr[0] + pr[1]),
    st.tuples(_prelude, st.lists(_op, max_size=10)).map(lambda pr: pr[0] + pr[1]),
)

# --- comparison ------------------------------------------------------------------------------


def _by_identity(findings: list[Finding]) -> dict[tuple[object, ...], Finding]:
    out = {f.identity: f for f in findings}
    assert len(out) == len(findings), "two findings share an identity"
    return out


def _assert_same(graph: ConflictGraph, present: dict[ObjectRef, Parsed],
                 policy: Policy, step: str) -> None:
    scratch = analyse(list(present.values()), policy)
    got, want = _by_identity(graph.findings()), _by_identity(scratch.findings())
    assert set(got) == set(want), f"{step}: finding identities differ"
    for key, finding in want.items():
        assert got[key] == finding, f"{step}: content differs for {key}"
    assert graph.findings() == sorted(graph.findings(), key=Finding.sort_key)
    assert graph.status == scratch.status, f"{step}: status differs"
    assert graph.routes == scratch.routes, f"{step}: routes differ"
    assert graph.invalid == scratch.invalid, f"{step}: invalid differ"


def _apply(graph: ConflictGraph, present: dict[ObjectRef, Parsed],
           ops: list[tuple[str, dict[str, Any]]], policy: Policy) -> None:
    """Apply ``ops`` one by one, checking against a from-scratch analysis after each."""
    from_diffs = _by_identity(graph.findings())
    for i, (op, obj) in enumerate(ops):
        ref = _ref(obj)
        if op == "delete":
            d = graph.delete(ref)
            present.pop(ref, None)
        else:
            parsed = parse(obj, source=f"op{i}")
            assert parsed is not None
            d = graph.upsert(parsed)
            present[ref] = parsed
        for f in d.removed:
            assert from_diffs.pop(f.identity, None) is not None, "removed an unknown finding"
        for f in d.added:
            assert f.identity not in from_diffs, "added a finding twice"
            from_diffs[f.identity] = f
        for f in d.changed:
            assert f.identity in from_diffs, "changed an unknown finding"
            from_diffs[f.identity] = f
        step = f"after op {i} ({op} {ref})"
        assert from_diffs == _by_identity(graph.findings()), f"{step}: diffs do not add up"
        _assert_same(graph, present, policy, step)
        if currently_in_test_context():  # --hypothesis-show-statistics: what was exercised
            for f in graph.findings():
                event(f"saw {f.kind}/{f.reason} ({f.severity})")
                if f.kind == "Hijack":
                    event(f"saw Hijack by {f.basis}")


class TestIncrementalEqualsScratch:
    @settings(max_examples=120)
    @given(_ops, st.sampled_from(POLICIES))
    def test_any_sequence_of_changes(self, ops: list[tuple[str, dict[str, Any]]],
                                     policy: Policy) -> None:
        _apply(ConflictGraph(policy), {}, ops, policy)

    @settings(max_examples=60)
    @given(st.lists(_objects, min_size=1, max_size=10), _ops, st.sampled_from(POLICIES))
    def test_changes_after_a_cold_load(self, initial: list[dict[str, Any]],
                                       ops: list[tuple[str, dict[str, Any]]],
                                       policy: Policy) -> None:
        """A graph built by ``load`` (one pass) then changed stays equal to scratch."""
        present: dict[ObjectRef, Parsed] = {}
        for i, obj in enumerate(initial):
            parsed = parse(obj, source=f"init{i}")
            assert parsed is not None
            present[_ref(obj)] = parsed
        graph = ConflictGraph(policy)
        graph.load(list(present.values()))
        _assert_same(graph, present, policy, "after load")
        _apply(graph, present, ops, policy)

    @settings(max_examples=60)
    @given(st.lists(_objects, min_size=1, max_size=10), st.randoms())
    def test_order_of_arrival_does_not_matter(self, objs: list[dict[str, Any]],
                                              rnd: Any) -> None:
        """The same objects upserted in any order give the same findings and status."""
        latest = {_ref(o): o for o in objs}
        parsed = [p for p in (parse(o) for o in latest.values()) if p is not None]
        shuffled = list(parsed)
        rnd.shuffle(shuffled)
        graph = ConflictGraph()
        for p in shuffled:
            graph.upsert(p)
        present = {(_ref_of(p)): p for p in parsed}
        _assert_same(graph, present, Policy(), "shuffled")


def _ref_of(p: Parsed) -> ObjectRef:
    if isinstance(p, NamespaceInfo):
        return ObjectRef("Namespace", "", p.name)
    if isinstance(p, Invalid):
        return ObjectRef(p.kind, p.namespace, p.name)
    return p.ref


class TestScenarios:
    """Hand-written sequences for changes that once looked risky."""

    SHARED = b.gateway("gw1", "infra", listeners=[b.listener("l1", hostname="*.ex.com")])
    OWNER = b.http_route("r1", "a", hostnames=["api.ex.com"], created=b.ts(1),
                         parents=[b.parent("gw1", "infra")])
    TAKER = b.http_route("r2", "b", hostnames=["api.ex.com"], created=b.ts(2),
                         parents=[b.parent("gw1", "infra")], matches=[b.match("/v1")])

    @pytest.mark.parametrize("ops", [
        pytest.param([("upsert", TAKER), ("upsert", OWNER), ("upsert", SHARED)],
                     id="routes-before-gateway"),
        pytest.param([("upsert", SHARED), ("upsert", OWNER), ("upsert", TAKER),
                      ("delete", SHARED)], id="gateway-deleted"),
        pytest.param([("upsert", SHARED), ("upsert", OWNER), ("upsert", TAKER),
                      ("upsert", b.namespace("b", hostnames="api.ex.com"))],
                     id="claim-moves-ownership"),
        pytest.param([("upsert", SHARED), ("upsert", OWNER), ("upsert", TAKER),
                      ("upsert", b.namespace("a", shared_with="b")),
                      ("delete", b.namespace("a"))], id="sharing-on-and-off"),
        pytest.param([("upsert", SHARED), ("upsert", OWNER), ("upsert", TAKER),
                      ("upsert", b.namespace("a", labels={TENANT: "t"})),
                      ("upsert", b.namespace("b", labels={TENANT: "t"}))],
                     id="tenants-merge"),
        pytest.param([("upsert", SHARED), ("upsert", OWNER), ("upsert", TAKER),
                      ("upsert", {**TAKER, "spec": {"hostnames": ["bad_host"]}})],
                     id="route-becomes-invalid"),
        pytest.param([("upsert", SHARED), ("upsert", OWNER), ("upsert", TAKER),
                      ("upsert", b.gateway("gw1", "infra", listeners=[
                          b.listener("l1", hostname="*.ex.com", from_="Same")]))],
                     id="listener-closes"),
        pytest.param([("upsert", SHARED), ("upsert", OWNER), ("upsert", TAKER),
                      ("delete", OWNER)], id="owner-leaves"),
    ])
    def test_sequence(self, ops: list[tuple[str, dict[str, Any]]]) -> None:
        _apply(ConflictGraph(), {}, ops, Policy())
