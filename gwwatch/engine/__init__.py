"""The pure engine: Gateway API objects in, findings out. No I/O, no asyncio, no kr8s."""

from gwwatch.engine.attachment import ParentStatus, Topology, attach
from gwwatch.engine.findings import Diff, Finding, at_or_above, diff
from gwwatch.engine.graph import ConflictGraph, analyse
from gwwatch.engine.model import Invalid, ObjectRef, Parsed, Route, parse
from gwwatch.engine.ownership import Policy

__all__ = [
    "ConflictGraph",
    "Diff",
    "Finding",
    "Invalid",
    "ObjectRef",
    "ParentStatus",
    "Parsed",
    "Policy",
    "Route",
    "Topology",
    "analyse",
    "at_or_above",
    "attach",
    "diff",
    "parse",
]
