"""``gwwatch scan --cluster`` and ``explain --cluster`` against the real API server (issue 13).

- ``scan --cluster`` reports what ``scan`` reports for a ``kubectl get -o yaml`` dump of the same
  objects (every kind the engine reads, listed by the controller's own discovery and list code);
- the what-if (``scan --cluster PATH...``) reports the techresolve offender as **added** when the
  cluster holds only the billing side, and nothing new once the cluster holds it already;
- ownership in the what-if follows the live creation times, whatever the names: with the
  offender's namespace renamed ``aaa-...`` (first in name order), the files alone call it the
  owner, the what-if still reports its critical Hijack;
- a read-only identity with only the ClusterRole the README documents can run it; without it,
  one line and exit 2.

Each test uses its own namespaces and hostname (a prefix of the ``namespace`` fixture's name),
so the techresolve objects of other tests on the shared control plane do not interfere.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from gwwatch.cli import sarif
from tests.controlplane import ControlPlane
from tests.sarif import sarif_schema

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "techresolve"
KINDS = ",".join(["namespaces", *(f"{plural}.gateway.networking.k8s.io" for plural in (
    "gateways", "listenersets", "httproutes", "grpcroutes", "tlsroutes", "tcproutes",
    "udproutes"))])
BILLING_SIDE = ("00-namespaces.yaml", "10-gateway.yaml", "20-billing-route.yaml")
OFFENDER = "30-metrics-dashboard-route.yaml"


class Techresolve:
    """examples/techresolve with this test's namespaces and hostname, as files (line numbers
    as in the example) and in the cluster."""

    def __init__(self, cp: ControlPlane, prefix: str, directory: Path, *,
                 analytics: str | None = None, timestamps: bool = True) -> None:
        self.cp = cp
        self.infra = f"{prefix}-infra"
        self.billing = f"{prefix}-billing"
        self.analytics = analytics or f"{prefix}-analytics"
        self.domain = f"{prefix}.techresolve.com"
        self.dir = directory
        directory.mkdir(parents=True, exist_ok=True)
        for src in sorted(EXAMPLE.glob("*.yaml")):
            text = (src.read_text(encoding="utf-8")
                    .replace("infra-gateways", self.infra)
                    .replace("prod-billing", self.billing)
                    .replace("staging-analytics", self.analytics)
                    .replace("techresolve.com", self.domain))
            if not timestamps:  # what CI has: files never applied
                text = re.sub(r"(?m)^  creationTimestamp: .*$", "  labels: {}", text)
            (directory / src.name).write_text(text, encoding="utf-8")
        self.created: list[str] = []

    def file(self, name: str) -> Path:
        return self.dir / name

    def apply(self, *names: str) -> None:
        """Create the files' objects; then wait into the next second, so that what comes next
        is younger (creationTimestamp has whole seconds; a tie goes by namespace/name)."""
        for name in names:
            for doc in yaml.safe_load_all(self.file(name).read_text(encoding="utf-8")):
                if doc["kind"] == "Namespace":
                    self.created.append(doc["metadata"]["name"])
                self.cp.create(doc, exist_ok=True)
        time.sleep(1.05 - time.time() % 1)

    def cleanup(self) -> None:
        for name in self.created:
            self.cp.delete_namespace(name)

    def line_of(self, name: str) -> int:
        """The line the file's (one) document starts on: its first line not a comment."""
        lines = self.file(name).read_text(encoding="utf-8").splitlines()
        return next(n for n, line in enumerate(lines, 1) if line and not line.startswith("#"))


@pytest.fixture
def techresolve(control_plane: ControlPlane, namespace: str,
                tmp_path: Path) -> Iterator[Callable[..., Techresolve]]:
    made: list[Techresolve] = []

    def make(**kw: Any) -> Techresolve:
        # short names (namespaces have at most 63 characters): "cli-" and the fixture's hex
        prefix = f"cli-{namespace.rsplit('-', 1)[-1]}{len(made)}"
        t = Techresolve(control_plane, prefix, tmp_path / f"files{len(made)}", **kw)
        made.append(t)
        return t

    yield make
    for t in made:
        t.cleanup()


