"""The incident, from ``kubectl apply`` to a PagerDuty page and back, with real processes:
kube-apiserver + etcd, ``gwwatch run`` as its ServiceAccount (deploy/base/rbac.yaml only),
Prometheus scraping it every second with the shipped rules (alerts/gwwatch-*.yaml, ``for:``
unchanged) and the external label ``cluster``, Alertmanager with alerts/alertmanager.example.yml
(PagerDuty URL pointed at a local receiver, grouping delays 1 s), and that receiver.

Billing's route, then staging's (examples/techresolve) → a PagerDuty ``trigger`` naming
api.techresolve.com, both routes and the cluster arrives no earlier than the rule's
``for: 1m``; while the hijack is live, every panel query of both dashboards returns data from
that Prometheus, and the tenant filter finds the hijack from either side;
deleting staging's route → a ``resolve`` for the same incident.
"""

from __future__ import annotations

import json
import math
import re
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import CLUSTER, GWWATCH_NS, Stack
from tests.e2e.stack import JOB, Event, rule_files, wait_for

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "techresolve"
DASHBOARDS = sorted((ROOT / "dashboards").glob("*.json"))
HOSTNAME = "api.techresolve.com"
OFFENDER = "staging-analytics/metrics-dashboard"
VICTIM = "prod-billing/billing-api"
ALERT = "GwwatchHostnameHijack"
FOR_SECONDS = 60  # alerts/gwwatch-findings.yaml: GwwatchHostnameHijack `for: 1m`
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
RUNBOOK = (f"https://github.com/gwwatch/gwwatch/blob/v{VERSION}/docs/runbooks.md"
           "#gwwatchhostnamehijack")


def test_prometheus_runs_the_shipped_rules_against_gwwatch(stack: Stack) -> None:
    """Every shipped rule group is loaded unchanged and healthy, and gwwatch is scraped."""
    groups = {g["name"]: g for g in stack.prom.rule_groups()}
    import yaml

    for path in rule_files():
        for group in yaml.safe_load(path.read_text())["groups"]:
            loaded = groups[group["name"]]
            assert [r["name"] for r in loaded["rules"]] == [r["alert"] for r in group["rules"]]
            for rule in loaded["rules"]:
                assert rule["health"] == "ok", rule
    (target,) = [t for t in stack.prom.targets() if t["labels"]["job"] == JOB]
    assert target["health"] == "up" and target["labels"]["namespace"] == GWWATCH_NS
    # gwwatch is up and leading: no controller alert is on its way.
    assert stack.prom.value(f'gwwatch_leader{{job="{JOB}"}}') == 1
    assert stack.prom.value(f'gwwatch_ready{{job="{JOB}"}}') == 1


def _hijack(e: Event) -> bool:
    return HOSTNAME in e.text and OFFENDER in e.text and VICTIM in e.text


def test_hijack_pages_pagerduty_and_resolves(stack: Stack, capsys: pytest.CaptureFixture[str]
                                             ) -> None:
    prom, pd = stack.prom, stack.pagerduty
    stack.kubectl.apply(EXAMPLE / "00-namespaces.yaml", EXAMPLE / "10-gateway.yaml",
                        EXAMPLE / "20-billing-route.yaml")
    wait_for(lambda: prom.value('gwwatch_attachments{gateway="infra-gateways/prod-gateway", '
                                'listener="https"}') == 1,
             timeout=30, what="billing's route attached, as Prometheus sees it")

    # An API server restart: the watches break and resume (or re-list), so the controller
    # dashboard's restart and re-list panels have something real to show.
    stack.cp.restart_apiserver()
    wait_for(lambda: (prom.value("sum(gwwatch_watch_restarts_total)") or 0) >= 1,
             timeout=30, what="gwwatch counted its broken watches")

    started = time.monotonic()
    stack.kubectl.apply(EXAMPLE / "30-metrics-dashboard-route.yaml")

    def pending() -> bool:
        return any(a["state"] in ("pending", "firing") for a in prom.alerts(ALERT))

    wait_for(pending, timeout=30, interval=0.1, what=f"{ALERT} pending")
    to_pending = time.monotonic() - started

    # While the hijack is live (the alert waits out its `for:`), the dashboards show it.
    panels = check_every_dashboard_query_returns_data(stack)

    trigger = pd.wait(lambda e: e.action == "trigger" and _hijack(e), timeout=FOR_SECONDS + 45,
                      what="PagerDuty trigger for the hijack")
    to_trigger = trigger.at - started
    assert to_trigger >= FOR_SECONDS, f"paged after {to_trigger:.1f} s, before `for: 1m`"

    body = trigger.body
    assert trigger.path == "/v2/enqueue"
    assert body["routing_key"] == stack.routing_key  # read from the routing_key_file
    payload = body["payload"]
    assert payload["severity"] == "critical"
    # The cluster comes from the Prometheus' external labels, into the text and the labels.
    assert payload["summary"] == (f"HTTPRoute {OFFENDER} hijacks {HOSTNAME} from HTTPRoute "
                                  f"{VICTIM} in cluster {CLUSTER}")
    assert payload["group"] == f"{CLUSTER}/{GWWATCH_NS}"
    details = payload["custom_details"]
    assert details["cluster"] == CLUSTER
    assert f" in cluster {CLUSTER} " in details["description"]
    assert details["hostname"] == HOSTNAME
    assert details["offender"] == f"HTTPRoute {OFFENDER}"
    assert details["victim"] == f"HTTPRoute {VICTIM}"
    assert details["gateway"] == "infra-gateways/prod-gateway listener https"
    assert "tenant staging-analytics" in details["description"]
    assert {"href": RUNBOOK, "text": "Runbook"} in body["links"]
    others = [e for e in pd.received() if e.body.get("dedup_key") != body["dedup_key"]]
    assert not others, f"pages for something else: {[e.body for e in others]}"

    deleted = time.monotonic()
    stack.kubectl.delete(EXAMPLE / "30-metrics-dashboard-route.yaml")
    resolve = pd.wait(lambda e: e.action == "resolve", timeout=45,
                      what="PagerDuty resolve after the route was deleted")
    to_resolve = resolve.at - deleted
    assert resolve.body["dedup_key"] == body["dedup_key"]  # the same incident closes
    assert resolve.body["routing_key"] == stack.routing_key
    assert prom.query(f'gwwatch_finding_info{{kind="Hijack", hostname="{HOSTNAME}"}}') == []
    assert [e.action for e in pd.received()] == ["trigger", "resolve"]

    figures = {"scrape_and_eval_interval": stack.interval, "for": "1m",
               "alertmanager_group_wait": "1s", "apply_to_pending_s": round(to_pending, 1),
               "apply_to_pagerduty_trigger_s": round(to_trigger, 1),
               "delete_to_pagerduty_resolve_s": round(to_resolve, 1),
               "dashboard_queries_checked": panels}
    with capsys.disabled():
        print(f"\ne2e figures: {json.dumps(figures)}")


