"""deploy/ against a real API server: the base installs with server-side apply and stays
converged, its pod passes the namespace's "restricted" Pod Security admission, its
ServiceAccount can do what gwwatch does and nothing sensitive besides, the example overlay
passes a server-side dry run, and deploy/monitoring applies once the Prometheus Operator's CRDs
(from its Go module) are installed.

No controller-manager runs on the test control plane, so no pod is ever started: what the
kubelet would do is out of reach, admission and authorization are not.
"""

from __future__ import annotations

import copy
import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gwwatch.settings import Settings
from tests.controlplane.build import go_missing_reason
from tests.controlplane.controlplane import ControlPlane
from tests.controlplane.versions import go_env
from tests.needs import unavailable

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "deploy" / "base"
OVERLAY = ROOT / "deploy" / "overlays" / "example"
MONITORING = ROOT / "deploy" / "monitoring"
NAMESPACE = "gwwatch-system"
FIELD_MANAGER = "gwwatch-install"
SERVICE_ACCOUNT = f"system:serviceaccount:{NAMESPACE}:gwwatch"
LEASE = Settings.model_fields["lease_name"].default

# The Prometheus Operator release whose CRDs deploy/monitoring is checked against, fetched as a
# Go module (its example/prometheus-operator-crd/ directory holds the CRD manifests).
PROMETHEUS_OPERATOR = "github.com/prometheus-operator/prometheus-operator"
PROMETHEUS_OPERATOR_VERSION = "v0.85.0"
MONITORING_CRDS = ("servicemonitors", "prometheusrules")

Doc = dict[str, Any]
Kubectl = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def kubectl(control_plane: ControlPlane, kubeconfig: Path) -> Kubectl:
    binary = control_plane.assets.kubectl
    if binary is None:
        unavailable("kubectl", f"none beside the control plane in {control_plane.assets.directory}")

    def run(
        *args: str,
        check: bool = True,
        stdin: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(binary), f"--kubeconfig={kubeconfig}", *args],
            input=stdin,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if check:
            assert proc.returncode == 0, (
                f"kubectl {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    return run


def _render(kubectl: Kubectl, path: Path) -> list[Doc]:
    return [d for d in yaml.safe_load_all(kubectl("kustomize", str(path)).stdout) if d]


def _ref(doc: Doc) -> list[str]:
    """``kubectl get`` arguments naming one object."""
    kind = doc["kind"]
    group = doc["apiVersion"].rpartition("/")[0]
    resource = f"{kind}.{doc['apiVersion'].split('/')[0]}" if group else kind
    args = [resource, doc["metadata"]["name"]]
    if ns := doc["metadata"].get("namespace"):
        args += ["-n", ns]
    return args


def _exists(kubectl: Kubectl, doc: Doc) -> bool:
    return kubectl("get", *_ref(doc), "--ignore-not-found", "-o", "name").stdout.strip() != ""


def _get(kubectl: Kubectl, doc: Doc) -> Doc:
    out = kubectl("get", *_ref(doc), "-o", "json", "--show-managed-fields").stdout
    return dict(json.loads(out))


def _delete_created(kubectl: Kubectl, docs: list[Doc], existed: set[str]) -> None:
    """Remove what this module created, never what another test had already made. The
    Namespace stays: without a controller-manager a deleted namespace terminates for ever, and
    other tests may want to use it."""
    for doc in reversed(docs):
        if doc["kind"] == "Namespace" or " ".join(_ref(doc)) in existed:
            continue
        kubectl("delete", *_ref(doc), "--ignore-not-found", "--wait=false", check=False)


def _apply(kubectl: Kubectl, path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return kubectl(
        "apply", "--server-side", f"--field-manager={FIELD_MANAGER}", "-k", str(path), *extra
    )


@pytest.fixture(scope="module")
def first_apply(kubectl: Kubectl) -> Iterator[tuple[list[Doc], subprocess.CompletedProcess[str]]]:
    """deploy/base, applied with server-side apply: its rendering and what kubectl said."""
    docs = _render(kubectl, BASE)
    existed = {" ".join(_ref(d)) for d in docs if _exists(kubectl, d)}
    try:
        yield docs, _apply(kubectl, BASE)
    finally:
        _delete_created(kubectl, docs, existed)


@pytest.fixture
def installed(first_apply: tuple[list[Doc], subprocess.CompletedProcess[str]]) -> list[Doc]:
    return first_apply[0]


def _by_kind(docs: list[Doc], kind: str) -> Doc:
    (doc,) = [d for d in docs if d["kind"] == kind]
    return doc


# --------------------------------------------------------------------------- the base


def test_base_applies_server_side_and_stays_converged(
    kubectl: Kubectl, first_apply: tuple[list[Doc], subprocess.CompletedProcess[str]]
) -> None:
    installed, applied = first_apply
    # No warning either: the API server warns, among other things, about a Deployment whose
    # pods the namespace's Pod Security level would refuse, and about deprecated fields.
    assert "Warning" not in applied.stderr, applied.stderr
    assert len(applied.stdout.splitlines()) == len(installed), applied.stdout
    for doc in installed:
        live = _get(kubectl, doc)
        managers = {(m["manager"], m["operation"]) for m in live["metadata"]["managedFields"]}
        assert (FIELD_MANAGER, "Apply") in managers, f"{doc['kind']}/{doc['metadata']['name']}"
    deployment = _get(kubectl, _by_kind(installed, "Deployment"))
    assert deployment["spec"]["replicas"] == 2
    # Applying again changes nothing: no field the server rewrites (defaulting, normalisation)
    # keeps an installation from converging.
    diff = kubectl(
        "diff", "--server-side", f"--field-manager={FIELD_MANAGER}", "-k", str(BASE), check=False
    )
    assert diff.returncode == 0, f"live objects differ from the base:\n{diff.stdout}{diff.stderr}"
    again = _apply(kubectl, BASE)
    assert "Warning" not in again.stderr, again.stderr


def _pod_from_template(deployment: Doc, name: str) -> Doc:
    template = copy.deepcopy(deployment["spec"]["template"])
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE, **template["metadata"]},
        "spec": template["spec"],
    }


