"""The Grafana dashboards in dashboards/: generated from code, templated, and querying only
what gwwatch exports.

In scope: the committed JSON (and its ConfigMap and chart copies) equals what
dashboards/generate.py makes now; every query's metric names come from gwwatch's own registry
(tests/promql.py reads them, not a hand-written list); every selector follows ``$cluster`` and
``$namespace``, every finding panel ``$tenant`` and ``$hostname``, every panel
``$datasource``; the panels the issue asks for exist (first seen per hijack), stat thresholds
say what is right; the PromQL reader those checks rest on. tests/e2e runs every query against
a Prometheus scraping a real gwwatch.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tests.promql import (
    Selector,
    exported_labels,
    exported_names,
    grouping_labels,
    metric_names,
    selectors,
    unknown_labels,
)

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "dashboards"
CLUSTER = yaml.safe_load((ROOT / "alerts" / "config.yaml").read_text())["clusterLabel"]
FIRST_SEEN = "gwwatch_finding_first_seen_timestamp_seconds"


def with_cluster() -> dict[str, frozenset[str]]:
    """gwwatch's families (and `up`) may carry the cluster label (external label, relabelling)."""
    return {**{k: v | {CLUSTER} for k, v in exported_labels().items()},
            "up": frozenset({CLUSTER})}


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gwwatch_dashboards",
                                                  DASHBOARDS / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    return _generator()


@pytest.fixture(scope="module")
def committed() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARDS.glob("*.json"))}


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for p in dashboard["panels"]:
        yield p
        yield from p.get("panels", [])  # collapsed rows hold their panels


