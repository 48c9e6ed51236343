"""The Gateway API conformance corpus as an outside oracle for the engine.

Every expectation in the committed corpus ``tests/conformance/corpus.json`` (generated from the
conformance module the test control plane pins: ``python -m tests.conformance generate``)
becomes one test, named ``<ConformanceTest>/<group><index>``:

* ``attach``: a route's status for one parentRef, read from ``gwwatch scan --output json``
  (``routes[].parents[]``): accepted, and the reason when the case names one;
* ``request``: one request through ``gwwatch explain`` (its option parser, the engine's
  resolution and the JSON rendering): the expected backend is the winning rule's first backendRef,
  ``404``/``connectionRejected`` is "no route", ``421`` is a misdirected HTTPS request (``--sni``);
* ``listener``: a listener's AttachedRoutes count, from the same scan JSON;
* ``listenerset``: a ListenerSet's Accepted state and a Gateway's attachedListenerSets count,
  from the graph's listeners(gateway) (scan has no output for them);
* ``status``: a listener's supportedKinds and the conditions the engine models (Accepted,
  Programmed and Conflicted from listener conflicts, ResolvedRefs from route kinds), also from
  the graph's listeners. Certificates are not modelled: expectations resting on them are strict
  xfails.

Each case is its own world: the base ``manifests.yaml`` plus the case's files, analysed once.
The corpus is in the repository, so every clone runs these offline. Where the hand-checked
corpus kept beside the repository exists (``../shared/conformance/cases.json``, or
``$GWWATCH_CONFORMANCE``), ``test_generated_corpus_covers_the_checked_corpus`` requires every
expectation it grades to be in the committed one, under the same id.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

import pytest

from gwwatch import cli, manifests
from gwwatch.cli import explain as explain_cli
from gwwatch.cli import render
from gwwatch.engine import explain as resolve
from gwwatch.engine.graph import ConflictGraph
from gwwatch.engine.model import ObjectRef
from tests.needs import unavailable

CORPUS = Path(__file__).resolve().parents[1] / "conformance"
CORPUS_FILE = CORPUS / "corpus.json"
CHECKED = Path(
    os.environ.get("GWWATCH_CONFORMANCE")
    or Path(__file__).resolve().parents[2] / ".." / "shared" / "conformance"
) / "cases.json"


def _load_cases() -> list[dict[str, Any]]:
    corpus: dict[str, Any] = json.loads(CORPUS_FILE.read_text(encoding="utf-8"))
    cases: list[dict[str, Any]] = corpus["cases"]
    return cases


CASES = _load_cases()
GROUPS = ("attach", "request", "listener", "listenerset", "status")


def _items(case: dict[str, Any], group: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = {
        "attach": case["attachments"],
        "request": case["requests"],
        "listener": case["listeners"],
        "listenerset": [*case.get("listenerSets", []), *case.get("attachedListenerSets", [])],
        "status": case.get("listenerStatus", []),
    }[group]
    return items


# Expectations the engine does not model, with the reason; they run as strict xfails so that
# one starting to pass is noticed.
UNSUPPORTED: dict[str, str] = {
    # The ListenerSet's listener refers to a certificate Secret in another namespace without a
    # ReferenceGrant; gwwatch does not resolve certificateRefs (routing, not TLS material).
    "ListenerSetReferenceGrant/listenerset1": "certificateRefs and ReferenceGrants are not "
                                             "modelled",
    "ListenerSetReferenceGrant/status1": "certificateRefs and ReferenceGrants are not modelled",
    # The listener's certificate Secret does-not-exist is missing: ResolvedRefs and Programmed
    # are False for a reason gwwatch does not look at.
    "GatewayWithAttachedRoutes/status2": "listener certificateRefs are not resolved",
}


def _params(group: str) -> list[Any]:
    out = []
    for case in CASES:
        for i, item in enumerate(_items(case, group)):
            ident = f"{case['test']}/{group}{i}"
            marks = []
            if ident in UNSUPPORTED:
                marks.append(pytest.mark.xfail(strict=True, reason=UNSUPPORTED[ident]))
            out.append(pytest.param(case["test"], item, id=ident, marks=marks))
    return out


@functools.cache
def _analysed(test: str) -> tuple[ConflictGraph, dict[str, Any], list[str]]:
    """The case's graph (through the CLI's own loader), its scan JSON and its manifest paths."""
    case = next(c for c in CASES if c["test"] == test)
    paths = [str(CORPUS / "manifests" / m) for m in case["manifests"]]
    args = cli.build_parser().parse_args(["scan", *paths])
    graph, where = cli.load_graph(args)
    refused = graph.invalid_objects()
    assert not refused, f"{test}: objects the engine refused: {refused}"
    # Nothing the corpus holds may be skipped silently (as TCPRoute/UDPRoute v1 once were).
    declared = sorted(
        f"{src.obj['kind']} {src.obj['metadata']['namespace']}/{src.obj['metadata']['name']}"
        for src in manifests.load(paths)
        if isinstance(src.obj, dict) and src.obj.get("kind") in (
            "Gateway", "ListenerSet", "HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute", "UDPRoute")
    )
    known = sorted(f"{ref.kind} {ref}" for ref in (
        *graph.gateways(), *graph.listener_sets(), *graph.route_refs()))
    assert declared == known, f"{test}: objects the engine ignored: {set(declared) - set(known)}"
    return graph, render.scan_json(graph, where), paths


def _route_entry(scan: dict[str, Any], ref: dict[str, str]) -> dict[str, Any]:
    for route in scan["routes"]:
        if (route["kind"], route["namespace"], route["name"]) == (
            ref["kind"], ref["namespace"], ref["name"]
        ):
            return route
    raise AssertionError(f"route {ref} is not in scan's output")


def _short(parent: dict[str, Any]) -> dict[str, Any]:
    return {k: parent[k] for k in ("kind", "gateway", "listener", "port", "accepted", "reason",
                                   "message")}


@pytest.mark.parametrize(("test", "expect"), _params("attach"))
def test_attachment(test: str, expect: dict[str, Any]) -> None:
    """A route's parent status in scan's JSON is what the conformance test asserts."""
    _, scan, _ = _analysed(test)
    route = _route_entry(scan, expect["route"])
    gw = expect["gateway"]
    parents = [
        p for p in route["parents"]
        if p["kind"] == gw["kind"] and p["gateway"] == {"namespace": gw["namespace"],
                                                        "name": gw["name"]}
        and p["listener"] == expect["sectionName"] and p["port"] == expect["port"]
    ]
    assert parents, (f"{test}: no parent entry for {gw} sectionName={expect['sectionName']} "
                     f"port={expect['port']}; scan has {[_short(p) for p in route['parents']]}")
    got = [(p["accepted"], p["reason"]) for p in parents]
    want_reason = expect["reason"]
    ok = any(
        accepted == expect["accepted"] and (want_reason is None or reason == want_reason)
        for accepted, reason in got
    )
    assert ok, (f"{test}: {expect['route']['name']} on {gw['kind']} {gw['name']}: expected "
                f"accepted={expect['accepted']} reason={want_reason}, scan says "
                f"{[_short(p) for p in parents]}")


def _explain_argv(paths: list[str], r: dict[str, Any]) -> list[str]:
    gw = r["gateway"]
    argv = ["explain", *paths, "--gateway", f"{gw['namespace']}/{gw['name']}",
            "--port", str(r["port"]), "--output", "json"]
    protocol = r["protocol"]
    if protocol == "tls":
        argv.append("--tls")
        if r.get("sni") is not None:
            argv += ["--host", r["sni"]]
        return argv
    if protocol in ("tcp", "udp"):
        return [*argv, f"--{protocol}"]
    if r["host"] is not None:
        argv += ["--host", r["host"]]
    if r.get("sni") is not None and r["sni"] != r["host"]:
        argv += ["--sni", r["sni"]]
    for name, value in r["headers"].items():
        argv += ["--header", f"{name}={value}"]
    if protocol == "grpc":
        return [*argv, "--grpc", f"{r['grpcService']}/{r['grpcMethod']}"]
    if r["path"] is not None:
        argv += ["--path", r["path"]]
    if r["method"] is not None:
        argv += ["--method", r["method"]]
    for name, value in r["query"].items():
        argv += ["--query", f"{name}={value}"]
    return argv


def _explain(test: str, r: dict[str, Any]) -> dict[str, Any]:
    graph, _, paths = _analysed(test)
    args = cli.build_parser().parse_args(_explain_argv(paths, r))
    query = explain_cli.query_from_args(args, graph)
    answer = resolve.explain(graph, gateway=query.gateway, port=query.port,
                             protocol=query.protocol, request=query.request, sni=query.sni)
    return render.explain_json(answer)


def _said(got: dict[str, Any]) -> str:
    backend = got["backends"][0] if got["backends"] else None
    return json.dumps({k: got[k] for k in ("outcome", "listener", "route", "rule", "match")}
                      | {"backend": backend, "basis": got["basis"],
                         "listenerBasis": got["listenerBasis"]})


@pytest.mark.parametrize(("test", "r"), _params("request"))
def test_request(test: str, r: dict[str, Any]) -> None:
    """``explain`` routes the request where the conformance test expects it to land."""
    got = _explain(test, r)
    expect = r["expect"]
    request = {k: v for k, v in r.items() if v not in (None, {}) and k not in ("expect", "notes")}
    where = (f"{test}: request {json.dumps(request)}\n  expected {expect}\n"
             f"  explain said {_said(got)}")
    if "backend" in expect:
        assert got["route"] is not None, where
        first = got["backends"][0] if got["backends"] else None
        assert first is not None and first["kind"] == "Service", where
        assert {"namespace": first["namespace"], "name": first["name"]} == expect["backend"], where
    elif expect.get("connectionRejected"):
        assert got["route"] is None, where
    elif expect.get("status") == 404:
        assert got["route"] is None and got["outcome"] != resolve.MISDIRECTED, where
    elif expect.get("status") == 421:
        assert got["route"] is None and got["outcome"] == resolve.MISDIRECTED, where
    else:  # pragma: no cover - the corpus has no other kind of expectation
        pytest.fail(f"{test}: unknown expectation {expect}")


@pytest.mark.parametrize(("test", "expect"), _params("listener"))
def test_attached_routes(test: str, expect: dict[str, Any]) -> None:
    """A listener's AttachedRoutes: the routes scan shows attached to it (each route once)."""
    _, scan, _ = _analysed(test)
    owner = expect["gateway"]
    attached = sorted({
        f"{route['kind']} {route['namespace']}/{route['name']}"
        for route in scan["routes"]
        for p in route["parents"]
        if p["accepted"] and p["kind"] == owner["kind"]
        and p["gateway"] == {"namespace": owner["namespace"], "name": owner["name"]}
        and any(li["name"] == expect["listener"] for li in p["listeners"])
    })
    assert len(attached) == expect["attachedRoutes"], (
        f"{test}: listener {expect['listener']} of {owner['kind']} {owner['name']}: expected "
        f"{expect['attachedRoutes']} attached routes, scan attaches {attached}")


