"""The one rule for a missing tool or control plane (tests/needs.py): fail in CI, skip
elsewhere, with the reason, whichever helper noticed it. Nothing is installed or built here:
the helpers are made to find nothing."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

import tests.tools as tools
from tests.controlplane import AssetsUnavailable
from tests.controlplane import fixtures as cp_fixtures
from tests.needs import in_ci, unavailable
from tests.pypi import require_index


@pytest.mark.parametrize(("value", "expected"), [
    ("true", True), ("1", True), ("yes", True), ("TRUE", True),
    ("", False), ("0", False), ("false", False), ("No", False),
])
def test_what_counts_as_ci(monkeypatch: pytest.MonkeyPatch, value: str, expected: bool) -> None:
    monkeypatch.setenv("CI", value)
    assert in_ci() is expected


def test_unset_ci_is_not_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    assert not in_ci()


def test_missing_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"^CI requires promtool: not on PATH$"):
        unavailable("promtool", "not on PATH")


def test_missing_skips_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"^promtool unavailable: not on PATH$"):
        unavailable("promtool", "not on PATH")


class TestDebianTools:
    """tests/tools: a missing tool is installed, else skipped outside CI and failed in CI."""

    @pytest.fixture(autouse=True)
    def nothing_installed(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(tools, "_find", lambda tool: None)
        monkeypatch.setattr(tools.shutil, "which", lambda name: None)  # and no apt-get

    def test_missing_tool_fails_in_ci(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("CI", "true")
        with pytest.raises(pytest.fail.Exception, match=r"CI requires amtool: .*no apt-get"):
            tools.require("amtool")

    def test_missing_tool_skips_outside_ci(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("CI", raising=False)
        with pytest.raises(pytest.skip.Exception, match="prometheus-alertmanager not installed"):
            tools.require("alertmanager")


class TestControlPlaneAssets:
    """tests/controlplane: no Go and no KUBEBUILDER_ASSETS follows the same rule."""

    @pytest.fixture(autouse=True)
    def nothing_built(self, monkeypatch: pytest.MonkeyPatch) -> None:
        def ensure_built() -> None:
            raise AssetsUnavailable("no `go` on PATH and KUBEBUILDER_ASSETS is unset")

        monkeypatch.setattr(cp_fixtures, "ensure_built", ensure_built)

    def test_fails_in_ci(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("CI", "true")
        with pytest.raises(pytest.fail.Exception,
                           match=r"^CI requires kubectl from the test control plane: no `go`"):
            cp_fixtures.require_assets("kubectl from the test control plane")

    def test_skips_elsewhere(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("CI", raising=False)
        with pytest.raises(pytest.skip.Exception, match=r"^the test control plane unavailable"):
            cp_fixtures.require_assets()


class TestPackageIndex:
    """tests/pypi: an index that does not answer follows the same rule."""

    @pytest.fixture(autouse=True)
    def index_down(self, monkeypatch: pytest.MonkeyPatch) -> None:
        def urlopen(*args: object, **kwargs: object) -> None:
            raise urllib.error.URLError("Name or service not known")

        monkeypatch.setattr(urllib.request, "urlopen", urlopen)

    def test_fails_in_ci(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("CI", "true")
        with pytest.raises(pytest.fail.Exception,
                           match=r"^CI requires the package index https://pypi\.example/simple/"):
            require_index("https://pypi.example/simple/")

    def test_skips_elsewhere(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("CI", raising=False)
        with pytest.raises(pytest.skip.Exception, match="Name or service not known"):
            require_index("https://pypi.example/simple/")
