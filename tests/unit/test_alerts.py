"""Alert rules (alerts/gwwatch-*.yaml, generated from alerts/config.yaml by alerts/generate.py),
their promtool unit tests, the runbooks they link to, and the example Alertmanager
configuration, read as files (no tool runs here; tests/tools/test_alerts_tools.py runs promtool
and amtool on them).

Also in scope: every generated file (rule files, deploy/monitoring's PrometheusRule, the chart's
copy) is what the generator makes of the config now; every alert keeps the cluster label in its
aggregations and names the cluster in its summary; without a cluster label nothing mentions one;
the ticket-level alerts cover warning Hijacks and warning Posture findings.

In scope: every alert is tested firing and not firing; every alert has a severity, a summary,
a description and a runbook section that exists; finding alerts name the hostname and both
routes and keep those labels through their aggregation; the rules select only metrics gwwatch
exports (read from its registry); the job name is the one the shipped ServiceMonitor
produces; critical alerts route to PagerDuty with a routing key from a file.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tests.promql import exported_labels, exported_names, selectors, unknown_labels

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "alerts"
RULE_FILES = sorted(ALERTS.glob("gwwatch-*.yaml"))
TEST_FILES = sorted((ALERTS / "tests").glob("*_test.yaml"))
ALERTMANAGER = ALERTS / "alertmanager.example.yml"
RUNBOOKS = ROOT / "docs" / "runbooks.md"
FINDING_ALERTS = {"GwwatchHostnameHijack", "GwwatchHijackWarning", "GwwatchRouteShadowed",
                  "GwwatchHostnameShared"}


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gwwatch_alerts", ALERTS / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    return module


GEN = _generator()
CONFIG = GEN.load_config()
CLUSTER = CONFIG.cluster_label


def with_cluster(known: dict[str, frozenset[str]]) -> dict[str, frozenset[str]]:
    """Every family, and `up`, may carry the cluster label (an external label, or relabelling)."""
    extra = frozenset({CLUSTER} if CLUSTER else ())
    return {**{k: v | extra for k, v in known.items()}, "up": extra}


def rules() -> list[dict[str, Any]]:
    out = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            out.extend(group["rules"])
    return out


def alerts() -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for r in rules() if "alert" in r}


class TestRuleTests:
    def test_the_rule_files_exist(self) -> None:
        assert [p.name for p in RULE_FILES] == ["gwwatch-controller.yaml",
                                                "gwwatch-findings.yaml"]
        assert TEST_FILES

    def test_every_alert_is_tested_firing_and_not_firing(self) -> None:
        firing: set[str] = set()
        silent: set[str] = set()
        for path in TEST_FILES:
            for case in yaml.safe_load(path.read_text())["tests"]:
                for t in case.get("alert_rule_test", []):
                    (firing if t.get("exp_alerts") else silent).add(t["alertname"])
        assert set(alerts()) <= firing, f"never tested firing: {set(alerts()) - firing}"
        assert set(alerts()) <= silent, f"never tested silent: {set(alerts()) - silent}"


class TestRules:
    def test_every_alert_says_how_bad_what_and_where_to_read_on(self) -> None:
        headings = set(re.findall(r"^## (\w+)$", RUNBOOKS.read_text(), re.MULTILINE))
        for name, rule in alerts().items():
            assert rule["labels"]["severity"] in ("critical", "warning"), name
            ann = rule["annotations"]
            assert ann["summary"].strip() and ann["description"].strip(), name
            url = ann["runbook_url"]
            assert url == CONFIG.runbook_url.format(version=CONFIG.version,
                                                    anchor=name.lower()), name
            assert url.endswith(f"/docs/runbooks.md#{name.lower()}"), url
            assert f"/v{CONFIG.version}/" in url, "runbooks of this release's tag"
            assert name in headings, f"docs/runbooks.md has no section for {name}"

    def test_every_runbook_section_belongs_to_an_alert(self) -> None:
        headings = set(re.findall(r"^## (\w+)$", RUNBOOKS.read_text(), re.MULTILINE))
        assert headings == set(alerts())
        for name in headings:
            section = RUNBOOKS.read_text().split(f"## {name}\n", 1)[1].split("\n## ", 1)[0]
            for part in ("### What it means", "### Confirm", "### Fix"):
                assert part in section, f"{name}: {part} missing"
            assert "kubectl" in section, f"{name}: no kubectl command to confirm"

    def test_only_a_hijack_or_a_missing_gwwatch_pages(self) -> None:
        critical = {n for n, r in alerts().items() if r["labels"]["severity"] == "critical"}
        assert critical == {"GwwatchHostnameHijack", "GwwatchAbsent"}

    @pytest.mark.parametrize("name", sorted(FINDING_ALERTS))
    def test_finding_alerts_name_the_hostname_and_both_routes(self, name: str) -> None:
        rule = alerts()[name]
        (by,) = re.findall(r"max by \(([^)]*)\)", rule["expr"])
        kept = {label.strip() for label in by.split(",")}
        needed = {"hostname", "route_kind", "route", "other_kind", "other", "gateway",
                  "listener"}
        assert needed <= kept, f"{name} aggregates away {needed - kept}"
        for field in ("summary", "description"):
            text = rule["annotations"][field]
            for label in ("hostname", "route", "other"):
                assert f"$labels.{label} }}}}" in text, f"{name} {field} lacks {label}"
        (sel,) = selectors(rule["expr"])
        assert sel.name == "gwwatch_finding_info"

    def test_rules_select_only_metrics_gwwatch_exports(self) -> None:
        exported = exported_names() | {"up"}  # up: Prometheus' own, per scrape target
        for name, rule in alerts().items():
            used = {s.name for s in selectors(rule["expr"])}
            assert used and used <= exported, f"{name}: {sorted(used - exported)}"

    def test_rules_use_only_labels_their_metrics_carry(self) -> None:
        for name, rule in alerts().items():
            assert not unknown_labels(rule["expr"], with_cluster(exported_labels())), name
            templated = set(re.findall(r"\$labels\.(\w+)", json.dumps(rule["annotations"])))
            kept = set(re.findall(r"\w+", ",".join(re.findall(r"by \(([^)]*)\)", rule["expr"]))))
            if kept:  # an aggregation keeps only its by-labels: templates must use those
                assert templated <= kept, f"{name} templates {sorted(templated - kept)}"

    def test_job_is_the_one_the_servicemonitor_produces(self) -> None:
        """The Prometheus Operator names the job after the Service a ServiceMonitor selects."""
        service = yaml.safe_load((ROOT / "deploy" / "base" / "service.yaml").read_text())
        jobs = {m[1] for r in alerts().values() for s in selectors(r["expr"])
                if (m := s.matcher("job")) is not None}
        assert jobs == {service["metadata"]["name"]}


class TestAlertmanager:
    def config(self) -> dict[str, Any]:
        doc: dict[str, Any] = yaml.safe_load(ALERTMANAGER.read_text())
        return doc

    def test_pagerduty_uses_events_v2_with_a_routing_key_file(self) -> None:
        (receiver,) = [r for r in self.config()["receivers"] if r["name"] == "pagerduty-critical"]
        (pd,) = receiver["pagerduty_configs"]
        assert pd["routing_key_file"].startswith("/")
        assert not {"routing_key", "service_key", "service_key_file"} & set(pd)
        assert pd.get("send_resolved", True)
        assert "Annotations.summary" in pd["description"]

    def test_each_hijack_is_its_own_incident(self) -> None:
        """... in each cluster: the same hijack in two clusters is two incidents."""
        (route,) = self.config()["route"]["routes"]
        assert {"hostname", "route", "other", CLUSTER} <= set(route["group_by"])
        assert CLUSTER in self.config()["route"]["group_by"]
        assert CLUSTER in self.config()["receivers"][1]["pagerduty_configs"][0]["details"]

    def test_absence_inhibits_only_its_own_clusters_alerts(self) -> None:
        (rule,) = self.config()["inhibit_rules"]
        assert rule["equal"] == [CLUSTER]


class TestGenerated:
    def test_committed_files_are_what_the_config_generates(self) -> None:
        """Edit alerts/config.yaml or alerts/generate.py, then run it: a hand edit of a rule
        file, the PrometheusRule or the chart's copy fails here."""
        for path, text in GEN.rendered().items():
            assert path.exists(), f"{path.relative_to(ROOT)} missing: run alerts/generate.py"
            assert path.read_text() == text, (
                f"{path.relative_to(ROOT)} is stale: run .venv/bin/python alerts/generate.py")

    def test_check_mode_reports_a_stale_file(self, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
        gen = _generator()
        monkeypatch.setattr(gen, "HERE", tmp_path)
        monkeypatch.setattr(gen, "CHART_RULES", tmp_path / "chart.yaml")
        original = gen._prometheusrule_generator

        def prom() -> ModuleType:
            m = original()
            m.OUTPUT = tmp_path / "prometheusrule.yaml"
            return m

        monkeypatch.setattr(gen, "_prometheusrule_generator", prom)
        assert gen.main([]) == 0 and gen.main(["--check"]) == 0
        path = tmp_path / "gwwatch-findings.yaml"
        path.write_text(path.read_text().replace("for: 1m", "for: 2m"))
        assert gen.main(["--check"]) == 1
        assert "gwwatch-findings.yaml" in capsys.readouterr().err

    def test_the_chart_copy_differs_only_in_the_selector(self) -> None:
        chart = yaml.safe_load(GEN.CHART_RULES.read_text())
        ours = [g for p in RULE_FILES for g in yaml.safe_load(p.read_text())["groups"]]
        text = json.dumps(chart["groups"]).replace(GEN.CHART_SELECTOR, CONFIG.selector.replace(
            '"', '\\"'))
        assert json.loads(text) == ours

    def test_config_sets_for_and_severity_of_every_alert(self) -> None:
        assert set(CONFIG.alerts) == set(alerts())
        for name, rule in alerts().items():
            assert rule["for"] == CONFIG.alerts[name]["for"], name
            assert rule["labels"]["severity"] == CONFIG.alerts[name]["severity"], name

    def test_a_changed_config_changes_the_rules(self) -> None:
        cfg = GEN.Config(selector='job="platform/gwwatch"', cluster_label="k8s_cluster",
                         runbook_url="https://runbooks.example.com/{anchor}",
                         alerts={**CONFIG.alerts,
                                 "GwwatchHostnameHijack": {"for": "3m", "severity": "critical"}},
                         version=CONFIG.version)
        rules = {r["alert"]: r for d in GEN.rule_groups(cfg).values()
                 for g in d["groups"] for r in g["rules"]}
        hijack = rules["GwwatchHostnameHijack"]
        assert hijack["for"] == "3m"
        assert hijack["annotations"]["runbook_url"] == (
            "https://runbooks.example.com/gwwatchhostnamehijack")
        assert "max by (k8s_cluster, namespace," in hijack["expr"]
        for rule in rules.values():
            for sel in selectors(rule["expr"]):
                if sel.name != "up" or sel.matcher("k8s_cluster") is None:
                    assert sel.matcher("job") == ("=", "platform/gwwatch"), rule["alert"]


class TestClusters:
    def test_the_shipped_config_names_a_cluster_label(self) -> None:
        assert CLUSTER == "cluster"

    def test_every_aggregation_keeps_the_cluster(self) -> None:
        for name, rule in alerts().items():
            for by in re.findall(r"\bby \(([^)]*)\)", rule["expr"]):
                assert CLUSTER in {x.strip() for x in by.split(",")}, f"{name}: by ({by})"
            for on in re.findall(r"\bon \(([^)]*)\)", rule["expr"]):
                # `unless on ()` only where no series carries a cluster label at all
                assert on.strip() in (CLUSTER, ""), f"{name}: on ({on})"

    def test_every_alert_names_its_cluster(self) -> None:
        for name, rule in alerts().items():
            for field in ("summary", "description"):
                assert CONFIG.where in rule["annotations"][field], f"{name} {field}"
        assert f"$labels.{CLUSTER}" in CONFIG.where
        assert f"$externalLabels.{CLUSTER}" in CONFIG.where

    def test_absence_is_detected_per_cluster(self) -> None:
        expr = alerts()["GwwatchAbsent"]["expr"]
        assert f"count by ({CLUSTER}) (up{{{CLUSTER}!=\"\"}})" in expr
        assert f"unless on ({CLUSTER})" in expr
        assert "absent(" in expr

    def test_without_a_cluster_label_nothing_mentions_one(self) -> None:
        cfg = GEN.Config(selector=CONFIG.selector, cluster_label="",
                         runbook_url=CONFIG.runbook_url, alerts=CONFIG.alerts,
                         version=CONFIG.version)
        docs = GEN.rule_groups(cfg)
        assert "cluster" not in json.dumps(GEN.strip_comments(docs))
        absent = next(r for d in docs.values() for g in d["groups"] for r in g["rules"]
                      if r["alert"] == "GwwatchAbsent")
        assert absent["expr"] == f"absent(up{{{CONFIG.selector}}} == 1)"


class TestTickets:
    @pytest.mark.parametrize(("name", "kind"), [("GwwatchHijackWarning", "Hijack"),
                                                ("GwwatchPostureWarning", "Posture")])
    def test_warning_findings_make_a_ticket(self, name: str, kind: str) -> None:
        rule = alerts()[name]
        assert rule["labels"]["severity"] == "warning"
        (sel,) = selectors(rule["expr"])
        assert sel.name == "gwwatch_finding_info"
        assert sel.matcher("kind") == ("=", kind)
        assert sel.matcher("severity") == ("=", "warning")