@pytest.mark.parametrize(("test", "expect"), _params("listenerset"))
def test_listener_sets(test: str, expect: dict[str, Any]) -> None:
    """ListenerSet admission by its Gateway, and the Gateway's attachedListenerSets count."""
    graph, _, _ = _analysed(test)
    gw = ObjectRef("Gateway", expect["gateway"]["namespace"], expect["gateway"]["name"])
    state = graph.listeners(gw)
    assert state is not None, f"{test}: Gateway {gw} unknown to the engine"
    if "count" in expect:
        accepted = sorted(str(ref) for ref, why in state.listener_sets.items()
                          if why == "Accepted")
        assert len(accepted) == expect["count"], (
            f"{test}: Gateway {gw}: expected {expect['count']} attached ListenerSets, the "
            f"engine accepts {accepted} (states: {state.listener_sets})")
        return
    ls = ObjectRef("ListenerSet", expect["listenerSet"]["namespace"],
                   expect["listenerSet"]["name"])
    why = state.listener_sets.get(ls)
    assert (why == "Accepted") == expect["accepted"], (
        f"{test}: ListenerSet {ls}: expected accepted={expect['accepted']} "
        f"reason={expect['reason']}, the engine says {why}")
    if expect["reason"] is not None:
        assert why == expect["reason"], f"{test}: ListenerSet {ls}: reason {why}"


