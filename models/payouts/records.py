"""Payout batch records: the batch (what approvers sign and what happened to it), its lines (one per
affiliate, each its own ledger reservation and on-chain payout id) and approvers' registered addresses."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Integer, String
from sqlmodel import Field, SQLModel

from core.columns import AmountType, UtcDateTime, utcnow
from core.errors import DomainError


class PayoutError(DomainError):
    code = "payout_error"
    status = 422


class BatchState(StrEnum):
    CREATED = "created"  # lines reserved, approvals not asked yet (only inside the create activity)
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    AWAITING_FUNDS = "awaiting_funds"
    HALTED = "halted"
    PAYING = "paying"
    PAID = "paid"
    PARTIALLY_PAID = "partially_paid"  # some lines voided (reverted alone), the rest paid
    REJECTED = "rejected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    EMPTY = "empty"  # nothing to pay this period
    UNAPPROVABLE = "unapprovable"  # fewer eligible approvers than required: voided at once


TERMINAL = frozenset(
    {
        BatchState.PAID,
        BatchState.PARTIALLY_PAID,
        BatchState.REJECTED,
        BatchState.EXPIRED,
        BatchState.CANCELLED,
        BatchState.EMPTY,
        BatchState.UNAPPROVABLE,
    }
)


class LineState(StrEnum):
    RESERVED = "reserved"
    PAID = "paid"
    VOIDED = "voided"


class PayoutBatchRow(SQLModel, table=True):
    __tablename__ = "payout_batch"

    id: str = Field(primary_key=True, max_length=120, description="The workflow id payout:<program>:<period>.")
    program_id: int = Field(sa_column=Column(Integer, ForeignKey("program.id"), nullable=False, index=True))
    period: str = Field(max_length=40)
    state: str = Field(default=BatchState.CREATED.value, max_length=24, index=True)
    reason: str = Field(default="", max_length=500)
    created_by: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("operator.id"), nullable=True)
    )  # None: the weekly schedule
    token: str = Field(default="", max_length=42)
    asset: str = Field(default="USDC", max_length=8)
    chain_id: int = Field(default=0)
    payout_contract: str = Field(default="", max_length=42)
    batch_ref: str = Field(default="", max_length=66, description="bytes32 batch id on chain (0x-hex).")
    deadline: datetime | None = Field(default=None, sa_type=UtcDateTime)
    total: int = Field(default=0, sa_type=AmountType)
    line_count: int = Field(default=0)
    lines_root: str = Field(default="", max_length=66)
    digest: str = Field(default="", max_length=66, description="EIP-712 digest approvers sign.")
    required_approvals: int = Field(default=0)
    eligible: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    excluded: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    approvals: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    typed_data: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False), description="The EIP-712 message approvers sign."
    )
    approve_tx: str | None = Field(default=None, max_length=66)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class PayoutLineRow(SQLModel, table=True):
    __tablename__ = "payout_line"

    id: int | None = Field(default=None, primary_key=True)
    batch_id: str = Field(sa_column=Column(String(120), ForeignKey("payout_batch.id"), nullable=False, index=True))
    payout_id: str = Field(max_length=66, unique=True, description="bytes32 0x-hex; paid at most once on chain.")
    affiliate_id: int = Field(sa_column=Column(Integer, ForeignKey("affiliate.id"), nullable=False, index=True))
    wallet: str = Field(max_length=42)
    amount: int = Field(sa_type=AmountType, description="Paid: gross minus netted clawbacks.")
    gross: int = Field(sa_type=AmountType, description="The reserved commissions' sum.")
    netted: dict[str, int] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False), description="Clawback netted, per asset."
    )
    commission_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    reservation_key: str = Field(max_length=200, unique=True)
    state: str = Field(default=LineState.RESERVED.value, max_length=16)
    reason: str = Field(default="", max_length=500)
    chain_tx: str | None = Field(default=None, max_length=66)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class ApproverAddress(SQLModel, table=True):
    """An approver's own Ethereum address, registered to their operator (the key that signs batches)."""

    __tablename__ = "approver_address"

    id: int | None = Field(default=None, primary_key=True)
    operator_id: int = Field(sa_column=Column(Integer, ForeignKey("operator.id"), nullable=False, index=True))
    address: str = Field(max_length=42, unique=True, description="EIP-55 checksum address.")
    active: bool = Field(default=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
