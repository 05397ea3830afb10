"""`sge bench`: benchmarks that print their figures (and exit non-zero when a floor is missed)."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from cli.common import console, hard_exit, out, settings_and_logs

app = typer.Typer(help="Benchmarks.", no_args_is_help=True)


@app.command()
def relayer(
    transactions: int = typer.Option(200, "-n", "--transactions", min=10, help="Mints per mode."),
    concurrency: int = typer.Option(32, "-c", "--concurrency", min=2, help="Parallel senders in the concurrent modes."),
    poll_interval: float = typer.Option(0.05, help="Receipt poll interval, seconds (same for both sides)."),
    database_url: str = typer.Option(None, help="Outbox database (default: a temporary SQLite file)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Transactions/s through the relayer on a private anvil, next to raw web3 sends in the same run."""
    from models.logs import configure_logging
    from ops.bench.relayer import report_dict, run

    settings_and_logs("cli", fmt="console")
    configure_logging("WARNING", "console", process="bench")  # one line per transaction would swamp the output
    report = run(
        transactions=transactions, concurrency=concurrency, poll_interval=poll_interval, database_url=database_url,
        progress=(lambda _m: None) if as_json else (lambda m: console.print(f"[dim]{m}[/]")),
    )
    if as_json:
        out.print(json.dumps(report_dict(report)))
    else:
        table = Table(title=f"relayer benchmark: {report.transactions} mints per mode, concurrency {report.concurrency}, {report.database}")
        for column in ("mode", "tx", "seconds", "tx/s"):
            table.add_column(column, justify="right" if column != "mode" else "left")
        for r in report.results:
            table.add_row(r.mode, str(r.transactions), f"{r.seconds:.2f}", f"{r.tx_per_s:.1f}")
        out.print(table)
        verdict = "[green]met[/]" if report.floor_met else "[red]MISSED[/]"
        out.print(
            f"relayer/raw (concurrent) = {report.ratio_concurrent:.2f} (floor {report.floor_ratio:.2f}): {verdict}; "
            f"checks {report.checks}"
        )
    hard_exit(0 if report.floor_met else 1)


@app.command()
def ledger(
    seconds: float = typer.Option(10.0, min=1, help="Measured duration."),
    threads: int = typer.Option(None, min=1, help="Writer threads per process (default: 8 on PostgreSQL, 1 on SQLite)."),
    processes: int = typer.Option(None, min=1, help="Writer processes (default: one per core on PostgreSQL, 1 on SQLite)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Balanced 3-posting ledger transactions/s on the configured database (in a scratch schema/file)."""
    from dataclasses import asdict

    from ops.bench.ledger import run

    settings = settings_and_logs("cli", fmt="console")
    report = run(settings.db_url, seconds=seconds, threads=threads, processes=processes)
    if as_json:
        print(json.dumps({**asdict(report), "floor_met": report.floor_met}), flush=True)
    else:
        floor = f" (floor {report.floor}/s: {'[green]met[/]' if report.floor_met else '[red]MISSED[/]'})" if report.floor else ""
        out.print(
            f"ledger: {report.tx_per_s:,.0f} balanced 3-posting transactions/s on {report.backend} {report.database}, "
            f"{report.processes}×{report.threads} writers, {report.transactions} transactions in {report.seconds:.1f}s{floor}; "
            f"ledger verify after the run: {'balanced' if report.verified else 'NOT BALANCED'}"
        )
    hard_exit(0 if report.floor_met and report.verified else 1)
