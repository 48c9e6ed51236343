"""deploy/components/admission, rendered on top of deploy/base with the pinned kubectl's
kustomize: what the webhook's README promises is what lands.

In scope: the registration reviews every kind and version the engine reads (CREATE/UPDATE, no
subresource), fails open with a short timeout, skips gwwatch's namespace and takes dry runs;
the Service, the container port, the settings and the mounted Secret agree with each other;
cert-manager's CA injection names the serving Certificate, whose names are the Service's; the
NetworkPolicy keeps the metrics rule and opens the webhook port; every setting is one gwwatch
knows. The webhook at work against a real API server: tests/integration/test_admission.py.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from gwwatch.engine.vocabulary import GROUP, ROUTE_KINDS, readable_versions
from gwwatch.settings import Settings
from tests.controlplane.fixtures import require_assets
from tests.needs import unavailable

ROOT = Path(__file__).resolve().parents[2]
COMPONENT = ROOT / "deploy" / "components" / "admission"
NAMESPACE = "gwwatch-system"

Doc = dict[str, Any]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Doc]:
    """(kind, name) → object, of an overlay holding the base and the component."""
    assets = require_assets("kubectl from the test control plane")
    if assets.kubectl is None:
        unavailable("kubectl", f"none beside the control plane's binaries in {assets.directory}")
    overlay = tmp_path_factory.mktemp("overlay")
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "resources": [str(Path("base"))], "components": [str(Path("admission"))]}))
    (overlay / "base").symlink_to(ROOT / "deploy" / "base")
    (overlay / "admission").symlink_to(COMPONENT)
    proc = subprocess.run([str(assets.kubectl), "kustomize", str(overlay),
                           "--load-restrictor", "LoadRestrictionsNone"],
                          capture_output=True, text=True, check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return {(d["kind"], d["metadata"]["name"]): d
            for d in yaml.safe_load_all(proc.stdout) if d}


def hook(rendered: dict[tuple[str, str], Doc]) -> Doc:
    (config,) = [d for (k, _), d in rendered.items() if k == "ValidatingWebhookConfiguration"]
    (webhook,) = config["webhooks"]
    return dict(webhook)


def container(rendered: dict[tuple[str, str], Doc]) -> Doc:
    (c,) = rendered[("Deployment", "gwwatch")]["spec"]["template"]["spec"]["containers"]
    return dict(c)


def test_every_kind_and_version_the_engine_reads_is_reviewed(
        rendered: dict[tuple[str, str], Doc]) -> None:
    (rule,) = hook(rendered)["rules"]
    assert rule["apiGroups"] == [GROUP] and rule["scope"] == "Namespaced"
    assert rule["operations"] == ["CREATE", "UPDATE"]  # never DELETE
    kinds = [str(k) for k in ROUTE_KINDS] + ["ListenerSet", "Gateway"]
    assert sorted(rule["resources"]) == sorted(k.lower() + "s" for k in kinds)
    assert not [r for r in rule["resources"] if "/" in r]  # no status subresource
    for kind in kinds:
        assert set(readable_versions(kind)) <= set(rule["apiVersions"]), kind


def test_fails_open_fast_and_answers_dry_runs(rendered: dict[tuple[str, str], Doc]) -> None:
    webhook = hook(rendered)
    assert webhook["failurePolicy"] == "Ignore"
    assert webhook["timeoutSeconds"] <= 5
    assert webhook["matchPolicy"] == "Equivalent"
    assert webhook["sideEffects"] == "None"
    assert webhook["admissionReviewVersions"] == ["v1"]
    (expr,) = webhook["namespaceSelector"]["matchExpressions"]
    assert expr == {"key": "kubernetes.io/metadata.name", "operator": "NotIn",
                    "values": [NAMESPACE]}


def test_service_port_settings_and_secret_agree(rendered: dict[tuple[str, str], Doc]) -> None:
    settings = rendered[("ConfigMap", "gwwatch-settings")]["data"]
    known = {f"GWWATCH_{name.upper()}" for name in Settings.model_fields}
    assert set(settings) <= known
    assert settings["GWWATCH_LOG_FORMAT"] == "json"  # the base's settings are kept (merge)
    c = container(rendered)
    (port,) = [p for p in c["ports"] if p["name"] == "webhook"]
    assert str(port["containerPort"]) == settings["GWWATCH_WEBHOOK_PORT"]
    assert [p["name"] for p in c["ports"]].count("metrics") == 1
    service = rendered[("Service", "gwwatch-webhook")]
    (sport,) = service["spec"]["ports"]
    assert sport["targetPort"] == "webhook" and sport["port"] == 443
    selector = rendered[("Deployment", "gwwatch")]["spec"]["selector"]["matchLabels"]
    assert service["spec"]["selector"] == selector
    client = hook(rendered)["clientConfig"]["service"]
    assert (client["name"], client["namespace"], client["port"], client["path"]) == (
        "gwwatch-webhook", NAMESPACE, 443, "/validate")
    (mount,) = [m for m in c["volumeMounts"] if m["name"] == "webhook-tls"]
    for key in ("GWWATCH_WEBHOOK_CERT_FILE", "GWWATCH_WEBHOOK_KEY_FILE"):
        assert Path(settings[key]).parent == Path(mount["mountPath"])
    volumes = rendered[("Deployment", "gwwatch")]["spec"]["template"]["spec"]["volumes"]
    (volume,) = [v for v in volumes if v["name"] == "webhook-tls"]
    certificate = rendered[("Certificate", "gwwatch-webhook")]
    assert volume["secret"] == {"secretName": certificate["spec"]["secretName"],
                                "optional": True}


def test_the_ca_injected_is_the_serving_certificates(
        rendered: dict[tuple[str, str], Doc]) -> None:
    (config,) = [d for (k, _), d in rendered.items() if k == "ValidatingWebhookConfiguration"]
    ns, name = config["metadata"]["annotations"]["cert-manager.io/inject-ca-from"].split("/")
    certificate = rendered[("Certificate", name)]
    assert certificate["metadata"]["namespace"] == ns == NAMESPACE
    assert "gwwatch-webhook.gwwatch-system.svc" in certificate["spec"]["dnsNames"]
    issuer = rendered[("Issuer", certificate["spec"]["issuerRef"]["name"])]
    ca = rendered[("Certificate", "gwwatch-webhook-ca")]
    assert issuer["spec"]["ca"]["secretName"] == ca["spec"]["secretName"]  # a CA, not self-signed
    assert ca["spec"]["isCA"] is True


def test_the_network_policy_opens_the_webhook_port_too(
        rendered: dict[tuple[str, str], Doc]) -> None:
    ingress = rendered[("NetworkPolicy", "gwwatch")]["spec"]["ingress"]
    ports = [p["port"] for rule in ingress for p in rule["ports"]]
    assert ports == ["metrics", "webhook"]
