"""`sge audit`: check the audit log's hash chain."""

from __future__ import annotations

import typer
from sqlmodel import Session

from cli.common import hard_exit, out, settings_and_logs
from core.db import get_engine
from models.audit import verify_audit_chain

app = typer.Typer(help="The operators' audit log.", no_args_is_help=True)


@app.command()
def verify(as_json: bool = typer.Option(False, "--json", help="Print one JSON document.")) -> None:
    """Walk the audit log's hash chain; name the first row that was changed, removed or inserted.

    Exit status 0 when the chain holds, 1 when it is broken.
    """
    settings = settings_and_logs("cli", fmt="console")
    with Session(get_engine(settings.db_url)) as session:
        report = verify_audit_chain(session)
    if as_json:
        print(report.model_dump_json(indent=2), flush=True)
    elif report.first_broken is None:
        out.print(f"audit chain [green]intact[/]: {report.rows} rows, tip {report.tip}")
    else:
        b = report.first_broken
        out.print(f"audit chain [bold red]BROKEN[/] at row {b.id} ({b.problem}): {b.detail}; {report.rows} rows")
    hard_exit(0 if report.ok else 1)
