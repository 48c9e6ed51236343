"""What to do when a test needs something this machine lacks.

Some tests need more than the Python environment: a binary built from Go modules (the test
control plane, kubectl), a Debian tool (promtool, amtool, Prometheus, Alertmanager), or a package
registry. When it is missing, :func:`unavailable` decides, in one place for every suite:

- in CI (``CI`` set to anything but ``""``, ``0``, ``false`` or ``no``) the test **fails**: a CI
  run that could not check something must never look green;
- elsewhere it is **skipped**, with the reason, so a laptop without Go still runs the rest.

``.ci/run`` sets ``CI=true``. Tests under ``tests/unit`` never need this: they need nothing.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

__all__ = ["in_ci", "unavailable"]


def in_ci() -> bool:
    """Whether this run is CI, where nothing may be skipped for want of a tool."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def unavailable(need: str, reason: str) -> NoReturn:
    """``need`` (what the test needs, e.g. ``"promtool"``) is missing because of ``reason``:
    fail the test in CI, skip it elsewhere."""
    if in_ci():
        pytest.fail(f"CI requires {need}: {reason}", pytrace=False)
    pytest.skip(f"{need} unavailable: {reason}")