# --- the dashboards, against the live Prometheus ---------------------------------------------

# "All" for the multi-value variables (Grafana sends their allValue, .*).
_GRAFANA_VARS = {"$namespace": GWWATCH_NS, "$cluster": ".*", "$tenant": ".*",
                 "$hostname": ".*", "$__rate_interval": "20s", "$__interval": "2s"}
# What each variable must list here. The cluster is only an external label: no series carries
# it, so $cluster lists nothing and "All" (.*) matches every series.
_VARIABLE_VALUES = {"namespace": GWWATCH_NS, "tenant": OFFENDER.split("/")[0],
                    "hostname": HOSTNAME, "cluster": None}


def _substitute(expr: str, **override: str) -> str:
    for var, value in {**_GRAFANA_VARS, **{f"${k}": v for k, v in override.items()}}.items():
        expr = expr.replace(var, value)
    assert "$" not in expr, f"unknown Grafana variable in {expr!r}"
    return expr


def _finite(result: list[dict[str, Any]]) -> bool:
    for series in result:
        values = series.get("values") or [series["value"]]
        if any(math.isfinite(float(v)) for _, v in values):
            return True
    return False


def check_every_dashboard_query_returns_data(stack: Stack) -> int:
    """Every query of every panel (and the namespace variable) returns data from the live
    Prometheus; table columns exist as labels; the hijack table names the incident."""
    checked = 0
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        for var in dashboard["templating"]["list"]:
            if var["type"] == "query":
                m = re.fullmatch(r"label_values\((.+), (\w+)\)", var["query"])
                assert m, var["query"]
                values = stack.prom.label_values(m[2], _substitute(m[1]))
                want = _VARIABLE_VALUES[var["name"]]
                if want is None:
                    assert values == [], f"{path.name} ${var['name']}: {values}"
                else:
                    assert want in values, f"{path.name} ${var['name']}: {values}"
                checked += 1
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                expr = _substitute(target["expr"])
                where = f"{path.name} {panel['title']!r} {target['refId']}: {expr}"

                def answered(expr: str = expr, instant: bool = bool(target.get("instant"))
                             ) -> list[dict[str, Any]] | None:
                    got = (stack.prom.query(expr) if instant
                           else stack.prom.query_range(expr, seconds=90, step="2s"))
                    return got if got and _finite(got) else None

                result = wait_for(answered, timeout=15, what=f"data for {where}")
                checked += 1
                if panel["title"] == "Active hijacks":  # a hijack has every column
                    (org,) = panel["transformations"]
                    # Value: the first-seen time; the cluster column stays empty here (an
                    # external label only).
                    columns = set(org["options"]["indexByName"]) - {"Value", "cluster"}
                    rows = [s["metric"] for s in result]
                    assert all(columns <= set(r) for r in rows), (columns, rows)
                    (ours,) = [s for s in result if s["metric"]["hostname"] == HOSTNAME
                               and s["metric"]["route"] == OFFENDER
                               and s["metric"]["other"] == VICTIM]
                    first_seen = float(ours["value"][1]) / 1000
                    assert time.time() - 120 < first_seen <= time.time(), first_seen
                    checked += _tenant_filter_finds_either_side(stack, target["expr"])
    return checked


def _tenant_filter_finds_either_side(stack: Stack, expr: str) -> int:
    """$tenant set to the offender's tenant or the victim's finds the hijack; another tenant
    or hostname does not."""
    def hosts(**values: str) -> set[str]:
        return {s["metric"]["hostname"] for s in stack.prom.query(_substitute(expr, **values))}

    assert HOSTNAME in hosts(tenant=OFFENDER.split("/")[0])
    assert HOSTNAME in hosts(tenant=VICTIM.split("/")[0])
    assert HOSTNAME not in hosts(tenant="nobody-here")
    # Grafana puts a selected value in as an escaped regex (in a PromQL string: \\.)
    assert HOSTNAME in hosts(hostname=_regex(HOSTNAME))
    assert HOSTNAME not in hosts(hostname=_regex("www.example.com"))
    return 5


def _regex(value: str) -> str:
    return re.escape(value).replace("\\", "\\\\")
