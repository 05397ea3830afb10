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
    from core.logs import configure_logging
    from ops.bench.relayer import report_dict, run

    settings_and_logs("cli", fmt="console")
    configure_logging("WARNING", "console", process="bench")  # one line per transaction would swamp the output
    report = run(
        transactions=transactions,
        concurrency=concurrency,
        poll_interval=poll_interval,
        database_url=database_url,
        progress=(lambda _m: None) if as_json else (lambda m: console.print(f"[dim]{m}[/]")),
    )
    if as_json:
        out.print(json.dumps(report_dict(report)))
    else:
        table = Table(
            title=f"relayer benchmark: {report.transactions} mints per mode, "
            f"concurrency {report.concurrency}, {report.database}"
        )
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
    threads: int = typer.Option(
        None, min=1, help="Writer threads per process (default: 8 on PostgreSQL, 1 on SQLite)."
    ),
    processes: int = typer.Option(
        None, min=1, help="Writer processes (default: one per core on PostgreSQL, 1 on SQLite)."
    ),
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
        floor = (
            f" (floor {report.floor}/s: {'[green]met[/]' if report.floor_met else '[red]MISSED[/]'})"
            if report.floor
            else ""
        )
        out.print(
            f"ledger: {report.tx_per_s:,.0f} balanced 3-posting transactions/s on {report.backend} {report.database}, "
            f"{report.processes}×{report.threads} writers, {report.transactions} transactions "
            f"in {report.seconds:.1f}s{floor}; "
            f"ledger verify after the run: {'balanced' if report.verified else 'NOT BALANCED'}"
        )
    hard_exit(0 if report.floor_met and report.verified else 1)


