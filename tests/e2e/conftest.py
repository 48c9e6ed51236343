"""End-to-end fixtures: a control plane of its own, ``gwwatch run`` as its ServiceAccount,
Prometheus with the shipped rules, Alertmanager with the example configuration, and a local
PagerDuty — all real processes on loopback ports.

The control plane is the e2e tests' own (not the integration tests'): the techresolve
namespaces they create can never be deleted (no controller-manager finalises them), so the
two suites must not share a server. Without the control plane or the Debian tools the tests
skip outside CI and fail in CI (``CI`` set).
"""

from __future__ import annotations

import base64
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.controlplane import ControlPlane, certs
from tests.controlplane.controlplane import _Process, free_port
from tests.controlplane.fixtures import running_control_plane
from tests.e2e.stack import (
    JOB,
    ROOT,
    PagerDuty,
    PromAPI,
    alertmanager_config,
    http_get,
    prometheus_config,
    wait_for,
)
from tests.integration.controller_fixtures import GWWATCH_NS, gwwatch_service_account
from tests.tools import require

STACK_KEY = pytest.StashKey["Stack"]()
# The e2e Prometheus' external label `cluster` (alerts/config.yaml's clusterLabel): the page
# must name it.
CLUSTER = "e2e-eu-1"


@pytest.fixture(scope="session")
def e2e_control_plane() -> Iterator[ControlPlane]:
    with running_control_plane() as cp:
        yield cp


@pytest.fixture(scope="session")
def tools() -> dict[str, Path]:
    return require("prometheus", "alertmanager")