def _listener_state(graph: ConflictGraph, owner: ObjectRef, name: str) -> dict[str, Any]:
    """What the engine knows of one declared listener: its record, liveness and conflict."""
    if owner.kind == "Gateway":
        gw_obj = graph.gateway(owner)
        declared = gw_obj.listeners if gw_obj is not None else ()
        gateway: ObjectRef | None = owner
    else:
        ls = graph.listener_set(owner)
        declared = ls.listeners if ls is not None else ()
        gateway = ls.parent if ls is not None else None
    listener = next((li for li in declared if li.name == name), None)
    assert listener is not None, f"listener {name} of {owner.kind} {owner} unknown to the engine"
    state = graph.listeners(gateway) if gateway is not None else None
    live = state is not None and any(li is listener for li in state.live)
    conflict = state.conflicted.get((owner, name)) if state is not None else None
    return {"listener": listener, "live": live, "conflict": conflict}


@pytest.mark.parametrize(("test", "expect"), _params("status"))
def test_listener_status(test: str, expect: dict[str, Any]) -> None:
    """supportedKinds and the listener conditions that follow from what the engine models."""
    graph, _, _ = _analysed(test)
    g = expect["gateway"]
    got = _listener_state(graph, ObjectRef(g["kind"], g["namespace"], g["name"]),
                          expect["listener"])
    listener = got["listener"]
    where = (f"{test}: listener {expect['listener']} of {g['kind']} {g['name']}: engine has "
             f"kinds={listener.kinds} invalid_kinds={listener.invalid_kinds} live={got['live']} "
             f"conflict={got['conflict']}")
    if expect["supportedKinds"] is not None:
        want = {k["kind"] for k in expect["supportedKinds"]}
        assert all(k["group"] == "gateway.networking.k8s.io" for k in expect["supportedKinds"])
        if want:
            assert want <= set(listener.kinds), where
        else:
            assert not listener.kinds, where
    for cond in expect["conditions"]:
        kind, status, reason = cond["type"], cond["status"] == "True", cond["reason"]
        if kind in ("Accepted", "Programmed"):
            assert got["live"] == status, f"{where}; expected {cond}"
            if not status and reason is not None:
                assert got["conflict"] == reason, f"{where}; expected {cond}"
        elif kind == "Conflicted":
            assert (got["conflict"] is not None) == status, f"{where}; expected {cond}"
            if status and reason is not None:
                assert got["conflict"] == reason, f"{where}; expected {cond}"
        elif kind == "ResolvedRefs":
            assert (not listener.invalid_kinds) == status, f"{where}; expected {cond}"
            if not status and reason is not None:
                assert reason == "InvalidRouteKinds", f"{where}; expected {cond}"
        else:  # pragma: no cover - the corpus asserts no other listener condition
            pytest.fail(f"{test}: unknown listener condition {cond}")


