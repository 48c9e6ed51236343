"""The scenarios in ``examples/``: the techresolve incident and what each remedy changes.

- ``techresolve/``: a newer ``staging-analytics/metrics-dashboard`` route takes
  ``api.techresolve.com`` ``PathPrefix /v1/charge`` from ``prod-billing/billing-api`` with a
  longer path prefix: a critical Hijack.
- ``remedy-allowedroutes-selector/``: the hostname gets its own listener open only to
  prod-billing; staging's route still attaches to the wildcard listener but never receives
  the hostname's requests.
- ``remedy-ownership-annotation/``: staging's route is older; the annotation on prod-billing
  keeps billing the owner (distrusting annotations turns the finding the wrong way round).
- ``remedy-per-tenant-gateway/``: ``from: Same`` refuses the cross-namespace attachment; the
  hostname on two tenants' Gateways remains a Posture warning.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gwwatch import manifests
from gwwatch.cli import main
from gwwatch.engine import ConflictGraph, Policy, analyse, parse
from gwwatch.engine.attachment import NOT_ALLOWED_BY_LISTENERS
from gwwatch.engine.findings import Finding
from gwwatch.engine.model import ObjectRef
from gwwatch.engine.vocabulary import Severity

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
HOST = "api.techresolve.com"
BILLING = ObjectRef("HTTPRoute", "prod-billing", "billing-api")
DASHBOARD = ObjectRef("HTTPRoute", "staging-analytics", "metrics-dashboard")
PROD_GATEWAY = ObjectRef("Gateway", "infra-gateways", "prod-gateway")


def load(name: str, policy: Policy | None = None) -> ConflictGraph:
    """What ``gwwatch scan examples/NAME`` analyses."""
    parsed = [p for p in (parse(s.obj, source=s.where)
                          for s in manifests.load([str(EXAMPLES / name)])) if p is not None]
    return analyse(parsed, policy)


def kinds(graph: ConflictGraph, kind: str) -> list[Finding]:
    return [f for f in graph.findings() if f.kind == kind]


class TestTechresolve:
    def test_the_hijack(self) -> None:
        graph = load("techresolve")
        assert not graph.invalid_objects()
        (f,) = [f for f in graph.findings() if f.severity == Severity.CRITICAL]
        assert (f.kind, f.route, f.other, f.hostname) == ("Hijack", DASHBOARD, BILLING, HOST)
        assert (f.gateway, f.listener) == (PROD_GATEWAY, "https")
        assert "PathPrefix /v1/charge" in f.message
        assert "longer path prefix" in f.message
        assert "staging-analytics/metrics-dashboard" in f.message
        assert "prod-billing/billing-api" in f.message

    def test_both_routes_attached(self) -> None:
        graph = load("techresolve")
        for ref in (BILLING, DASHBOARD):
            (st,) = graph.parents_of(ref)
            assert st.accepted
            assert [(a.listener.name, a.hostnames) for a in st.attached] == [
                ("https", (HOST,))]

    def test_billing_owns_by_oldest_route(self) -> None:
        owner = load("techresolve").owner(HOST)
        assert owner is not None
        assert (owner.tenant, owner.rule) == ("prod-billing", "oldest route")


class TestRemedies:
    def test_allowedroutes_selector(self) -> None:
        graph = load("remedy-allowedroutes-selector")
        assert not kinds(graph, "Hijack")
        assert not [f for f in graph.findings() if f.severity == Severity.CRITICAL]
        (billing,) = graph.parents_of(BILLING)
        assert "api" in [a.listener.name for a in billing.attached]
        (dash,) = graph.parents_of(DASHBOARD)
        assert dash.accepted and [a.listener.name for a in dash.attached] == ["https"]
        assert [f for f in graph.findings() if f.route == DASHBOARD and f.kind == "Shadowed"]

    def test_ownership_annotation(self) -> None:
        graph = load("remedy-ownership-annotation")
        (f,) = kinds(graph, "Hijack")
        assert (f.severity, f.route, f.other) == (Severity.CRITICAL, DASHBOARD, BILLING)
        assert "namespace annotation" in f.message

    def test_ownership_annotation_distrusted(self) -> None:
        """Without the annotation the older staging route owns the hostname: billing looks
        like the intruder, the wrong way round."""
        graph = load("remedy-ownership-annotation", Policy(trust_annotations=False))
        assert not kinds(graph, "Hijack")
        (f,) = kinds(graph, "SharedHostname")
        assert (f.severity, f.route, f.other) == (Severity.WARNING, BILLING, DASHBOARD)

    def test_per_tenant_gateway(self) -> None:
        graph = load("remedy-per-tenant-gateway")
        assert not kinds(graph, "Hijack")
        to_billing, to_own = graph.parents_of(DASHBOARD)
        assert (to_billing.accepted, to_billing.reason) == (False, NOT_ALLOWED_BY_LISTENERS)
        assert to_own.accepted
        (f,) = [f for f in graph.findings() if f.reason == "HostnameAcrossGateways"]
        assert (f.kind, f.severity, f.hostname) == ("Posture", Severity.WARNING, HOST)


@pytest.mark.parametrize(("name", "code"), [
    ("techresolve", 1),
    ("remedy-allowedroutes-selector", 0),
    ("remedy-ownership-annotation", 1),
    ("remedy-per-tenant-gateway", 0),
])
def test_scan_exit_code(name: str, code: int, capsys: pytest.CaptureFixture[str]) -> None:
    """What the examples README promises ``gwwatch scan`` says, by exit code."""
    assert main(["scan", str(EXAMPLES / name)]) == code
    capsys.readouterr()


def test_every_example_is_covered() -> None:
    dirs = {p.name for p in EXAMPLES.iterdir() if p.is_dir()}
    assert dirs == {"techresolve", "remedy-allowedroutes-selector",
                    "remedy-ownership-annotation", "remedy-per-tenant-gateway"}


def test_make_demo_scan(capsys: pytest.CaptureFixture[str]) -> None:
    """``make demo-scan`` runs a scan that works: the critical Hijack, exit 0 (--fail-on
    never). The folders reuse names, so ``examples/`` as a whole is refused (exit 2)."""
    makefile = (EXAMPLES.parent / "Makefile").read_text(encoding="utf-8")
    recipe = makefile.split("\ndemo-scan:", 1)[1].splitlines()[1]
    argv = recipe.split("-m gwwatch", 1)[1].split()
    assert argv[0] == "scan"
    code = main([a if a.startswith("-") else str(EXAMPLES.parent / a) if "/" in a else a
                 for a in argv])
    out = capsys.readouterr().out
    assert code == 0
    assert "CRITICAL" in out and "Hijack" in out
    assert main(["scan", str(EXAMPLES)]) == 2
    assert "is in the input twice" in capsys.readouterr().err
