"""The alert rules and the example Alertmanager configuration, checked with Debian's promtool
and amtool (tests/unit/test_alerts.py reads the same files without tools).

In scope: ``promtool check rules`` and ``promtool test rules`` pass, and the rules' unit tests
would notice a changed ``for:`` or annotation; ``amtool check-config`` passes and critical
alerts route to PagerDuty. The tools are installed when missing (tests/tools/__init__.py); when
that is impossible the tests fail in CI and skip elsewhere (tests/needs.py).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.tools import ensure, require

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "alerts"
RULE_FILES = sorted(ALERTS.glob("gwwatch-*.yaml"))
TEST_FILES = sorted((ALERTS / "tests").glob("*_test.yaml"))
ALERTMANAGER = ALERTS / "alertmanager.example.yml"


def run(*cmd: str | Path, cwd: Path = ALERTS) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.fixture(scope="module")
def promtool() -> Path:
    return require("promtool")["promtool"]


@pytest.fixture(scope="module")
def amtool() -> Path:
    return require("amtool")["amtool"]


class TestPromtool:
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
        pytest.param("GwwatchHostnameHijack", "max by (cluster, ", "max by (",
                     id="hijack-merges-clusters"),
        pytest.param("GwwatchAbsent", "unless on (cluster)", "unless on ()",
                     id="absent-not-per-cluster"),
        pytest.param("GwwatchAbsent", "$externalLabels.cluster", "$externalLabels.region",
                     id="absent-ignores-external-cluster"),
        pytest.param("GwwatchHijackWarning", "for: 15m\n", "for: 20m\n", id="ticket-for"),
        pytest.param("GwwatchPostureWarning", 'severity="warning"', 'severity="info"',
                     id="posture-ticket-selects-info"),
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


    def test_rules_without_a_cluster_label_pass_promtool_check(self, promtool: Path,
                                                               tmp_path: Path) -> None:
        """alerts/config.yaml with clusterLabel "" and another selector still makes valid
        rules (the generator is not only right for the shipped values)."""
        import importlib.util
        import sys

        spec = importlib.util.spec_from_file_location("gwwatch_alerts_gen",
                                                      ALERTS / "generate.py")
        assert spec and spec.loader
        gen = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = gen
        spec.loader.exec_module(gen)
        base = gen.load_config()
        cfg = gen.Config(selector='job="gwwatch", namespace="platform"', cluster_label="",
                         runbook_url="https://runbooks.example.com/{anchor}",
                         alerts=base.alerts, version=base.version)
        files = []
        for name, doc in gen.rule_groups(cfg).items():
            files.append(tmp_path / name)
            files[-1].write_text(gen.dump_rules(doc, "variant"))
        done = run(promtool, "check", "rules", *files)
        assert done.returncode == 0, done.stdout + done.stderr


class TestAmtool:
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
        (("severity=warning", "alertname=GwwatchHijackWarning", "cluster=eu-1"), "default"),
        (("severity=warning", "alertname=GwwatchPostureWarning"), "default"),
        (("severity=critical", "alertname=GwwatchHostnameHijack", "cluster=eu-1"),
         "pagerduty-critical"),
    ])
    def test_critical_alerts_page(self, amtool: Path, labels: tuple[str, ...],
                                  receiver: str) -> None:
        done = run(amtool, "config", "routes", "test", f"--config.file={ALERTMANAGER}",
                   *labels)
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.split() == [receiver]


def test_present_tools_are_found_without_installing() -> None:
    found = require("promtool")  # installs it if this machine lacks it
    assert ensure("promtool") == found
    assert found["promtool"].is_file()
