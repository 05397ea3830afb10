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
    stuck: bool = typer.Option(
        False, "--stuck", help="Only transactions signed or broadcast and not mined past the replacement window."
    ),
    limit: int = typer.Option(50, help="Most recent N."),
) -> None:
    """The outbox: most recent transactions with nonce, status, hash and replacements."""
    from sqlmodel import Session, col, select

    from core.db import get_engine
    from models.chain import ChainTx, TxStatus
    from models.monitoring import stuck_txs

    settings = settings_and_logs("cli", fmt="console")
    with Session(get_engine(settings.db_url)) as session:
        query = select(ChainTx).order_by(col(ChainTx.id).desc()).limit(limit)
        if pending:
            query = query.where(col(ChainTx.status).not_in([TxStatus.CONFIRMED, TxStatus.FAILED]))
        if stuck:
            keys = [t.key for t in stuck_txs(session, settings, limit=limit)]
            query = query.where(col(ChainTx.key).in_(keys))
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

    if stuck and rows:
        out.print(
            "The relayer replaces these at the same nonce with higher fees while the worker runs; "
            "`sge relayer status` shows the balance (a transaction waits while it is below the floor)."
        )


@app.command()
def topup(
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only print the transfer, even on the local stack."),
) -> None:
    """Bring the relayer's ETH back to SGE_RELAYER_TARGET_WEI: on the local chain the dev funding account
    sends it (booked as capital); elsewhere the transfer the treasury must make is printed."""
    from models.monitoring import balance_level, topup_amount
    from relayer.status import relayer_status

    settings = settings_and_logs("cli", fmt="console")
    status = relayer_status(settings)
    if "balance_wei" not in status:
        out.print(f"cannot read the relayer's balance: {redact(str(status.get('error', '?')))}")
        hard_exit(1)
    balance, address = int(status["balance_wei"]), str(status["address"])
    amount = topup_amount(balance, settings)
    result: dict = {
        "address": address,
        "balance_wei": balance,
        "level": balance_level(balance, settings).value,
        "target_wei": settings.relayer_target_wei,
        "amount_wei": amount,
        "tx_hash": None,
    }
    if amount and settings.is_local_chain and not dry_run:
        from ops.devstack.chain import dev_topup_relayer

        result["tx_hash"] = dev_topup_relayer(settings, address, amount)
    if as_json:
        out.print(json.dumps(result))
    elif not amount:
        out.print(
            f"relayer {address} holds {_eth(balance)}, at or above the target {_eth(settings.relayer_target_wei)}"
        )
    elif result["tx_hash"]:
        out.print(f"sent {_eth(amount)} to {address} from the dev funding account: {result['tx_hash']}")
    else:
        out.print(f"transfer {amount} wei ({_eth(amount)}) on chain {settings.chain_id} to {address}")
        out.print(f"  balance {_eth(balance)} → target {_eth(settings.relayer_target_wei)}")
