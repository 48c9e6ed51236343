#!/usr/bin/env python3
"""Generate gwwatch's Prometheus rules from alerts/config.yaml (selector, cluster label,
runbook URL pattern, ``for`` and severity of each alert).

    .venv/bin/python alerts/generate.py           # rewrite every generated file
    .venv/bin/python alerts/generate.py --check   # exit 1 if a committed file is stale

Writes alerts/gwwatch-findings.yaml and alerts/gwwatch-controller.yaml (the rule files
``promtool`` checks and unit-tests), deploy/monitoring/prometheusrule.yaml (through
deploy/monitoring/generate_prometheusrule.py) and the chart's copy of the groups,
charts/gwwatch/files/prometheus-rules.yaml, where the selector is the placeholder the chart
replaces with its own Service's job. tests/unit/test_alerts.py fails while any differs.

:func:`rule_groups` takes any configuration, so tests render variants (no cluster label, another
selector) and check them with promtool too.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Final

import yaml

HERE: Final = Path(__file__).resolve().parent
ROOT: Final = HERE.parent
CONFIG: Final = HERE / "config.yaml"
CHART_RULES: Final = ROOT / "charts" / "gwwatch" / "files" / "prometheus-rules.yaml"
# What the chart's template replaces with its selector (a string no PromQL contains).
CHART_SELECTOR: Final = "__GWWATCH_SELECTOR__"

FINDING_LABELS: Final = ("namespace", "reason", "hostname", "gateway", "listener", "route_kind",
                         "route", "other_kind", "other", "tenant", "other_tenant")


@dataclass(frozen=True)
class Config:
    selector: str = 'job="gwwatch-metrics"'
    cluster_label: str = "cluster"
    runbook_url: str = "https://github.com/gwwatch/gwwatch/blob/v{version}/docs/runbooks.md#{anchor}"
    alerts: dict[str, dict[str, str]] = field(default_factory=dict)
    version: str = "0.0.0"

    def for_(self, alert: str) -> str:
        return str(self.alerts[alert]["for"])

    def severity(self, alert: str) -> str:
        return str(self.alerts[alert]["severity"])

    def for_text(self, alert: str, plus_seconds: int = 0) -> str:
        """``for`` (plus ``plus_seconds``) in words: 10m → "10 minutes"."""
        return words(seconds(self.for_(alert)) + plus_seconds)

    def runbook(self, alert: str) -> str:
        return self.runbook_url.format(version=self.version, anchor=alert.lower())

    def sel(self, *matchers: str) -> str:
        """``{selector, matchers...}``"""
        return "{" + ", ".join(m for m in (self.selector, *matchers) if m) + "}"

    def by(self, *labels: str) -> str:
        """``by (cluster, labels...)``: the cluster label first, when configured."""
        return "by (" + ", ".join((self.cluster_label, *labels) if self.cluster_label
                                  else labels) + ")"

    @property
    def where(self) -> str:
        """`` in cluster X`` when the alert's labels, else the evaluating Prometheus' external
        labels, name a cluster; nothing otherwise (a text/template of Prometheus)."""
        c = self.cluster_label
        if not c:
            return ""
        return (f"{{{{ with or $labels.{c} $externalLabels.{c} }}}}"
                " in cluster {{ . }}{{ end }}")


_UNITS: Final = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def seconds(duration: str) -> int:
    """A Prometheus duration (``1h30m``, ``10m``) in seconds."""
    total, number = 0, ""
    for ch in duration:
        if ch.isdigit():
            number += ch
        elif ch in _UNITS and number:
            total, number = total + int(number) * _UNITS[ch], ""
        else:
            raise ValueError(f"unsupported duration {duration!r}")
    if number:
        raise ValueError(f"unsupported duration {duration!r}")
    return total


def words(secs: int) -> str:
    """600 → "10 minutes"; 5400 → "90 minutes"; 7200 → "2 hours"."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if secs % size == 0 and secs >= size:
            n = secs // size
            return f"{n} {unit}{'' if n == 1 else 's'}"
    return f"{secs} seconds"


def load_config(path: Path = CONFIG) -> Config:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    return Config(selector=doc["selector"], cluster_label=doc.get("clusterLabel") or "",
                  runbook_url=doc["runbookUrl"], alerts=doc["alerts"], version=version)


