"""structlog configuration: JSON lines in a cluster, a readable console on a TTY.

Logs are an event name plus key/values (``log.info("status_written", ours=1)``). Context bound
with ``structlog.contextvars`` (the route and namespace of the reconcile in progress) is merged
into every line logged inside it.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

__all__ = ["configure"]

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR}


def configure(*, fmt: str = "auto", level: str = "info", stream: Any = None) -> None:
    """Configure structlog process-wide (and route the standard library's logging, which
    kr8s and httpx use, through the same renderer at WARNING and above)."""
    out = stream or sys.stderr
    console = fmt == "console" or (fmt == "auto" and out.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any = (structlog.dev.ConsoleRenderer(colors=out.isatty()) if console
                     else structlog.processors.JSONRenderer())
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            structlog.processors.UnicodeDecoder(),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS.get(level, logging.INFO)),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        processor=renderer, foreign_pre_chain=shared))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
