"""The relayer's outbox (chain transactions, every signed attempt, nonce counters) and the payload
types of the relayer activities.

Lifecycle of a `ChainTx`: requested → signed → broadcast → mined → confirmed, or failed.
`requested` is a request recorded but not yet signed (e.g. waiting for the relayer to be funded).
Each signed transaction for the request's nonce is a `ChainTxAttempt` (the first one and every
fee-bumped replacement); all are watched until one is final, then the others are `replaced`.
The private key is never stored: only the sender address.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, model_validator
from sqlalchemy import JSON, Column, Index, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.columns import AmountType, UtcDateTime, utcnow

# Activity names (workflows call these by name).
RELAYER_SEND = "relayer.send"  # submit + wait until final, in one heartbeating activity


class TxStatus(StrEnum):
    REQUESTED = "requested"
    SIGNED = "signed"
    BROADCAST = "broadcast"
    MINED = "mined"
    CONFIRMED = "confirmed"
    FAILED = "failed"

    @property
    def final(self) -> bool:
        return self in (TxStatus.CONFIRMED, TxStatus.FAILED)


class AttemptStatus(StrEnum):
    SIGNED = "signed"  # persisted; live until mined, replaced or dropped (sending is tracked on ChainTx)
    REPLACED = "replaced"  # superseded by a higher-fee attempt at the same nonce (or the other one mined)
    MINED = "mined"
    DROPPED = "dropped"  # its nonce was consumed by a transaction that is not ours


class ChainTx(SQLModel, table=True):
    """One requested transaction, unique on the caller's idempotency key."""

    __tablename__ = "chain_tx"
    __table_args__ = (
        UniqueConstraint("chain_id", "from_address", "nonce", name="uq_chain_tx_nonce"),
        Index("ix_chain_tx_chain_created", "chain_id", "created_at"),  # the spend budget's window
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=200, unique=True, index=True, description="Caller's idempotency key.")
    label: str = Field(default="", max_length=100)
    chain_id: int
    from_address: str = Field(max_length=42)
    to_address: str = Field(max_length=42)
    data: str = Field(sa_column=Column(Text, nullable=False), description="Calldata, 0x-hex.")
    value: int = Field(default=0, sa_type=AmountType)
    content_hash: str = Field(
        max_length=64, description="sha256 of chain/to/data/value: same key + other content is refused."
    )
    # Stored as the enum value (a plain string column), compared with TxStatus members.
    status: str = Field(default=TxStatus.REQUESTED.value, sa_type=String(16), index=True)
    nonce: int | None = Field(default=None)
    gas_limit: int | None = Field(default=None)
    caller_gas_limit: bool = Field(default=False, description="Gas limit given by the caller (no estimate).")
    max_fee_per_gas: int | None = Field(default=None, sa_type=AmountType)
    max_priority_fee_per_gas: int | None = Field(default=None, sa_type=AmountType)
    tx_hash: str | None = Field(default=None, max_length=66, description="Current attempt; the mined one once mined.")
    replacements: int = Field(default=0)
    block_number: int | None = Field(default=None)
    block_hash: str | None = Field(default=None, max_length=66)
    receipt_status: int | None = Field(default=None)
    gas_used: int | None = Field(default=None)
    effective_gas_price: int | None = Field(default=None, sa_type=AmountType)
    fee_wei: int | None = Field(default=None, sa_type=AmountType, description="gas used × effective gas price.")
    logs: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    revert_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    signed_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    broadcast_at: datetime | None = Field(
        default=None, sa_type=UtcDateTime, description="Last (re)broadcast of the current attempt."
    )
    mined_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    final_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class ChainTxAttempt(SQLModel, table=True):
    """A signed transaction for a ChainTx's nonce. The raw bytes are stored before broadcast, so a
    crash is followed by re-sending exactly these bytes."""

    __tablename__ = "chain_tx_attempt"

    id: int | None = Field(default=None, primary_key=True)
    tx_id: int = Field(foreign_key="chain_tx.id", index=True)
    nonce: int
    tx_hash: str = Field(max_length=66, unique=True)
    raw_tx: str = Field(sa_column=Column(Text, nullable=False), description="Signed transaction, 0x-hex.")
    max_fee_per_gas: int = Field(sa_type=AmountType)
    max_priority_fee_per_gas: int = Field(sa_type=AmountType)
    gas_limit: int
    status: str = Field(default=AttemptStatus.SIGNED.value, sa_type=String(16))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class ChainNonce(SQLModel, table=True):
    """Next nonce per (chain, sender). Row-locked while a nonce is taken: the node's pending count
    is never used for allocation (concurrent senders would collide)."""

    __tablename__ = "chain_nonce"

    chain_id: int = Field(primary_key=True)
    address: str = Field(primary_key=True, max_length=42)
    next_nonce: int
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


# --- activity payloads ------------------------------------------------------------------------------
class ContractCall(BaseModel):
    """A call on one of the platform's contracts, resolved through the deployment manifest.

    Arguments are JSON values: addresses and bytes32 as 0x-hex strings, integers as int; a
    bytes32 argument may also be any string, hashed with keccak256 (e.g. a payment id).
    """

    contract: str
    function: str
    args: list[Any] = []


class SubmitTx(BaseModel):
    """Request for one transaction. `key` is the idempotency key: the same key always means this
    same transaction (resubmitting returns it; different content under it is an error)."""

    key: str
    to: str | None = None
    data_hex: str = "0x"
    value: int = 0
    label: str = ""
    call: ContractCall | None = None
    gas_limit: int | None = None  # skip estimation (e.g. to send a call that will revert)
    # A pre-payment step (mint, referral): a new request waits while the chain gate is closed
    # (models/chain_gate.py); one already recorded under its key goes on.
    gated: bool = False

    @model_validator(mode="after")
    def _one_target(self) -> SubmitTx:
        if not self.key or len(self.key) > 200:
            raise ValueError("key must be 1..200 characters")
        if (self.call is None) == (self.to is None):
            raise ValueError("give either `call` or `to` (+ `data_hex`)")
        if self.value < 0:
            raise ValueError("value must be >= 0")
        return self


class TxRef(BaseModel):
    key: str
    status: TxStatus
    nonce: int | None = None
    hash: str | None = None
    revert_reason: str | None = None  # set when the call would revert (nothing was sent)


class LogEntry(BaseModel):
    address: str
    topics: list[str]
    data: str
    log_index: int | None = None


class ChainEvent(BaseModel):
    """A log decoded with the platform's ABIs (uint values as int, bytes as 0x-hex)."""

    contract: str
    event: str
    address: str
    args: dict[str, Any]


class TxOutcome(BaseModel):
    key: str
    status: Literal["confirmed", "failed"]
    hash: str | None = None
    nonce: int | None = None
    block_number: int | None = None
    gas_used: int | None = None
    effective_gas_price: int | None = None
    fee_wei: int | None = None  # for the ledger's gas expense
    revert_reason: str | None = None
    # A revert that may pass (paused contract, empty inventory, program deactivated) or one that never will.
    revert_kind: Literal["temporary", "permanent"] | None = None
    logs: list[LogEntry] = []
    events: list[ChainEvent] = []

    def event(self, contract: str, name: str) -> ChainEvent | None:
        return next((e for e in self.events if e.contract == contract and e.event == name), None)