def alert(cfg: Config, name: str, expr: str, summary: str, description: str,
          comment: str = "") -> dict[str, Any]:
    rule: dict[str, Any] = {
        "alert": name,
        "expr": expr,
        "for": cfg.for_(name),
        "labels": {"severity": cfg.severity(name)},
        "annotations": {"summary": summary, "description": description,
                        "runbook_url": cfg.runbook(name)},
    }
    if comment:
        rule["#"] = comment
    return rule


def _finding_expr(cfg: Config, matchers: str) -> str:
    return (f"max {cfg.by(*FINDING_LABELS)} (\n"
            f"  gwwatch_finding_info{cfg.sel(matchers)}\n)\n")


# --- findings ------------------------------------------------------------------------------


def findings_rules(cfg: Config) -> list[dict[str, Any]]:
    w = cfg.where
    return [
        alert(cfg, "GwwatchHostnameHijack",
              _finding_expr(cfg, 'kind="Hijack", severity="critical"'),
              "{{ $labels.route_kind }} {{ $labels.route }} hijacks {{ $labels.hostname }} from "
              "{{ $labels.other_kind }} {{ $labels.other }}" + w,
              "{{ $labels.route_kind }} {{ $labels.route }} (tenant {{ $labels.tenant }}) wins "
              "requests for {{ $labels.hostname }} on Gateway {{ $labels.gateway }} listener "
              "{{ $labels.listener }}" + w + " that {{ $labels.other_kind }} {{ $labels.other }} "
              "(tenant {{ $labels.other_tenant }}, the hostname's owner) would otherwise serve: "
              "that traffic now reaches {{ $labels.route }}'s backends. `kubectl describe` "
              "either route shows the request space and the precedence rule (condition "
              "gwwatch.io/HostnameConflict on {{ $labels.route }}, gwwatch.io/TrafficHijacked on "
              "{{ $labels.other }}).",
              "A route of one tenant wins requests that the hostname owner's route would serve.\n"
              "`for` lets a two-step change (create the new route, delete the old one) land\n"
              "without a page; a hijack that stays is traffic going to the wrong team."),
        alert(cfg, "GwwatchHijackWarning",
              _finding_expr(cfg, 'kind="Hijack", severity="warning"'),
              "{{ $labels.route_kind }} {{ $labels.route }} takes requests for "
              "{{ $labels.hostname }} from {{ $labels.other_kind }} {{ $labels.other }}" + w
              + " (tenant {{ $labels.tenant }})",
              "{{ $labels.route_kind }} {{ $labels.route }} wins requests for "
              "{{ $labels.hostname }} on Gateway {{ $labels.gateway }} listener "
              "{{ $labels.listener }}" + w + " that {{ $labels.other_kind }} {{ $labels.other }} "
              "would otherwise serve. gwwatch rates it warning, not critical: both routes belong "
              "to tenant {{ $labels.tenant }}, or the owner opted in to sharing the hostname with "
              "{{ $labels.tenant }} (reason {{ $labels.reason }}). Check that the owner meant it; "
              "`kubectl describe` either route shows the request space and the precedence rule.",
              "A Hijack gwwatch rates warning: inside one tenant (GWWATCH_INTRA_TENANT_SEVERITY),\n"
              "or after the owner's gwwatch.io/shared-with opt-in. A ticket, not a page."),
        alert(cfg, "GwwatchRouteShadowed",
              _finding_expr(cfg, 'kind="Shadowed", severity=~"critical|warning"'),
              "{{ $labels.route_kind }} {{ $labels.route }} never serves {{ $labels.hostname }}"
              + w + ": {{ if $labels.other }}{{ $labels.other_kind }} {{ $labels.other }} wins "
              "all of it{{ else }}a more specific listener takes it{{ end }}",
              "{{ if $labels.other }}On Gateway {{ $labels.gateway }} listener "
              "{{ $labels.listener }}" + w + ", every request for {{ $labels.hostname }} that "
              "{{ $labels.route_kind }} {{ $labels.route }} (tenant {{ $labels.tenant }}) matches "
              "is taken by an equal or stronger match of {{ $labels.other_kind }} "
              "{{ $labels.other }} (tenant {{ $labels.other_tenant }}): at least one of its rules "
              "can never serve traffic.{{ else }}{{ $labels.route_kind }} {{ $labels.route }} "
              "(tenant {{ $labels.tenant }}) is attached to listener {{ $labels.listener }} of "
              "Gateway {{ $labels.gateway }}" + w + ", but requests for {{ $labels.hostname }} "
              "reach a more specific listener of that Gateway: the route never receives them."
              "{{ end }}",
              "A rule of a route can never win any request: a deploy that changes nothing.\n"
              "reason ListenerShadowed has no other route: a more specific listener takes it."),
        alert(cfg, "GwwatchHostnameShared",
              _finding_expr(cfg, 'kind="SharedHostname", severity=~"critical|warning"'),
              "{{ $labels.hostname }} is served by two tenants" + w + ": "
              "{{ $labels.route_kind }} {{ $labels.route }} and {{ $labels.other_kind }} "
              "{{ $labels.other }}",
              "{{ $labels.route_kind }} {{ $labels.route }} (tenant {{ $labels.tenant }}) and "
              "{{ $labels.other_kind }} {{ $labels.other }} (tenant {{ $labels.other_tenant }}, "
              "the owner) serve disjoint requests for {{ $labels.hostname }} on Gateway "
              "{{ $labels.gateway }} listener {{ $labels.listener }}" + w + ", and neither "
              "namespace opted in to sharing (annotation gwwatch.io/shared-with).",
              "Two tenants serve disjoint paths of one hostname without a sharing opt-in:\n"
              "nothing is stolen today, but the next path either adds can be."),
        alert(cfg, "GwwatchPostureWarning",
              "max " + cfg.by("namespace", "reason", "hostname", "gateway", "listener", "tenant")
              + " (\n"
              "  gwwatch_finding_info" + cfg.sel('kind="Posture", severity="warning"') + "\n)\n",
              "Risky Gateway set-up {{ $labels.reason }} on {{ $labels.gateway }} listener "
              "{{ $labels.listener }}" + w,
              "gwwatch finds the posture problem {{ $labels.reason }} on Gateway "
              "{{ $labels.gateway }} listener {{ $labels.listener }}{{ with $labels.hostname }} "
              "for {{ . }}{{ end }}" + w + ": nothing is taken yet, but the set-up lets one "
              "tenant take another's traffic. The runbook lists each reason and its fix.",
              "Warning-level Posture findings: a set-up that lets a hijack happen (e.g. a\n"
              "`from: All` listener shared by tenants). A ticket, not a page."),
        alert(cfg, "GwwatchFindingSeriesDropped",
              f"max {cfg.by('namespace', 'job')} (gwwatch_findings_dropped{cfg.sel()}) > 0",
              "gwwatch exports no series for {{ $value }} findings (over its cap)" + w,
              "{{ $value }} current findings in {{ $labels.namespace }}" + w + " have no "
              "gwwatch_finding_info series because GWWATCH_MAX_FINDING_SERIES was reached: "
              "alerts cannot name their hostnames and routes. `gwwatch scan` or the routes' "
              "status conditions list them all.",
              "Findings beyond GWWATCH_MAX_FINDING_SERIES have no per-finding series, so the\n"
              "alerts above cannot name them (critical findings are kept first)."),
    ]


