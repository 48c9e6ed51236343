"""The Helm chart (charts/gwwatch) rendered by a real helm, built from its Go module
(tests/helm/build.py): ``helm lint``; by default the same objects as deploy/base, object for
object, modulo Helm's own labels; every option renders what it says and stays schema-checked;
the monitoring objects equal deploy/monitoring's. tests/integration/test_chart_install.py
installs, upgrades and uninstalls it on the test API server.

Without helm (no Go to build it) or kubectl (the test control plane's) the tests fail in CI and
skip elsewhere (tests/needs.py).
"""

from __future__ import annotations

import copy
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.controlplane.fixtures import require_assets
from tests.helm.build import require_helm
from tests.needs import unavailable

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "gwwatch"
BASE = ROOT / "deploy" / "base"
MONITORING = ROOT / "deploy" / "monitoring"
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
# Labels and annotations only Helm puts on: who manages the object, which chart made it, and
# the settings checksum that rolls the pods (kustomize users run `rollout restart`).
HELM_LABELS = ("helm.sh/chart", "app.kubernetes.io/managed-by")
HELM_ANNOTATIONS = ("checksum/settings",)
EVERY_OPTION = [
    "--set", "serviceMonitor.enabled=true",
    "--set", "serviceMonitor.labels.release=kube-prometheus-stack",
    "--set", "prometheusRule.enabled=true",
    "--set", "prometheusRule.labels.release=kube-prometheus-stack",
    "--set", "dashboards.enabled=true",
    "--set", "ownership.enabled=true",
    "--set", "ownership.claims.billing[0]=api.example.com",
    "--set", "image.registry=registry.example.com",
    "--set", "image.repository=platform/gwwatch",
    "--set", "image.digest=sha256:" + "ab" * 32,
    "--set", "replicas=3",
    "--set", "resources.limits.memory=1Gi",
    "--set", "settings.GWWATCH_LOG_LEVEL=debug",
    "--set", "commonLabels.team=platform",
    "--set", "commonAnnotations.owner=platform@example.com",
    "--set-string", "podAnnotations.example\\.com/scrape=false",
    "--set", "networkPolicy.apiServerCIDRs[0]=10.0.0.0/28",
    "--set", "admissionWebhook.enabled=true",
    "--set", "admissionWebhook.mode=warn",
    "--set", "admissionWebhook.failurePolicy=Fail",
    "--set", "admissionWebhook.timeoutSeconds=5",
    "--set", "admissionWebhook.port=10443",
    "--set", "admissionWebhook.certManager.issuerRef.name=platform-ca",
    "--set", "admissionWebhook.certManager.issuerRef.kind=ClusterIssuer",
]

Doc = dict[str, Any]


@pytest.fixture(scope="module")
def helm() -> Path:
    return require_helm()


@pytest.fixture(scope="module")
def kubectl() -> Path:
    assets = require_assets("kubectl from the test control plane")
    if assets.kubectl is None:
        unavailable("kubectl", f"none beside the control plane in {assets.directory}")
    return assets.kubectl


def run(*cmd: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, check=False,
                          timeout=120)


def template(helm: Path, *args: str, release: str = "gwwatch") -> list[Doc]:
    done = run(helm, "template", release, CHART, *args)
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def key(doc: Doc) -> tuple[str, str, str, str]:
    meta = doc["metadata"]
    return doc["apiVersion"], doc["kind"], meta.get("namespace", ""), meta["name"]


def by_key(docs: list[Doc]) -> dict[tuple[str, str, str, str], Doc]:
    out = {key(d): d for d in docs}
    assert len(out) == len(docs), "two objects with one name"
    return out


def without_helm_marks(doc: Doc) -> Doc:
    doc = copy.deepcopy(doc)
    metas = [doc["metadata"]]
    if "template" in doc.get("spec", {}):
        metas.append(doc["spec"]["template"]["metadata"])
    for meta in metas:
        for label in (*HELM_LABELS,):
            meta.get("labels", {}).pop(label, None)
        for annotation in HELM_ANNOTATIONS:
            meta.get("annotations", {}).pop(annotation, None)
    return doc


def find(docs: list[Doc], kind: str) -> list[Doc]:
    return [d for d in docs if d["kind"] == kind]


def test_chart_lints(helm: Path) -> None:
    for args in ([], EVERY_OPTION):
        done = run(helm, "lint", "--strict", CHART, *args)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "0 chart(s) failed" in done.stdout


