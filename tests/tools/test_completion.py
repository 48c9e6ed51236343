"""``gwwatch completion zsh`` in a real zsh (Debian's, installed when missing): the script
parses, and ``compinit`` registers it for both ``gwwatch`` and ``kubectl-gwwatch`` from its
``#compdef`` line, the way a user installs it (saved as ``_gwwatch`` in a directory of
``$fpath``). The bash script is exercised in tests/unit/test_cli_report.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
