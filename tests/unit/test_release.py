"""One version names a release (README "Releases"): pyproject's version is the image tag the
manifests install, the `app.kubernetes.io/version` label, the chart's version and appVersion,
and has a CHANGELOG section. Read from the files themselves; nothing to build."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
KUSTOMIZATIONS = [ROOT / "deploy" / d / "kustomization.yaml"
                  for d in ("base", "monitoring", "overlays/example")]


def test_version_is_semver() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", VERSION), VERSION


def test_manifests_install_and_label_this_version() -> None:
    for path in KUSTOMIZATIONS:
        k = yaml.safe_load(path.read_text())
        labels = {key: v for entry in k.get("labels", []) for key, v in entry["pairs"].items()}
        assert str(labels["app.kubernetes.io/version"]) == VERSION, path
        assert labels["app.kubernetes.io/instance"] == "gwwatch", path
        for image in k.get("images", []):
            assert str(image["newTag"]) == VERSION, path


def test_changelog_has_this_version() -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    assert re.search(rf"^## \[{re.escape(VERSION)}\]", text, re.MULTILINE), VERSION
    assert re.search(rf"^\[{re.escape(VERSION)}\]: .*/v{re.escape(VERSION)}$", text,
                     re.MULTILINE), "no link to the tag"


def test_license_is_the_apache_license_pyproject_names() -> None:
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"] == (
        "Apache-2.0")
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_chart_version_and_app_version_are_this_release() -> None:
    chart = yaml.safe_load((ROOT / "charts" / "gwwatch" / "Chart.yaml").read_text())
    assert chart["version"] == VERSION
    assert chart["appVersion"] == VERSION and isinstance(chart["appVersion"], str)
    values = yaml.safe_load((ROOT / "charts" / "gwwatch" / "values.yaml").read_text())
    assert values["image"]["tag"] == "", "the image tag follows appVersion"
