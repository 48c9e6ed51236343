"""tests/helm/build.py, the helm the chart tests run: the pinned version is read from the
wrapper module, GWWATCH_HELM must name an executable, and a missing helm fails in CI (skips
elsewhere). Nothing is built here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helm import build


def test_pinned_version_comes_from_the_wrapper_module() -> None:
    version = build.pinned_version()
    assert re.fullmatch(r"v4\.\d+\.\d+", version), version
    assert f"{build.MODULE} {version}" in (build.GO_DIR / "go.mod").read_text()
    assert build.cached_binary().parts[-2:] == (version, "helm")


def test_gwwatch_helm_must_be_an_executable(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    monkeypatch.setenv("GWWATCH_HELM", str(tmp_path / "nope"))
    with pytest.raises(build.HelmUnavailable, match="not an executable"):
        build.ensure_helm()
    exe = tmp_path / "helm"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    monkeypatch.setenv("GWWATCH_HELM", str(exe))
    assert build.ensure_helm() == exe


def test_missing_helm_fails_in_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GWWATCH_HELM", str(tmp_path / "nope"))
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI requires helm"):
        build.require_helm()
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception, match="helm unavailable"):
        build.require_helm()
