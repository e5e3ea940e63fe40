"""structlog: JSON lines in production, readable lines in development.

Bind the case id (``log.bind(case_id=...)``), never a survivor's name, date of birth or
document number: those stay in the case database.
"""

from __future__ import annotations

import logging
import sys

import structlog


def configure_logging(environment: str = "development", level: str = "INFO") -> None:
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if environment == "production":
        renderer: structlog.types.Processor = structlog.processors.JSONRenderer()
        shared.append(structlog.processors.format_exc_info)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    logging.getLogger("temporalio").setLevel(logging.WARNING if level != "DEBUG" else logging.DEBUG)


def get_logger(**bound: object) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger().bind(**bound)
