"""Hostnames as the Gateway API reads them (docs/architecture.md, "Gateway API rules").

A hostname here is a precise name (``api.example.com``), a wildcard (``*.example.com``: one *or
more* labels in front of ``example.com``, never ``example.com`` itself), or ``ANY`` (``"*"``):
what a listener without a hostname, or a route without hostnames on it, accepts.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "ANY",
    "base",
    "covering",
    "covers",
    "intersect",
    "is_valid",
    "is_wildcard",
    "matches",
    "parents",
    "precise_length",
    "specificity",
]

ANY: Final = "*"
_LABELS: Final = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_HOSTNAME_RE: Final = re.compile(rf"^(\*\.)?{_LABELS}$")
_IPV4_RE: Final = re.compile(r"^[0-9]+(\.[0-9]+){3}$")


def is_valid(hostname: str) -> bool:
    """The CRD's pattern (RFC 1123 with an optional ``*.`` label), at most 253 characters, no IP."""
    return (
        0 < len(hostname) <= 253
        and _HOSTNAME_RE.match(hostname) is not None
        and _IPV4_RE.match(hostname) is None
    )


def is_wildcard(hostname: str) -> bool:
    return hostname.startswith("*")


def matches(pattern: str, host: str) -> bool:
    """Whether the precise ``host`` (a request's Host or SNI) falls under ``pattern``."""
    if pattern == ANY:
        return True
    host = host.lower()
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and len(host) > len(pattern) - 1
    return pattern == host


def covers(outer: str, inner: str) -> bool:
    """Whether every host ``inner`` matches is also matched by ``outer``."""
    if outer in (ANY, inner):
        return True
    if inner == ANY or not outer.startswith("*."):
        return False
    suffix = outer[1:]  # ".example.com"
    if is_wildcard(inner):
        return inner[1:].endswith(suffix)
    return inner.endswith(suffix) and len(inner) > len(suffix)


def intersect(a: str, b: str) -> str | None:
    """The hosts both ``a`` and ``b`` match, as one hostname; ``None`` when there are none."""
    if covers(a, b):
        return b
    if covers(b, a):
        return a
    return None


def precise_length(hostname: str) -> int:
    """Characters of a matching *non-wildcard* hostname (first precedence criterion)."""
    return 0 if is_wildcard(hostname) else len(hostname)


def specificity(hostname: str) -> tuple[int, int]:
    """Orders hostnames most specific first when sorted descending: precise, then longer."""
    if hostname == ANY:
        return (0, 0)
    return (0 if is_wildcard(hostname) else 1, len(hostname))


def covering(hostname: str) -> list[str]:
    """``hostname`` and every hostname that covers it, most specific first, ``ANY`` last."""
    if hostname == ANY:
        return [ANY]
    labels = hostname.split(".")
    first = 2 if is_wildcard(hostname) else 1
    return [hostname, *("*." + ".".join(labels[i:]) for i in range(first, len(labels))), ANY]


def parents(hostname: str) -> list[str]:
    """Domains ``hostname`` lies under, for a suffix index: ``a.x.com`` → ``x.com, com, ''``.

    A wildcard lies under its own base too: ``*.x.com`` → ``x.com, com, ''``.
    """
    if hostname == ANY:
        return []
    labels = hostname.split(".")
    return [".".join(labels[i:]) for i in range(1, len(labels))] + [""]


def base(hostname: str) -> str:
    """The suffix-index key under which the hostnames a wildcard covers are found."""
    if hostname == ANY:
        return ""
    return hostname[2:]
