"""Process-wide logging: text for people, JSON lines (LOG_FORMAT=json) for log pipelines.

Context such as the cycle id rides in a contextvar, so every line a cycle writes carries it without
threading it through every call; `job_id` / `external_job_id` are passed per line with `extra=`.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from settings import Settings

CONTEXT_FIELDS = ("cycle_id", "job_id", "external_job_id", "role")
# An immutable tuple of pairs: a contextvar default must never be a shared mutable dict.
_context: contextvars.ContextVar[tuple[tuple[str, str], ...]] = contextvars.ContextVar(
    "log_context", default=()
)


@contextmanager
def log_context(**fields: str) -> Iterator[None]:
    """Add fields (e.g. cycle_id) to every log line written inside the block, in this thread/task."""
    token = _context.set(tuple({**dict(_context.get()), **fields}.items()))
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in CONTEXT_FIELDS:
            value = getattr(record, key, None)
            if value is not None:
                line[key] = str(value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        tags = " ".join(
            f"{key}={getattr(record, key)}"
            for key in CONTEXT_FIELDS
            if getattr(record, key, None) is not None
        )
        return f"{text} [{tags}]" if tags else text


def product_version() -> str:
    try:
        return version("lora-pipeline")
    except PackageNotFoundError:
        return "dev"


def configure_logging(settings: Settings, role: str, level: int = logging.INFO) -> logging.Logger:
    """Install the handler for this process and log the one start-up line every role writes."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ContextFilter())
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    _context.set((("role", role),))
    logger = logging.getLogger("pipeline")
    # Settings' repr masks secrets, so the whole configuration can be logged.
    logger.info("starting %s, version %s, %r", role, product_version(), settings)
    return logger
