"""The pure engine: Gateway API objects in, findings out. No I/O, no asyncio, no kr8s."""

from gwwatch.engine.attachment import ParentStatus
from gwwatch.engine.findings import Diff, Finding
from gwwatch.engine.graph import ConflictGraph, analyse
from gwwatch.engine.model import Invalid, ObjectRef, Parsed, parse
from gwwatch.engine.ownership import Policy
from gwwatch.engine.vocabulary import (
    FAIL_ON_CHOICES,
    GROUP,
    ROUTE_KINDS,
    FindingKind,
    Protocol,
    Reason,
    RouteKind,
    RouteKindSpec,
    Severity,
    age_key,
    at_or_above,
    readable_versions,
)

__all__ = [
    "FAIL_ON_CHOICES",
    "GROUP",
    "ROUTE_KINDS",
    "ConflictGraph",
    "Diff",
    "Finding",
    "FindingKind",
    "Invalid",
    "ObjectRef",
    "ParentStatus",
    "Parsed",
    "Policy",
    "Protocol",
    "Reason",
    "RouteKind",
    "RouteKindSpec",
    "Severity",
    "age_key",
    "analyse",
    "at_or_above",
    "parse",
    "readable_versions",
]
