"""Incident levers (`sge workers drain|undrain|status`, `sge relayer freeze`, `sge rpc status`): each
one command, audited under the local user's name where it changes anything."""

from __future__ import annotations

import getpass
import json

import typer
from sqlmodel import Session

from cli.common import run_async, settings_and_logs
from core.db import get_engine, session_scope
from models.drain import drain_state, set_drain
from models.operators import Actor
from temporal.client import connect
from temporal.drain import task_queue_pollers

workers_app = typer.Typer(
    help="The workers' drain switch: stop taking new tasks without killing running activities.", no_args_is_help=True
)


def _actor() -> Actor:
    return Actor(name=f"cli:{getpass.getuser()}")


def _settings_engine():
    settings = settings_and_logs("cli", fmt="console")
    return settings, get_engine(settings.db_url)


@workers_app.command("drain")
def workers_drain(reason: str = typer.Option(..., help="Why (audited).")) -> None:
    """Every worker stops polling within SGE_WORKER_DRAIN_POLL_SECONDS; running activities finish
    (up to SGE_WORKER_GRACEFUL_SHUTDOWN_SECONDS); the processes stay up, waiting for `undrain`."""
    _, engine = _settings_engine()
    with session_scope(engine) as session:
        print(set_drain(session, _actor(), True, reason).model_dump_json(indent=2))


@workers_app.command("undrain")
def workers_undrain(reason: str = typer.Option(..., help="Why (audited).")) -> None:
    """Workers poll again within SGE_WORKER_DRAIN_POLL_SECONDS."""
    _, engine = _settings_engine()
    with session_scope(engine) as session:
        print(set_drain(session, _actor(), False, reason).model_dump_json(indent=2))


@workers_app.command("status")
def workers_status() -> None:
    """The drain switch and who polls the task queue (a stopped poller stays listed about a minute)."""
    settings, engine = _settings_engine()
    with Session(engine) as session:
        switch = drain_state(session)

    async def pollers() -> dict[str, list[str]]:
        return await task_queue_pollers(await connect(settings), settings.temporal_task_queue)

    report = {"drained": switch.model_dump(mode="json"), "pollers": run_async(pollers())}
    print(json.dumps(report, indent=2))
