#!/usr/bin/env python3
"""Generate gwwatch's Grafana dashboards (dashboards/*.json) with grafana-foundation-sdk.

    .venv/bin/python dashboards/generate.py           # rewrite the JSON files
    .venv/bin/python dashboards/generate.py --check   # exit 1 if a committed file is stale

Two dashboards, both templated on the Prometheus data source (``$datasource``), the cluster
(``$cluster``, multi-value; the label is alerts/config.yaml's ``clusterLabel``, and the variable
is hidden and unused when that is empty) and the namespace gwwatch runs in (``$namespace``, the
target label the Prometheus Operator adds). The overview also filters findings by tenant
(``$tenant``: either side of a finding) and hostname (``$hostname``).

- ``gwwatch-overview.json``: who takes whose traffic now (active hijacks naming hostname,
  offender and victim), findings by kind and severity over time, routes by attachment state
  and reason, attachments per Gateway listener, posture findings.
- ``gwwatch-controller.json``: is gwwatch itself healthy — replicas, leader, initial sync,
  watch events / restarts / re-lists per kind, time since the last full list, reconcile
  latency, status writes and Events by result.

Every replica exports the same engine state, so engine-state panels take ``max by`` over the
labels that say *what* (never ``sum``, which would count a finding once per replica).
Besides the JSON files it writes the same dashboards as ConfigMaps for Grafana's dashboard
sidecar (label ``grafana_dashboard: "1"``, folder annotations):
deploy/monitoring/grafana-dashboards.yaml, and the chart's copies of the JSON
(charts/gwwatch/files/dashboards/), which its own ConfigMaps embed.

tests/unit/test_dashboards.py checks that the committed files are what this file generates and
that every query selects only metrics gwwatch exports; tests/e2e runs every query against a
Prometheus scraping a real gwwatch.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import yaml
from grafana_foundation_sdk.builders import bargauge, stat, statetimeline, table, timeseries
from grafana_foundation_sdk.builders import common as common_b
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus as prom
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as common_m
from grafana_foundation_sdk.models import dashboard as dash_m
from grafana_foundation_sdk.models import prometheus as prom_m

HERE: Final = Path(__file__).resolve().parent
ROOT: Final = HERE.parent
CONFIGMAPS: Final = ROOT / "deploy" / "monitoring" / "grafana-dashboards.yaml"
CHART_DASHBOARDS: Final = ROOT / "charts" / "gwwatch" / "files" / "dashboards"
FOLDER: Final = "gwwatch"  # the Grafana folder the sidecar puts them in
DS: Final = dash_m.DataSourceRef(type_val="prometheus", uid="${datasource}")
# The cluster label (alerts/config.yaml, shared with the alerts); "" = no $cluster filter.
CLUSTER: Final[str] = yaml.safe_load(
    (ROOT / "alerts" / "config.yaml").read_text(encoding="utf-8")).get("clusterLabel") or ""
# In every selector: the dashboards follow $cluster and $namespace.
NS: Final = (f'{CLUSTER}=~"$cluster", ' if CLUSTER else "") + 'namespace=~"$namespace"'
# Finding panels also follow $hostname and $tenant (either side of the finding).
FINDING_FILTER: Final = 'hostname=~"$hostname"'
RATE: Final = "$__rate_interval"
TAGS: Final = ["gwwatch", "gateway-api"]
# The labels that identify a finding (gwwatch_finding_info), in the order tables show them.
FINDING: Final = ("hostname", "route_kind", "route", "other_kind", "other", "gateway",
                  "listener", "tenant", "other_tenant", "reason", "severity")
RUNBOOKS: Final = "https://github.com/gwwatch/gwwatch/blob/main/docs/runbooks.md"


# --- small helpers ------------------------------------------------------------------------


def query(expr: str, ref: str = "A", legend: str | None = None, *,
          instant: bool = False) -> prom.Dataquery:
    q = prom.Dataquery().expr(expr).ref_id(ref).datasource(DS)
    if legend is not None:
        q = q.legend_format(legend)
    if instant:
        q = q.instant().format(prom_m.PromQueryFormat.TABLE)
    return q


def organize(columns: Sequence[str], rename: dict[str, str],
             value: str | None = None) -> dash_m.DataTransformerConfig:
    """Show ``columns`` (the query's ``by`` labels) in this order, renamed; hide Time, and
    Value (always 1 for an info series) unless ``value`` names its column (shown last)."""
    index = {c: i for i, c in enumerate(columns)}
    names = {c: rename[c] for c in columns if c in rename}
    if value is not None:
        index["Value"] = len(columns)
        names["Value"] = value
    return dash_m.DataTransformerConfig(id_val="organize", options={
        "excludeByName": {"Time": True, **({} if value else {"Value": True})},
        "indexByName": index,
        "renameByName": names,
    })


def ts(title: str, description: str, *targets: prom.Dataquery, unit: str = "short",
       stacked: bool = False, width: int = 12, height: int = 8) -> timeseries.Panel:
    p = (timeseries.Panel().title(title).description(description).datasource(DS)
         .unit(unit).min(0).span(width).height(height)
         .legend(common_b.VizLegendOptions().display_mode(common_m.LegendDisplayMode.TABLE)
                 .placement(common_m.LegendPlacement.RIGHT).show_legend(True)
                 .calcs(["lastNotNull", "max"])))
    if stacked:
        p = (p.stacking(common_b.StackingConfig().mode(common_m.StackingMode.NORMAL))
             .fill_opacity(30))
    for t in targets:
        p = p.with_target(t)
    return p


def single(title: str, description: str, expr: str, *, unit: str = "short",
           red_above: float | None = None, width: int = 4,
           steps: Sequence[tuple[float | None, str]] | None = None) -> stat.Panel:
    """A stat panel: green, red from ``red_above``; or the threshold ``steps`` given
    (``(None, base colour), (from, colour), ...``)."""
    if steps is None:
        steps = [(None, "green")] + ([(red_above, "red")] if red_above is not None else [])
    thresholds = [dash_m.Threshold(value=v, color=c) for v, c in steps]
    return (stat.Panel().title(title).description(description).datasource(DS)
            .with_target(query(expr, instant=False)).unit(unit).span(width).height(4)
            .reduce_options(common_b.ReduceDataOptions().calcs(["lastNotNull"]))
            .color_mode(common_m.BigValueColorMode.BACKGROUND)
            .thresholds(dash.ThresholdsConfig().mode(dash_m.ThresholdsMode.ABSOLUTE)
                        .steps(thresholds)))


def findings(metric: str, selector: str) -> str:
    """``metric`` of the findings ``selector`` picks that pass $hostname and whose tenant or
    other tenant passes $tenant."""
    sel = f"{selector}, {FINDING_FILTER}"
    return (f'{metric}{{{sel}, tenant=~"$tenant"}} '
            f'or {metric}{{{sel}, other_tenant=~"$tenant"}}')


def finding_table(title: str, description: str, selector: str, columns: Sequence[str],
                  rename: dict[str, str], *, height: int = 8,
                  first_seen: bool = False) -> table.Panel:
    """One row per finding; with ``first_seen``, a last column saying since when (the
    earliest any replica saw it, from gwwatch_finding_first_seen_timestamp_seconds).
    With a cluster label, a Cluster column keeps one cluster's finding apart from another's."""
    if CLUSTER:
        columns, rename = (*columns, CLUSTER), {**rename, CLUSTER: "Cluster"}
    if first_seen:
        expr = (f"1000 * min by ({', '.join(columns)}) "
                f"({findings('gwwatch_finding_first_seen_timestamp_seconds', selector)})")
    else:
        expr = f"max by ({', '.join(columns)}) ({findings('gwwatch_finding_info', selector)})"
    p = (table.Panel().title(title).description(description).datasource(DS)
         .with_target(query(expr, instant=True)).span(24).height(height)
         .no_value("none")
         .with_transformation(organize(columns, rename, "First seen" if first_seen else None))
         .links([dash.DashboardLink("Runbooks").url(RUNBOOKS).target_blank(True)]))
    if first_seen:
        p = p.unit("dateTimeAsIso")  # the only numeric column: milliseconds since the epoch
    return p


def multi_variable(name: str, label: str, description: str, query_text: str
                   ) -> dash.QueryVariable:
    """A multi-value variable with "All" (= ``.*``, which also matches a missing label)."""
    return (dash.QueryVariable(name).label(label).description(description).datasource(DS)
            .query(query_text)
            .refresh(dash_m.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(dash_m.VariableSort.ALPHABETICAL_ASC)
            .multi(True).include_all(True).all_value(".*")
            .current(dash_m.VariableOption(selected=True, text="All", value="$__all")))


def variables(d: dash.Dashboard, *, finding_filters: bool = False) -> dash.Dashboard:
    d = d.with_variable(dash.DatasourceVariable("datasource").label("Data source")
                        .type("prometheus"))
    # $cluster: shown when alerts/config.yaml names a cluster label; hidden (and no query
    # uses it) when it does not.
    cluster = multi_variable(
        "cluster", "Cluster", f"The cluster (label {CLUSTER or 'cluster'}) gwwatch runs in",
        f"label_values(gwwatch_build_info, {CLUSTER or 'cluster'})")
    if not CLUSTER:
        cluster = cluster.hide(dash_m.VariableHide.HIDE_VARIABLE)
    d = d.with_variable(cluster)
    in_cluster = f'{{{CLUSTER}=~"$cluster"}}' if CLUSTER else ""
    d = d.with_variable(multi_variable(
        "namespace", "Namespace", "Where gwwatch runs (the scrape target's namespace)",
        f"label_values(gwwatch_build_info{in_cluster}, namespace)"))
    if finding_filters:
        d = (d.with_variable(multi_variable(
                "tenant", "Tenant", "Findings where this tenant is either side",
                f"label_values(gwwatch_finding_info{{{NS}}}, tenant)"))
             .with_variable(multi_variable(
                "hostname", "Hostname", "Findings about these hostnames",
                f"label_values(gwwatch_finding_info{{{NS}}}, hostname)")))
    return d


def number_panels(d: dict[str, Any]) -> dict[str, Any]:
    """Stable panel ids (1, 2, ... in layout order) and refIds; the SDK leaves them unset."""
    for i, panel in enumerate(d["panels"], start=1):
        panel["id"] = i
    return d


def base(title: str, uid: str, description: str, *,
         finding_filters: bool = False) -> dash.Dashboard:
    return variables(
        dash.Dashboard(title).uid(uid).description(description).tags(TAGS)
        .editable().tooltip(dash_m.DashboardCursorSync.CROSSHAIR)
        .refresh("30s").time("now-6h", "now").timezone("browser")
        .link(dash.DashboardLink("gwwatch").type(dash_m.DashboardLinkType.DASHBOARDS)
              .tags(["gwwatch"]).as_dropdown(False).include_vars(True).keep_time(True)),
        finding_filters=finding_filters)


# --- the dashboards -----------------------------------------------------------------------


def overview() -> dash.Dashboard:
    by_finding = "max by (namespace, kind, severity)"
    return (
        base("gwwatch / Overview", "gwwatch-overview",
             "Hostname hijacks, shadowed routes, shared hostnames and Gateway posture found "
             "by gwwatch across tenants sharing Gateway API Gateways.", finding_filters=True)
        .with_row(dash.Row("Now"))
        .with_panel(single(
            "Critical findings", "Current findings of severity critical (hijacks).",
            f'sum({by_finding} (gwwatch_findings{{severity="critical", {NS}}}))',
            red_above=1, width=5))
        .with_panel(single(
            "Warnings", "Current findings of severity warning (shadowed routes, shared "
            "hostnames, posture, hijacks inside one tenant): tickets, not pages.",
            f'sum({by_finding} (gwwatch_findings{{severity="warning", {NS}}}))',
            steps=[(None, "green"), (1, "orange")], width=5))
        .with_panel(single(
            "Routes", "Routes gwwatch analyses, any attachment state.",
            f"sum(max by (namespace, kind, state, reason) (gwwatch_routes{{{NS}}}))",
            width=5))
        .with_panel(single(
            "Invalid objects", "Objects gwwatch cannot parse and skips (see its logs).",
            f"sum(max by (namespace, kind) (gwwatch_invalid_objects{{{NS}}})) or vector(0)",
            red_above=1, width=5))
        .with_panel(single(
            "Findings without a series", "Findings over GWWATCH_MAX_FINDING_SERIES: alerts "
            "cannot name them.", f"max(gwwatch_findings_dropped{{{NS}}})", red_above=1,
            width=4))
        .with_row(dash.Row("Hijacks"))
        .with_panel(finding_table(
            "Active hijacks",
            "A route of one tenant (offender) wins requests for a hostname that the owner's "
            "route (victim) would otherwise serve. `kubectl describe` either route for the "
            "request space and the precedence rule.",
            f'kind="Hijack", {NS}',
            FINDING,
            {"hostname": "Hostname", "route_kind": "Offender kind", "route": "Offender route",
             "other_kind": "Victim kind", "other": "Victim route", "gateway": "Gateway",
             "listener": "Listener", "tenant": "Offender tenant",
             "other_tenant": "Owner tenant", "reason": "Reason", "severity": "Severity"},
            first_seen=True))
        .with_row(dash.Row("Findings"))
        .with_panel(ts(
            "Findings by kind and severity",
            "Current findings (Hijack, Shadowed, SharedHostname, Posture) by severity.",
            query(f"sum by (kind, severity) ({by_finding} (gwwatch_findings{{{NS}}}))",
                  legend="{{kind}} {{severity}}"),
            stacked=True, width=24))
        .with_panel(finding_table(
            "All current findings",
            "Every finding with a series: Shadowed = `route` never wins, `other` takes it; "
            "SharedHostname = two tenants on one hostname, `other` is the owner's route.",
            NS, ("kind", *FINDING),
            {"kind": "Kind", "hostname": "Hostname", "route_kind": "Route kind",
             "route": "Route", "other_kind": "Other kind", "other": "Other route",
             "gateway": "Gateway", "listener": "Listener", "tenant": "Tenant",
             "other_tenant": "Other tenant", "reason": "Reason", "severity": "Severity"},
            height=10))
        .with_panel(finding_table(
            "Posture findings",
            "Risky Gateway set-ups: listeners shared by tenants with `from: All`, listeners "
            "without a hostname open to other namespaces, one hostname behind Gateways of "
            "different tenants, conflicting claims.",
            f'kind="Posture", {NS}',
            ("gateway", "listener", "hostname", "reason", "severity", "tenant"),
            {"gateway": "Gateway", "listener": "Listener", "hostname": "Hostname",
             "reason": "Reason", "severity": "Severity", "tenant": "Tenant"}, height=6))
        .with_row(dash.Row("Routes and attachments"))
        .with_panel(ts(
            "Routes by attachment state and reason",
            "attached: every parentRef accepted; partial: some refused; detached: none "
            "(reason = the first refusal, as the Gateway API names it); invalid: unparsable.",
            query("sum by (kind, state, reason) (max by (namespace, kind, state, reason) "
                  f"(gwwatch_routes{{{NS}}}))", legend="{{kind}} {{state}} ({{reason}})"),
            stacked=True))
        .with_panel(
            bargauge.Panel().title("Attached routes per Gateway listener")
            .description("Routes attached to each listener (a route counts once per listener).")
            .datasource(DS).span(12).height(8)
            .with_target(query("max by (gateway, listener) "
                               f"(gwwatch_attachments{{{NS}}})",
                               legend="{{gateway}} / {{listener}}", instant=False))
            .orientation(common_m.VizOrientation.HORIZONTAL)
            .display_mode(common_m.BarGaugeDisplayMode.BASIC)
            .reduce_options(common_b.ReduceDataOptions().calcs(["lastNotNull"]))
            .min(0).unit("short"))
    )


def controller() -> dash.Dashboard:
    leader_map = dash_m.ValueMap(options={
        "0": dash_m.ValueMappingResult(text="follower", color="blue", index=0),
        "1": dash_m.ValueMappingResult(text="leader", color="green", index=1)})
    ready_map = dash_m.ValueMap(options={
        "0": dash_m.ValueMappingResult(text="syncing", color="orange", index=0),
        "1": dash_m.ValueMappingResult(text="ready", color="green", index=1)})
    return (
        base("gwwatch / Controller health", "gwwatch-controller",
             "Is gwwatch watching, analysing and writing? Replicas, leader, watches per kind, "
             "reconcile latency, status writes and Events, and the admission webhook.")
        .with_row(dash.Row("Replicas"))
        .with_panel(single(
            "Replicas", "gwwatch processes being scraped.",
            f"count(gwwatch_build_info{{{NS}}})", width=4))
        .with_panel(single(
            "Leaders", "Replicas holding the Lease: 1 is right; 0 means nobody writes status, "
            "2 or more means the Lease is broken (several writers).",
            f"sum(gwwatch_leader{{{NS}}})", width=4,
            steps=[(None, "red"), (1, "green"), (2, "red")]))
        .with_panel(
            statetimeline.Panel().title("Leader").datasource(DS).span(8).height(4)
            .description("Which replica holds the Lease (writes status and Events).")
            .with_target(query(f"max by (instance) (gwwatch_leader{{{NS}}})",
                               legend="{{instance}}"))
            .mappings([leader_map]).show_value(common_m.VisibilityMode.NEVER))
        .with_panel(
            statetimeline.Panel().title("Initial sync").datasource(DS).span(8).height(4)
            .description("ready once every watched kind was listed and analysed (/readyz).")
            .with_target(query(f"max by (instance) (gwwatch_ready{{{NS}}})",
                               legend="{{instance}}"))
            .mappings([ready_map]).show_value(common_m.VisibilityMode.NEVER))
        .with_panel(
            table.Panel().title("Build").datasource(DS).span(24).height(4)
            .description("Version of each replica.")
            .with_target(query(f"max by (instance, version, python_version) "
                               f"(gwwatch_build_info{{{NS}}})", instant=True))
            .with_transformation(organize(
                ("instance", "version", "python_version"),
                {"instance": "Instance", "version": "gwwatch", "python_version": "Python"})))
        .with_row(dash.Row("Watches"))
        .with_panel(ts(
            "Watch events by kind",
            "Watch events per second received per kind and event type. A healthy watch gets "
            "a BOOKMARK about every minute even when nothing changes.",
            query(f"sum by (kind, type) (rate(gwwatch_watch_events_total{{{NS}}}[{RATE}]))",
                  legend="{{kind}} {{type}}"), unit="reqps"))
        .with_panel(ts(
            "Watch restarts by kind and reason",
            "Watches or lists that failed or expired (reason = error class, e.g. Expired "
            "for 410 Gone) and were started again.",
            query("sum by (kind, reason) "
                  f"(increase(gwwatch_watch_restarts_total{{{NS}}}[{RATE}]))",
                  legend="{{kind}} {{reason}}")))
        .with_panel(ts(
            "Re-lists by kind",
            "Full lists per kind (the first one, then after a 410 Gone or a failed watch).",
            query(f"sum by (kind) (increase(gwwatch_relists_total{{{NS}}}[{RATE}]))",
                  legend="{{kind}}")))
        .with_panel(ts(
            "Time since last full list",
            "Age of each replica's last successful list of a kind. Watches keep the view "
            "current between lists, so this grows in a healthy controller; a reset means a "
            "re-list.",
            query("max by (instance, kind) "
                  f"(time() - gwwatch_last_sync_timestamp_seconds{{{NS}}})",
                  legend="{{instance}} {{kind}}"), unit="s"))
        .with_row(dash.Row("Reconcile and writes"))
        .with_panel(ts(
            "Reconcile latency",
            "Time to apply one changed object to the conflict graph (p50, p99).",
            query("histogram_quantile(0.5, sum by (le) "
                  f"(rate(gwwatch_reconcile_duration_seconds_bucket{{{NS}}}[{RATE}])))",
                  "A", legend="p50"),
            query("histogram_quantile(0.99, sum by (le) "
                  f"(rate(gwwatch_reconcile_duration_seconds_bucket{{{NS}}}[{RATE}])))",
                  "B", legend="p99"), unit="s"))
        .with_panel(ts(
            "Reconciles by kind",
            "Objects applied to the conflict graph per second, and those whose analysis "
            "raised (a bug: see the logs).",
            query("sum by (kind) "
                  f"(rate(gwwatch_reconcile_duration_seconds_count{{{NS}}}[{RATE}]))",
                  "A", legend="{{kind}}"),
            query(f"sum by (kind) (rate(gwwatch_reconcile_errors_total{{{NS}}}[{RATE}]))",
                  "B", legend="{{kind}} errors"), unit="ops"))
        .with_panel(ts(
            "Status writes by result",
            "Route status writes per second: updated, conflict (409, re-read and retried), "
            "invalid (422), forbidden (403), error.",
            query(f"sum by (result) (rate(gwwatch_status_writes_total{{{NS}}}[{RATE}]))",
                  legend="{{result}}"), unit="ops", stacked=True))
        .with_panel(ts(
            "Events by type and result",
            "Kubernetes Events written on routes per second (Warning when a finding "
            "appears, Normal when it clears).",
            query(f"sum by (type, result) (rate(gwwatch_events_total{{{NS}}}[{RATE}]))",
                  legend="{{type}} {{result}}"), unit="ops", stacked=True))
        .with_row(dash.Row("Admission webhook (deploy/components/admission)"))
        .with_panel(ts(
            "Admission reviews by decision",
            "Admission reviews answered per second, all replicas: denied (a new critical "
            "Hijack by the object under review), warned (admitted with warnings), allowed, "
            "unchecked (mode off, or a replica still syncing). Empty where the webhook is off.",
            query("sum by (decision) "
                  f"(rate(gwwatch_admission_requests_total{{{NS}}}[{RATE}]))",
                  legend="{{decision}}"), unit="reqps", stacked=True))
        .with_panel(ts(
            "Admission reviews by kind and operation",
            "Which objects the API server asks about (the webhook's rules: route kinds, "
            "ListenerSets and Gateways; CREATE and UPDATE).",
            query("sum by (kind, operation) "
                  f"(rate(gwwatch_admission_requests_total{{{NS}}}[{RATE}]))",
                  legend="{{kind}} {{operation}}"), unit="reqps"))
        .with_panel(ts(
            "Admission latency",
            "Time from a review's headers to its answer in gwwatch (p50, p99): one what-if on "
            "the graph. The webhook's timeoutSeconds (3 s shipped) is the ceiling the API "
            "server waits.",
            query("histogram_quantile(0.5, sum by (le) "
                  f"(rate(gwwatch_admission_duration_seconds_bucket{{{NS}}}[{RATE}])))",
                  "A", legend="p50"),
            query("histogram_quantile(0.99, sum by (le) "
                  f"(rate(gwwatch_admission_duration_seconds_bucket{{{NS}}}[{RATE}])))",
                  "B", legend="p99"), unit="s"))
        .with_panel(ts(
            "Admission errors and pending objects",
            "Reviews answered with an error per second by reason (the API server then applies "
            "the failurePolicy), and objects admitted that the watch has not delivered yet "
            "(they count in later decisions of that replica).",
            query("sum by (reason) "
                  f"(rate(gwwatch_admission_errors_total{{{NS}}}[{RATE}]))",
                  "A", legend="errors {{reason}}"),
            query(f"max by (instance) (gwwatch_admission_pending{{{NS}}})",
                  "B", legend="pending {{instance}}")))
    )


DASHBOARDS: Final = {
    "gwwatch-overview.json": overview,
    "gwwatch-controller.json": controller,
}


def render(builder: dash.Dashboard) -> str:
    model = json.loads(json.dumps(builder.build(), cls=JSONEncoder))
    return json.dumps(number_panels(model), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def rendered() -> dict[str, str]:
    return {name: render(make()) for name, make in DASHBOARDS.items()}


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings (the dashboards' JSON) as literal blocks."""


_BlockDumper.add_representer(str, lambda d, v: d.represent_scalar(
    "tag:yaml.org,2002:str", v, style="|" if "\n" in v else None))


def configmap_name(file_name: str) -> str:
    """gwwatch-overview.json → gwwatch-dashboard-overview"""
    return "gwwatch-dashboard-" + file_name.removeprefix("gwwatch-").removesuffix(".json")


def configmaps(dashboards: dict[str, str]) -> str:
    """The dashboards as ConfigMaps for Grafana's sidecar (kube-prometheus-stack's Grafana
    loads ConfigMaps labelled grafana_dashboard="1"; with its folderAnnotation set to
    grafana_folder they land in the gwwatch folder)."""
    docs = [{
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": configmap_name(name),
                     "labels": {"grafana_dashboard": "1"},
                     "annotations": {"grafana_folder": FOLDER}},
        "data": {name: text},
    } for name, text in dashboards.items()]
    header = ("# GENERATED by dashboards/generate.py: do not edit.\n"
              "# gwwatch's Grafana dashboards for the Grafana sidecar (label grafana_dashboard,\n"
              "# folder annotation grafana_folder). The sidecar must watch this namespace\n"
              "# (kube-prometheus-stack: grafana.sidecar.dashboards.searchNamespace: ALL).\n")
    return header + "---\n".join(yaml.dump(d, Dumper=_BlockDumper, sort_keys=False, width=100)
                                 for d in docs)


def files() -> dict[Path, str]:
    """Every file this script writes → its content."""
    dashboards = rendered()
    out = {HERE / name: text for name, text in dashboards.items()}
    out[CONFIGMAPS] = configmaps(dashboards)
    out.update({CHART_DASHBOARDS / name: text for name, text in dashboards.items()})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a file is stale")
    args = parser.parse_args(argv)
    stale = []
    for path, text in files().items():
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"stale: {', '.join(stale)}: run python dashboards/generate.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