def test_pod_passes_restricted_pod_security_admission(
    kubectl: Kubectl, installed: list[Doc]
) -> None:
    """The Namespace enforces the "restricted" Pod Security Standard; the Deployment's pod is
    admitted (dry run: nothing is created) and a control pod missing one hardening field is
    not, so the admission really ran."""
    deployment = _by_kind(installed, "Deployment")
    pod = _pod_from_template(deployment, "gwwatch-admission-check")
    ok = kubectl(
        "create", "--dry-run=server", "-o", "json", "-f", "-", stdin=json.dumps(pod), check=False
    )
    assert ok.returncode == 0, ok.stderr
    assert "PodSecurity" not in ok.stderr, ok.stderr

    weaker = copy.deepcopy(pod)
    del weaker["spec"]["containers"][0]["securityContext"]["capabilities"]
    refused = kubectl(
        "create", "--dry-run=server", "-f", "-", stdin=json.dumps(weaker), check=False
    )
    assert refused.returncode != 0
    assert 'violates PodSecurity "restricted:latest"' in refused.stderr, refused.stderr
    assert "capabilities" in refused.stderr


def _can(
    kubectl: Kubectl,
    verb: str,
    resource: str,
    namespace: str | None,
    subresource: str | None = None,
) -> bool:
    args = ["auth", "can-i", verb, resource, f"--as={SERVICE_ACCOUNT}"]
    args += ["-n", namespace] if namespace else ["--all-namespaces"]
    if subresource:
        args.append(f"--subresource={subresource}")
    proc = kubectl(*args, check=False)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode == 0


