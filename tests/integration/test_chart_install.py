"""The Helm chart against a real API server: ``helm install`` creates every object it renders
and the ServiceAccount can do gwwatch's job (and no more), ``helm upgrade`` changes settings and
rolls the pod template, ``helm uninstall`` removes everything, the cluster-scoped RBAC included.
With the admission webhook on, the registration the API server accepts, with the CA of a Secret
given to the chart (the test API server has no cert-manager CRDs: the cert-manager objects are
checked against deploy/components/admission in tests/tools/test_chart.py), failing open while no
replica answers.

helm is built from its Go module (tests/helm/build.py); without it the test fails in CI and
skips elsewhere. No controller-manager runs on the test control plane, so no pod starts: the
install is checked at the API (admission, authorization), not in a kubelet.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.controlplane.certs import serving
from tests.controlplane.controlplane import ControlPlane
from tests.helm.build import require_helm
from tests.needs import unavailable

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "gwwatch"

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def helm(control_plane: ControlPlane, kubeconfig: Path, tmp_path: Path) -> Run:
    binary = require_helm()
    env = {**os.environ, "KUBECONFIG": str(kubeconfig),
           "HELM_CONFIG_HOME": str(tmp_path / "helm-config"),
           "HELM_CACHE_HOME": str(tmp_path / "helm-cache"),
           "HELM_DATA_HOME": str(tmp_path / "helm-data")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([str(binary), *args], capture_output=True, text=True, env=env,
                              check=False, timeout=180)
        assert done.returncode == 0, f"helm {' '.join(args)}:\n{done.stdout}{done.stderr}"
        return done

    return run


@pytest.fixture
def kubectl(control_plane: ControlPlane, kubeconfig: Path) -> Run:
    binary = control_plane.assets.kubectl
    if binary is None:
        unavailable("kubectl", f"none beside the control plane in {control_plane.assets.directory}")

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([str(binary), f"--kubeconfig={kubeconfig}", *args],
                              capture_output=True, text=True, check=False, timeout=60)
        if check:
            assert done.returncode == 0, f"kubectl {' '.join(args)}:\n{done.stderr}"
        return done

    return run


def _ref(doc: dict[str, Any]) -> list[str]:
    group = doc["apiVersion"].rpartition("/")[0]
    resource = f"{doc['kind']}.{group}" if group else doc["kind"]
    args = [resource, doc["metadata"]["name"]]
    if ns := doc["metadata"].get("namespace"):
        args += ["-n", ns]
    return args


def _manifest(helm: Run, release: str, namespace: str) -> list[dict[str, Any]]:
    out = helm("get", "manifest", release, "-n", namespace).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def _can(kubectl: Run, sa: str, verb: str, resource: str, namespace: str, *extra: str) -> bool:
    done = kubectl("auth", "can-i", verb, resource, f"--as={sa}", "-n", namespace, *extra,
                   check=False)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode == 0


def test_install_upgrade_uninstall(helm: Run, kubectl: Run, namespace: str) -> None:
    release = f"gwwatch-{secrets.token_hex(3)}"
    values = ["--set", "namespace.create=false", "--set", f"namespace.name={namespace}",
              "--set", "dashboards.enabled=true", "--set", "ownership.enabled=true",
              "--set", "ownership.claims.billing[0]=api.example.com"]
    helm("install", release, str(CHART), "-n", namespace, *values)
    try:
        docs = _manifest(helm, release, namespace)
        kinds = sorted(d["kind"] for d in docs)
        assert kinds == sorted(["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role",
                                "RoleBinding", "ConfigMap", "ConfigMap", "ConfigMap",
                                "ConfigMap", "Deployment", "Service", "PodDisruptionBudget",
                                "NetworkPolicy"]), kinds
        for doc in docs:
            live = json.loads(kubectl("get", *_ref(doc), "-o", "json").stdout)
            labels = live["metadata"]["labels"]
            assert labels["app.kubernetes.io/instance"] == release, _ref(doc)
            assert labels["app.kubernetes.io/managed-by"] == "Helm", _ref(doc)

        # The ServiceAccount may use its own Lease and ownership ConfigMap, and nothing
        # sensitive (the RBAC authorizer's informers may take a moment).
        sa = f"system:serviceaccount:{namespace}:{release}"
        settings = json.loads(kubectl("get", "configmap", f"{release}-settings", "-n", namespace,
                                      "-o", "json").stdout)["data"]
        lease = settings["GWWATCH_LEASE_NAME"]
        assert lease == release
        assert settings["GWWATCH_OWNERSHIP_CONFIGMAP"] == f"{release}-ownership"
        deadline = time.monotonic() + 15
        while not _can(kubectl, sa, "update", f"leases.coordination.k8s.io/{lease}", namespace):
            assert time.monotonic() < deadline, f"{sa} cannot renew its Lease"
            time.sleep(0.3)
        assert _can(kubectl, sa, "watch", f"configmaps/{release}-ownership", namespace)
        route = "httproutes.gateway.networking.k8s.io"
        assert _can(kubectl, sa, "update", route, "team-a", "--subresource=status")
        assert not _can(kubectl, sa, "update", route, "team-a")
        assert not _can(kubectl, sa, "get", "secrets", namespace)
        assert not _can(kubectl, sa, "update", "leases.coordination.k8s.io/other", namespace)

        def template() -> dict[str, Any]:
            d = json.loads(kubectl("get", "deployment", release, "-n", namespace, "-o",
                                   "json").stdout)
            return dict(d)

        before = template()["spec"]["template"]["metadata"]["annotations"]["checksum/settings"]
        helm("upgrade", release, str(CHART), "-n", namespace, "--reuse-values",
             "--set", "settings.GWWATCH_LOG_LEVEL=debug", "--set", "replicas=3")
        live = json.loads(kubectl("get", "configmap", f"{release}-settings", "-n", namespace,
                                  "-o", "json").stdout)
        assert live["data"]["GWWATCH_LOG_LEVEL"] == "debug"
        deployment = template()
        assert deployment["spec"]["replicas"] == 3
        assert deployment["spec"]["template"]["metadata"]["annotations"][
            "checksum/settings"] != before
        history = json.loads(helm("history", release, "-n", namespace, "-o", "json").stdout)
        assert [h["revision"] for h in history] == [1, 2]
        assert history[-1]["status"] == "deployed"
    finally:
        helm("uninstall", release, "-n", namespace)
    for doc in docs:
        gone = kubectl("get", *_ref(doc), "--ignore-not-found", "-o", "name").stdout.strip()
        assert not gone, f"{gone} left after uninstall"


def test_install_with_the_admission_webhook_and_a_given_secret(
        helm: Run, kubectl: Run, namespace: str, control_plane: ControlPlane,
        tmp_path: Path) -> None:
    release = f"gwwatch-{secrets.token_hex(3)}"
    certs = serving(tmp_path / "certs", name=f"{release}-webhook")
    ca_bundle = base64.b64encode(certs.ca_cert.read_bytes()).decode()
    tenant = f"tenant-{secrets.token_hex(3)}"  # where a route is reviewed
    control_plane.create_namespace(tenant)
    kubectl("create", "secret", "tls", f"{release}-tls", "-n", namespace,
            f"--cert={certs.cert}", f"--key={certs.key}")
    helm("install", release, str(CHART), "-n", namespace,
         "--set", "namespace.create=false", "--set", f"namespace.name={namespace}",
         "--set", "admissionWebhook.enabled=true", "--set", "admissionWebhook.mode=warn",
         "--set", "admissionWebhook.certManager.enabled=false",
         "--set", f"admissionWebhook.existingSecret={release}-tls",
         "--set", f"admissionWebhook.caBundle={ca_bundle}")
    try:
        docs = _manifest(helm, release, namespace)
        assert sorted(d["kind"] for d in docs if d["kind"] in (
            "Service", "ValidatingWebhookConfiguration", "Certificate", "Issuer")) == [
            "Service", "Service", "ValidatingWebhookConfiguration"]
        for doc in docs:
            assert kubectl("get", *_ref(doc), "-o", "name").stdout.strip(), _ref(doc)
        config = json.loads(kubectl("get", "validatingwebhookconfiguration", release,
                                    "-o", "json").stdout)
        (webhook,) = config["webhooks"]
        assert webhook["clientConfig"]["caBundle"] == ca_bundle
        assert webhook["clientConfig"]["service"] == {
            "name": f"{release}-webhook", "namespace": namespace, "path": "/validate",
            "port": 443}
        assert webhook["failurePolicy"] == "Ignore"
        assert webhook["namespaceSelector"]["matchExpressions"] == [{
            "key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": [namespace]}]
        deployment = json.loads(kubectl("get", "deployment", release, "-n", namespace,
                                        "-o", "json").stdout)
        volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
        assert volumes["webhook-tls"]["secret"]["secretName"] == f"{release}-tls"
        settings = json.loads(kubectl("get", "configmap", f"{release}-settings", "-n",
                                      namespace, "-o", "json").stdout)["data"]
        assert (settings["GWWATCH_WEBHOOK_PORT"], settings["GWWATCH_WEBHOOK_MODE"]) == (
            "9443", "warn")
        # Registered, and no replica answers (no pods run here): failurePolicy Ignore admits.
        route = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
                 "metadata": {"name": "web", "namespace": tenant},
                 "spec": {"hostnames": ["web.example.com"]}}
        (tmp_path / "route.yaml").write_text(yaml.safe_dump(route))
        kubectl("create", "-f", str(tmp_path / "route.yaml"))
    finally:
        helm("uninstall", release, "-n", namespace)
        control_plane.delete_namespace(tenant)
    gone = kubectl("get", "validatingwebhookconfiguration", release, "--ignore-not-found",
                   "-o", "name").stdout.strip()
    assert not gone, f"{gone} left after uninstall"