def gwwatch(*args: str | Path, kubeconfig: Path | None = None,
            program: str = "gwwatch") -> subprocess.CompletedProcess[str]:
    """The installed command, as a user runs it (no KUBECONFIG from this environment)."""
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    env["HOME"] = "/nonexistent"
    cmd = [str(Path(sys.executable).parent / program), *map(str, args)]
    if kubeconfig is not None:
        cmd[2:2] = ["--cluster", "--kubeconfig", str(kubeconfig)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, cwd=ROOT,
                          env=env, check=False)


def without_sources(doc: Any) -> Any:
    """The report with every ``source`` blanked: a dump has files, the cluster has none."""
    if isinstance(doc, dict):
        return {k: "" if k == "source" else without_sources(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [without_sources(v) for v in doc]
    return doc


def test_scan_cluster_equals_scan_of_a_kubectl_dump(
        control_plane: ControlPlane, kubeconfig: Path, techresolve: Callable[..., Techresolve],
        tmp_path: Path) -> None:
    t = techresolve()
    t.apply(*BILLING_SIDE)
    t.apply(OFFENDER)
    live = gwwatch("scan", "--output", "json", kubeconfig=kubeconfig)
    kubectl = control_plane.assets.kubectl
    assert kubectl is not None
    dump = tmp_path / "dump.yaml"
    got = subprocess.run([str(kubectl), "--kubeconfig", str(kubeconfig), "get", KINDS,
                          "--all-namespaces", "--output", "yaml"],
                         capture_output=True, text=True, timeout=120, check=True)
    dump.write_text(got.stdout, encoding="utf-8")
    files = gwwatch("scan", "--output", "json", dump)
    assert live.returncode == files.returncode == 1, (live.stderr, files.stderr)
    from_cluster, from_dump = json.loads(live.stdout), json.loads(files.stdout)
    assert without_sources(from_cluster) == without_sources(from_dump)
    hijacks = [f for f in from_cluster["findings"] if f["kind"] == "Hijack"
               and f["route"]["namespace"] == t.analytics]
    assert [h["severity"] for h in hijacks] == ["critical"]
    assert all(f["source"] == "" for f in from_cluster["findings"])  # nothing came from a file
    assert any(f["source"].startswith(f"{dump}:") for f in from_dump["findings"])
    assert "listed" not in live.stdout and live.stderr == ""  # small cluster: no progress


def test_what_if_reports_the_offender_as_added_then_nothing_new(
        kubeconfig: Path, techresolve: Callable[..., Techresolve]) -> None:
    t = techresolve()
    t.apply(*BILLING_SIDE)
    before = gwwatch("scan", kubeconfig=kubeconfig)
    assert before.returncode == 0, before.stdout + before.stderr

    change = gwwatch("scan", "--output", "json", t.dir, kubeconfig=kubeconfig)
    assert change.returncode == 1, change.stderr
    report = json.loads(change.stdout)
    added = [f for f in report["findings"] if f["change"] == "added"]
    hijack = next(f for f in added if f["kind"] == "Hijack")
    assert hijack["severity"] == "critical"
    assert hijack["route"] == {"kind": "HTTPRoute", "namespace": t.analytics,
                               "name": "metrics-dashboard"}
    assert hijack["other"]["namespace"] == t.billing
    assert hijack["source"] == f"{t.file(OFFENDER)}:{t.line_of(OFFENDER)}"
    assert not [f for f in report["findings"] if f["change"] == "removed"]
    objects = {(o["kind"], o["name"]): o["new"] for o in report["whatIf"]["objects"]}
    assert objects[("HTTPRoute", "metrics-dashboard")] is True
    assert objects[("HTTPRoute", "billing-api")] is False
    text = gwwatch("scan", t.dir, kubeconfig=kubeconfig)
    assert text.returncode == 1
    assert re.search(rf"(?m)^\+ added +CRITICAL +Hijack +api\.{re.escape(t.domain)} ", text.stdout)
    # --fail-on looks at what the change adds: nothing critical-or-above when told "never".
    assert gwwatch("scan", "--fail-on", "never", t.dir, kubeconfig=kubeconfig).returncode == 0

    # SARIF of the same what-if: valid, and the result points at the offender's line.
    out = gwwatch("scan", "--output", "sarif", t.dir, kubeconfig=kubeconfig)
    log = json.loads(out.stdout)
    jsonschema.validate(log, sarif_schema())
    result = next(r for r in log["runs"][0]["results"] if r["ruleId"] == "Hijack/HijacksTraffic")
    where = result["locations"][0]["physicalLocation"]
    assert where["region"]["startLine"] == t.line_of(OFFENDER)
    assert Path(ROOT, where["artifactLocation"]["uri"]).resolve() == t.file(OFFENDER).resolve() \
        or where["artifactLocation"]["uri"] == t.file(OFFENDER).as_uri()
    assert result["level"] == sarif.LEVELS["critical"] == "error"
    assert result["baselineState"] == "new"

    # explain with the change laid over the cluster: the offender would serve /v1/charge.
    would = gwwatch("explain", "--gateway", f"{t.infra}/prod-gateway", "--host",
                    f"api.{t.domain}", "--path", "/v1/charge", t.dir, kubeconfig=kubeconfig)
    assert would.returncode == 0, would.stderr
    assert f"route: HTTPRoute {t.analytics}/metrics-dashboard" in would.stdout
    now = gwwatch("explain", "--gateway", f"{t.infra}/prod-gateway", "--host",
                  f"api.{t.domain}", "--path", "/v1/charge", kubeconfig=kubeconfig)
    assert f"route: HTTPRoute {t.billing}/billing-api" in now.stdout
    assert "finding:" not in now.stdout

    # Once the cluster holds the offender, the same change adds nothing.
    t.apply(OFFENDER)
    again = gwwatch("scan", "--output", "json", t.dir, kubeconfig=kubeconfig)
    assert again.returncode == 0, again.stdout
    assert json.loads(again.stdout)["findings"] == []
    assert "The change adds no finding and removes none." in gwwatch(
        "scan", t.dir, kubeconfig=kubeconfig).stdout
    # ... while a plain scan of the cluster reports the hijack, and explain names it.
    assert gwwatch("scan", kubeconfig=kubeconfig).returncode == 1
    served = gwwatch("explain", "--gateway", f"{t.infra}/prod-gateway", "--host",
                     f"api.{t.domain}", "--path", "/v1/charge/42", kubeconfig=kubeconfig)
    assert served.returncode == 0, served.stderr
    assert f"route: HTTPRoute {t.analytics}/metrics-dashboard" in served.stdout
    assert "finding: the winning route is the offender of [critical] Hijack/HijacksTraffic" \
        in served.stdout


def test_what_if_ownership_follows_live_timestamps_whatever_the_names(
        namespace: str, kubeconfig: Path, techresolve: Callable[..., Techresolve]) -> None:
    """``aaa-`` sorts before the billing namespace: by name the offender would own the
    hostname. The files alone (no creationTimestamp, as in a pipeline) get it wrong; the
    what-if, with the cluster's timestamps, does not."""
    t = techresolve(analytics=f"aaa-{namespace.rsplit('-', 1)[-1]}", timestamps=False)
    assert t.analytics < t.billing
    offline = gwwatch("scan", "--output", "json", t.dir)
    assert offline.returncode == 0  # the name-order trap the what-if closes
    assert not [f for f in json.loads(offline.stdout)["findings"] if f["severity"] == "critical"]

    t.apply(*BILLING_SIDE)
    # The victim's own route edited in the same change keeps its live creation time.
    billing = t.file("20-billing-route.yaml")
    billing.write_text(billing.read_text(encoding="utf-8").replace("port: 8080", "port: 8081"),
                       encoding="utf-8")
    change = gwwatch("scan", "--output", "json", t.dir, kubeconfig=kubeconfig)
    assert change.returncode == 1, change.stdout + change.stderr
    hijacks = [f for f in json.loads(change.stdout)["findings"] if f["kind"] == "Hijack"]
    assert [(h["change"], h["severity"], h["route"]["namespace"], h["other"]["namespace"])
            for h in hijacks] == [("added", "critical", t.analytics, t.billing)]
    assert "by oldest route" in hijacks[0]["message"]
    assert f"owner of the hostname by oldest route {t.billing}/billing-api" in hijacks[0]["message"]


def test_what_if_with_the_controllers_ownership_configmap(
        control_plane: ControlPlane, kubeconfig: Path, namespace: str,
        techresolve: Callable[..., Techresolve]) -> None:
    """The platform assigned the hostname to the analytics tenant in the controller's
    ConfigMap: with --ownership-configmap the same change adds no critical Hijack."""
    t = techresolve()
    t.apply(*BILLING_SIDE)
    host = f"api.{t.domain}"
    control_plane.create({"apiVersion": "v1", "kind": "ConfigMap",
                          "metadata": {"name": "gwwatch-ownership", "namespace": namespace},
                          "data": {t.analytics: host}})

    def critical(*extra: str) -> list[str]:
        done = gwwatch("scan", "--output", "json", *extra, t.dir, kubeconfig=kubeconfig)
        assert done.returncode in (0, 1), done.stderr
        return [f["route"]["namespace"] for f in json.loads(done.stdout)["findings"]
                if f["severity"] == "critical"]

    assert critical() == [t.analytics]  # by age: the offender
    assert critical("--ownership-configmap", f"{namespace}/gwwatch-ownership") == []
    missing = gwwatch("scan", "--ownership-configmap", f"{namespace}/nope", t.dir,
                      kubeconfig=kubeconfig)
    assert missing.returncode == 2
    assert missing.stderr == (f"gwwatch: error: --ownership-configmap {namespace}/nope: "
                              f"no such ConfigMap\n")


def read_only_rbac() -> list[dict[str, Any]]:
    """The ClusterRole of the README's "Permissions for --cluster" (what is documented is
    what is tested)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("### Permissions for `--cluster`", 1)[1]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    role = yaml.safe_load(block)
    assert role["kind"] == "ClusterRole"
    rules: list[dict[str, Any]] = role["rules"]
    return rules


def test_scan_cluster_as_a_read_only_identity(
        control_plane: ControlPlane, kubeconfig: Path, namespace: str,
        sa_kubeconfig: Callable[..., Path], techresolve: Callable[..., Techresolve]) -> None:
    t = techresolve()
    t.apply(*BILLING_SIDE)
    t.apply(OFFENDER)
    reader = sa_kubeconfig("cli-reader")

    refused = gwwatch("scan", kubeconfig=reader)
    assert refused.returncode == 2 and refused.stdout == ""
    assert len(refused.stderr.splitlines()) == 1, refused.stderr
    assert refused.stderr.startswith("gwwatch: error: not allowed to list "), refused.stderr
    assert "Permissions for --cluster" in refused.stderr

    rules = read_only_rbac()
    assert {v for r in rules for v in r["verbs"]} == {"get", "list"}
    role = f"{namespace}-cli-reader"
    control_plane.create({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                          "metadata": {"name": role}, "rules": rules})
    control_plane.create({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": role},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": role},
        "subjects": [{"kind": "ServiceAccount", "name": "cli-reader", "namespace": namespace}]})
    try:
        as_reader = gwwatch("scan", "--output", "json", kubeconfig=reader)
        as_admin = gwwatch("scan", "--output", "json", kubeconfig=kubeconfig)
        assert as_reader.returncode == 1, as_reader.stderr
        assert json.loads(as_reader.stdout) == json.loads(as_admin.stdout)
        what_if = gwwatch("scan", t.dir, kubeconfig=reader)
        assert what_if.returncode == 0, what_if.stdout + what_if.stderr  # nothing new
        # The plugin entry point, as kubectl runs it.
        kubectl = control_plane.assets.kubectl
        assert kubectl is not None
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}"
                                     f"{os.environ.get('PATH', '')}", "KUBECONFIG": str(reader)}
        plugin = subprocess.run([str(kubectl), "gwwatch", "scan", "--cluster"],
                                capture_output=True, text=True, timeout=180, env=env,
                                check=False)
        assert plugin.returncode == 1, plugin.stderr
        assert "CRITICAL  Hijack" in plugin.stdout
    finally:
        for path in (f"/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/{role}",
                     f"/apis/rbac.authorization.k8s.io/v1/clusterroles/{role}"):
            control_plane.request("DELETE", path)

