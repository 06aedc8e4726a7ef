"""Logging set-up: JSON lines with a request id that follows one event through the pipeline."""

from __future__ import annotations

import logging
import sys
import uuid

import structlog
from structlog.contextvars import bind_contextvars, clear_contextvars

_SECRET_KEYS = ("token", "secret", "password", "authorization", "api_key")


def _redact(_: object, __: str, event: dict[str, object]) -> dict[str, object]:
    for key in list(event):
        if any(word in key.lower() for word in _SECRET_KEYS):
            event[key] = "[redacted]"
    return event


def configure_logging(*, level: str = "INFO", json: bool = True, stream=sys.stderr) -> None:
    """Route structlog and stdlib logging to ``stream`` as JSON (or readable console lines)."""
    renderer = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=stream.isatty())
    )
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact,
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processor=renderer, foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name]
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The embedded Postgres narrates initdb and pg_ctl at INFO (pages of it on a first run);
    # its warnings and errors, with the server's log on a failed start, still come through.
    # APScheduler narrates each job it adds; our own ``jobs_scheduled`` line says it once.
    for chatty in ("pgserver", "apscheduler"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))


def new_request_id(existing: str | None = None) -> str:
    """Bind a request id to everything logged in this task from now on; return it."""
    request_id = existing or uuid.uuid4().hex[:16]
    clear_contextvars()
    bind_contextvars(request_id=request_id)
    return request_id
