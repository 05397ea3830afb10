"""Structured logging for every process (API, worker, CLI): JSON lines or a console format.

stdlib loggers (uvicorn, temporalio, alembic) go through the same renderer, and values bound with
`structlog.contextvars` (request id, workflow id) appear on every line logged under them.

Every line passes `redact_secrets` last, after the exception is formatted and before it is rendered:
URLs lose their credentials and every registered secret (`core.redact.register_secrets`) is masked,
in structlog events and in stdlib records (uvicorn, temporalio) alike.
"""

from __future__ import annotations

import logging
import sys

import structlog
from structlog.typing import EventDict, Processor

from core.redact import redact

_SHARED: list[Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    structlog.processors.StackInfoRenderer(),
]


_PLAIN = (int, float, bool, type(None))
_MAX_DEPTH = 6


def _redacted(value: object, depth: int = 0) -> object:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, _PLAIN) or depth > _MAX_DEPTH:
        return value
    if isinstance(value, dict):
        return {key: _redacted(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redacted(item, depth + 1) for item in value]
    text = str(value)  # an object renders through str/repr: redact what it would print
    cleaned = redact(text)
    return value if cleaned == text else cleaned


def redact_secrets(_logger: object, _method: str, event_dict: EventDict) -> EventDict:
    """Credentials out of every field of a log line (see core.redact)."""
    return {key: _redacted(value) for key, value in event_dict.items()}


def configure_logging(
    level: str = "INFO", fmt: str = "json", *, process: str | None = None, cache_loggers: bool = True
) -> None:
    renderer = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    processors: list[Processor] = [*_SHARED]
    if process:
        processors.append(_add_process(process))
    structlog.configure(
        processors=[*processors, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=cache_loggers,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=processors,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact_secrets,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    for noisy in ("httpx", "httpcore", "web3", "urllib3", "alembic.runtime.migration"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # uvicorn's access log duplicates our request log line.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)


def _add_process(name: str) -> Processor:
    def processor(_logger: object, _method: str, event_dict: EventDict) -> EventDict:
        event_dict.setdefault("process", name)
        return event_dict

    return processor


def get_logger(name: str | None = None):
    return structlog.get_logger(name)