class Kubectl:
    """``kubectl`` as the admin (the control plane's own build); the REST API without it."""

    def __init__(self, cp: ControlPlane) -> None:
        self.cp = cp
        self.binary = cp.assets.kubectl

    def _run(self, *args: str) -> None:
        assert self.binary is not None
        done = subprocess.run([str(self.binary), f"--kubeconfig={self.cp.kubeconfig}", *args],
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"

    def apply(self, *paths: Path) -> None:
        if self.binary is not None:
            self._run("apply", *(f"--filename={p}" for p in paths))
        else:
            self.cp.apply_manifests(paths)

    def delete(self, path: Path) -> None:
        if self.binary is not None:
            self._run("delete", "--wait=false", f"--filename={path}")
            return
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                md = doc["metadata"]
                self.cp.request("DELETE", f"/apis/gateway.networking.k8s.io/v1/namespaces/"
                                f"{md['namespace']}/httproutes/{md['name']}")


@dataclass
class Stack:
    cp: ControlPlane
    kubectl: Kubectl
    pagerduty: PagerDuty
    prom: PromAPI
    gwwatch_port: int
    routing_key: str
    interval: str
    processes: dict[str, Any] = field(default_factory=dict)

    def tails(self, lines: int = 40) -> Sequence[tuple[str, str]]:
        return [(name, p.tail(lines)) for name, p in self.processes.items()]


def _webhook_registration(port: int, ca_bundle: bytes) -> dict[str, Any]:
    """The shipped ValidatingWebhookConfiguration, calling the local port by URL."""
    doc: dict[str, Any] = yaml.safe_load(
        (ROOT / "deploy" / "components" / "admission" / "webhook.yaml").read_text())
    doc["webhooks"][0]["clientConfig"] = {
        "url": f"https://127.0.0.1:{port}/validate",
        "caBundle": base64.b64encode(ca_bundle).decode()}
    return doc


def _start(proc: Any, ready_url: str, what: str, timeout: float = 30.0) -> None:
    proc.start()

    def ready() -> bool:
        if not proc.running:
            raise AssertionError(f"{what} exited:\n{proc.tail(30)}")
        return http_get(ready_url, timeout=2)[0] == 200

    wait_for(ready, timeout=timeout, what=f"{what} ready")


@pytest.fixture(scope="module")
def stack(e2e_control_plane: ControlPlane, tools: dict[str, Path],
          tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
          ) -> Iterator[Stack]:
    cp = e2e_control_plane
    work = tmp_path_factory.mktemp("e2e")
    sa_kubeconfig = gwwatch_service_account(cp)

    interval = "1s"
    routing_key = "e2e0123456789abcdef0123456789abc"  # Events API v2 keys are 32 characters
    key_file = work / "routing-key"
    key_file.write_text(routing_key + "\n")
    ports = {name: free_port() for name in ("gwwatch", "webhook", "prometheus",
                                            "alertmanager")}
    # The admission webhook runs too, registered as deploy/components/admission ships it, in
    # warn mode: the hijack still lands (and pages), with kubectl showing what deny would
    # refuse, and the dashboard's admission panels have data.
    webhook = certs.serving(work)

    with PagerDuty() as pagerduty:
        am_config = work / "alertmanager.yml"
        am_config.write_text(yaml.safe_dump(alertmanager_config(
            pagerduty_url=pagerduty.url, routing_key_file=key_file)))
        prom_config = work / "prometheus.yml"
        prom_config.write_text(yaml.safe_dump(prometheus_config(
            gwwatch=f"127.0.0.1:{ports['gwwatch']}",
            alertmanager=f"127.0.0.1:{ports['alertmanager']}",
            namespace=GWWATCH_NS, interval=interval, cluster=CLUSTER)))
        processes = {
            "gwwatch": _Process("gwwatch", [
                "env", f"GWWATCH_WEBHOOK_PORT={ports['webhook']}",
                "GWWATCH_WEBHOOK_BIND_ADDRESS=127.0.0.1", "GWWATCH_WEBHOOK_MODE=warn",
                f"GWWATCH_WEBHOOK_CERT_FILE={webhook.cert}",
                f"GWWATCH_WEBHOOK_KEY_FILE={webhook.key}",
                sys.executable, "-m", "gwwatch", "run", f"--kubeconfig={sa_kubeconfig}",
                f"--namespace={GWWATCH_NS}", "--metrics-bind-address=127.0.0.1",
                f"--metrics-port={ports['gwwatch']}", "--identity=e2e-0", "--log-format=json"],
                work / "gwwatch.log"),
            "alertmanager": _Process("alertmanager", [
                str(tools["alertmanager"]), f"--config.file={am_config}",
                f"--storage.path={work / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{ports['alertmanager']}",
                "--cluster.listen-address=", "--log.level=debug"],
                work / "alertmanager.log"),
            "prometheus": _Process("prometheus", [
                str(tools["prometheus"]), f"--config.file={prom_config}",
                f"--storage.tsdb.path={work / 'prom-data'}",
                f"--web.listen-address=127.0.0.1:{ports['prometheus']}",
                "--storage.tsdb.retention.time=1h"],
                work / "prometheus.log"),
        }
        stack = Stack(cp, Kubectl(cp), pagerduty,
                      PromAPI(f"http://127.0.0.1:{ports['prometheus']}"),
                      ports["gwwatch"], routing_key, interval, processes)
        request.config.stash[STACK_KEY] = stack
        try:
            _start(processes["gwwatch"], f"http://127.0.0.1:{ports['gwwatch']}/readyz",
                   "gwwatch run")
            cp.create(_webhook_registration(ports["webhook"], webhook.ca_bundle))
            _start(processes["alertmanager"],
                   f"http://127.0.0.1:{ports['alertmanager']}/-/ready", "Alertmanager")
            _start(processes["prometheus"], f"http://127.0.0.1:{ports['prometheus']}/-/ready",
                   "Prometheus")
            wait_for(lambda: stack.prom.value(f'up{{job="{JOB}"}}') == 1, timeout=20,
                     what="Prometheus scrapes gwwatch")
            yield stack
        finally:
            del request.config.stash[STACK_KEY]
            for proc in reversed(processes.values()):
                proc.stop(10)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failing e2e test gets the tails of every process's log."""
    report = yield
    stack = item.config.stash.get(STACK_KEY, None)
    if report.failed and stack is not None:
        for name, tail in stack.tails():
            report.sections.append((f"{name} log (tail)", tail))
        report.sections.append(("kube-apiserver log (tail)",
                                stack.cp.log_tail("kube-apiserver", 30)))
    return report
