"""`sge relayer`: the relayer's health and its outbox, for operators."""

from __future__ import annotations

import json
from datetime import UTC

import typer
from rich.table import Table

from cli.common import hard_exit, out, settings_and_logs
from core.redact import redact

app = typer.Typer(help="The transaction relayer: balance, readiness, outbox.", no_args_is_help=True)


def _eth(wei: int | None) -> str:
    if wei is None:
        return "?"
    whole, frac = divmod(wei, 10**18)
    return f"{whole}.{frac:018d}".rstrip("0").rstrip(".") + " ETH"


@app.command()
def status(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Relayer address, ETH balance against the floor, pending transactions. Exit 1 when not ready."""
    from core.db import get_engine
    from relayer.status import relayer_status

    settings = settings_and_logs("cli", fmt="console")
    result = relayer_status(settings, get_engine(settings.db_url))
    if "error" in result:  # may quote an RPC URL: never with its key
        result["error"] = redact(str(result["error"]))
    if as_json:
        out.print(json.dumps(result, default=str))
    else:
        out.print(f"relayer   {result.get('address', '?')} on chain {result['chain_id']}")
        out.print(f"balance   {_eth(result.get('balance_wei'))} (floor {_eth(result['min_balance_wei'])})")
        if "pending" in result:
            oldest = result.get("oldest_pending_seconds")
            out.print(f"pending   {result['pending']}" + (f", oldest {oldest:.0f}s" if oldest is not None else ""))
        out.print(f"ready     {'yes' if result['ok'] else 'NO: ' + result.get('error', '')}")
    hard_exit(0 if result["ok"] else 1)


@app.command()
def txs(
    pending: bool = typer.Option(False, "--pending", help="Only transactions that are not final."),
    limit: int = typer.Option(50, help="Most recent N."),
) -> None:
    """The outbox: most recent transactions with nonce, status, hash and replacements."""
    from sqlmodel import Session, col, select

    from core.db import get_engine
    from models.chain import ChainTx, TxStatus

    settings = settings_and_logs("cli", fmt="console")
    with Session(get_engine(settings.db_url)) as session:
        query = select(ChainTx).order_by(col(ChainTx.id).desc()).limit(limit)
        if pending:
            query = query.where(col(ChainTx.status).not_in([TxStatus.CONFIRMED, TxStatus.FAILED]))
        rows = session.exec(query).all()
    table = Table()
    for column in ("key", "label", "nonce", "status", "hash", "repl", "block", "created", "reason"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row.key,
            row.label,
            str(row.nonce if row.nonce is not None else "-"),
            row.status,
            row.tx_hash or "-",
            str(row.replacements),
            str(row.block_number or "-"),
            row.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            (row.revert_reason or row.last_error or "")[:60],
        )
    out.print(table)