# --- gwwatch itself ------------------------------------------------------------------------


def _absent_expr(cfg: Config) -> str:
    up = f"up{cfg.sel()} == 1"
    c = cfg.cluster_label
    if not c:
        return f"absent({up})"
    return (f"(\n  count by ({c}) (up{{{c}!=\"\"}})\n  unless on ({c})\n"
            f"  count by ({c}) ({up})\n)\n"
            f"or\n(\n  absent({up})\n  unless on ()\n  count(up{{{c}!=\"\"}})\n)\n")


def controller_rules(cfg: Config) -> list[dict[str, Any]]:
    w = cfg.where
    c = cfg.cluster_label
    absent_comment = "No replica has been scraped successfully for a while."
    if c:
        absent_comment += (
            f"\nPer cluster: a value of the {c} label that other targets' `up` series carry\n"
            "(kubelet, apiserver, node exporters...) but no successful gwwatch scrape does\n"
            "fires for that cluster. A cluster with no target scraped at all is not seen\n"
            "(nothing names it). The second part covers a Prometheus whose series carry no\n"
            f"{c} label (one Prometheus per cluster): no gwwatch at all.")
    return [
        alert(cfg, "GwwatchAbsent", _absent_expr(cfg),
              "No gwwatch replica is up" + w + ": hostname hijacks go unseen",
              "Prometheus has no successful scrape of gwwatch (" + cfg.selector + ")" + w
              + " for " + cfg.for_text("GwwatchAbsent") + ": either no gwwatch Pod runs, or none "
              "can be scraped. Until one does, no hijack, shadowed route or shared hostname is "
              "detected, reported on routes, or alerted on.",
              absent_comment),
        alert(cfg, "GwwatchDown", f"up{cfg.sel()} == 0",
              "gwwatch replica {{ $labels.instance }} cannot be scraped" + w,
              "Prometheus cannot scrape gwwatch at {{ $labels.instance }} (namespace "
              "{{ $labels.namespace }}" + w + ") for " + cfg.for_text("GwwatchDown")
              + ". The other replica (if any) keeps watching; with none, GwwatchAbsent "
              "follows."),
        alert(cfg, "GwwatchNotSynced", f"gwwatch_ready{cfg.sel()} == 0",
              "gwwatch {{ $labels.instance }} has not finished its initial sync" + w,
              "gwwatch at {{ $labels.instance }}" + w + " started but has not listed every "
              "Gateway API kind for " + cfg.for_text("GwwatchNotSynced") + ", so it writes no "
              "status and its findings are incomplete.",
              "/readyz has not turned ready: the first list of some kind never completed."),
        alert(cfg, "GwwatchWatchStale",
              f"sum {cfg.by('namespace', 'job', 'instance', 'kind')} "
              f"(increase(gwwatch_watch_events_total{cfg.sel()}[10m])) == 0",
              "gwwatch {{ $labels.instance }} has received no {{ $labels.kind }} watch event "
              "for " + cfg.for_text("GwwatchWatchStale", 600) + w,
              "gwwatch at {{ $labels.instance }}" + w + " got no watch event (not even a "
              "bookmark) for {{ $labels.kind }} objects in "
              + cfg.for_text("GwwatchWatchStale", 600) + ": its view of them may be out of "
              "date, so findings about them may be missing or stale. "
              "gwwatch_watch_restarts_total shows whether the watch keeps failing, and why.",
              "A healthy watch receives a BOOKMARK about every minute even when none of its\n"
              "objects change (kube-apiserver sends one every 60 s to watches that ask, as\n"
              "gwwatch's do), so ten minutes without any watch event means the watch is failing\n"
              "or hung and findings are stale."),
        alert(cfg, "GwwatchStatusWritesFailing",
              f"sum {cfg.by('namespace', 'job', 'instance', 'result')} (\n"
              "  rate(gwwatch_status_writes_total" + cfg.sel('result=~"error|forbidden|invalid"')
              + "[5m])\n) > 0\n",
              "gwwatch {{ $labels.instance }}: route status writes keep failing "
              "({{ $labels.result }})" + w,
              "The gwwatch leader at {{ $labels.instance }}" + w + " has been failing to write "
              "route status (result {{ $labels.result }}) for "
              + cfg.for_text("GwwatchStatusWritesFailing") + ": routes do not show their "
              "gwwatch.io conditions, though metrics and alerts still do.",
              "409 conflicts are retried and normal; these results mean a write did not land."),
        alert(cfg, "GwwatchNoLeader",
              f"sum {cfg.by('namespace', 'job')} (gwwatch_leader{cfg.sel()}) == 0",
              "No gwwatch replica in {{ $labels.namespace }} holds the Lease" + w,
              "gwwatch replicas in {{ $labels.namespace }}" + w + " are up but none has held "
              "the leader Lease for " + cfg.for_text("GwwatchNoLeader") + ", so no route status or "
              "Event is written (a takeover normally takes under 20 seconds).",
              "Every replica watches, but only the Lease holder writes status and Events."),
        alert(cfg, "GwwatchStatusTampering",
              f"sum {cfg.by('namespace', 'job', 'kind')} (\n"
              "  increase(gwwatch_status_tampering_total" + cfg.sel() + "[10m])\n) > 0\n",
              "Someone rewrites gwwatch's status entries on {{ $labels.kind }}s" + w,
              "In the last 10 minutes another client rewrote gwwatch's status.parents entry on "
              "{{ $labels.kind }} objects" + w + " (forged or altered conditions under "
              "gwwatch's controllerName; gwwatch_status_tampering_total counts them). gwwatch "
              "put each one back at once, but whoever did it can update those routes' status "
              "and is trying to hide or fake a finding. Each route concerned has a "
              "StatusTampered Warning Event.",
              "The API server accepts any controllerName from whoever may update a route's\n"
              "status, so a tenant can overwrite what gwwatch says about its own route.\n"
              "Only the leader counts, so the sum over replicas is the number of forgeries."),
        alert(cfg, "GwwatchAdmissionErrors",
              f"sum {cfg.by('namespace', 'job', 'instance', 'reason')} (\n"
              "  rate(gwwatch_admission_errors_total" + cfg.sel() + "[5m])\n) > 0\n",
              "gwwatch {{ $labels.instance }}: admission reviews fail ({{ $labels.reason }})" + w,
              "The admission webhook at {{ $labels.instance }}" + w + " has been answering "
              "admission reviews with errors (reason {{ $labels.reason }}) for "
              + cfg.for_text("GwwatchAdmissionErrors") + ". The API server then applies the "
              "webhook's failurePolicy: with Ignore (the default) those changes land "
              "unchecked, and only detection stands between a hijack and its victim.",
              "Only replicas serving the webhook (GWWATCH_WEBHOOK_PORT) export the admission\n"
              "families. Errors the API server meets before reaching gwwatch (TLS, timeouts,\n"
              "no endpoints) show in its apiserver_admission_webhook_* metrics, not here."),
        alert(cfg, "GwwatchAdmissionNotRefusing",
              f"(\n  max {cfg.by('namespace')} (gwwatch_findings"
              + cfg.sel('kind="Hijack"', 'severity="critical"') + ")\n"
              f"  > max {cfg.by('namespace')} (gwwatch_findings"
              + cfg.sel('kind="Hijack"', 'severity="critical"') + " offset 30m)\n)\n"
              "and\n(\n"
              f"  sum {cfg.by('namespace')} (increase(gwwatch_admission_requests_total"
              + cfg.sel('decision="denied"') + "[30m])) == 0\n)\n",
              "Critical hijacks appear in {{ $labels.namespace }}" + w + " while gwwatch's "
              "admission webhook refuses nothing",
              "Critical Hijack findings in {{ $labels.namespace }}" + w + " rose to "
              "{{ $value }} within 30 minutes, and the admission webhook refused no request in "
              "that time: the new hijacks got past it. Either the API server does not call it "
              "(registration, caBundle, Service, NetworkPolicy, timeouts under "
              "failurePolicy Ignore), or it only warns (GWWATCH_WEBHOOK_MODE warn or off), or "
              "the hijack came from a change it does not refuse (a Namespace annotation, the "
              "ownership ConfigMap, a Gateway). GwwatchHostnameHijack names the routes.",
              "Prevention is not working while detection still is: more critical Hijack\n"
              "findings than 30 minutes ago and no denial meanwhile. Only where the webhook\n"
              "runs (its families exist), so installations without it never see this."),
    ]