@app.command()
def onboarding(
    window: float = typer.Option(15.0, min=5, help="Seconds per offered rate."),
    single_runs: int = typer.Option(10, min=3, help="Flows run one at a time for the single-flow latency."),
    ceiling_workflows: int = typer.Option(200, min=20, help="No-op workflows for the orchestration ceiling."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Flows/s and latency through the HTTP API and the sandbox, on a fresh embedded stack."""
    import asyncio
    import os
    import tempfile
    from dataclasses import asdict
    from pathlib import Path

    import httpx
    from eth_account import Account

    from contracts.manifest import load_manifest
    from core.logs import configure_logging
    from ops.bench.onboarding import run
    from ops.devstack import processes
    from ops.devstack.demo import DemoClient, ensure_demo_program
    from ops.devstack.stack import bring_up, local_stack_settings

    base = settings_and_logs("bench", fmt="console")
    configure_logging("WARNING", "console", process="bench")
    home = Path(tempfile.mkdtemp(prefix="sge-bench-")) / "var"
    free = processes.free_port
    settings = local_stack_settings(base).model_copy(
        update={
            "home": home,
            "temporal_address": f"127.0.0.1:{free()}",
            "temporal_ui_port": free(),
            "eth_rpc_urls": [f"http://127.0.0.1:{free()}"],
            "api_port": free(),
            "operator_port": free(),
            "sandbox_port": free(),
            "kyc_sandbox_port": free(),
            "database_url": os.environ.get("DATABASE_URL"),
            "rate_limit_register_ip": "1000000/hour",
        }
    )
    sup = processes.Supervisor(home)
    say = (lambda _m: None) if as_json else (lambda m: console.print(f"[dim]{m}[/]"))

    async def main():
        await bring_up(settings, sup)
        ensure_demo_program(settings, load_manifest(settings.deployments_dir, settings.chain_id))
        async with httpx.AsyncClient(timeout=30) as http:
            demo = DemoClient(settings, load_manifest(settings.deployments_dir, settings.chain_id), http)
            code = (await demo.register_affiliate(Account.create(), None))["code"]
        return await run(
            settings,
            referral_code=code,
            say=say,
            window=window,
            single_runs=single_runs,
            ceiling_workflows=ceiling_workflows,
        )

    try:
        report = asyncio.run(main())
    finally:
        sup.stop_all()
    if as_json:
        print(json.dumps(asdict(report) | {"floors_met": report.floors_met}, default=str), flush=True)
        hard_exit(0 if report.floors_met else 1)
    out.print(
        f"orchestration ceiling: {report.ceiling_wf_per_s} no-op one-activity workflows/s "
        f"({report.ceiling_workflows} concurrent, same server and worker)"
    )
    out.print(
        f"one flow alone: p50 {report.single['p50']} s, p95 {report.single['p95']} s over {report.single['runs']} runs"
    )
    table = Table(title="offered load (open loop)")
    for column in ("flows/s", "started", "completed", "p50 s", "p95 s", "sustained"):
        table.add_column(column, justify="right")
    for r in report.rates:
        table.add_row(
            f"{r.rate:g}", str(r.started), str(r.completed), str(r.p50), str(r.p95), "yes" if r.sustained else "no"
        )
    out.print(table)
    ratio = report.max_sustained_per_s / report.ceiling_wf_per_s if report.ceiling_wf_per_s else 0
    out.print(f"maximum sustained: {report.max_sustained_per_s:g} flows/s ({ratio:.0%} of the orchestration ceiling)")
    half = report.half_rate
    e2e = half["end_to_end"]
    out.print(
        f"at {half['rate_per_s']:g} flows/s: {half['completed']}/{half['started']} completed; end to end "
        f"p50 {e2e['p50']} s, p95 {e2e['p95']} s, p99 {e2e['p99']} s"
    )
    steps = Table(title="per step at half the maximum sustained rate (seconds)")
    for column in ("step", "p50", "p95", "p99"):
        steps.add_column(column, justify="left" if column == "step" else "right")
    for name, values in half["steps"].items():
        steps.add_row(name, str(values["p50"]), str(values["p95"]), str(values["p99"]))
    out.print(steps)
    for floor, met in report.floors.items():
        out.print(f"floor {floor}: {'[green]met[/]' if met else '[red]MISSED[/]'}")
    hard_exit(0 if report.floors_met else 1)


@app.command()
def restore(
    transactions: int = typer.Option(100_000, min=1, help="Ledger transactions to generate."),
    flows: int = typer.Option(20_000, min=0, help="Finished onboarding flows to generate."),
    production: int = typer.Option(
        5_000_000, "--production-transactions", min=1, help="Production ledger size to extrapolate the restore to."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Restore drill: generate the volume as rows (scratch schema/file), back up, restore into a fresh
    database, verify the ledger there; time each step and extrapolate what fits in a 1-hour restore."""
    from ops.bench.restore import run

    settings = settings_and_logs("cli", fmt="console")
    report = run(settings.db_url, transactions=transactions, flows=flows)
    # A restore is restore + ledger verify (the backup already exists): linear in transactions.
    restore_minutes = (report.restore_seconds + report.verify_ledger_seconds) / report.transactions * production / 60
    if as_json:
        print(
            json.dumps(
                {
                    **report.as_dict(),
                    "production_transactions": production,
                    "production_restore_minutes": round(restore_minutes, 1),
                }
            ),
            flush=True,
        )
    else:
        out.print(
            f"restore drill on {report.backend}: {report.transactions} transactions, {report.flows} flows "
            f"(generated in {report.generate_seconds:.1f}s)\n"
            f"  backup        {report.backup_seconds:8.2f}s  ({report.backup_bytes / 1e6:.1f} MB)\n"
            f"  verify backup {report.verify_backup_seconds:8.2f}s\n"
            f"  restore       {report.restore_seconds:8.2f}s\n"
            f"  verify ledger {report.verify_ledger_seconds:8.2f}s  "
            f"({'balanced' if report.ledger_ok else 'NOT BALANCED'}; restored {report.restored_transactions} "
            f"transactions, {report.restored_flows} flows)\n"
            f"  extrapolated: {report.seconds_per_million_tx:.0f}s per million transactions "
            f"(backup + restore + verify); a restore stays under 1 hour up to ~{report.max_tx_within_hour:,} "
            "transactions at this machine's speed\n"
            f"  at {production:,} transactions: restore + verify ≈ {restore_minutes:.0f} min "
            f"({'within' if restore_minutes < 60 else 'OVER'} the 1-hour target)"
        )
    complete = report.restored_transactions == report.transactions and report.restored_flows == report.flows
    hard_exit(0 if report.ledger_ok and complete else 1)
