"""deploy/ renders with the pinned kubectl's kustomize, and what it renders is what we promise:
least privilege, a hardened pod, two replicas that can be drained, and monitoring that points at
the right Service.  tests/integration/test_deploy_apply.py applies the same renderings to a real
API server.

kubectl is the one the test control plane builds from the pinned Kubernetes module (see
tests/controlplane); without it these tests skip locally and fail in CI (tests/needs.py).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import tomllib
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from gwwatch.settings import Settings
from tests.controlplane.fixtures import require_assets
from tests.needs import unavailable

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
BASE = DEPLOY / "base"
OVERLAY = DEPLOY / "overlays" / "example"
MONITORING = DEPLOY / "monitoring"
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]

NAMESPACE = "gwwatch-system"
IMAGE = "ghcr.io/gwwatch/gwwatch"
ROUTE_KINDS = ("httproutes", "grpcroutes", "tlsroutes", "tcproutes", "udproutes")
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection", "escalate", "bind",
               "impersonate", "approve", "sign", "*"}

Doc = dict[str, Any]


# --------------------------------------------------------------------------- rendering


@pytest.fixture(scope="session")
def kubectl() -> str:
    assets = require_assets("kubectl from the test control plane")
    if assets.kubectl is None:
        unavailable("kubectl", f"none beside the control plane's binaries in {assets.directory}")
    return str(assets.kubectl)


def kustomize(kubectl: str, path: Path) -> list[Doc]:
    proc = subprocess.run(
        [kubectl, "kustomize", str(path)], capture_output=True, text=True, check=False,
        timeout=60,
    )
    assert proc.returncode == 0, f"kubectl kustomize {path.relative_to(ROOT)}:\n{proc.stderr}"
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


@pytest.fixture(scope="session")
def render(kubectl: str) -> Callable[[Path], list[Doc]]:
    return cache(lambda path: kustomize(kubectl, path))


@pytest.fixture(scope="session")
def base(render: Callable[[Path], list[Doc]]) -> list[Doc]:
    return render(BASE)


@pytest.fixture(scope="session")
def overlay(render: Callable[[Path], list[Doc]]) -> list[Doc]:
    return render(OVERLAY)


@pytest.fixture(scope="session")
def monitoring(render: Callable[[Path], list[Doc]]) -> list[Doc]:
    return render(MONITORING)


@pytest.fixture(scope="session", params=["base", "overlay"])
def installation(request: pytest.FixtureRequest) -> list[Doc]:
    """Both the base and the example overlay must keep every promise below."""
    return list(request.getfixturevalue(request.param))


def only(docs: list[Doc], kind: str, name: str | None = None) -> Doc:
    found = [d for d in docs if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def of_kind(docs: list[Doc], *kinds: str) -> Iterator[Doc]:
    return (d for d in docs if d["kind"] in kinds)


def deployment(docs: list[Doc]) -> Doc:
    return only(docs, "Deployment", "gwwatch")


def container(docs: list[Doc]) -> Doc:
    (c,) = deployment(docs)["spec"]["template"]["spec"]["containers"]
    return dict(c)


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, f"extend this test for {selector}"
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def settings_env(docs: list[Doc]) -> dict[str, str]:
    """The container's environment as the pod gets it: ConfigMap envFrom, then env."""
    c = container(docs)
    env: dict[str, str] = {}
    for source in c.get("envFrom", []):
        cm = only(docs, "ConfigMap", source["configMapRef"]["name"])
        env.update(cm["data"])
    for e in c.get("env", []):
        env[e["name"]] = e.get("value", "<from " + str(e.get("valueFrom")) + ">")
    return env


# --------------------------------------------------------------------------- what is rendered


def test_base_renders_the_whole_installation(base: list[Doc]) -> None:
    kinds = sorted(d["kind"] for d in base)
    assert kinds == sorted([
        "Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role",
        "RoleBinding", "ConfigMap", "Deployment", "Service", "PodDisruptionBudget",
        "NetworkPolicy",
    ]), kinds


