"""Structured logs: one JSON object per line, each carrying the correlation id of the request
that caused it, so operations can follow one change from ingest through apply to delivery.

A request's id comes from its ``X-Correlation-ID`` header when the caller sends a sane one
(so a source system's own trace id carries through), else a fresh one; the response echoes it.
The id travels with each change through the inbox and with each golden version through the
outbox, because apply and delivery run in other threads, processes or hours.
"""

from __future__ import annotations

import logging
import re
import sys
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson

CORRELATION: ContextVar[str | None] = ContextVar("concord_correlation_id", default=None)
HEADER = "X-Correlation-ID"
_SANE = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def correlation_id(offered: str | None) -> str:
    """The caller's id when it is short and plain (it lands in logs and columns), else new."""
    if offered and _SANE.fullmatch(offered):
        return offered
    return uuid.uuid4().hex


class _Correlate(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "correlation_id", None) is None:
            record.correlation_id = CORRELATION.get()
        return True


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "message", "correlation_id", ...extra}`` per line."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


def configure(fmt: str = "json", level: str = "INFO") -> None:
    """Send every ``concord.*`` log (and uvicorn's errors) to stderr, as JSON or as text."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_Correlate())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(correlation_id)s] %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # the hub logs its own requests
