"""`sge reports`: the daily and weekly operator reports (models/reports) — build one now, or show one."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import typer
from rich.table import Table
from sqlmodel import Session

from cli.common import fail, hard_exit, out, run_async, settings_and_logs

app = typer.Typer(help="Operator reports: daily and weekly summaries.", no_args_is_help=True)

KIND_HELP = "daily or weekly"
DAY_HELP = "YYYY-MM-DD (UTC), a day inside the period; default: today (run) / the newest report (show)."


def _kind(kind: str) -> str:
    if kind not in ("daily", "weekly"):
        fail(f"a report is daily or weekly, not {kind!r}")
    return kind


def _day(day: str | None) -> date | None:
    try:
        return date.fromisoformat(day) if day else None
    except ValueError:
        fail(f"not a date (YYYY-MM-DD): {day!r}")


@app.command()
def run(
    kind: str = typer.Argument(..., help=KIND_HELP),
    day: str = typer.Argument(None, help=DAY_HELP),
) -> None:
    """Build the report of the period containing DAY (default today, so far) now, through the worker."""
    from temporal.client import connect
    from temporal.reports import run_report

    settings = settings_and_logs("cli", fmt="console")
    wanted_kind, wanted_day = _kind(kind), _day(day)

    async def go():
        return await run_report(await connect(settings), settings.temporal_task_queue, wanted_kind, wanted_day)

    ref = run_async(go())
    out.print(
        f"{ref.kind} report {ref.id}: {ref.period_start} .. {ref.period_end} (`sge reports show {ref.kind} "
        f"{ref.period_start}`)"
    )
    hard_exit(0)


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    table = Table(title=title, title_justify="left")
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*(str(v) for v in row))
    return table


def _unavailable(section: dict[str, Any]) -> str:
    return f"not available — {section.get('why', '')}"


def print_report(report: dict[str, Any]) -> None:
    b = report["body"]
    period = b["period"]
    out.print(
        f"[bold]{report['kind']} report {report['id']}[/]: {period['start']} .. {period['end']}"
        + ("" if period["complete"] else " (period not over when built)")
        + f", built {b['generated_at']} ({report['trigger']})"
    )
    act = b["activity"]
    out.print(
        f"new affiliates {act['new_affiliates']}, registrations {act['registrations']}, payments {act['payments']}"
    )
    out.print(
        _table(
            "By program",
            ["program", "new affiliates", "registrations", "payments", "paid"],
            [
                [
                    slug,
                    r["new_affiliates"],
                    r["registrations"],
                    r["payments"],
                    ", ".join(f"{v} {asset}" for asset, v in r["paid"].items()) or "—",
                ]
                for slug, r in act["by_program"].items()
            ],
        )
    )
    intents = b["intents"]
    rate = intents["success_rate"]
    out.print(
        f"intents ended {intents['ended']}, completed {intents['completed']}, success rate "
        + ("—" if rate is None else f"{rate:.2%}")
    )
    for reason, n in intents["by_reason"].items():
        out.print(f"  {n:>6}  {reason}", markup=False)
    lat = b["settlement_latency"]
    out.print(
        f"settlement latency (payment settled → claim final): n={lat['count']} p50={lat['p50_seconds']}s "
        f"p95={lat['p95_seconds']}s max={lat['max_seconds']}s"
    )
    fraud = b["fraud"]
    out.print("[bold]fraud signals[/]")
    out.print(
        f"  bursts per network (≥{fraud['thresholds']['per_network']}): "
        + (
            ", ".join(f"{x['network']}={x['registration_messages']}" for x in fraud["registration_bursts_per_network"])
            or "none"
        )
    )
    out.print(
        f"  bursts per referrer (≥{fraud['thresholds']['per_referrer']}): "
        + (
            ", ".join(
                f"affiliate {x['affiliate_id']}={x['referred']}" for x in fraud["registration_bursts_per_referrer"]
            )
            or "none"
        )
    )
    out.print(
        f"  self-referral attempts {fraud['self_referral_attempts']}, tree-cycle attempts "
        f"{fraud['tree_cycle_attempts']}, failed signatures {fraud['failed_signature_attempts']}"
    )
    out.print(f"  wallets per payer: {_unavailable(fraud['wallets_per_payer'])}")
    auth = b["auth"]
    out.print(
        f"failed authentications {auth['failed_authentications']}"
        + "".join(f"\n  {n:>6}  {reason}" for reason, n in auth["by_reason"].items()),
        markup=False,
    )
    gas = b["gas"]
    out.print(
        f"gas: {gas['transactions']} transactions mined ({gas['reverted']} reverted, {gas['replacements']} "
        f"replacements), {gas['gas_used']} gas, {gas['fee_wei']} wei; RPC calls: "
        f"{_unavailable(gas['rpc_calls'])}"
    )
    slow = b["slow_queries"]
    if not slow["available"]:
        out.print(f"slowest queries: {_unavailable(slow)}", markup=False)
    else:
        out.print(
            _table(
                "Slowest queries (pg_stat_statements)",
                ["query", "calls", "mean ms", "total ms"],
                [[q["query"][:80], q["calls"], q["mean_ms"], q["total_ms"]] for q in slow["queries"]],
            )
        )


@app.command()
def show(
    kind: str = typer.Argument(..., help=KIND_HELP),
    day: str = typer.Argument(None, help=DAY_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the whole report as JSON."),
) -> None:
    """A persisted report: the period containing DAY, or the newest of its kind."""
    from core.db import get_engine
    from models.reports.store import find_report, report_json

    settings = settings_and_logs("cli", fmt="console")
    wanted_kind, wanted_day = _kind(kind), _day(day)
    with Session(get_engine(settings.db_url)) as session:
        found = find_report(session, wanted_kind, wanted_day)
        if found is None:
            fail(f"no {wanted_kind} report" + (f" for {wanted_day}" if wanted_day else " yet"), code=1)
        report = report_json(found)
    if as_json:
        print(json.dumps(report), flush=True)
    else:
        print_report(report)
    hard_exit(0)