def rule_groups(cfg: Config) -> dict[str, dict[str, Any]]:
    """File name → rule file content (``groups``), comments under ``#`` keys."""
    return {
        "gwwatch-findings.yaml": {"groups": [{"name": "gwwatch-findings",
                                              "rules": findings_rules(cfg)}]},
        "gwwatch-controller.yaml": {"groups": [{"name": "gwwatch-controller",
                                                "rules": controller_rules(cfg)}]},
    }


# --- YAML out ------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def strip_comments(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {k: strip_comments(v) for k, v in doc.items() if k != "#"}
    if isinstance(doc, list):
        return [strip_comments(v) for v in doc]
    return doc


def dump_rules(doc: dict[str, Any], header: str, indent: str = "") -> str:
    """The rule file as YAML, each rule's comment above it."""
    lines = [f"{indent}# {h}".rstrip() for h in header.splitlines()]
    lines.append(f"{indent}groups:")
    for group in doc["groups"]:
        lines.append(f"{indent}  - name: {group['name']}")
        lines.append(f"{indent}    rules:")
        for i, rule in enumerate(group["rules"]):
            if i:
                lines.append("")
            lines += [f"{indent}      # {c}".rstrip() for c in rule.get("#", "").splitlines()]
            body = yaml.dump(strip_comments(rule), Dumper=_Dumper, sort_keys=False,
                             allow_unicode=True, width=1 << 20)  # a template per line
            for j, line in enumerate(body.splitlines()):
                lines.append(f"{indent}      {'- ' if j == 0 else '  '}{line}")
    return "\n".join(lines) + "\n"


