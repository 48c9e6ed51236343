"""``make demo`` keeps telling the truth: the README's first command shows the hijack."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.controlplane import ControlPlane

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration


def test_demo_shows_condition_event_and_metric(control_plane: ControlPlane) -> None:
    """The demo (its own control plane) prints our condition, the Event and the series."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "examples.techresolve.demo", "--exit"],
        capture_output=True, text=True, timeout=180, env=env, cwd=ROOT, check=False)
    out = done.stdout
    assert done.returncode == 0, done.stderr[-3000:]
    assert "gwwatch.io/HostnameConflict" in out
    assert "Reason:                HijacksTraffic" in out
    assert "Warning  HijacksTraffic" in out  # the Event, as kubectl describe lists it
    assert "gwwatch.io/TrafficHijacked=True (HijackedByRoute)" in out
    metric = [line for line in out.splitlines() if line.startswith("gwwatch_finding_info{")]
    assert metric and 'route="staging-analytics/metrics-dashboard"' in metric[0]
    assert metric[0].endswith(" 1.0")
