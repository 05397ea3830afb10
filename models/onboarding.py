"""Onboarding (register → pay → claim): the DB row the API reads, and the workflow's payload types."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel
from sqlalchemy import BigInteger, Column, UniqueConstraint
from sqlmodel import Field, Session, SQLModel, col, select

from core.columns import AmountType, StrEnumType, UtcDateTime, utcnow
from models.platform import Program

WORKFLOW_NAME = "Onboarding"
SIGNAL_ONCHAIN = "onchain_claim"
UPDATE_PAYMENT = "payment"
UPDATE_PREPARE_ONCHAIN = "prepare_onchain"
QUERY_STATUS = "status"


class FlowState(StrEnum):
    REGISTERING = "registering"
    MINTING = "minting"
    REFERRING = "referring"
    AWAITING_PAYMENT = "awaiting_payment"
    SETTLING = "settling"
    CLAIMING = "claiming"
    COMPLETED = "completed"
    EXPIRED = "expired"
    FAILED = "failed"
    UNDERPAID = "underpaid"
    REFUNDED = "refunded"
    HALTED = "halted"  # waiting for operators to lift the platform halt switch

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset(
    {FlowState.COMPLETED, FlowState.EXPIRED, FlowState.FAILED, FlowState.UNDERPAID, FlowState.REFUNDED}
)


class Rail(StrEnum):
    COINBASE_COMMERCE = "coinbase_commerce"
    COINBASE_BUSINESS = "coinbase_business"
    ONCHAIN = "onchain"


def flow_id(program_slug: str, wallet: str) -> str:
    """The workflow id of a (program, wallet): derived from the business key, never random."""
    return f"onboarding:{program_slug}:{wallet.lower()}"


class Onboarding(SQLModel, table=True):
    """One row per (program, wallet): what `GET /v1/status` answers from."""

    __tablename__ = "onboarding"
    __table_args__ = (UniqueConstraint("program_id", "wallet", name="uq_onboarding_program_wallet"),)

    id: int | None = Field(default=None, primary_key=True)
    program_id: int = Field(foreign_key="program.id", index=True)
    wallet: str = Field(max_length=42, description="EIP-55 checksummed")
    flow_id: str = Field(max_length=200, unique=True)
    state: FlowState = Field(sa_type=StrEnumType(FlowState), index=True)
    state_since: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    reason: str = Field(default="", max_length=500)
    referrer_wallet: str | None = Field(default=None, max_length=42)
    token_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    mint_tx: str | None = Field(default=None, max_length=66)
    referral_tx: str | None = Field(default=None, max_length=66)
    rail: Rail | None = Field(default=None, sa_type=StrEnumType(Rail))
    payment_ref: str | None = Field(default=None, max_length=200)
    paid_amount_minor: int | None = Field(default=None, sa_type=AmountType)
    paid_asset: str | None = Field(default=None, max_length=8)
    claim_tx: str | None = Field(default=None, max_length=66)
    sge_amount_minor: int | None = Field(default=None, sa_type=AmountType)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    completed_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


# --- workflow payloads ---------------------------------------------------------------------------


class OnboardingInput(BaseModel):
    program: str
    wallet: str  # EIP-55
    referral_code: str | None = None
    source: str = "api"


class OnboardingStatus(BaseModel):
    flow_id: str
    program: str
    wallet: str
    state: FlowState
    state_since: datetime
    reason: str = ""
    token_id: int | None = None
    referrer_wallet: str | None = None
    mint_tx: str | None = None
    referral_tx: str | None = None
    rail: Rail | None = None
    payment_ref: str | None = None
    hosted_url: str | None = None
    payment_expires_at: datetime | None = None
    claim_tx: str | None = None


# --- operator reads --------------------------------------------------------------------------------

# Waiting for the user to pay (or for operators to lift a halt) is not "stuck"; every other
# non-terminal state is the platform's own work.
WAITING_ON_OTHERS = frozenset({FlowState.AWAITING_PAYMENT, FlowState.HALTED})
STUCK_AFTER = timedelta(minutes=10)


def list_flows(
    session: Session,
    *,
    state: FlowState | None = None,
    program: str | None = None,
    stuck: bool = False,
    after_id: int | None = None,
    limit: int = 50,
    now: datetime | None = None,
) -> list[tuple[Onboarding, Program]]:
    """Flows by id (keyset paging: pass the last id as `after_id`); `stuck`: working for > 10 minutes."""
    query = select(Onboarding, Program).join(Program, Program.id == Onboarding.program_id)
    if state is not None:
        query = query.where(Onboarding.state == state)
    if program is not None:
        query = query.where(Program.slug == program)
    if stuck:
        idle = [s.value for s in TERMINAL_STATES | WAITING_ON_OTHERS]
        query = query.where(
            col(Onboarding.state).not_in(idle), Onboarding.state_since < (now or utcnow()) - STUCK_AFTER
        )
    if after_id is not None:
        query = query.where(Onboarding.id > after_id)
    return list(session.exec(query.order_by(Onboarding.id).limit(limit)).all())
