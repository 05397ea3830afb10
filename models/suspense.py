"""Suspense: money that arrived but cannot settle a fee, one item per posting, each with a way out.

An item is opened in the same DB transaction as its suspense posting (Dr receivable / Cr suspense) and
is resolved at most once, by an operator (audited, in the same transaction as its postings):

- **apply** (the flow is not paid and not running): the money settles its fee and a new run delivers —
  Dr suspense / Cr receivable, then the settlement (Dr receivable / Cr revenue, commissions);
- **refund** (the money went back to the payer, in the provider's dashboard or by the treasury on
  chain) — Dr suspense / Cr receivable;
- **write-off** (nobody can be refunded, e.g. an unknown payer) — Dr suspense / Cr
  revenue:suspense_written_off.

The platform never sends money itself: refund *records* a refund made outside, with its reference.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel
from sqlalchemy import update
from sqlmodel import Field, Session, SQLModel, col, select

from core.columns import AmountType, UtcDateTime, utcnow
from core.errors import Conflict, NotFound
from models import ledger
from models.ledger import SuspenseReason
from models.money import Asset
from models.operators import Actor, audit


class SuspenseStatus(StrEnum):
    OPEN = "open"
    APPLIED = "applied"
    REFUNDED = "refunded"
    WRITTEN_OFF = "written_off"


class SuspenseItem(SQLModel, table=True):
    __tablename__ = "suspense_item"

    id: int | None = Field(default=None, primary_key=True)
    ledger_tx_id: str = Field(max_length=200, unique=True, description="The suspense posting that opened it.")
    payment_ref: str = Field(max_length=200, index=True, description="`<rail>:<ref>` of the money.")
    payment_key: str | None = Field(default=None, max_length=200, index=True)
    flow_id: str | None = Field(default=None, max_length=200, index=True)
    rail: str = Field(max_length=32)
    asset: str = Field(max_length=8)
    amount_minor: int = Field(sa_type=AmountType)
    reason: str = Field(max_length=32)
    status: str = Field(default=SuspenseStatus.OPEN.value, max_length=16, index=True)
    note: str = Field(default="", max_length=500)
    external_ref: str | None = Field(default=None, max_length=200, description="Refund id / treasury tx hash.")
    resolution_tx_id: str | None = Field(default=None, max_length=200)
    resolved_by: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    resolved_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class SuspenseView(BaseModel):
    id: int
    payment_ref: str
    payment_key: str | None
    flow_id: str | None
    asset: str
    amount_minor: int
    reason: str
    status: SuspenseStatus
    note: str
    external_ref: str | None
    resolved_by: str | None
    created_at: datetime
    resolved_at: datetime | None


class SuspenseNotFound(NotFound):
    code = "suspense_not_found"


class SuspenseResolved(Conflict):
    code = "suspense_already_resolved"


def view(item: SuspenseItem) -> SuspenseView:
    assert item.id is not None
    return SuspenseView(
        id=item.id,
        payment_ref=item.payment_ref,
        payment_key=item.payment_key,
        flow_id=item.flow_id,
        asset=item.asset,
        amount_minor=int(item.amount_minor),
        reason=item.reason,
        status=SuspenseStatus(item.status),
        note=item.note,
        external_ref=item.external_ref,
        resolved_by=item.resolved_by,
        created_at=item.created_at,
        resolved_at=item.resolved_at,
    )


def open_item(
    session: Session,
    key: str,
    payment_ref: str,
    amount_minor: int,
    asset: str,
    reason: SuspenseReason,
    *,
    payment_key: str | None = None,
    flow_id: str | None = None,
    note: str = "",
) -> SuspenseItem:
    """Post money into suspense under `key` and open its item (idempotent: the same key returns it)."""
    posted = ledger.post_suspense(session, key, payment_ref, amount_minor, asset, reason.value)
    existing = session.exec(select(SuspenseItem).where(col(SuspenseItem.ledger_tx_id) == posted.tx_id)).first()
    if existing is not None:
        return existing
    item = SuspenseItem(
        ledger_tx_id=posted.tx_id,
        payment_ref=payment_ref,
        payment_key=payment_key,
        flow_id=flow_id,
        rail=ledger.rail_of(payment_ref),
        asset=Asset(asset).value,
        amount_minor=amount_minor,
        reason=reason.value,
        note=note[:500],
    )
    session.add(item)
    session.flush()
    return item


def items(
    session: Session,
    *,
    status: SuspenseStatus | None = SuspenseStatus.OPEN,
    payment_ref: str | None = None,
    flow_id: str | None = None,
    limit: int = 200,
) -> list[SuspenseItem]:
    query = select(SuspenseItem)
    if status is not None:
        query = query.where(col(SuspenseItem.status) == status.value)
    if payment_ref is not None:
        query = query.where(col(SuspenseItem.payment_ref) == payment_ref)
    if flow_id is not None:
        query = query.where(col(SuspenseItem.flow_id) == flow_id)
    return list(session.exec(query.order_by(col(SuspenseItem.id)).limit(limit)).all())


def get_item(session: Session, item_id: int, *, lock: bool = False) -> SuspenseItem:
    query = select(SuspenseItem).where(col(SuspenseItem.id) == item_id)
    if lock and session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    item = session.exec(query.execution_options(populate_existing=True)).first()
    if item is None:
        raise SuspenseNotFound(f"no suspense item {item_id}")
    return item


def resolve(
    session: Session,
    item: SuspenseItem,
    status: SuspenseStatus,
    actor: Actor | None,
    *,
    note: str = "",
    external_ref: str | None = None,
) -> SuspenseItem:
    """Post the item's way out and close it, at most once (a conditional update on its status)."""
    if item.status != SuspenseStatus.OPEN.value:
        raise SuspenseResolved(f"suspense item {item.id} is already {item.status}")
    amount = int(item.amount_minor)
    key = f"suspense:{item.id}:{status.value}"
    if status == SuspenseStatus.WRITTEN_OFF:
        ledger.post_suspense_write_off(session, key, item.payment_ref, amount, item.asset, note)
    else:
        why = "apply" if status == SuspenseStatus.APPLIED else "refund"
        ledger.post_suspense_out(session, key, item.payment_ref, amount, item.asset, why)
    done = session.connection().execute(
        update(SuspenseItem)
        .where(col(SuspenseItem.id) == item.id, col(SuspenseItem.status) == SuspenseStatus.OPEN.value)
        .values(
            status=status.value,
            note=(note or item.note)[:500],
            external_ref=external_ref,
            resolution_tx_id=key,
            resolved_by=actor.name if actor else "flow",
            resolved_at=utcnow(),
        )
    )
    if done.rowcount != 1:  # a concurrent resolution won (the suspense posting above rolls back with us)
        raise SuspenseResolved(f"suspense item {item.id} was resolved concurrently")
    if actor is not None:
        audit(
            session,
            actor,
            f"suspense.{status.value}",
            "suspense_item",
            str(item.id),
            {"status": SuspenseStatus.OPEN.value},
            {"status": status.value, "note": note, "external_ref": external_ref},
        )
    session.flush()
    return get_item(session, item.id or 0)