GW = "gateway.networking.k8s.io"
ALLOWED = [
    ("list", "namespaces", None, None),
    ("watch", "namespaces", None, None),
    ("list", f"gateways.{GW}", None, None),
    ("watch", f"gateways.{GW}", None, None),
    ("list", f"httproutes.{GW}", None, None),
    ("watch", f"httproutes.{GW}", None, None),
    ("update", f"httproutes.{GW}", "team-a", "status"),
    ("create", "events", "team-a", None),
    ("patch", "events", "team-a", None),
    ("create", "leases.coordination.k8s.io", NAMESPACE, None),
    ("get", f"leases.coordination.k8s.io/{LEASE}", NAMESPACE, None),
    ("update", f"leases.coordination.k8s.io/{LEASE}", NAMESPACE, None),
]
DENIED = [
    ("get", "secrets", NAMESPACE, None),
    ("list", "secrets", None, None),
    ("watch", "secrets", "team-a", None),
    ("update", f"httproutes.{GW}", "team-a", None),
    ("patch", f"httproutes.{GW}", "team-a", None),
    ("delete", f"httproutes.{GW}", "team-a", None),
    ("create", f"httproutes.{GW}", "team-a", None),
    ("update", f"gateways.{GW}", "team-a", "status"),
    ("patch", f"gateways.{GW}", "team-a", None),
    ("update", "namespaces", None, None),
    ("delete", "events", "team-a", None),
    ("update", f"leases.coordination.k8s.io/{LEASE}", "kube-system", None),
    ("update", "leases.coordination.k8s.io/kube-controller-manager", NAMESPACE, None),
    ("delete", f"leases.coordination.k8s.io/{LEASE}", NAMESPACE, None),
    ("list", "configmaps", "team-a", None),
    ("update", "configmaps/gwwatch-ownership", NAMESPACE, None),
    ("create", "pods", NAMESPACE, None),
    ("impersonate", "serviceaccounts", NAMESPACE, None),
    ("escalate", "clusterroles.rbac.authorization.k8s.io", None, None),
]


def test_service_account_may_do_its_job_and_nothing_sensitive(
    kubectl: Kubectl, installed: list[Doc]
) -> None:
    deadline = time.monotonic() + 15  # the RBAC authorizer's informers catch up
    pending = list(ALLOWED)
    while pending and time.monotonic() < deadline:
        pending = [c for c in pending if not _can(kubectl, *c)]
        if pending:
            time.sleep(0.3)
    assert not pending, f"{SERVICE_ACCOUNT} lacks: {pending}"
    granted = [c for c in DENIED if _can(kubectl, *c)]
    assert not granted, f"{SERVICE_ACCOUNT} may also: {granted}"


# --------------------------------------------------------------------------- the overlay


def test_example_overlay_passes_a_server_side_dry_run(
    kubectl: Kubectl, installed: list[Doc]
) -> None:
    docs = _render(kubectl, OVERLAY)
    proc = _apply(kubectl, OVERLAY, "--dry-run=server")
    assert "(server dry run)" in proc.stdout
    applied = {line.split()[0] for line in proc.stdout.splitlines() if line.strip()}
    assert len(applied) == len(docs), proc.stdout
    # A dry run: the live Deployment still runs the base's image, the overlay's ConfigMap of
    # hostname claims does not exist.
    live = _get(kubectl, _by_kind(installed, "Deployment"))
    image = live["spec"]["template"]["spec"]["containers"][0]["image"]
    base_image = _by_kind(installed, "Deployment")["spec"]["template"]["spec"]["containers"][0][
        "image"
    ]
    assert image == base_image
    added = [
        d
        for d in docs
        if d["kind"] == "ConfigMap"
        and not any(d["metadata"]["name"] == b["metadata"]["name"] for b in installed)
    ]
    assert added
    assert not any(_exists(kubectl, d) for d in added)


# --------------------------------------------------------------------------- monitoring