HEADERS: Final = {
    "gwwatch-findings.yaml": (
        "GENERATED by alerts/generate.py from alerts/config.yaml: do not edit.\n"
        "\n"
        "What gwwatch found: one alert per finding, from the per-finding series\n"
        "gwwatch_finding_info (labels: kind, reason, severity, hostname, gateway, listener,\n"
        "route_kind, route, other_kind, other, tenant, other_tenant; value 1 while the finding\n"
        "exists). `max by` drops the scrape target's labels (but not the cluster's), so two\n"
        "replicas exporting the same finding make one alert.\n"
        "Checked by `promtool check rules` and the unit tests in alerts/tests/."),
    "gwwatch-controller.yaml": (
        "GENERATED by alerts/generate.py from alerts/config.yaml: do not edit.\n"
        "\n"
        "Is gwwatch itself working? Without it hijacks go unseen, so its absence pages.\n"
        "The selector (config.yaml) must match the job your Prometheus scrapes gwwatch under;\n"
        "the Prometheus Operator names it after the ServiceMonitor's Service (gwwatch-metrics)."),
}


def rendered(cfg: Config | None = None) -> dict[Path, str]:
    """Every file this script writes → its content."""
    cfg = cfg or load_config()
    out: dict[Path, str] = {}
    for name, doc in rule_groups(cfg).items():
        out[HERE / name] = dump_rules(doc, HEADERS[name])
    prom = _prometheusrule_generator()
    # The PrometheusRule wraps the rule files above (as they will be written).
    rule_docs = {HERE / n: strip_comments(d) for n, d in rule_groups(cfg).items()}
    out[prom.OUTPUT] = prom.HEADER + yaml.safe_dump(
        {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
         "metadata": {"name": "gwwatch"},
         "spec": {"groups": [g for p in sorted(rule_docs) for g in rule_docs[p]["groups"]]}},
        sort_keys=False, allow_unicode=True, width=100)
    chart_cfg = Config(selector=CHART_SELECTOR, cluster_label=cfg.cluster_label,
                       runbook_url=cfg.runbook_url, alerts=cfg.alerts, version=cfg.version)
    chart_groups = [g for _, d in sorted(rule_groups(chart_cfg).items(), reverse=False)
                    for g in strip_comments(d)["groups"]]
    out[CHART_RULES] = (
        "# GENERATED by alerts/generate.py from alerts/config.yaml: do not edit.\n"
        f"# The chart's PrometheusRule replaces {CHART_SELECTOR} with its selector.\n"
        # Literal blocks and plain or single-quoted one-liners: the selector the chart puts in
        # place of the placeholder may hold double quotes.
        + yaml.dump({"groups": chart_groups}, Dumper=_Dumper, sort_keys=False,
                    allow_unicode=True, width=1 << 20))
    return out


def _prometheusrule_generator() -> ModuleType:
    path = ROOT / "deploy" / "monitoring" / "generate_prometheusrule.py"
    spec = importlib.util.spec_from_file_location("generate_prometheusrule", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a file is stale")
    args = parser.parse_args(argv)
    stale = []
    for path, text in rendered().items():
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"stale: {', '.join(stale)}: run python alerts/generate.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
