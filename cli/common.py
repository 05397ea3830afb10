"""What every `sge` command shares: settings, logging, one-line errors, and a safe exit."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Coroutine
from typing import Any, NoReturn

from rich.console import Console

from core.errors import DomainError
from core.logs import configure_logging
from core.redact import redact, register_secrets
from core.settings import ConfigError, Settings, get_settings

console = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)


def settings_and_logs(process: str, *, fmt: str | None = None) -> Settings:
    settings = get_settings()
    register_secrets(settings)  # masked in every log line and CLI error from here on
    configure_logging(settings.log_level, fmt or settings.log_format, process=process)
    return settings


def fail(message: str, code: int = 2) -> NoReturn:
    console.print(f"[bold red]error:[/] {redact(message)}")
    hard_exit(code)


def fail_domain(exc: DomainError) -> NoReturn:
    """The one translation of a domain error at the CLI edge: `error: <code>: <message>`, exit 1."""
    fail(f"{exc.code}: {exc.message}", code=1)


def hard_exit(code: int) -> NoReturn:
    """Exit without interpreter teardown: the Temporal SDK can crash at exit (sdk-python#300)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def run_async(coro: Coroutine[Any, Any, Any]) -> Any:
    try:
        return asyncio.run(coro)
    except ConfigError as exc:
        fail(str(exc))
    except DomainError as exc:
        fail_domain(exc)
    except KeyboardInterrupt:
        hard_exit(130)
