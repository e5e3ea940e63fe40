"""structlog: JSON lines in production, readable lines in development.

Bind the case id (``log.bind(case_id=...)``), never a survivor's name, date of birth or
document number: those stay in the case database.

In production an exception is logged with its type and traceback but not its text: an error's
message may quote the data it failed on (a validation error its input, a database driver the
row), and that is not a log's to keep. This holds for the libraries' own log lines too (the
Temporal SDK logs a failed activity with its exception). Development shows everything.
"""

from __future__ import annotations

import logging
import sys
import traceback
from types import TracebackType

import structlog


def configure_logging(environment: str = "development", level: str = "INFO") -> None:
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if environment == "production":
        renderer: structlog.types.Processor = structlog.processors.JSONRenderer()
        shared.append(_exception_without_text)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    if environment == "production":
        for handler in logging.getLogger().handlers:
            handler.setFormatter(_WithoutExceptionText("%(levelname)s %(name)s: %(message)s"))
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    logging.getLogger("temporalio").setLevel(logging.WARNING if level != "DEBUG" else logging.DEBUG)


def get_logger(**bound: object) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger().bind(**bound)


ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def exception_without_text(exc_info: ExcInfo) -> str:
    """The traceback of an exception and of its causes, each exception named by its type only."""
    lines: list[str] = []
    seen: set[int] = set()
    error: BaseException | None = exc_info[1]
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        kind = type(error)
        frames = traceback.format_list(traceback.extract_tb(error.__traceback__))
        lines = [
            *frames,
            f"{kind.__module__}.{kind.__qualname__} (its text is not logged: it may quote personal data)\n",
            *(["The above led to:\n"] if lines else []),
            *lines,
        ]
        error = error.__cause__ or error.__context__
    return "Traceback (most recent call last):\n" + "".join(lines)


def _exception_without_text(
    logger: object, name: str, event_dict: structlog.types.EventDict
) -> structlog.types.EventDict:
    exc_info = event_dict.pop("exc_info", None)
    if exc_info is True:
        exc_info = sys.exc_info()
    elif isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    if isinstance(exc_info, tuple) and exc_info[1] is not None:
        event_dict["exception"] = exception_without_text(exc_info)
    return event_dict


class _WithoutExceptionText(logging.Formatter):
    def formatException(self, ei) -> str:  # type: ignore[no-untyped-def,override]  # noqa: N802
        return exception_without_text(ei).rstrip("\n") if ei and ei[1] is not None else ""
