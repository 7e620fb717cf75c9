"""Log records as one JSON object per line on stderr."""

from __future__ import annotations

import logging
import sys
import time

import orjson


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "message", ...fields}``; ``extra={"fields": {...}}``
    adds keys. Tracebacks go in ``exc_info`` as one string, never across lines."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        return orjson.dumps({key: _bounded(value) for key, value in entry.items()}, default=str).decode()


MAX_FIELD_CHARS = 4000
"""No field of a log line is longer than this, whatever went into it (a traceback
is the longest we write); so no line is much over a few times that."""


def _bounded(value):
    if isinstance(value, str) and len(value) > MAX_FIELD_CHARS:
        return value[: MAX_FIELD_CHARS - 3] + "..."
    return value


def configure_logging(level: str) -> None:
    """Send the ``moonserve`` loggers to stderr as JSON lines, once per process."""
    logger = logging.getLogger("moonserve")
    logger.setLevel(level.upper())
    if not any(getattr(handler, "_moonserve", False) for handler in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        handler._moonserve = True
        logger.addHandler(handler)
    logger.propagate = False
