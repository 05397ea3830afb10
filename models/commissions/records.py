"""Commission and settlement records, their errors, and the helpers the other modules share."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel
from sqlalchemy import JSON, Column, ForeignKey, Integer, String, UniqueConstraint, select
from sqlmodel import Field, Session, SQLModel, col

from core.columns import AmountType, UtcDateTime, utcnow
from core.db import get_existing
from models import ledger
from models.affiliates import Affiliate
from models.ledger import LedgerError
from models.ledger.journal import is_pg
from models.money import Asset

SETTLEMENT_ASSETS = (Asset.USD, Asset.USDC, Asset.USDT)
MAX_PAYMENT_REF = 160


class CommissionStatus(StrEnum):
    ACCRUED = "accrued"
    PAYABLE = "payable"
    RESERVED = "reserved"  # in a payout batch (two-phase ledger entry pending)
    PAID = "paid"
    CANCELLED = "cancelled"
    CLAWED_BACK = "clawed_back"  # paid, then the payment was refunded: the affiliate owes it back


class SettlementError(LedgerError):
    code = "settlement_error"


class SettlementConflict(SettlementError):
    """The payment was settled before with other facts. Nothing was written."""

    code = "settlement_conflict"
    status = 409


class PaymentSettlement(SQLModel, table=True):
    """One confirmed payment, settled once (its payment_ref is the key)."""

    __tablename__ = "payment_settlement"

    payment_ref: str = Field(primary_key=True, max_length=MAX_PAYMENT_REF)
    program_id: int = Field(sa_column=Column(Integer, ForeignKey("program.id"), nullable=False, index=True))
    wallet: str = Field(max_length=42, index=True)
    amount: int = Field(sa_type=AmountType)
    asset: str = Field(max_length=8)
    rail: str = Field(max_length=32)
    referrer_id: int | None = Field(default=None, sa_column=Column(Integer, ForeignKey("affiliate.id"), nullable=True))
    status: str = Field(default="settled", max_length=16)
    settle_tx_id: str | None = Field(
        default=None, sa_column=Column(String(200), ForeignKey("ledger_tx.id"), nullable=True)
    )
    skipped: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    reverse_tx_id: str | None = Field(
        default=None, sa_column=Column(String(200), ForeignKey("ledger_tx.id"), nullable=True)
    )
    reverse_reason: str = Field(default="", max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    reversed_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class Commission(SQLModel, table=True):
    __tablename__ = "commission"
    __table_args__ = (UniqueConstraint("payment_ref", "level", name="uq_commission_payment_level"),)

    id: int | None = Field(default=None, primary_key=True)
    program_id: int = Field(sa_column=Column(Integer, ForeignKey("program.id"), nullable=False, index=True))
    payment_ref: str = Field(
        sa_column=Column(String(MAX_PAYMENT_REF), ForeignKey("payment_settlement.payment_ref"), nullable=False)
    )
    level: int = Field(ge=1)
    affiliate_id: int = Field(sa_column=Column(Integer, ForeignKey("affiliate.id"), nullable=False, index=True))
    base_amount: int = Field(sa_type=AmountType)
    rate_bps: int
    amount: int = Field(sa_type=AmountType)
    asset: str = Field(max_length=8)
    status: str = Field(default=CommissionStatus.ACCRUED.value, max_length=16, index=True)
    payable_at: datetime = Field(sa_type=UtcDateTime, index=True)
    accrue_tx_id: str = Field(sa_column=Column(String(200), ForeignKey("ledger_tx.id"), nullable=False))
    release_tx_id: str | None = Field(default=None, max_length=200)
    released_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    payout_key: str | None = Field(default=None, max_length=200, index=True)
    paid_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    cancel_tx_id: str | None = Field(default=None, max_length=200)
    cancelled_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    clawback_tx_id: str | None = Field(default=None, max_length=200)
    clawed_back_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class CommissionLine(BaseModel):
    id: int
    level: int
    affiliate_id: int
    affiliate_wallet: str
    rate_bps: int
    base_amount: int
    amount: int
    asset: Asset
    status: CommissionStatus
    payable_at: datetime


def commission_line(c: Commission, wallet: str) -> CommissionLine:
    return CommissionLine(
        id=c.id,
        level=c.level,
        affiliate_id=c.affiliate_id,
        affiliate_wallet=wallet,
        rate_bps=c.rate_bps,
        base_amount=int(c.base_amount),
        amount=int(c.amount),
        asset=Asset(c.asset),
        status=CommissionStatus(c.status),
        payable_at=c.payable_at,
    )


def commissions_of(session: Session, payment_ref: str, *, lock: bool = False) -> list[Commission]:
    stmt = select(Commission).where(col(Commission.payment_ref) == payment_ref).order_by(col(Commission.level))
    if lock and is_pg(session):
        stmt = stmt.with_for_update()
    return list(session.execute(stmt).scalars())


def commission_lines(session: Session, rows: list[Commission]) -> list[CommissionLine]:
    wallets: dict[int, str] = {}
    for c in rows:
        if c.affiliate_id not in wallets:
            wallets[c.affiliate_id] = get_existing(session, Affiliate, c.affiliate_id).wallet
    return [commission_line(c, wallets[c.affiliate_id]) for c in rows]


def check_payment_ref(payment_ref: str) -> str:
    if (
        not isinstance(payment_ref, str)
        or not payment_ref
        or len(payment_ref) > MAX_PAYMENT_REF
        or payment_ref != payment_ref.strip()
    ):
        raise SettlementError(
            f"payment_ref must be 1..{MAX_PAYMENT_REF} characters without surrounding spaces",
            code="invalid_payment_ref",
        )
    ledger.rail_of(payment_ref)
    return payment_ref
