"""Tests that install from a package index, as ``docker build`` does, and the helper that
checks the index answers.

The index is ``$PIP_INDEX_URL`` or PyPI. When it cannot be reached the tests fail in CI and
skip elsewhere (tests/needs.py), like every other missing need. ``make unit`` does not run
them; ``make test`` does.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request

from tests.needs import unavailable

__all__ = ["INDEX", "require_index"]

INDEX = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple/").rstrip("/") + "/"


def require_index(index: str = INDEX) -> str:
    """``index``, once it answered (a package page is small and always there)."""
    try:
        with urllib.request.urlopen(f"{index}pip/", timeout=15) as answer:
            answer.read(1)
    except (urllib.error.URLError, OSError) as e:
        unavailable(f"the package index {index}", str(e))
    return index
