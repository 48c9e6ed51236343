"""Tests that need programs from outside the Python environment, and the helper that finds them.

The tests in this folder run promtool and amtool (``test_alerts_tools.py``) and kubectl's
kustomize (``test_deploy_render.py``; kubectl is the one the test control plane builds, see
``tests/controlplane``). ``make unit`` does not run them; ``make test`` does.

This module finds the Debian tools the tests run: Prometheus, promtool, Alertmanager and amtool.

They come from Debian's packages (``prometheus`` 2.42, ``prometheus-alertmanager`` 0.25 on
bookworm). :func:`require` installs a missing package (``apt-get update`` once, then a
non-interactive ``apt-get install``, as root or through ``sudo -n``) and returns the binaries'
paths. When that is impossible, :func:`tests.needs.unavailable` decides: the test fails in CI
and is skipped elsewhere.

The packages also install services; the tests never use them and start the binaries themselves
on loopback ports.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Final

from tests.needs import unavailable

__all__ = ["TOOLS", "ToolUnavailable", "ensure", "require"]

# tool → (Debian package, binary names to look for, first found wins)
TOOLS: Final = {
    "promtool": ("prometheus", ("promtool",)),
    "prometheus": ("prometheus", ("prometheus",)),
    "amtool": ("prometheus-alertmanager", ("amtool",)),
    "alertmanager": ("prometheus-alertmanager", ("prometheus-alertmanager", "alertmanager")),
    "zsh": ("zsh", ("zsh",)),  # gwwatch completion zsh (tests/tools/test_completion_zsh.py)
}
_DIRS: Final = ("/usr/bin", "/usr/local/bin", "/usr/sbin")
_LOCK: Final = Path(tempfile.gettempdir()) / "gwwatch-tests-apt.lock"
_APT_ENV: Final = {"DEBIAN_FRONTEND": "noninteractive", "NEEDRESTART_MODE": "a"}


class ToolUnavailable(RuntimeError):
    """A tool is missing and could not be installed; the message says why."""


def _find(tool: str) -> Path | None:
    _, names = TOOLS[tool]
    for name in names:
        for d in _DIRS:
            path = Path(d) / name
            if path.is_file() and os.access(path, os.X_OK):
                return path
        found = shutil.which(name)
        if found:
            return Path(found)
    return None


def _privileged() -> list[str]:
    if os.geteuid() == 0:
        return []
    if shutil.which("sudo") and subprocess.run(
            ["sudo", "-n", "true"], capture_output=True, check=False).returncode == 0:
        return ["sudo", "-n", "env", *(f"{k}={v}" for k, v in _APT_ENV.items())]
    raise ToolUnavailable("not root and no password-less sudo: cannot apt-get install")


def _apt(args: list[str]) -> None:
    cmd = [*_privileged(), "apt-get", "-q", "-y", "-o", "DPkg::Lock::Timeout=300", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False,
                          env={**os.environ, **_APT_ENV}, timeout=900)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise ToolUnavailable(f"`{' '.join(cmd)}` exited {done.returncode}:\n{tail}")


def ensure(*tools: str) -> dict[str, Path]:
    """Paths of ``tools``; installs their Debian packages when missing (raises
    :class:`ToolUnavailable` when that is impossible)."""
    found = {t: _find(t) for t in tools}
    missing = sorted({TOOLS[t][0] for t, p in found.items() if p is None})
    if missing:
        if not shutil.which("apt-get"):
            raise ToolUnavailable(f"{', '.join(missing)} not installed and no apt-get here")
        _LOCK.touch(exist_ok=True)
        with _LOCK.open("r") as lock:  # one installer at a time across test processes
            fcntl.flock(lock, fcntl.LOCK_EX)
            found = {t: _find(t) for t in tools}
            missing = sorted({TOOLS[t][0] for t, p in found.items() if p is None})
            if missing:
                _apt(["update"])
                _apt(["install", "--no-install-recommends", *missing])
                found = {t: _find(t) for t in tools}
    lost = [t for t, p in found.items() if p is None]
    if lost:
        raise ToolUnavailable(f"installed, yet not found: {', '.join(lost)}")
    return {t: p for t, p in found.items() if p is not None}


def require(*tools: str) -> dict[str, Path]:
    """:func:`ensure` for tests: skip with the reason outside CI, fail in CI."""
    try:
        return ensure(*tools)
    except (ToolUnavailable, OSError, subprocess.SubprocessError) as e:
        unavailable(", ".join(tools), str(e))
