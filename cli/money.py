"""`sge suspense` and `sge payments`: money that needs a person (the same actions as /v1/ops/suspense
and /v1/ops/payments/{key}/refund), audited under the local user's name."""

from __future__ import annotations

import getpass
import json

import typer
from rich.table import Table
from sqlmodel import Session

from cli.common import hard_exit, out, run_async, settings_and_logs
from core.db import get_engine, session_scope
from models import suspense
from models.money import ASSET_SCALE, Asset, format_amount
from models.operators import Actor
from models.suspense import SuspenseStatus
from temporal import payments as payment_actions
from temporal.client import connect

suspense_app = typer.Typer(help="Suspense: money that arrived but cannot settle a fee.", no_args_is_help=True)
payments_app = typer.Typer(help="Payments: record refunds made in the provider's dashboard.", no_args_is_help=True)


def _actor() -> Actor:
    return Actor(name=f"cli:{getpass.getuser()}")


def _amount(minor: int, asset: str) -> str:
    try:
        return format_amount(minor, ASSET_SCALE[Asset(asset)])
    except ValueError:
        return str(minor)


@suspense_app.command("list")
def list_command(
    all_items: bool = typer.Option(False, "--all", help="Resolved items too."),
    flow: str = typer.Option(None, "--flow", help="Only this flow's items."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Open suspense items (money held, each with its reason and payment)."""
    settings = settings_and_logs("cli", fmt="console")
    with Session(get_engine(settings.db_url)) as session:
        rows = [
            suspense.view(i)
            for i in suspense.items(
                session, status=None if all_items else SuspenseStatus.OPEN, flow_id=flow, limit=1000
            )
        ]
    if as_json:
        print(json.dumps([r.model_dump(mode="json") for r in rows]))
        return
    table = Table(title="suspense")
    for column in ("id", "status", "reason", "amount", "payment", "flow", "since"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            str(r.id),
            r.status.value,
            r.reason,
            f"{_amount(r.amount_minor, r.asset)} {r.asset}",
            r.payment_ref,
            r.flow_id or "",
            r.created_at.strftime("%Y-%m-%d %H:%M"),
        )
    out.print(table)


@suspense_app.command()
def apply(
    item: int,
    reason: str = typer.Option(..., "--reason"),
    accept_shortfall: bool = typer.Option(False, "--accept-shortfall", help="Settle with less than the fee."),
) -> None:
    """Use the item's money to settle its flow's fee, then start the flow again to deliver."""
    settings = settings_and_logs("cli", fmt="console")

    async def go() -> str:
        client = await connect(settings)
        return await payment_actions.apply_suspense(
            client,
            get_engine(settings.db_url),
            settings.temporal_task_queue,
            item,
            _actor(),
            accept_shortfall=accept_shortfall,
        )

    out.print(f"applied suspense item {item} ({reason}); flow run {run_async(go())}")
    hard_exit(0)


def _resolve(item: int, status: SuspenseStatus, note: str, external_ref: str | None) -> None:
    settings = settings_and_logs("cli", fmt="console")
    with session_scope(get_engine(settings.db_url)) as session:
        done = suspense.resolve(
            session, suspense.get_item(session, item, lock=True), status, _actor(), note=note, external_ref=external_ref
        )
    out.print(f"suspense item {done.id}: {done.status}")


@suspense_app.command()
def refund(
    item: int,
    reason: str = typer.Option(..., "--reason"),
    external_ref: str = typer.Option(..., "--ref", help="The provider's refund id, or the treasury's tx hash."),
) -> None:
    """Record that the item's money was refunded outside the platform, and book it."""
    _resolve(item, SuspenseStatus.REFUNDED, reason, external_ref)


@suspense_app.command("write-off")
def write_off(item: int, reason: str = typer.Option(..., "--reason")) -> None:
    """Keep money nobody can be refunded (audited)."""
    _resolve(item, SuspenseStatus.WRITTEN_OFF, reason, None)


@payments_app.command("refund")
def refund_payment(payment_key: str, reason: str = typer.Option(..., "--reason")) -> None:
    """Book a refund made in the provider's dashboard: the flow (or payment aftercare) reverses it."""
    settings = settings_and_logs("cli", fmt="console")

    async def go() -> str:
        client = await connect(settings)
        return await payment_actions.record_refund(
            client, get_engine(settings.db_url), settings.temporal_task_queue, payment_key, reason, _actor()
        )

    out.print(f"refund of {payment_key} handed to the {run_async(go())}")
    hard_exit(0)