def targets(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(panel title, expr) of every query, variables' queries included."""
    for p in panels(dashboard):
        for t in p.get("targets", []):
            yield p["title"], t["expr"]
    for v in dashboard["templating"]["list"]:
        if v["type"] == "query":
            q = v["query"]
            yield f"${v['name']}", q["query"] if isinstance(q, dict) else q


def variable_query_expr(q: str) -> str:
    """``label_values(expr, label)`` → ``expr`` (Grafana's Prometheus variable syntax)."""
    if q.startswith("label_values(") and q.endswith(")"):
        inner = q[len("label_values("):-1]
        return inner.rsplit(",", 1)[0] if "," in inner else inner
    return q


class TestGenerated:
    def test_committed_json_is_what_the_code_generates(
            self, generator: ModuleType, committed: dict[str, dict[str, Any]]) -> None:
        """Edit dashboards/generate.py, then run it: a hand edit of the JSON fails here."""
        want = generator.rendered()
        assert sorted(committed) == sorted(want), "dashboards/ holds a JSON file no code makes"
        for name, text in want.items():
            assert (DASHBOARDS / name).read_text() == text, (
                f"dashboards/{name} is stale: run .venv/bin/python dashboards/generate.py")

    def test_check_mode_reports_a_stale_file(self, generator: ModuleType, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
        """--check exits 1 and names the file when the JSON drifted; 0 when it matches."""
        monkeypatch.setattr(generator, "HERE", tmp_path)
        assert generator.main([]) == 0
        assert generator.main(["--check"]) == 0
        path = tmp_path / "gwwatch-overview.json"
        path.write_text(path.read_text().replace("Active hijacks", "Active hijackz"))
        assert generator.main(["--check"]) == 1
        assert "gwwatch-overview.json" in capsys.readouterr().err

    def test_dashboards_have_stable_identity(self, committed: dict[str, dict[str, Any]]
                                             ) -> None:
        """uids are fixed (links and provisioning rely on them); panel ids are unique."""
        assert {d["uid"] for d in committed.values()} == {"gwwatch-overview",
                                                          "gwwatch-controller"}
        for name, d in committed.items():
            ids = [p["id"] for p in panels(d)]
            assert len(ids) == len(set(ids)), name
            assert "gwwatch" in d["tags"]


class TestQueries:
    def test_every_query_selects_only_metrics_gwwatch_exports(
            self, committed: dict[str, dict[str, Any]]) -> None:
        exported = exported_names()
        assert "gwwatch_finding_info" in exported  # the registry was really read
        for name, d in committed.items():
            for title, expr in targets(d):
                names = metric_names(variable_query_expr(expr))
                assert names, f"{name} {title!r}: no metric in {expr!r}"
                unknown = names - exported
                assert not unknown, f"{name} {title!r} queries {sorted(unknown)}: not exported"

    def test_every_query_uses_only_labels_its_metrics_carry(
            self, committed: dict[str, dict[str, Any]]) -> None:
        """Matchers and by-clauses name labels of gwwatch's families (or the scrape
        target's): a misspelt label would silently select or group nothing."""
        for name, d in committed.items():
            for title, expr in targets(d):
                bad = unknown_labels(variable_query_expr(expr), with_cluster())
                assert not bad, f"{name} {title!r}: unknown labels {sorted(bad)} in {expr}"

    def test_table_columns_are_labels_the_query_keeps(
            self, committed: dict[str, dict[str, Any]]) -> None:
        for name, d in committed.items():
            for p in panels(d):
                for t in p.get("transformations", []):
                    if t["id"] == "organize":
                        (target,) = p["targets"]
                        columns = set(t["options"]["indexByName"]) - {"Value"}
                        kept = grouping_labels(target["expr"])
                        assert columns <= kept, f"{name} {p['title']!r}: {columns - kept}"

    def test_every_selector_follows_the_namespace_variable(
            self, committed: dict[str, dict[str, Any]]) -> None:
        for name, d in committed.items():
            for title, expr in targets(d):
                if title.startswith("$"):
                    continue  # the variable's own query lists the namespaces
                for sel in selectors(expr):
                    assert sel.matcher("namespace") == ("=~", "$namespace"), (
                        f"{name} {title!r}: {sel.name} ignores $namespace")
                    assert sel.matcher(CLUSTER) == ("=~", "$cluster"), (
                        f"{name} {title!r}: {sel.name} ignores $cluster")

    def test_every_finding_panel_follows_tenant_and_hostname(
            self, committed: dict[str, dict[str, Any]]) -> None:
        """$tenant matches either side of a finding: the offender's tenant or the owner's."""
        seen = 0
        for name, d in committed.items():
            for title, expr in targets(d):
                sels = [s for s in selectors(expr)
                        if s.name in ("gwwatch_finding_info", FIRST_SEEN)]
                if not sels or title.startswith("$"):
                    continue
                seen += 1
                assert all(s.matcher("hostname") == ("=~", "$hostname") for s in sels), title
                sides = {label for s in sels for label in ("tenant", "other_tenant")
                         if s.matcher(label) == ("=~", "$tenant")}
                assert sides == {"tenant", "other_tenant"}, f"{name} {title!r}: {expr}"
        assert seen >= 3

    def test_every_panel_uses_the_datasource_variable(
            self, committed: dict[str, dict[str, Any]]) -> None:
        for name, d in committed.items():
            variables = {v["name"]: v for v in d["templating"]["list"]}
            assert variables["datasource"]["type"] == "datasource"
            assert variables["datasource"]["query"] == "prometheus"
            assert variables["namespace"]["datasource"]["uid"] == "${datasource}"
            assert variables["namespace"]["includeAll"] and variables["namespace"]["multi"]
            cluster = variables["cluster"]
            assert cluster["multi"] and cluster["includeAll"] and cluster["allValue"] == ".*"
            assert cluster["query"] in (f"label_values(gwwatch_build_info, {CLUSTER})",
                                        {"query": f"label_values(gwwatch_build_info, {CLUSTER})",
                                         "refId": "PrometheusVariableQueryEditor-VariableQuery",
                                         "qryType": 1})
            assert cluster.get("hide", 0) == 0  # shown: the config names a cluster label
            for p in panels(d):
                if p["type"] == "row":
                    continue
                assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, (
                    f"{name} {p['title']!r}")
                assert p.get("targets"), f"{name} {p['title']!r} has no query"

    def test_engine_state_is_not_counted_once_per_replica(
            self, committed: dict[str, dict[str, Any]]) -> None:
        """Every replica exports the same findings/routes/attachments: panels take max over
        replicas before any sum."""
        engine = {"gwwatch_findings", "gwwatch_finding_info", "gwwatch_routes",
                  "gwwatch_attachments", "gwwatch_invalid_objects"}
        for name, d in committed.items():
            for title, expr in targets(d):
                if title.startswith("$"):
                    continue  # a variable lists label values: nothing is counted
                if metric_names(expr) & engine:
                    assert "max by (" in expr, f"{name} {title!r}: {expr}"
                if FIRST_SEEN in metric_names(expr):  # the earliest any replica saw it
                    assert "min by (" in expr, f"{name} {title!r}: {expr}"


class TestPanels:
    def _by_title(self, d: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return {p["title"]: p for p in panels(d)}

    def test_overview_names_hostname_offender_and_victim_of_each_hijack(
            self, committed: dict[str, dict[str, Any]]) -> None:
        p = self._by_title(committed["gwwatch-overview.json"])["Active hijacks"]
        assert p["type"] == "table"
        (t,) = p["targets"]
        assert t["instant"] and t["format"] == "table"
        for sel in selectors(t["expr"]):
            assert sel.name == FIRST_SEEN and sel.matcher("kind") == ("=", "Hijack")
        (org,) = p["transformations"]
        renamed = org["options"]["renameByName"]
        assert renamed["hostname"] == "Hostname"
        assert renamed["route"] == "Offender route" and renamed["other"] == "Victim route"
        assert renamed[CLUSTER] == "Cluster"
        order = org["options"]["indexByName"]
        assert order["hostname"] < order["route"] < order["other"]

    def test_each_active_hijack_says_since_when(
            self, committed: dict[str, dict[str, Any]]) -> None:
        """The value column is the first-seen time: seconds * 1000 shown as a date."""
        p = self._by_title(committed["gwwatch-overview.json"])["Active hijacks"]
        (t,) = p["targets"]
        assert t["expr"].startswith("1000 * min by (")
        (org,) = p["transformations"]
        assert org["options"]["renameByName"]["Value"] == "First seen"
        assert "Value" not in org["options"]["excludeByName"]
        assert p["fieldConfig"]["defaults"]["unit"].startswith("dateTime")

    @staticmethod
    def _colour(panel: dict[str, Any], value: float) -> str:
        steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
        colour = steps[0]["color"]
        for s in steps[1:]:
            if value >= s["value"]:
                colour = s["color"]
        return str(colour)

    def test_leaders_is_green_only_at_exactly_one(
            self, committed: dict[str, dict[str, Any]]) -> None:
        p = self._by_title(committed["gwwatch-controller.json"])["Leaders"]
        assert [self._colour(p, v) for v in (0, 1, 2, 3)] == ["red", "green", "red", "red"]

    def test_warnings_never_turn_red(self, committed: dict[str, dict[str, Any]]) -> None:
        by = self._by_title(committed["gwwatch-overview.json"])
        assert {self._colour(by["Warnings"], v) for v in (0, 1, 50)} == {"green", "orange"}
        assert self._colour(by["Critical findings"], 1) == "red"

    def test_filters_tenant_and_hostname_exist(
            self, committed: dict[str, dict[str, Any]]) -> None:
        variables = {v["name"]: v for v in committed["gwwatch-overview.json"]["templating"]
                     ["list"]}
        for name in ("tenant", "hostname"):
            assert variables[name]["multi"] and variables[name]["allValue"] == ".*"

    @pytest.mark.parametrize(("dashboard", "metric"), [
        ("gwwatch-overview.json", "gwwatch_findings"),
        ("gwwatch-overview.json", "gwwatch_routes"),
        ("gwwatch-overview.json", "gwwatch_attachments"),
        ("gwwatch-controller.json", "gwwatch_watch_events_total"),
        ("gwwatch-controller.json", "gwwatch_watch_restarts_total"),
        ("gwwatch-controller.json", "gwwatch_relists_total"),
        ("gwwatch-controller.json", "gwwatch_last_sync_timestamp_seconds"),
        ("gwwatch-controller.json", "gwwatch_reconcile_duration_seconds_bucket"),
        ("gwwatch-controller.json", "gwwatch_status_writes_total"),
        ("gwwatch-controller.json", "gwwatch_events_total"),
        ("gwwatch-controller.json", "gwwatch_leader"),
        ("gwwatch-controller.json", "gwwatch_ready"),
    ])
    def test_required_view_is_on_the_dashboard(
            self, committed: dict[str, dict[str, Any]], dashboard: str, metric: str) -> None:
        d = committed[dashboard]
        assert any(metric in metric_names(expr) for _, expr in targets(d)), metric

    def test_posture_findings_have_their_own_table(
            self, committed: dict[str, dict[str, Any]]) -> None:
        p = self._by_title(committed["gwwatch-overview.json"])["Posture findings"]
        for sel in selectors(p["targets"][0]["expr"]):
            assert sel.matcher("kind") == ("=", "Posture")

    def test_panels_do_not_overlap(self, committed: dict[str, dict[str, Any]]) -> None:
        for name, d in committed.items():
            cells: dict[tuple[int, int], str] = {}
            for p in d["panels"]:
                g = p["gridPos"]
                assert g["x"] + g["w"] <= 24, f"{name} {p['title']!r} is wider than the grid"
                for x in range(g["x"], g["x"] + g["w"]):
                    for y in range(g["y"], g["y"] + g["h"]):
                        assert (x, y) not in cells, f"{name}: {p['title']!r} over {cells[x, y]!r}"
                        cells[x, y] = p["title"]


class TestConfigMaps:
    def test_sidecar_configmaps_and_chart_copies_are_generated(
            self, generator: ModuleType) -> None:
        for path, text in generator.files().items():
            assert path.read_text() == text, (
                f"{path.relative_to(ROOT)} is stale: run .venv/bin/python dashboards/generate.py")

    def test_each_dashboard_is_a_sidecar_configmap(self, generator: ModuleType,
                                                   committed: dict[str, dict[str, Any]]) -> None:
        docs = list(yaml.safe_load_all(generator.CONFIGMAPS.read_text()))
        assert len(docs) == len(committed)
        for cm in docs:
            assert cm["kind"] == "ConfigMap"
            assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
            assert cm["metadata"]["annotations"]["grafana_folder"] == "gwwatch"
            ((name, text),) = cm["data"].items()
            assert json.loads(text) == committed[name]
        kustomization = yaml.safe_load(
            (generator.CONFIGMAPS.parent / "kustomization.yaml").read_text())
        assert generator.CONFIGMAPS.name in kustomization["resources"]

    def test_without_a_cluster_label_cluster_is_hidden_and_unused(
            self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        """alerts/config.yaml with clusterLabel "": $cluster is hidden, no query uses it."""
        root = tmp_path / "repo"
        (root / "alerts").mkdir(parents=True)
        (root / "dashboards").mkdir()
        (root / "alerts" / "config.yaml").write_text("clusterLabel: ''\n")
        (root / "dashboards" / "generate.py").write_text(
            (DASHBOARDS / "generate.py").read_text())
        spec = importlib.util.spec_from_file_location("gwwatch_dashboards_nocluster",
                                                      root / "dashboards" / "generate.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        assert module.CLUSTER == ""
        for text in module.rendered().values():
            d = json.loads(text)
            variables = {v["name"]: v for v in d["templating"]["list"]}
            assert variables["cluster"]["hide"] == 2
            for title, expr in targets(d):
                if title != "$cluster":
                    assert "$cluster" not in expr, title


class TestPromqlReader:
    """The checks above are only as good as the reader that finds metric names."""

    @pytest.mark.parametrize(("expr", "names"), [
        pytest.param("up", {"up"}, id="bare"),
        pytest.param('sum by (kind, severity) (max by (namespace) (gwwatch_findings{a="b"}))',
                     {"gwwatch_findings"}, id="aggregations-and-label-lists"),
        pytest.param("histogram_quantile(0.99, sum(rate(h_bucket[$__rate_interval])) by (le))",
                     {"h_bucket"}, id="functions-ranges-trailing-by"),
        pytest.param('a / on(job) group_left(version) b offset 1h30m', {"a", "b"},
                     id="vector-matching-offset"),
        pytest.param('label_replace(m{x=~"sum|rate"}, "dst", "$1", "src", "(.*)")', {"m"},
                     id="strings-are-not-names"),
        pytest.param("sum(x) or vector(0)", {"x"}, id="keywords"),
        pytest.param('time() - t{namespace=~"$namespace"} > bool 5e2', {"t"}, id="numbers"),
        pytest.param('{__name__="n", k!="v"}', {"n"}, id="name-matcher"),
    ])
    def test_metric_names(self, expr: str, names: set[str]) -> None:
        assert metric_names(expr) == names

    def test_matchers_are_read_with_their_operators(self) -> None:
        assert selectors('m{a="1", b=~"x|y", c!="\\"q\\""}') == [
            Selector("m", (("a", "=", "1"), ("b", "=~", "x|y"), ("c", "!=", '"q"')))]

    def test_an_unknown_label_is_caught(self) -> None:
        assert unknown_labels('sum by (kind, typo) (gwwatch_relists_total{knd="HTTPRoute"})'
                              ) == {"typo", "knd"}
        assert unknown_labels("sum by (le) (rate(gwwatch_reconcile_duration_seconds_bucket"
                              '{namespace="x"}[5m]))') == set()

    def test_an_unknown_metric_is_caught(self) -> None:
        """A typo in a panel's query would be reported (the check can fail)."""
        assert metric_names("rate(gwwatch_watch_event_total[5m])") - exported_names() == {
            "gwwatch_watch_event_total"}

    def test_unreadable_promql_is_an_error_not_a_pass(self) -> None:
        with pytest.raises(ValueError):
            selectors("sum(x) ~ y")
