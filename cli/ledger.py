"""`sge ledger`: verify the journal, balances, account statements."""

from __future__ import annotations

import json

import typer
from rich.table import Table
from sqlmodel import Session

from cli.common import fail, hard_exit, out, settings_and_logs
from core.db import get_engine
from models import ledger
from models.books import verify_books
from models.money import Asset, format_amount

app = typer.Typer(help="The double-entry ledger.", no_args_is_help=True)


def _engine():
    settings = settings_and_logs("cli", fmt="console")
    return get_engine(settings.db_url)


def _asset(value: str) -> Asset:
    try:
        return Asset(value.upper())
    except ValueError:
        fail(f"unknown asset {value!r} ({', '.join(a.value for a in Asset)})")


@app.command()
def verify(as_json: bool = typer.Option(False, "--json", help="Print one JSON document.")) -> None:
    """Check every transaction balances per asset, nothing was altered, and each asset sums to zero.

    Exit status 0 when balanced, 1 when anything is off.
    """
    with Session(_engine()) as session:
        report = verify_books(session)
    if as_json:
        print(report.model_dump_json(indent=2), flush=True)  # plain: rich would read [..] as markup
    else:
        state = "[green]balanced[/]" if report.ok else "[bold red]NOT BALANCED[/]"
        out.print(f"ledger {state}: {report.transactions} transactions, {report.postings} postings")
        for asset, total in report.asset_totals.items():
            out.print(f"  {asset:<5} sums to {total}")
        for p in report.problems:
            out.print(f"  [red]{p.check}[/] {p.tx_id or ''} {p.detail}")
    hard_exit(0 if report.ok else 1)


@app.command()
def balance(
    prefix: str = typer.Argument(None, help="Account code or prefix, e.g. `liability:affiliate:` (all when omitted)."),
    asset: str = typer.Option(None, help="Only this asset."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Balance per account and asset (normal side: assets/expenses debit, the others credit)."""
    with Session(_engine()) as session:
        rows = ledger.balances(session, prefix, None if asset is None else _asset(asset))
    if as_json:
        print(
            json.dumps(
                [
                    {**b.model_dump(mode="json"), "balance": str(b.balance), "normal_balance": str(b.normal_balance)}
                    for b in rows
                ]
            )
        )
        return
    table = Table(title="ledger balances")
    for column in ("account", "type", "asset", "balance"):
        table.add_column(column, justify="right" if column == "balance" else "left")
    for b in rows:
        table.add_row(b.account, b.type.value, b.asset.value, format_amount(b.normal_balance, b.asset.scale))
    out.print(table)


@app.command()
def statement(
    account: str = typer.Argument(..., help="Account code, e.g. revenue:fees:demo."),
    asset: str = typer.Option(..., help="Asset, e.g. USD."),
    after: int = typer.Option(None, help="Posting id to continue after (the previous page's cursor)."),
    limit: int = typer.Option(50, min=1, max=1000),
) -> None:
    """An account's postings, oldest first, with the running balance."""
    with Session(_engine()) as session:
        st = ledger.statement(session, account, _asset(asset), after=after, limit=limit)
    scale = st.asset.scale
    table = Table(title=f"{st.account} ({st.asset.value}), opening {format_amount(st.opening_balance, scale)}")
    for column in ("posting", "time", "kind", "transaction", "amount", "balance"):
        table.add_column(column, justify="right" if column in ("amount", "balance", "posting") else "left")
    for line in st.lines:
        table.add_row(
            str(line.posting_id),
            line.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            line.kind,
            line.tx_id,
            format_amount(line.amount, scale),
            format_amount(line.balance_after, scale),
        )
    out.print(table)
    if st.next_cursor:
        out.print(f"more: --after {st.next_cursor}")