# Fields that say where an expectation comes from or explain it, not what it expects.
_PROVENANCE = ("assertedBy", "notes", "sourceLine", "subtest")


def _expectation(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in _PROVENANCE}


def test_generated_corpus_covers_the_checked_corpus() -> None:
    """Every expectation of the hand-checked corpus is in the committed, generated one, with the
    same expectation under the same id (``<Test>/<group><index>``), so the generator loses
    nothing and the ids (and UNSUPPORTED) keep their meaning."""
    if not CHECKED.is_file():
        unavailable("the checked conformance corpus", f"{CHECKED} does not exist")
    checked: list[dict[str, Any]] = json.loads(CHECKED.read_text(encoding="utf-8"))
    ours = {c["test"]: c for c in CASES}
    missing, different = [], []
    for case in checked:
        mine = ours.get(case["test"])
        for group in GROUPS:
            have = _items(mine, group) if mine is not None else []
            for i, item in enumerate(_items(case, group)):
                ident = f"{case['test']}/{group}{i}"
                if i >= len(have):
                    missing.append(ident)
                elif _expectation(have[i]) != _expectation(item):
                    different.append(f"{ident}: checked {_expectation(item)}, "
                                     f"generated {_expectation(have[i])}")
    assert not missing and not different, (
        f"{len(missing)} missing: {missing[:20]}; {len(different)} different: {different[:5]}")


def test_corpus_names_what_it_could_not_extract() -> None:
    """Nothing is dropped silently: every expectation the generator could not state is listed
    with its reason, every case's manifests are committed, and every excluded test says why."""
    corpus: dict[str, Any] = json.loads(CORPUS_FILE.read_text(encoding="utf-8"))
    for case in corpus["cases"]:
        for entry in case.get("unextracted", []):
            assert entry["reason"], f"{case['test']}: unextracted entry without a reason"
        for name in case["manifests"]:
            assert (CORPUS / "manifests" / name).is_file(), f"{case['test']}: {name} missing"
    assert all(e["reason"] for e in corpus["excluded"])
    assert not corpus["problems"], corpus["problems"]
