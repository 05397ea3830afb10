"""`sge privacy export WALLET`: everything held about a person (database rows, Temporal workflows)."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from cli.common import hard_exit, out, run_async, settings_and_logs
from cli.operators import cli_actor
from core.db import get_engine, session_scope
from core.settings.compliance import retention_table
from models.privacy import audit_export
from temporal.client import connect
from temporal.privacy import apply_closed_retention, export_everything

app = typer.Typer(help="Personal data: export (GDPR access requests).", no_args_is_help=True)


@app.command()
def export(
    wallet: str,
    as_json: bool = typer.Option(False, "--json", help="The whole document as JSON."),
    temporal: bool = typer.Option(True, "--temporal/--no-temporal", help="Also list Temporal workflows."),
) -> None:
    """Everything held about WALLET, across tables and Temporal (audited)."""
    settings = settings_and_logs("cli", fmt="console")
    engine = get_engine(settings.db_url)

    async def build() -> dict:
        client = await connect(settings) if temporal else None
        return await export_everything(engine, client, wallet)

    document = run_async(build())
    with session_scope(engine) as session:
        audit_export(session, cli_actor(), document)
    if as_json:
        print(json.dumps(document, indent=2, sort_keys=True))
    else:
        table = Table(title=f"personal data of {document['wallet']}")
        table.add_column("where")
        table.add_column("rows", justify="right")
        for name, rows in sorted(document["tables"].items()):
            table.add_row(name, str(len(rows)))
        workflows = document["workflows"]
        table.add_row("temporal workflows", "not listed" if workflows is None else str(len(workflows)))
        out.print(table)
    hard_exit(0)


@app.command()
def retention(
    apply: bool = typer.Option(False, "--apply", help="Also set Temporal's closed-workflow retention."),
) -> None:
    """The retention table (every cut-off for personal data, from settings)."""
    settings = settings_and_logs("cli", fmt="console")
    table = Table(title="retention")
    for column in ("what", "kept", "setting"):
        table.add_column(column)
    for row in retention_table(settings):
        table.add_row(*row)
    out.print(table)
    if apply:

        async def set_it() -> int:
            return await apply_closed_retention(await connect(settings), settings.retention_temporal_closed_days)

        out.print(f"Temporal namespace {settings.temporal_namespace!r}: closed workflows kept {run_async(set_it())} d")
    hard_exit(0)
