"""The exit codes of every command, and the error that ends one with a single line."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["ExitCode", "UsageError"]


class ExitCode(IntEnum):
    """What a script calling ``gwwatch`` can rely on.

    ``scan``: 0 nothing at or above ``--fail-on``, 1 findings at or above it. ``explain``: 0 a
    route serves the request, 1 none does. ``run``: 0 stopped by a signal, 1 the API server
    went away after startup. All: 2 a usage, input or startup error, said in one line
    (argparse's own usage errors exit 2 as well).
    """

    OK = 0
    FINDINGS = 1
    NOT_SERVED = 1
    FAILED = 1
    USAGE = 2


class UsageError(Exception):
    """A usage or input error: its message is one line, printed as ``gwwatch: error: ...``."""