def test_everything_lands_in_its_namespace(installation: list[Doc]) -> None:
    cluster_scoped = {"Namespace", "ClusterRole", "ClusterRoleBinding"}
    for d in installation:
        meta = d["metadata"]
        if d["kind"] in cluster_scoped:
            assert "namespace" not in meta, d["kind"]
        else:
            assert meta.get("namespace") == NAMESPACE, f"{d['kind']}/{meta['name']}"
        assert meta["labels"]["app.kubernetes.io/name"] == "gwwatch", d["kind"]
    ns = only(installation, "Namespace")
    assert ns["metadata"]["name"] == NAMESPACE
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


RECOMMENDED = ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
               "app.kubernetes.io/part-of", "app.kubernetes.io/managed-by")


def test_every_object_carries_the_recommended_labels(installation: list[Doc],
                                                     monitoring: list[Doc]) -> None:
    for d in [*installation, *monitoring]:
        labels = d["metadata"]["labels"]
        missing = [k for k in RECOMMENDED if k not in labels]
        assert not missing, f"{d['kind']}/{d['metadata']['name']} lacks {missing}"
        assert labels["app.kubernetes.io/version"] == VERSION
        assert labels["app.kubernetes.io/instance"] == "gwwatch"
    # A Deployment selector is immutable: the recommended labels go on the pod template, the
    # selector stays as it was.
    d = deployment(installation)
    assert d["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "gwwatch", "app.kubernetes.io/component": "controller"}
    assert d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/instance"] == "gwwatch"


def test_settings_configmap_has_a_fixed_name(installation: list[Doc]) -> None:
    """No content hash in the name: re-applying never leaves gwwatch-settings-<hash> behind."""
    (source,) = container(installation)["envFrom"]
    assert source["configMapRef"]["name"] == "gwwatch-settings"
    only(installation, "ConfigMap", "gwwatch-settings")


def test_no_secrets_anywhere(installation: list[Doc]) -> None:
    assert not list(of_kind(installation, "Secret"))
    pod = deployment(installation)["spec"]["template"]["spec"]
    for v in pod.get("volumes", []):
        assert "secret" not in v, v
    for e in container(installation).get("env", []):
        assert "secretKeyRef" not in e.get("valueFrom", {}), e


# --------------------------------------------------------------------------- the Deployment


def test_two_replicas_run_the_controller_image(installation: list[Doc]) -> None:
    d = deployment(installation)
    assert d["spec"]["replicas"] == 2
    c = container(installation)
    assert c.get("args", ["run"]) == ["run"] and "command" not in c
    repo, _, tag = c["image"].rpartition(":")
    assert tag and "latest" not in tag and repo, c["image"]
    pod_labels = d["spec"]["template"]["metadata"]["labels"]
    assert selects(d["spec"]["selector"], pod_labels)


def test_base_image_is_this_release(base: list[Doc]) -> None:
    """A version bump in pyproject.toml must move the image the manifests install."""
    assert container(base)["image"] == f"{IMAGE}:{VERSION}"


def test_pod_is_hardened(installation: list[Doc]) -> None:
    pod = deployment(installation)["spec"]["template"]["spec"]
    psc = pod["securityContext"]
    assert psc["runAsNonRoot"] is True
    assert psc["runAsUser"] > 0 and psc["runAsGroup"] > 0
    assert psc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod.get("hostNetwork") is not True and pod.get("hostPID") is not True
    assert pod.get("hostIPC") is not True
    c = container(installation)
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc.get("privileged", False) is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc.get("runAsNonRoot", True) is True
    assert sc.get("seccompProfile", psc["seccompProfile"]) == {"type": "RuntimeDefault"}
    # The only writable place is an emptyDir on /tmp (HOME and TMPDIR in the image).
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    assert set(mounts) == {"/tmp"}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]["name"]]
    assert all(m.get("readOnly", False) is False for m in mounts.values())


