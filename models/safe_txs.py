"""Pending treasury-Safe transactions: proposed (with the EIP-712 typed data owners sign), signed by
owners one at a time, executed once. The hash and the signatures are computed by contracts/safe.py;
this module only keeps them, so the CLI can collect signatures across people and days."""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, Text
from sqlmodel import Field as SQLField
from sqlmodel import Session, SQLModel, col, select

from core.columns import AmountType, UtcDateTime, utcnow
from core.errors import Conflict, NotFound


class SafeTxStatus(StrEnum):
    PENDING = "pending"
    EXECUTED = "executed"


class SafeTxRow(SQLModel, table=True):
    """One Safe transaction; unique on its SafeTx hash (chain id, Safe and nonce are inside it)."""

    __tablename__ = "safe_tx"

    id: int | None = SQLField(default=None, primary_key=True)
    chain_id: int
    safe: str = SQLField(max_length=42, index=True)
    action: str = SQLField(max_length=64)
    description: str = SQLField(default="", sa_column=Column(Text, nullable=False, default=""))
    to_address: str = SQLField(max_length=42)
    value: int = SQLField(default=0, sa_type=AmountType)
    data: str = SQLField(sa_column=Column(Text, nullable=False))  # 0x-hex calldata
    operation: int = 0
    nonce: int
    safe_tx_hash: str = SQLField(max_length=66, unique=True, index=True)
    typed_data: str = SQLField(sa_column=Column(Text, nullable=False))  # JSON, as owners' wallets show it
    signatures: str = SQLField(default="{}", sa_column=Column(Text, nullable=False, default="{}"))  # owner -> 0x sig
    status: str = SQLField(default=SafeTxStatus.PENDING.value, max_length=16, index=True)
    executed_tx_hash: str | None = SQLField(default=None, max_length=66)
    proposed_by: str = SQLField(default="", max_length=200)
    created_at: datetime = SQLField(default_factory=utcnow, sa_type=UtcDateTime)
    executed_at: datetime | None = SQLField(default=None, sa_type=UtcDateTime)

    def signature_map(self) -> dict[str, str]:
        return dict(json.loads(self.signatures))

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "action": self.action,
            "description": self.description,
            "safe": self.safe,
            "to": self.to_address,
            "value": str(self.value),
            "nonce": self.nonce,
            "safe_tx_hash": self.safe_tx_hash,
            "signers": sorted(self.signature_map()),
            "status": self.status,
            "executed_tx_hash": self.executed_tx_hash,
        }


def get_safe_tx(session: Session, tx_id: int) -> SafeTxRow:
    row = session.get(SafeTxRow, tx_id)
    if row is None:
        raise NotFound(f"no Safe transaction {tx_id}")
    return row


def next_nonce(session: Session, safe: str, chain_nonce: int) -> int:
    """The Safe's on-chain nonce, or one past the highest still-pending proposal (they execute in order)."""
    pending = session.exec(
        select(SafeTxRow.nonce).where(SafeTxRow.safe == safe, SafeTxRow.status == SafeTxStatus.PENDING.value)
    ).all()
    return max([chain_nonce, *(n + 1 for n in pending if n >= chain_nonce)])


def add_signature(session: Session, row: SafeTxRow, owner: str, signature_hex: str) -> bool:
    """Keep an owner's signature; False when that owner had already signed (nothing changes)."""
    if row.status != SafeTxStatus.PENDING.value:
        raise Conflict(f"Safe transaction {row.id} is {row.status}; it takes no more signatures")
    signatures = row.signature_map()
    if owner in signatures:
        return False
    signatures[owner] = signature_hex
    row.signatures = json.dumps(signatures, sort_keys=True)
    session.add(row)
    return True


def mark_executed(session: Session, row: SafeTxRow, tx_hash: str) -> None:
    row.status = SafeTxStatus.EXECUTED.value
    row.executed_tx_hash = tx_hash
    row.executed_at = utcnow()
    session.add(row)


def list_safe_txs(session: Session, *, pending_only: bool = False) -> list[SafeTxRow]:
    query = select(SafeTxRow)
    if pending_only:
        query = query.where(SafeTxRow.status == SafeTxStatus.PENDING.value)
    return list(session.exec(query.order_by(col(SafeTxRow.nonce), col(SafeTxRow.id))).all())