def test_default_render_is_deploy_base(helm: Path, kubectl: Path) -> None:
    """Object for object, field for field: the chart with the release named gwwatch installs
    what `kubectl apply -k deploy/base` does, apart from Helm's own marks."""
    done = run(kubectl, "kustomize", BASE)
    assert done.returncode == 0, done.stderr
    base = by_key([d for d in yaml.safe_load_all(done.stdout) if d])
    chart = by_key(template(helm))
    assert sorted(chart) == sorted(base)
    for k, want in base.items():
        got = chart[k]
        assert got["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
        assert got["metadata"]["labels"]["helm.sh/chart"] == f"gwwatch-{VERSION}"
        assert without_helm_marks(got) == without_helm_marks(want), k


def test_every_option_renders_what_it_says(helm: Path) -> None:
    default, every = template(helm), template(helm, *EVERY_OPTION)
    added = {d["kind"] for d in every} - {d["kind"] for d in default}
    assert added == {"ServiceMonitor", "PrometheusRule", "ValidatingWebhookConfiguration",
                     "Certificate"}
    assert len(find(every, "ConfigMap")) == len(find(default, "ConfigMap")) + 3  # owner + 2
    deployment = find(every, "Deployment")[0]
    pod = deployment["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    assert container["image"] == "registry.example.com/platform/gwwatch@sha256:" + "ab" * 32
    assert deployment["spec"]["replicas"] == 3
    assert container["resources"]["limits"]["memory"] == "1Gi"
    assert pod["metadata"]["annotations"]["example.com/scrape"] == "false"
    settings = next(d for d in every if d["metadata"]["name"] == "gwwatch-settings")
    assert settings["data"]["GWWATCH_LOG_LEVEL"] == "debug"
    assert settings["data"]["GWWATCH_OWNERSHIP_CONFIGMAP"] == "gwwatch-ownership"
    owners = next(d for d in every if d["metadata"]["name"] == "gwwatch-ownership")
    assert yaml.safe_load(owners["data"]["ownership.yaml"]) == {"billing": ["api.example.com"]}
    for doc in every:
        assert doc["metadata"]["labels"]["team"] == "platform", key(doc)
        assert doc["metadata"]["annotations"]["owner"] == "platform@example.com", key(doc)
    for kind in ("ServiceMonitor", "PrometheusRule"):
        (doc,) = find(every, kind)
        assert doc["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    (np,) = find(every, "NetworkPolicy")
    assert np["spec"]["egress"][0]["to"] == [{"ipBlock": {"cidr": "10.0.0.0/28"}}]
    assert np["spec"]["ingress"][1] == {"ports": [{"port": "webhook", "protocol": "TCP"}]}
    # The webhook: its settings, port, registration, and a certificate from the given issuer
    # (no private CA of the chart's own).
    assert (settings["data"]["GWWATCH_WEBHOOK_MODE"], settings["data"]["GWWATCH_WEBHOOK_PORT"]
            ) == ("warn", "10443")
    assert {"name": "webhook", "containerPort": 10443, "protocol": "TCP"} in container["ports"]
    (config,) = find(every, "ValidatingWebhookConfiguration")
    (webhook,) = config["webhooks"]
    assert (webhook["failurePolicy"], webhook["timeoutSeconds"]) == ("Fail", 5)
    (cert,) = find(every, "Certificate")
    assert cert["spec"]["issuerRef"] == {"name": "platform-ca", "kind": "ClusterIssuer"}
    assert config["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == (
        f"gwwatch-system/{cert['metadata']['name']}")
    # ... and the selector stays what deploy/base's is (an immutable field).
    assert deployment["spec"]["selector"] == find(default, "Deployment")[0]["spec"]["selector"]


def test_default_image_is_this_release(helm: Path) -> None:
    (deployment,) = find(template(helm), "Deployment")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == (
        f"ghcr.io/gwwatch/gwwatch:{VERSION}")


def test_changed_settings_roll_the_pods(helm: Path) -> None:
    def checksum(*args: str) -> str:
        (d,) = find(template(helm, *args), "Deployment")
        return str(d["spec"]["template"]["metadata"]["annotations"]["checksum/settings"])

    assert checksum() == checksum()
    assert checksum() != checksum("--set", "settings.GWWATCH_LOG_LEVEL=debug")


def test_monitoring_objects_are_deploy_monitorings(helm: Path, kubectl: Path) -> None:
    """The PrometheusRule's groups, the ServiceMonitor's endpoint and the dashboards are the
    ones deploy/monitoring ships (all three generated or checked from one source)."""
    done = run(kubectl, "kustomize", MONITORING)
    assert done.returncode == 0, done.stderr
    kustomized = [d for d in yaml.safe_load_all(done.stdout) if d]
    every = template(helm, *EVERY_OPTION)
    assert find(every, "PrometheusRule")[0]["spec"] == find(kustomized, "PrometheusRule")[0][
        "spec"]
    assert find(every, "ServiceMonitor")[0]["spec"]["endpoints"] == find(
        kustomized, "ServiceMonitor")[0]["spec"]["endpoints"]
    ours = {d["metadata"]["name"]: d for d in find(every, "ConfigMap")
            if "grafana_dashboard" in d["metadata"]["labels"]}
    theirs = {d["metadata"]["name"]: d for d in find(kustomized, "ConfigMap")}
    assert sorted(ours) == sorted(theirs) and len(ours) == 2
    for name, cm in ours.items():
        assert cm["data"] == theirs[name]["data"]
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert cm["metadata"]["annotations"]["grafana_folder"] == "gwwatch"


def test_another_release_name_keeps_names_rbac_and_alerts_consistent(helm: Path) -> None:
    docs = template(helm, "--set", "prometheusRule.enabled=true",
                    "--set", "serviceMonitor.enabled=true", release="platform")
    names = {d["metadata"]["name"] for d in docs if d["kind"] != "Namespace"}
    assert all(n.startswith("platform-gwwatch") for n in names), names
    settings = next(d for d in docs if d["metadata"]["name"] == "platform-gwwatch-settings")
    lease = settings["data"]["GWWATCH_LEASE_NAME"]
    (role,) = find(docs, "Role")
    granted = {n for r in role["rules"] for n in r.get("resourceNames", [])
               if "leases" in r["resources"]}
    assert granted == {lease}
    (svc,) = find(docs, "Service")
    (rule,) = find(docs, "PrometheusRule")
    exprs = [r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]]
    assert all(f'job="{svc["metadata"]["name"]}"' in e for e in exprs), exprs
    (sm,) = find(docs, "ServiceMonitor")
    assert all(svc["metadata"]["labels"].get(k) == v
               for k, v in sm["spec"]["selector"]["matchLabels"].items())
    for d in docs:
        assert d["metadata"]["labels"]["app.kubernetes.io/instance"] == "platform"


@pytest.mark.parametrize("args", [
    pytest.param(["--set", "replica=3"], id="unknown-key"),
    pytest.param(["--set", "replicas=two"], id="wrong-type"),
    pytest.param(["--set", "image.digest=latest"], id="not-a-digest"),
    pytest.param(["--set", "settings.LOG_LEVEL=debug"], id="not-a-gwwatch-setting"),
    pytest.param(["--set", "admissionWebhook.mode=refuse"], id="webhook-mode"),
    pytest.param(["--set", "admissionWebhook.failurePolicy=Open"], id="failure-policy"),
    pytest.param(["--set", "admissionWebhook.timeoutSeconds=31"], id="webhook-timeout"),
    pytest.param(["--set", "admissionWebhook.port=8080"], id="webhook-on-metrics-port"),
    pytest.param(["--set", "admissionWebhook.caBundle=not base64!"], id="ca-bundle"),
])
def test_schema_refuses_bad_values(helm: Path, args: list[str]) -> None:
    done = run(helm, "template", "gwwatch", CHART, *args)
    assert done.returncode != 0
    assert "values don't meet the specifications of the schema" in done.stderr or (
        "at '/" in done.stderr), done.stderr


def test_webhook_without_cert_manager_needs_a_secret_and_its_ca(helm: Path) -> None:
    done = run(helm, "template", "gwwatch", CHART, "--set", "admissionWebhook.enabled=true",
               "--set", "admissionWebhook.certManager.enabled=false")
    assert done.returncode != 0 and "existingSecret" in done.stderr, done.stderr
    docs = template(helm, "--set", "admissionWebhook.enabled=true",
                    "--set", "admissionWebhook.certManager.enabled=false",
                    "--set", "admissionWebhook.existingSecret=webhook-tls",
                    "--set", "admissionWebhook.caBundle=Q0E=")
    assert not find(docs, "Certificate") and not find(docs, "Issuer")
    (config,) = find(docs, "ValidatingWebhookConfiguration")
    assert "annotations" not in config["metadata"]
    assert config["webhooks"][0]["clientConfig"]["caBundle"] == "Q0E="
    (deployment,) = find(docs, "Deployment")
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["webhook-tls"]["secret"]["secretName"] == "webhook-tls"


def test_webhook_render_is_the_admission_component(helm: Path, kubectl: Path,
                                                   tmp_path: Path) -> None:
    """With the webhook on, the chart installs what deploy/base plus
    deploy/components/admission does, object for object, field for field, apart from Helm's
    marks and the recommended labels the chart puts on every object (the component adds only
    name and part-of to its own)."""
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "resources": ["base"], "components": ["admission"]}))
    (tmp_path / "base").symlink_to(BASE)
    (tmp_path / "admission").symlink_to(ROOT / "deploy" / "components" / "admission")
    done = run(kubectl, "kustomize", tmp_path, "--load-restrictor", "LoadRestrictionsNone")
    assert done.returncode == 0, done.stderr
    kustomized = by_key([d for d in yaml.safe_load_all(done.stdout) if d])
    chart = by_key(template(helm, "--set", "admissionWebhook.enabled=true"))
    assert sorted(chart) == sorted(kustomized)
    base = by_key(template(helm))
    assert {k[1] for k in chart if k not in base} == {
        "Service", "ValidatingWebhookConfiguration", "Certificate", "Issuer"}
    for k, want in kustomized.items():
        got = without_helm_marks(chart[k])
        if k not in base:  # the component's own objects
            for label in ("app.kubernetes.io/instance", "app.kubernetes.io/version"):
                assert got["metadata"]["labels"].pop(label) == chart[k]["metadata"]["labels"][
                    label]
        assert got == without_helm_marks(want), k
