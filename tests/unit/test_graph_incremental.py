"""The conflict graph kept current one change at a time equals an analysis from scratch.

Hypothesis draws a sequence of upserts and deletes of Namespaces, GatewayClasses (with and
without listener isolation), Gateways (a TLS and an HTTPS listener sharing a hostname and port
among their listeners), ListenerSets and routes (HTTPRoute, GRPCRoute, TLSRoute, TCPRoute; valid
and malformed versions; HTTPRoutes and GRPCRoutes sharing listeners) over a deliberately small
alphabet of names, hostnames, paths and tenants, so that attachments, conflicts, ownership
claims and sharing actually change: annotation claims that contest the oldest route, and a
tenant label value spelled like a namespace (``b``) that must stay a tenant of its own. After
every change, the graph's findings, parent
statuses, routes and invalid objects must equal those of ``analyse(objects now present)``,
compared by identity and by full content, and the diffs returned along the way must add up to
the findings.

``what_if`` is held to the same standard: it answers with the diff that applying the batch for
real gives, and leaves every query of the graph answering as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from gwwatch.engine import ConflictGraph, FindingKind, Policy, Severity, analyse, parse
from gwwatch.engine.findings import Finding, diff
from gwwatch.engine.model import Invalid, NamespaceInfo, ObjectRef, Parsed
from gwwatch.engine.precedence import Request
from tests.unit import builders as b

NAMESPACES = ["a", "b", "c", "infra"]
HOSTS = ["api.ex.com", "*.ex.com", "www.ex.com", "shop.ex.com"]
TENANT = "capsule.clastix.io/tenant"
POLICIES = [
    Policy(),
    Policy(tenant_label=None),
    Policy(trust_annotations=False),
    Policy(ownership={"b": ("api.ex.com",), "c": ("*.ex.com",)}),
    Policy(ownership={"ns:b": ("api.ex.com",), "t1": ("*.ex.com",)}),
]

# --- objects -------------------------------------------------------------------------------

_namespaces = st.builds(
    lambda name, labels, claims, shared: b.namespace(
        name, labels=labels, hostnames=",".join(claims) if claims else None,
        shared_with=",".join(shared) if shared else None),
    st.sampled_from(NAMESPACES),
    st.sampled_from([{}, {TENANT: "t1"}, {"team": "x"}, {TENANT: "t1", "team": "x"},
                     {TENANT: "b"}]),
    st.lists(st.sampled_from(["api.ex.com", "*.ex.com", "shop.ex.com"]), max_size=2,
             unique=True),
    st.lists(st.sampled_from(["a", "b", "t1", "ns:b"]), max_size=2, unique=True),
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
    b.listener("l5", port=443, protocol="TLS", hostname="www.ex.com", from_="All",
               tls={"mode": "Passthrough"}),
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
    lambda key, hosts, parents, matches, created: b.grpc_route(
        key[1], key[0], hostnames=hosts or None, parents=parents, matches=matches,
        created=created),
    st.sampled_from([("b", "g1"), ("a", "g2")]),
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

_tls_routes = st.builds(
    lambda key, hosts, created: b.l4_route("TLSRoute", key[1], key[0], hostnames=hosts or None,
                                           created=created, parents=[b.parent("gw1", "infra")]),
    st.sampled_from([("a", "s1"), ("b", "s2")]),
    st.lists(st.sampled_from(HOSTS), max_size=1),
    _created,
)
_classes = st.builds(
    lambda features: b.gateway_class("test", features=features),
    st.sampled_from([None, ["Gateway"], ["Gateway", "GatewayHTTPListenerIsolation"]]),
)

_objects = st.one_of(_namespaces, _classes, _gateways, _listener_sets, _http_routes,
                     _http_routes, _http_routes, _grpc_routes, _grpc_routes, _tls_routes,
                     _tcp_routes)


def _ref(obj: dict[str, Any]) -> ObjectRef:
    meta = obj["metadata"]
    if obj["kind"] in ("Namespace", "GatewayClass"):
        return ObjectRef(obj["kind"], "", meta["name"])
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
    assert dict(graph.parent_statuses()) == dict(scratch.parent_statuses()), (
        f"{step}: status differs")
    assert graph.route_refs() == scratch.route_refs(), f"{step}: routes differ"
    assert [graph.route(r) for r in graph.route_refs()] == [
        scratch.route(r) for r in scratch.route_refs()], f"{step}: routes differ"
    assert graph.invalid_objects() == scratch.invalid_objects(), f"{step}: invalid differ"
    for ref in {r for f in want.values() for r in (f.route, f.other) if r is not None}:
        assert graph.findings_of(ref) == scratch.findings_of(ref), f"{step}: findings of {ref}"


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
        pytest.param([("upsert", b.namespace("a", labels={TENANT: "t"})),
                      ("upsert", b.namespace("c", labels={TENANT: "t"})),
                      ("upsert", SHARED), ("upsert", OWNER), ("upsert", TAKER),
                      ("upsert", b.namespace("c", labels={TENANT: "t"}, shared_with="b"))],
                     id="sharing-by-another-namespace-of-the-tenant"),
        pytest.param([("upsert", SHARED), ("upsert", OWNER), ("upsert", TAKER),
                      ("upsert", b.namespace("b")),
                      ("upsert", b.namespace("a", shared_with="b")),
                      ("upsert", b.namespace("c", labels={TENANT: "b"})),
                      ("delete", b.namespace("c"))],
                     id="label-value-spelled-like-a-namespace-comes-and-goes"),
        pytest.param([("upsert", SHARED), ("upsert", OWNER), ("upsert", TAKER),
                      ("upsert", b.namespace("b", hostnames="api.ex.com")),
                      ("upsert", b.namespace("a", hostnames="*.ex.com")),
                      ("upsert", b.namespace("c", hostnames="api.ex.com")),
                      ("delete", OWNER)],
                     id="claims-contest-the-oldest-route"),
    ])
    def test_sequence(self, ops: list[tuple[str, dict[str, Any]]]) -> None:
        _apply(ConflictGraph(), {}, ops, Policy())


# --- batches and what-if ---------------------------------------------------------------------

_REQUESTS = [
    (ObjectRef("Gateway", "infra", "gw1"), 80, "http", Request(host="api.ex.com", path="/v1")),
    (ObjectRef("Gateway", "infra", "gw1"), 80, "http", Request(host="shop.ex.com")),
    (ObjectRef("Gateway", "infra", "gw1"), 443, "http", Request(host="www.ex.com")),
    (ObjectRef("Gateway", "infra", "gw1"), 5432, "tcp", Request(host=None)),
    (ObjectRef("Gateway", "a", "gw2"), 80, "http", Request(host="api.ex.com", path="/v1")),
]


def _queries(graph: ConflictGraph) -> dict[str, object]:
    """Everything the graph answers, in plain values, to compare two graphs or two moments."""
    findings = graph.findings()
    named = sorted({r for f in findings for r in (f.route, f.other) if r is not None}
                   | set(graph.route_refs()))
    gateways = graph.gateways()
    listeners = {}
    for gw in gateways:
        state = graph.listeners(gw)
        assert state is not None
        listeners[gw] = (state.live, dict(state.conflicted), dict(state.listener_sets))
    return {
        "findings": findings,
        "findings_of": {r: graph.findings_of(r) for r in named},
        "routes": {r: graph.route(r) for r in graph.route_refs()},
        "route_count": graph.route_count(),
        "parents": dict(graph.parent_statuses()),
        "parents_of": {r: graph.parents_of(r) for r in named},
        "invalid": graph.invalid_objects(),
        "gateways": {gw: graph.gateway(gw) for gw in gateways},
        "listener_sets": {ls: graph.listener_set(ls) for ls in graph.listener_sets()},
        "listeners": listeners,
        "attachments": {gw: graph.attachments(gw) for gw in gateways},
        "owners": {h: (graph.owner(h), graph.owners(h)) for h in HOSTS},
        "tenants": {ns: graph.tenant(ns) for ns in NAMESPACES},
        "shares": {(x, y): graph.shares(x, y) for x in ("a", "b", "t1", "ns:b")
                   for y in ("a", "b", "ns:b")},
        "explain": [graph.explain(gateway=gw, port=port, protocol=proto, request=req)
                    for gw, port, proto, req in _REQUESTS],
    }


def _parsed(objs: list[dict[str, Any]], tag: str) -> list[Parsed]:
    out = []
    for i, obj in enumerate(objs):
        parsed = parse(obj, source=f"{tag}{i}")
        assert parsed is not None
        out.append(parsed)
    return out


def _loaded(objs: list[Parsed], policy: Policy) -> ConflictGraph:
    graph = ConflictGraph(policy)
    graph.load(objs)
    return graph


_initial = st.one_of(
    st.lists(_objects, min_size=1, max_size=10),
    st.tuples(_prelude, st.lists(_objects, max_size=6)).map(
        lambda pr: [obj for _, obj in pr[0]] + pr[1]),
)
_batch = st.tuples(st.lists(_objects, max_size=3), st.lists(_objects, max_size=2))


class TestApplyAndWhatIf:
    @settings(max_examples=80)
    @given(_initial, _batch, st.sampled_from(POLICIES))
    def test_what_if_answers_as_apply_and_changes_nothing(
            self, initial: list[dict[str, Any]],
            batch: tuple[list[dict[str, Any]], list[dict[str, Any]]], policy: Policy) -> None:
        objs = _parsed(initial, "init")
        upserts = _parsed(batch[0], "new")
        deletes = [_ref(obj) for obj in batch[1]]
        graph = _loaded(objs, policy)
        before = _queries(graph)

        d = graph.what_if(upserts, deletes)

        assert _queries(graph) == before, "what_if left the graph changed"
        copy = _loaded(objs, policy)
        assert d == copy.apply(upserts, deletes), "what_if differs from applying the change"
        # The graph's indexes survived the round trip: applying the change for real now gives
        # the same answers as on the copy, and both equal an analysis from scratch.
        assert graph.apply(upserts, deletes) == d
        assert _queries(graph) == _queries(copy)
        present = {_key(p): p for p in objs}
        for ref in deletes:
            present.pop(ref, None)
        present.update((_key(p), p) for p in upserts)
        _assert_same(graph, present, policy, "after what_if, then apply")

    @settings(max_examples=60)
    @given(_initial, _batch, st.sampled_from(POLICIES))
    def test_apply_is_the_batch_as_one_diff(
            self, initial: list[dict[str, Any]],
            batch: tuple[list[dict[str, Any]], list[dict[str, Any]]], policy: Policy) -> None:
        """``apply`` ends where upserting one by one ends, with the diff of before → after."""
        objs = _parsed(initial, "init")
        upserts = _parsed(batch[0], "new")
        deletes = [_ref(obj) for obj in batch[1]]
        graph = _loaded(objs, policy)
        one_by_one = _loaded(objs, policy)
        before = graph.findings()

        d = graph.apply(upserts, deletes)

        for ref in deletes:
            one_by_one.delete(ref)
        for p in upserts:
            one_by_one.upsert(p)
        assert _queries(graph) == _queries(one_by_one)
        assert d == diff(before, graph.findings())

    def test_what_if_of_a_hijack(self) -> None:
        """The CI-gate question: would this route take someone's traffic? The graph stays."""
        objs = _parsed([TestScenarios.SHARED, TestScenarios.OWNER], "init")
        graph = _loaded(objs, Policy())
        (taker,) = _parsed([TestScenarios.TAKER], "new")

        d = graph.what_if([taker])

        (hijack,) = [f for f in d.added if f.kind == FindingKind.HIJACK]
        assert (hijack.route, hijack.other) == (taker.ref, objs[1].ref)  # type: ignore[union-attr]
        assert hijack.severity == Severity.CRITICAL
        assert graph.findings() == [] and graph.route(taker.ref) is None  # type: ignore[union-attr]
        assert graph.findings_of(objs[1].ref) == ()  # type: ignore[union-attr]
        # ... and deleting the owner's route would remove nothing, as nothing is found yet.
        assert not graph.what_if(deletes=[objs[1].ref])  # type: ignore[union-attr]

    def test_what_if_inside_a_batch_is_refused(self) -> None:
        graph = ConflictGraph()

        def upserts() -> Iterator[Parsed]:
            graph.what_if()
            yield from ()

        with pytest.raises(RuntimeError):
            graph.apply(upserts())


def _key(p: Parsed) -> ObjectRef:
    return _ref_of(p)
