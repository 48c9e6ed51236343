"""Alert rules (alerts/gwwatch-*.yaml), their promtool unit tests, the runbooks they link to,
and the example Alertmanager configuration — checked with Debian's promtool and amtool.

In scope: ``promtool check rules`` and ``promtool test rules`` pass, and the unit tests would
notice a changed ``for:`` or annotation; every alert is tested firing and not firing; every
alert has a severity, a summary, a description and a runbook section that exists; finding
alerts name the hostname and both routes and keep those labels through their aggregation; the
rules select only metrics gwwatch exports (read from its registry); the job name is the one
the shipped ServiceMonitor produces; ``amtool check-config`` passes and critical alerts route
to PagerDuty with a routing key from a file. The tools are installed when missing
(tests/tools.py); in CI a missing tool fails.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.promql import exported_names, selectors, unknown_labels
from tests.tools import require

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "alerts"
RULE_FILES = sorted(ALERTS.glob("gwwatch-*.yaml"))
TEST_FILES = sorted((ALERTS / "tests").glob("*_test.yaml"))
ALERTMANAGER = ALERTS / "alertmanager.example.yml"
RUNBOOKS = ROOT / "docs" / "runbooks.md"
RUNBOOK_URL = "https://github.com/gwwatch/gwwatch/blob/main/docs/runbooks.md#"
FINDING_ALERTS = {"GwwatchHostnameHijack", "GwwatchRouteShadowed", "GwwatchHostnameShared"}


def run(*cmd: str | Path, cwd: Path = ALERTS) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True,
                          timeout=120, check=False)


def rules() -> list[dict[str, Any]]:
    out = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            out.extend(group["rules"])
    return out


def alerts() -> dict[str, dict[str, Any]]:
    return {r["alert"]: r for r in rules() if "alert" in r}


@pytest.fixture(scope="module")
def promtool() -> Path:
    return require("promtool")["promtool"]


@pytest.fixture(scope="module")
def amtool() -> Path:
    return require("amtool")["amtool"]


class TestPromtool:
    def test_the_rule_files_exist(self) -> None:
        assert [p.name for p in RULE_FILES] == ["gwwatch-controller.yaml",
                                                "gwwatch-findings.yaml"]
        assert TEST_FILES

    def test_rules_pass_promtool_check(self, promtool: Path) -> None:
        done = run(promtool, "check", "rules", *RULE_FILES)
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.count("SUCCESS") == len(RULE_FILES)

    def test_unit_tests_pass(self, promtool: Path) -> None:
        done = run(promtool, "test", "rules", *TEST_FILES)
        assert done.returncode == 0, done.stdout + done.stderr

    @pytest.mark.parametrize(("alert", "old", "new"), [
        pytest.param("GwwatchHostnameHijack", "for: 1m\n", "for: 30s\n", id="hijack-for"),
        pytest.param("GwwatchHostnameHijack", "for: 1m\n", "for: 2m\n", id="hijack-for-longer"),
        pytest.param("GwwatchRouteShadowed", "for: 15m\n", "for: 10m\n", id="shadowed-for"),
        pytest.param("GwwatchAbsent", "for: 10m\n", "for: 5m\n", id="absent-for"),
        pytest.param("GwwatchWatchStale", "[10m]", "[5m]", id="stale-window"),
        pytest.param("GwwatchNoLeader", "for: 5m\n", "for: 4m\n", id="no-leader-for"),
        pytest.param("GwwatchHostnameHijack", "hijacks {{ $labels.hostname }}",
                     "takes {{ $labels.hostname }}", id="hijack-summary"),
        pytest.param("GwwatchHostnameHijack", 'severity="critical"', 'severity=~".+"',
                     id="hijack-selects-warnings"),
    ])
    def test_unit_tests_notice_a_changed_rule(self, promtool: Path, tmp_path: Path,
                                              alert: str, old: str, new: str) -> None:
        """The unit tests pin `for:` durations, selectors and annotations: change one in a
        copy of the rules and they fail."""
        copy = tmp_path / "alerts"
        shutil.copytree(ALERTS, copy)
        path = next(p for p in copy.glob("gwwatch-*.yaml") if f"alert: {alert}\n" in
                    p.read_text())
        text = path.read_text()
        start = text.index(f"alert: {alert}\n")
        end = text.find("- alert:", start)
        end = len(text) if end < 0 else end
        block = text[start:end]
        assert old in block, f"{old!r} not in {alert}"
        path.write_text(text[:start] + block.replace(old, new, 1) + text[end:])
        done = run(promtool, "test", "rules", *sorted((copy / "tests").glob("*_test.yaml")),
                   cwd=copy)
        assert done.returncode != 0, f"the unit tests did not notice {old!r} -> {new!r}"
        assert alert in done.stdout + done.stderr

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

    def test_amtool_check_config(self, amtool: Path) -> None:
        done = run(amtool, "check-config", ALERTMANAGER)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "SUCCESS" in done.stdout

    @pytest.mark.parametrize(("labels", "receiver"), [
        (("severity=critical", "alertname=GwwatchHostnameHijack",
          "hostname=api.techresolve.com"), "pagerduty-critical"),
        (("severity=critical", "alertname=GwwatchAbsent"), "pagerduty-critical"),
        (("severity=warning", "alertname=GwwatchRouteShadowed"), "default"),
        (("severity=warning", "alertname=GwwatchNoLeader"), "default"),
    ])
    def test_critical_alerts_page(self, amtool: Path, labels: tuple[str, ...],
                                  receiver: str) -> None:
        done = run(amtool, "config", "routes", "test", f"--config.file={ALERTMANAGER}",
                   *labels)
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.split() == [receiver]

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


class TestToolsInstall:
    """tests/tools.py: a missing tool is installed, else skipped outside CI and failed in CI."""

    @pytest.fixture
    def nothing_installed(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import tests.tools as tools

        monkeypatch.setattr(tools, "_find", lambda tool: None)
        monkeypatch.setattr(tools.shutil, "which", lambda name: None)  # and no apt-get

    def test_present_tools_are_found_without_installing(self) -> None:
        from tests.tools import ensure

        found = require("promtool")  # installs it if this machine lacks it
        assert ensure("promtool") == found
        assert found["promtool"].is_file()

    def test_missing_tool_fails_in_ci(self, nothing_installed: None,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("CI", "true")
        with pytest.raises(pytest.fail.Exception, match=r"CI requires amtool: .*no apt-get"):
            require("amtool")

    def test_missing_tool_skips_outside_ci(self, nothing_installed: None,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("CI", raising=False)
        with pytest.raises(pytest.skip.Exception, match="prometheus-alertmanager not installed"):
            require("alertmanager")