def test_probes_and_resources(installation: list[Doc]) -> None:
    c = container(installation)
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert "metrics" in ports

    def probe(name: str) -> tuple[str, int]:
        get = c[name]["httpGet"]
        port = get["port"]
        return get["path"], ports[port] if isinstance(port, str) else port

    assert probe("livenessProbe") == ("/healthz", ports["metrics"])
    assert probe("readinessProbe") == ("/readyz", ports["metrics"])
    assert probe("startupProbe")[1] == ports["metrics"]

    res = c["resources"]
    for what in ("cpu", "memory"):
        assert what in res["requests"] and what in res["limits"], what
    assert _quantity(res["requests"]["memory"]) <= _quantity(res["limits"]["memory"])
    assert _quantity(res["requests"]["cpu"]) <= _quantity(res["limits"]["cpu"])


def _quantity(q: str) -> float:
    m = re.fullmatch(r"([0-9.]+)(m|Ki|Mi|Gi)?", str(q))
    assert m, q
    scale = {None: 1, "m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}[m.group(2)]
    return float(m.group(1)) * scale


def test_leader_election_identity_from_the_downward_api(installation: list[Doc]) -> None:
    env = {e["name"]: e for e in container(installation)["env"]}
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"


def test_settings_are_ones_gwwatch_knows(installation: list[Doc]) -> None:
    """Every GWWATCH_* variable the manifests set is a real setting (pydantic-settings would
    silently ignore a misspelt one), with a value ``gwwatch run`` accepts."""
    env = settings_env(installation)
    known = {f"GWWATCH_{name.upper()}" for name in Settings.model_fields}
    ours = {k for k in env if k.startswith("GWWATCH_")}
    assert ours, "no GWWATCH_* settings rendered"
    assert ours <= known, f"unknown settings: {sorted(ours - known)}"


def test_the_pod_environment_configures_a_leader_elected_controller(
    installation: list[Doc], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Settings() read from exactly the pod's environment: leader election on, serving on the
    probed port, in its own namespace, with a Lease and an ownership ConfigMap the Role lets it
    use."""
    env = settings_env(installation)
    for key in list(os.environ):
        if key.startswith("GWWATCH_") or key in ("POD_NAME", "POD_NAMESPACE"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        if key.startswith("GWWATCH_"):
            monkeypatch.setenv(key, value)
    # What the downward API fills in (checked in the next test).
    monkeypatch.setenv("POD_NAME", "gwwatch-7d9f8b6c5-x2x4z")
    monkeypatch.setenv("POD_NAMESPACE", NAMESPACE)
    settings = Settings()

    assert settings.leader_election is True
    metrics = next(p for p in container(installation)["ports"] if p["name"] == "metrics")
    assert settings.metrics_port == metrics["containerPort"]
    assert settings.metrics_bind_address in ("0.0.0.0", "::", "")  # reachable from the kubelet
    assert settings.log_format == "json"
    assert settings.namespace == settings.lease_ns == NAMESPACE
    assert settings.identity.startswith("gwwatch-7d9f8b6c5-x2x4z")

    lease_names = _role_resource_names(installation, "leases", {"get", "update"})
    assert settings.lease_name in lease_names, (settings.lease_name, lease_names)
    if settings.ownership_configmap is not None:
        cms = _role_resource_names(installation, "configmaps", {"list", "watch"})
        assert settings.ownership_configmap in cms, (settings.ownership_configmap, cms)
        cm = only(installation, "ConfigMap", settings.ownership_configmap)
        assert cm["metadata"]["namespace"] == settings.namespace


def _role_resource_names(docs: list[Doc], resource: str, verbs: set[str]) -> set[str]:
    """Names the namespaced Role grants all of ``verbs`` on (``{"*"}`` when unrestricted)."""
    granted: set[str] = set()
    for _, rule in _rules(docs, "Role"):
        if resource in rule["resources"] and verbs <= set(rule["verbs"]):
            granted |= set(rule.get("resourceNames", ["*"]))
    return granted


def test_replicas_spread_over_nodes_and_zones(installation: list[Doc]) -> None:
    d = deployment(installation)
    pod_labels = d["spec"]["template"]["metadata"]["labels"]
    spread = d["spec"]["template"]["spec"]["topologySpreadConstraints"]
    keys = {c["topologyKey"] for c in spread}
    assert keys == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
    for c in spread:
        assert selects(c["labelSelector"], pod_labels), c
        assert c["maxSkew"] == 1


# --------------------------------------------------------------------------- Service, PDB, netpol


def test_metrics_service_reaches_the_pods(installation: list[Doc]) -> None:
    svc = only(installation, "Service")
    pod_labels = deployment(installation)["spec"]["template"]["metadata"]["labels"]
    assert all(pod_labels.get(k) == v for k, v in svc["spec"]["selector"].items())
    (port,) = svc["spec"]["ports"]
    assert port["name"] == "metrics"
    assert port["targetPort"] in {p["name"] for p in container(installation)["ports"]}


def test_disruption_budget_keeps_one_and_lets_drains_proceed(installation: list[Doc]) -> None:
    pdb = only(installation, "PodDisruptionBudget")
    d = deployment(installation)
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["minAvailable"] < d["spec"]["replicas"]
    assert selects(pdb["spec"]["selector"], d["spec"]["template"]["metadata"]["labels"])


def test_network_policy_opens_only_metrics_and_reaches_only_api_and_dns(
    installation: list[Doc],
) -> None:
    np = only(installation, "NetworkPolicy")
    spec = np["spec"]
    assert selects(spec["podSelector"], deployment(installation)["spec"]["template"]["metadata"][
        "labels"])
    assert sorted(spec["policyTypes"]) == ["Egress", "Ingress"]
    (ingress,) = spec["ingress"]
    assert ingress["ports"] == [{"port": "metrics", "protocol": "TCP"}]
    egress_ports = {(p["port"], p["protocol"]) for rule in spec["egress"] for p in rule["ports"]}
    assert egress_ports == {(443, "TCP"), (6443, "TCP"), (53, "UDP"), (53, "TCP")}
    for rule in spec["egress"]:
        assert rule.get("ports"), "an egress rule without ports opens every port"


# --------------------------------------------------------------------------- RBAC


def _rules(docs: list[Doc], kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for role in of_kind(docs, kind):
        for rule in role.get("rules", []):
            yield role["metadata"]["name"], rule


def test_no_role_grants_secrets_or_wildcards(installation: list[Doc]) -> None:
    for kind in ("ClusterRole", "Role"):
        for name, rule in _rules(installation, kind):
            where = f"{kind}/{name} {rule}"
            assert "*" not in rule.get("apiGroups", []), where
            assert "*" not in rule.get("resources", []), where
            assert "*" not in rule["verbs"], where
            assert not any(r.split("/")[0] == "secrets" for r in rule.get("resources", [])), where
            assert "nonResourceURLs" not in rule, where


def test_cluster_role_writes_only_route_status_and_events(installation: list[Doc]) -> None:
    allowed_writes = {f"{k}/status" for k in ROUTE_KINDS} | {"events"}
    for name, rule in _rules(installation, "ClusterRole"):
        if set(rule["verbs"]) & WRITE_VERBS:
            assert set(rule["resources"]) <= allowed_writes, f"ClusterRole/{name} {rule}"
            assert not set(rule["verbs"]) & {"delete", "deletecollection"}, rule
    # ... and reads what the engine analyses.
    readable = {
        r
        for _, rule in _rules(installation, "ClusterRole")
        if {"list", "watch"} <= set(rule["verbs"])
        for r in rule["resources"]
    }
    assert {"namespaces", "gateways", "httproutes"} <= readable, readable


def test_leases_only_in_its_own_namespace(installation: list[Doc]) -> None:
    for _, rule in _rules(installation, "ClusterRole"):
        assert "leases" not in rule["resources"], "a ClusterRole on leases reaches every namespace"
    lease_rules = [(n, r) for n, r in _rules(installation, "Role") if "leases" in r["resources"]]
    assert lease_rules
    for name, rule in lease_rules:
        assert rule["apiGroups"] == ["coordination.k8s.io"]
        role = only(installation, "Role", name)
        assert role["metadata"]["namespace"] == NAMESPACE


def test_bindings_name_the_deployments_service_account(installation: list[Doc]) -> None:
    sa_name = deployment(installation)["spec"]["template"]["spec"]["serviceAccountName"]
    sa = only(installation, "ServiceAccount", sa_name)
    roles = {(d["kind"], d["metadata"]["name"]) for d in of_kind(installation, "Role",
                                                                  "ClusterRole")}
    bindings = list(of_kind(installation, "RoleBinding", "ClusterRoleBinding"))
    assert {b["roleRef"]["kind"] for b in bindings} == {"Role", "ClusterRole"}
    for b in bindings:
        assert (b["roleRef"]["kind"], b["roleRef"]["name"]) in roles, b["metadata"]["name"]
        assert b["subjects"] == [
            {"kind": "ServiceAccount", "name": sa_name, "namespace": sa["metadata"]["namespace"]}
        ], b["metadata"]["name"]


# --------------------------------------------------------------------------- the example overlay


def test_overlay_changes_what_it_says_and_nothing_else(base: list[Doc], overlay: list[Doc]) -> None:
    assert container(overlay)["image"] != container(base)["image"]
    assert not container(overlay)["image"].endswith(":latest")
    b, o = settings_env(base), settings_env(overlay)
    assert o != b
    # The same objects, plus the ownership ConfigMap; names survive (generated names aside).
    def names(docs: list[Doc]) -> set[tuple[str, str]]:
        return {(d["kind"], re.sub(r"-[a-z0-9]{10}$", "", d["metadata"]["name"])) for d in docs}

    assert names(base) <= names(overlay)
    extra = names(overlay) - names(base)
    assert {k for k, _ in extra} <= {"ConfigMap"}, extra


# --------------------------------------------------------------------------- monitoring


def test_service_monitor_scrapes_the_metrics_service(
    base: list[Doc], monitoring: list[Doc]
) -> None:
    sm = only(monitoring, "ServiceMonitor")
    svc = only(base, "Service")
    assert sm["metadata"]["namespace"] == svc["metadata"]["namespace"] == NAMESPACE
    assert selects(sm["spec"]["selector"], svc["metadata"]["labels"])
    # ... and only that Service of the base.
    others = [d for d in of_kind(base, "Service") if d is not svc]
    assert not any(selects(sm["spec"]["selector"], d["metadata"]["labels"]) for d in others)
    (endpoint,) = sm["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in svc["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "generate_prometheusrule", MONITORING / "generate_prometheusrule.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_prometheus_rule_is_generated_from_alerts(monitoring: list[Doc]) -> None:
    """alerts/ is the single source of truth: the committed PrometheusRule is what the generator
    makes of it now."""
    gen = _generator()
    committed = (MONITORING / "prometheusrule.yaml").read_text()
    assert committed == gen.render(), (
        "deploy/monitoring/prometheusrule.yaml is stale: "
        "run python deploy/monitoring/generate_prometheusrule.py"
    )
    rule = only(monitoring, "PrometheusRule")
    assert rule["metadata"]["namespace"] == NAMESPACE
    files = gen.rule_files()
    want = [g for f in files for g in yaml.safe_load(f.read_text())["groups"]]
    assert rule["spec"]["groups"] == want


def test_prometheus_rule_generator(tmp_path: Path) -> None:
    gen = _generator()
    (tmp_path / "b.yaml").write_text(
        "groups:\n- name: second\n  rules:\n  - alert: B\n    expr: vector(1)\n"
    )
    (tmp_path / "a.yml").write_text(
        "groups:\n- name: first\n  rules:\n  - alert: A\n    expr: up == 0\n    for: 5m\n"
    )
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "a_test.yaml").write_text("rule_files: [../a.yml]\ntests: []\n")
    rule = gen.prometheus_rule(tmp_path)
    assert rule["kind"] == "PrometheusRule"
    assert [g["name"] for g in rule["spec"]["groups"]] == ["first", "second"]
    assert rule["spec"]["groups"][0]["rules"][0] == {"alert": "A", "expr": "up == 0", "for": "5m"}
    assert yaml.safe_load(gen.render(tmp_path)) == rule

    (tmp_path / "c.yaml").write_text("groups:\n- name: first\n  rules: []\n")
    with pytest.raises(SystemExit, match="'first' is defined in"):
        gen.prometheus_rule(tmp_path)
