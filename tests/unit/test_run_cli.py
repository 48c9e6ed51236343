"""``gwwatch run`` startup errors: one line naming what is wrong (the file, the context, the
variable, the server), exit 2, never a traceback. Offline: the only server is a closed port on
loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from gwwatch.cli import main

REPO = Path(__file__).resolve().parents[2]


def kubeconfig(path: Path, server: str, *, context: str = "only") -> Path:
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: c\n  cluster: {{server: '{server}', "
        "insecure-skip-tls-verify: true}\n"
        "users:\n- name: u\n  user: {token: t}\n"
        f"contexts:\n- name: {context}\n  context: {{cluster: c, user: u}}\n"
        f"current-context: {context}\n", encoding="utf-8")
    return path


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def gwwatch_run(*args: str | Path, env: dict[str, str] | None = None) -> tuple[int, str]:
    """``python -m gwwatch run ...`` as a user runs it: exit code and stderr."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith("GWWATCH_") and k != "KUBECONFIG"}
    proc = subprocess.run(
        [sys.executable, "-m", "gwwatch", "run", "--namespace", "gwwatch-system",
         "--metrics-port", "0", *map(str, args)],
        capture_output=True, text=True, cwd=REPO, timeout=60, check=False,
        env={**base, "HOME": "/nonexistent", **(env or {})})
    return proc.returncode, proc.stderr


def assert_one_line(err: str, *words: str) -> None:
    assert len(err.splitlines()) == 1, err
    assert err.startswith("gwwatch: error: "), err
    for word in words:
        assert word in err, err


def test_missing_kubeconfig_flag() -> None:
    code, err = gwwatch_run("--kubeconfig", "/missing/kubeconfig")
    assert code == 2
    assert_one_line(err, "--kubeconfig=/missing/kubeconfig: cannot read: No such file")


def test_missing_kubeconfig_variable(capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GWWATCH_KUBECONFIG", "/missing/kubeconfig")
    assert main(["run"]) == 2
    assert_one_line(capsys.readouterr().err, "GWWATCH_KUBECONFIG=/missing/kubeconfig: ")


def test_unknown_context(tmp_path: Path) -> None:
    config = kubeconfig(tmp_path / "kc.yaml", f"https://127.0.0.1:{closed_port()}")
    code, err = gwwatch_run("--kubeconfig", config, "--context", "nope")
    assert code == 2
    assert_one_line(err, f"--context=nope: no such context in {config}")


def test_unreachable_api_server_is_named(tmp_path: Path) -> None:
    server = f"https://127.0.0.1:{closed_port()}"
    config = kubeconfig(tmp_path / "kc.yaml", server)
    code, err = gwwatch_run("--kubeconfig", config)
    assert code == 2
    assert_one_line(err, f"API server {server} unreachable")
    code, err = gwwatch_run(env={"KUBECONFIG": str(config)})
    assert code == 2
    assert_one_line(err, f"API server {server} unreachable")


def test_no_credentials_at_all() -> None:
    code, err = gwwatch_run(env={"KUBECONFIG": "/missing/kubeconfig"})
    assert code == 2
    assert_one_line(err, "no credentials", "--kubeconfig")


@pytest.mark.parametrize(("env", "argv", "said"), [
    pytest.param({"GWWATCH_METRICS_PORT": "abc"}, [], "GWWATCH_METRICS_PORT=abc: ",
                 id="env-not-a-number"),
    pytest.param({"GWWATCH_METRICS_PORT": "70000"}, [], "GWWATCH_METRICS_PORT=70000: ",
                 id="env-out-of-range"),
    pytest.param({}, ["--metrics-port", "70000"], "--metrics-port=70000: ", id="flag"),
    pytest.param({"GWWATCH_LEASE_DURATION_SECONDS": "1"}, [],
                 "need lease_duration > renew_deadline", id="across-settings"),
    pytest.param({"GWWATCH_CONTROLLER_NAME": "no-slash"}, [],
                 "GWWATCH_CONTROLLER_NAME=no-slash: must be DOMAIN/PATH", id="validator"),
])
def test_bad_setting_names_the_variable(capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch, env: dict[str, str],
                                        argv: list[str], said: str) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main(["run", *argv]) == 2
    err = capsys.readouterr().err
    assert_one_line(err, "invalid settings: ", said)
    assert "pydantic" not in err and "metrics_port" not in err


def test_unknown_run_flag_prints_runs_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["run", "--kube-config", "x"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: gwwatch run ")
    assert "gwwatch run: error: unrecognized arguments: --kube-config x" in err
