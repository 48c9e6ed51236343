"""Completion in the real programs:

- ``gwwatch completion zsh`` in a real zsh (Debian's, installed when missing): the script
  parses, and ``compinit`` registers it for both ``gwwatch`` and ``kubectl-gwwatch`` from its
  ``#compdef`` line, the way a user installs it (saved as ``_gwwatch`` in a directory of
  ``$fpath``);
- ``kubectl gwwatch <TAB>``: the pinned kubectl (the test control plane's) finds
  ``kubectl_complete-gwwatch`` on ``PATH`` and passes its candidates on.

The bash script is exercised in tests/unit/test_cli_report.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.controlplane.fixtures import require_assets
from tests.needs import unavailable
from tests.tools import require

REPO = Path(__file__).resolve().parents[2]


def test_zsh_completion_installs(tmp_path: Path) -> None:
    zsh = require("zsh")["zsh"]
    script = subprocess.run([sys.executable, "-m", "gwwatch", "completion", "zsh"],
                            capture_output=True, text=True, check=True, cwd=REPO,
                            timeout=60).stdout
    functions = tmp_path / "functions"
    functions.mkdir()
    (functions / "_gwwatch").write_text(script, encoding="utf-8")
    parsed = subprocess.run([str(zsh), "-n", str(functions / "_gwwatch")], capture_output=True,
                            text=True, check=False, timeout=30)
    assert parsed.returncode == 0, parsed.stderr
    probe = (f"fpath=({functions} $fpath); autoload -U compinit; "
             f"compinit -u -d {tmp_path}/zcompdump; "
             "print -r -- ${_comps[gwwatch]} ${_comps[kubectl-gwwatch]}; "
             "autoload -U +X _gwwatch && print -r -- loaded")
    done = subprocess.run([str(zsh), "-f", "-c", probe], capture_output=True, text=True,
                          check=False, timeout=60,
                          env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["_gwwatch", "_gwwatch", "loaded"], done.stdout + done.stderr


def test_kubectl_plugin_completion(tmp_path: Path) -> None:
    assets = require_assets("kubectl from the test control plane")
    if assets.kubectl is None:
        unavailable("kubectl", f"none beside the control plane's binaries in {assets.directory}")
    bin_dir = Path(sys.executable).parent
    if not (bin_dir / "kubectl_complete-gwwatch").exists():
        raise AssertionError(f"kubectl_complete-gwwatch not installed in {bin_dir}: "
                             f"pip install -e . installs it (pyproject [project.scripts])")
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
           "KUBECONFIG": str(tmp_path / "none"), "HOME": str(tmp_path)}

    def kubectl_complete(*words: str) -> list[str]:
        done = subprocess.run([str(assets.kubectl), "__complete", "gwwatch", *words],
                              capture_output=True, text=True, timeout=60, env=env, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout.splitlines()

    assert kubectl_complete("sc") == ["scan", ":4"]
    assert kubectl_complete("scan", "--output", "") == ["text", "json", "sarif", ":4"]
    assert kubectl_complete("explain", "--clu") == ["--cluster", ":4"]
    assert kubectl_complete("scan", "") == [":0"]  # PATHs: the shell completes file names
