"""Fixtures of tests/pypi (see its ``__init__``)."""

from __future__ import annotations

import pytest

from tests.pypi import require_index


@pytest.fixture(scope="session")
def package_index() -> str:
    """The package index, once it answered; fails in CI and skips elsewhere when it does not."""
    return require_index()
