"""Alert rules (alerts/gwwatch-*.yaml), their promtool unit tests, the runbooks they link to,
and the example Alertmanager configuration, read as files (no tool runs here;
tests/tools/test_alerts_tools.py runs promtool and amtool on them).

In scope: every alert is tested firing and not firing; every alert has a severity, a summary,
a description and a runbook section that exists; finding alerts name the hostname and both
routes and keep those labels through their aggregation; the rules select only metrics gwwatch
exports (read from its registry); the job name is the one the shipped ServiceMonitor
produces; critical alerts route to PagerDuty with a routing key from a file.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.promql import exported_names, selectors, unknown_labels

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "alerts"
RULE_FILES = sorted(ALERTS.glob("gwwatch-*.yaml"))
TEST_FILES = sorted((ALERTS / "tests").glob("*_test.yaml"))
ALERTMANAGER = ALERTS / "alertmanager.example.yml"
RUNBOOKS = ROOT / "docs" / "runbooks.md"
RUNBOOK_URL = "https://github.com/gwwatch/gwwatch/blob/main/docs/runbooks.md#"
FINDING_ALERTS = {"GwwatchHostnameHijack", "GwwatchRouteShadowed", "GwwatchHostnameShared"}


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
            assert url.startswith(RUNBOOK_URL), name
            anchor = url.removeprefix(RUNBOOK_URL)
            assert anchor == name.lower(), f"{name}: anchor {anchor}"
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
            assert not unknown_labels(rule["expr"]), name
            templated = set(re.findall(r"\$labels\.(\w+)", json.dumps(rule["annotations"])))
            kept = set(re.findall(r"\w+", "".join(re.findall(r"by \(([^)]*)\)", rule["expr"]))))
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
        (route,) = self.config()["route"]["routes"]
        assert {"hostname", "route", "other"} <= set(route["group_by"])