@pytest.fixture(scope="module")
def prometheus_operator_crds(kubectl: Kubectl) -> list[str]:
    """Install the ServiceMonitor and PrometheusRule CRDs of the pinned Prometheus Operator
    release, downloaded as a Go module; returns their names."""
    if reason := go_missing_reason():
        unavailable("the Prometheus Operator CRDs (a Go module)", reason)
    proc = subprocess.run(
        ["go", "mod", "download", "-json", f"{PROMETHEUS_OPERATOR}@{PROMETHEUS_OPERATOR_VERSION}"],
        capture_output=True,
        text=True,
        env=go_env(),
        cwd=ROOT,
        check=False,
        timeout=300,
    )
    info = json.loads(proc.stdout) if proc.stdout.strip() else {}
    assert proc.returncode == 0 and "Error" not in info, f"{proc.stderr}{info.get('Error', '')}"
    crd_dir = Path(info["Dir"]) / "example" / "prometheus-operator-crd"
    names = []
    for plural in MONITORING_CRDS:
        path = crd_dir / f"monitoring.coreos.com_{plural}.yaml"
        kubectl("apply", "--server-side", f"--field-manager={FIELD_MANAGER}", "-f", str(path))
        names.append(f"{plural}.monitoring.coreos.com")
    kubectl("wait", "--for=condition=Established", "--timeout=60s", *[f"crd/{n}" for n in names])
    # Established is not yet served: wait until a list of each answers.
    for plural in MONITORING_CRDS:
        deadline = time.monotonic() + 30
        while kubectl("get", f"{plural}.monitoring.coreos.com", "-A", check=False).returncode:
            assert time.monotonic() < deadline, f"{plural} not served"
            time.sleep(0.2)
    return names


def test_monitoring_applies_against_the_operator_crds(
    kubectl: Kubectl, installed: list[Doc], prometheus_operator_crds: list[str]
) -> None:
    docs = _render(kubectl, MONITORING)
    existed = {" ".join(_ref(d)) for d in docs if _exists(kubectl, d)}
    try:
        _apply(kubectl, MONITORING)
        for doc in docs:
            live = _get(kubectl, doc)
            body = "spec" if "spec" in doc else "data"  # the dashboards' ConfigMaps: data
            assert live[body] == doc[body], f"{doc['kind']} changed by the server"
        diff = kubectl(
            "diff",
            "--server-side",
            f"--field-manager={FIELD_MANAGER}",
            "-k",
            str(MONITORING),
            check=False,
        )
        assert diff.returncode == 0, diff.stdout + diff.stderr

        # The schema is enforced (the CRDs validate): a ServiceMonitor endpoint with a bad
        # scheme is refused, so the apply above was checked, not waved through.
        sm = copy.deepcopy(next(d for d in docs if d["kind"] == "ServiceMonitor"))
        sm["metadata"]["name"] = "gwwatch-schema-check"
        sm["spec"]["endpoints"][0]["scheme"] = "gopher"
        bad = kubectl("create", "--dry-run=server", "-f", "-", stdin=json.dumps(sm), check=False)
        assert bad.returncode != 0 and "scheme" in bad.stderr, bad.stderr
    finally:
        _delete_created(kubectl, docs, existed)


def test_chart_monitoring_objects_pass_the_operator_crds(
    kubectl: Kubectl, installed: list[Doc], prometheus_operator_crds: list[str]
) -> None:
    """The chart's ServiceMonitor and PrometheusRule (every monitoring option on) are valid
    objects of the pinned Operator's CRDs: a server-side dry run accepts them."""
    from tests.helm.build import require_helm

    helm = require_helm()
    done = subprocess.run(
        [str(helm), "template", "gwwatch", str(ROOT / "charts" / "gwwatch"),
         "--set", "serviceMonitor.enabled=true", "--set", "prometheusRule.enabled=true",
         "--set", "serviceMonitor.labels.release=kube-prometheus-stack",
         "--set", "prometheusRule.labels.release=kube-prometheus-stack"],
        capture_output=True, text=True, check=False, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    docs = [d for d in yaml.safe_load_all(done.stdout)
            if d and d["kind"] in ("ServiceMonitor", "PrometheusRule")]
    assert len(docs) == 2
    proc = kubectl("apply", "--server-side", "--dry-run=server", f"--field-manager={FIELD_MANAGER}",
                   "-f", "-", stdin=yaml.safe_dump_all(docs))
    assert proc.stdout.count("(server dry run)") == 2, proc.stdout
