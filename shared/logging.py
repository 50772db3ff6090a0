"""structlog set-up: JSON lines in production, a readable console on a terminal.

Context (service, correlation id, traceparent) lives in contextvars, so every log line
written while handling a request or a message carries it without passing a logger around.
"""

from __future__ import annotations

import logging
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog


def configure_logging(service: str, level: str = "INFO", *, json: bool | None = None) -> None:
    """Configure structlog and the standard library root logger for one process."""
    if json is None:
        json = not sys.stderr.isatty()
    shared_processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            *shared_processors,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info if json else structlog.dev.set_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    # Libraries log through the standard library; route them through the same renderer.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=shared_processors,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)


def new_correlation_id() -> str:
    return str(uuid.uuid4())


@contextmanager
def bound_context(**values: Any) -> Iterator[None]:
    """Bind values to every log line written inside the block (request or message scope).

    Each value is set on its context variable and reset to what it was when the block ends,
    through the variable's token: structlog's `bound_contextvars` does the same by copying
    the whole context first, which cost a request about as much as its JWT check."""
    tokens = structlog.contextvars.bind_contextvars(
        **{k: v for k, v in values.items() if v is not None}
    )
    try:
        yield
    finally:
        structlog.contextvars.reset_contextvars(**tokens)


def current_context() -> dict[str, Any]:
    return structlog.contextvars.get_contextvars()


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)
