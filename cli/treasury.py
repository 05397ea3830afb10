"""`sge treasury`: book every movement of treasury money (record), and on the local stack execute the
funding, relayer top-up and sweep transfers first. Each goes through the TreasuryMovement workflow."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import typer

from cli.common import fail, fail_domain, hard_exit, out, run_async, settings_and_logs
from core.errors import DomainError
from core.settings import Settings
from models.money import Asset, parse_amount
from models.treasury import MovementKind, MovementRequest, MovementResult

app = typer.Typer(help="Treasury movements: funding, relayer top-ups, sweeps, transfers out.", no_args_is_help=True)


async def _record(settings: Settings, req: MovementRequest) -> MovementResult:
    from temporal.client import connect
    from temporal.treasury import record_movement

    client = await connect(settings)
    return await record_movement(client, settings.temporal_task_queue, req)


def _book(settings: Settings, tx_hash: str, kind: MovementKind, amount: int | None, note: str, as_json: bool) -> None:
    try:
        req = MovementRequest(tx_hash=tx_hash, kind=kind, amount_minor=amount, note=note, actor="cli")
    except DomainError as exc:  # a malformed hash: refused before anything starts
        fail_domain(exc)
    result: MovementResult = run_async(_record(settings, req))
    if as_json:
        print(result.model_dump_json(), flush=True)
    else:
        verb = "booked" if result.created else "already booked"
        out.print(
            f"{verb}: {result.kind.value} {result.amount_minor} {result.asset.value} units "
            f"(gas {result.gas_wei} wei) tx {result.tx_hash} ledger {result.ledger_tx_id}"
        )
    hard_exit(0)


def _amount(text: str | None, asset: Asset) -> int | None:
    try:
        return None if text is None else parse_amount(text, asset.scale)
    except DomainError as exc:
        fail_domain(exc)


_AS_JSON = typer.Option(False, "--json", help="Print the booking as JSON.")
_NOTE = typer.Option("", help="Why the money moved (kept with the booking).")


@app.command()
def record(
    tx_hash: str = typer.Argument(..., help="Hash of the executed transfer."),
    kind: MovementKind = typer.Option(..., help="What the transfer was."),
    amount: str = typer.Option(None, help="Expected amount in whole units (e.g. 1000.5); checked against the chain."),
    asset: Asset = typer.Option(None, help="Asset of --amount (default: SGE, ETH or USDC by kind)."),
    note: str = _NOTE,
    as_json: bool = _AS_JSON,
) -> None:
    """Book a transfer that was already executed (e.g. by the treasury's Safe), once it is final."""
    settings = settings_and_logs("cli", fmt="console")
    default = {MovementKind.SGE_INVENTORY: Asset.SGE, MovementKind.RELAYER_TOPUP: Asset.ETH}
    unit = asset or default.get(kind, Asset.ETH if kind is MovementKind.RELAYER_SWEEP else Asset.USDC)
    _book(settings, tx_hash, kind, _amount(amount, unit), note, as_json)


@app.command()
def fund(
    target: str = typer.Argument(..., help="sge (claim contract inventory), usdc or usdt (payout contract)."),
    amount: str = typer.Argument(..., help="Whole units, e.g. 250000."),
    note: str = _NOTE,
    as_json: bool = _AS_JSON,
) -> None:
    """Local stack: send from the dev funding account to the contract, then book it."""
    from ops.devstack.treasury import FUND_TARGETS, send_fund

    settings = settings_and_logs("cli", fmt="console")
    if target not in FUND_TARGETS:
        fail(f"target must be one of {', '.join(FUND_TARGETS)}")
    asset = Asset(target.upper())
    minor = _amount(amount, asset)
    assert minor is not None
    tx = _run(send_fund, settings, target, minor)
    kind = MovementKind.SGE_INVENTORY if target == "sge" else MovementKind.PAYOUT_FUNDING
    _book(settings, tx, kind, minor, note, as_json)


@app.command()
def topup(
    amount: str = typer.Argument(..., help="ETH, e.g. 0.5."),
    to: str = typer.Option(None, help="Relayer address (default: the configured relayer)."),
    note: str = _NOTE,
    as_json: bool = _AS_JSON,
) -> None:
    """Local stack: send ETH from the dev funding account to the relayer, then book it."""
    from ops.devstack.treasury import send_topup

    settings = settings_and_logs("cli", fmt="console")
    target = to or settings.relayer_public_address
    if not target:
        fail("no relayer address: set SGE_RELAYER_ADDRESS or pass --to")
    wei = _amount(amount, Asset.ETH)
    assert wei is not None
    tx = _run(send_topup, settings, wei, target)
    _book(settings, tx, MovementKind.RELAYER_TOPUP, wei, note, as_json)


@app.command()
def sweep(
    key_file: Path = typer.Option(..., exists=True, dir_okay=False, help="The retired relayer key (hex)."),
    to: str = typer.Option(..., help="Where the ETH goes (the treasury, or the new relayer)."),
    amount: str = typer.Option(None, help="ETH to move (default: everything but this transfer's gas)."),
    note: str = _NOTE,
    as_json: bool = _AS_JSON,
) -> None:
    """Move the ETH left on a retired relayer key, then book it (gas and, unless to a relayer, capital)."""
    from ops.devstack.treasury import send_sweep

    settings = settings_and_logs("cli", fmt="console")
    tx = _run(send_sweep, settings, key_file.read_text().strip(), to, _amount(amount, Asset.ETH))
    _book(settings, tx, MovementKind.RELAYER_SWEEP, None, note, as_json)


def _run(fn, *args):
    """A blocking chain call with the CLI's one error translation."""

    async def call():
        return await asyncio.to_thread(fn, *args)

    return run_async(call())


@app.command("list")
def list_movements(limit: int = typer.Option(50, help="Most recent N."), as_json: bool = _AS_JSON) -> None:
    """Booked treasury movements, newest first."""
    from sqlmodel import Session

    from core.db import get_engine
    from models.treasury import movements

    settings = settings_and_logs("cli", fmt="console")
    with Session(get_engine(settings.db_url)) as session:
        rows = [m.model_dump(mode="json") for m in movements(session, limit)]
    if as_json:
        print(json.dumps(rows), flush=True)
    else:
        for r in rows:
            out.print(f"{r['created_at']} {r['kind']:<15} {r['amount']} {r['asset']} {r['tx_hash']} {r['note']}")
    hard_exit(0)
