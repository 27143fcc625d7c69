"""Structured logging setup.

structlog's default development renderer prints rich tracebacks *with local
variables*: that puts secrets (settings, Authorization headers) into the logs and
takes seconds per logged exception, which stalls every 500. Tracebacks here are plain;
production logs are JSON lines.
"""

from __future__ import annotations

import structlog


def configure_logging(*, json_lines: bool) -> None:
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if json_lines
        else structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback)
    )
    processors: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if json_lines:
        processors.append(structlog.processors.format_exc_info)
    structlog.configure(processors=[*processors, renderer])
