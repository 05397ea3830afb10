"""`sge reconcile`: run reconciliation now, and read its reports (ops/reconciliation.md explains them)."""

from __future__ import annotations

import json
from datetime import date

import typer
from rich.table import Table
from sqlmodel import Session

from cli.common import fail, hard_exit, out, run_async, settings_and_logs

app = typer.Typer(help="Reconciliation of the books with the chain and the processors.", no_args_is_help=True)


@app.command()
def run(as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON.")) -> None:
    """Run the Reconciliation workflow now and wait for its report. Exit 1 on an unexplained difference
    (the workflow has then turned the halt switch on)."""
    from temporal.client import connect
    from temporal.reconciliation import run_reconciliation

    settings = settings_and_logs("cli", fmt="console")

    async def go():
        return await run_reconciliation(await connect(settings), settings.temporal_task_queue)

    summary = run_async(go())
    if as_json:
        print(summary.model_dump_json(), flush=True)
    else:
        state = "[green]clean[/]" if summary.ok else f"[bold red]{summary.unexplained_checks} unexplained[/]"
        out.print(f"report {summary.id}: {state}" + (" — platform HALTED" if summary.halted else ""))
        for line in summary.first_items:
            out.print(f"  {line}", markup=False)
    hard_exit(0 if summary.ok else 1)


@app.command()
def report(
    day: str = typer.Argument(None, help="YYYY-MM-DD (UTC): that day's newest report; default the newest."),
    report_id: int = typer.Option(None, "--id", help="A report by id."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole report as JSON."),
) -> None:
    """A persisted report: each check with expected, actual, difference and the items behind it. Exit 1
    when it has an unexplained difference."""
    from core.db import get_engine
    from models.recon.report import get_report, latest_report, report_view

    settings = settings_and_logs("cli", fmt="console")
    try:
        wanted = date.fromisoformat(day) if day else None
    except ValueError:
        fail(f"not a date (YYYY-MM-DD): {day!r}")
    with Session(get_engine(settings.db_url)) as session:
        found = get_report(session, report_id) if report_id is not None else latest_report(session, wanted)
        if found is None:
            fail("no reconciliation report" + (f" on {wanted}" if wanted else " yet"), code=1)
        body = report_view(session, found)
    if as_json:
        print(json.dumps(body), flush=True)
        hard_exit(0 if body["ok"] else 1)
    state = "[green]clean[/]" if body["ok"] else f"[bold red]{body['unexplained_checks']} unexplained[/]"
    out.print(f"report {body['id']} ({body['trigger']}, {body['started_at']}): {state}")
    out.print(f"blocks {body['from_block']}..{body['to_block']}" + ("  halted the platform" if body["halted"] else ""))
    table = Table()
    for column in ("check", "asset", "expected", "actual", "difference", "explained", "unexplained"):
        table.add_column(column, justify="left" if column in ("check", "asset") else "right")
    for c in body["checks"]:
        style = "" if c["ok"] else "bold red"
        table.add_row(
            c["name"],
            c["asset"] or "#",
            c["expected"],
            c["actual"],
            c["difference"],
            c["explained"],
            c["unexplained"],
            style=style,
        )
    out.print(table)
    for line in body["first_items"]:
        out.print(f"  {line}", markup=False)
    hard_exit(0 if body["ok"] else 1)
