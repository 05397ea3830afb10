"""Onboarding (register → pay → claim): the DB row the API reads, the flow's states, and the workflow's
input, carried state and status types.

Every outcome is a state. Terminal states end the run (a later run may pick the flow up again: a settled
payment is always found and reused); `DELIVERY_BLOCKED` and `HALTED` are parked states that wait for an
operator without failing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel
from pydantic import Field as PField
from sqlalchemy import BigInteger, Column, UniqueConstraint
from sqlmodel import Field, Session, SQLModel, col, select

from core.columns import AmountType, StrEnumType, UtcDateTime, utcnow
from models.kyc import KycSignal
from models.payments import Charge, PaymentEvent
from models.platform import Program

WORKFLOW_NAME = "Onboarding"
SIGNAL_ONCHAIN = "onchain_claim"
SIGNAL_RESUME = "resume"  # an operator lets a DELIVERY_BLOCKED flow try again (`sge flows retry`)
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
    EXPIRED = "expired"  # not paid in time, no money received
    FAILED = "failed"  # ended without money (payment failed, bad configuration)
    UNDERPAID = "underpaid"  # money received short of the fee: in suspense
    SUSPENSE = "suspense"  # money received but it cannot settle the fee or be delivered: in suspense
    REFUNDED = "refunded"  # refunded or charged back (before or after delivery): reversed in the books
    HALTED = "halted"  # waiting for operators to lift the platform halt switch
    DELIVERY_BLOCKED = "delivery_blocked"  # paid and settled; delivery needs an operator (`sge flows retry`)
    GATED = "gated"  # before payment, waiting for the chain gate (spend budget, balance floor, operator)
    KYC_PENDING = "kyc_pending"  # before payment, waiting for the person to pass KYC at the provider
    KYC_REVIEW = "kyc_review"  # before payment, the provider holds the KYC check for a manual review
    KYC_REJECTED = "kyc_rejected"  # ended without money: KYC rejected, no charge was created

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset(
    {
        FlowState.COMPLETED,
        FlowState.EXPIRED,
        FlowState.FAILED,
        FlowState.UNDERPAID,
        FlowState.SUSPENSE,
        FlowState.REFUNDED,
        FlowState.KYC_REJECTED,
    }
)


class Rail(StrEnum):
    COINBASE_COMMERCE = "coinbase_commerce"
    COINBASE_BUSINESS = "coinbase_business"
    ONCHAIN = "onchain"


class Stage(StrEnum):
    """How far a flow has got; a continued run resumes from here."""

    BEGIN = "1-begin"
    MINT = "2-mint"
    REFER = "3-refer"
    PAY = "4-pay"
    DELIVER = "5-deliver"
    DONE = "6-done"


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


def ensure_row(session: Session, program: Program, wallet: str) -> Onboarding:
    """The flow's row, created (state registering) if this is the wallet's first registration."""
    fid = flow_id(program.slug, wallet)
    row = session.exec(select(Onboarding).where(col(Onboarding.flow_id) == fid)).first()
    if row is None:
        assert program.id is not None
        row = Onboarding(program_id=program.id, wallet=wallet, flow_id=fid, state=FlowState.REGISTERING)
        session.add(row)
        session.flush()
    return row


# --- workflow payloads ---------------------------------------------------------------------------


class FlowTiming(BaseModel):
    """Every duration the flow waits, from the worker's settings (read once by `begin`, so a replay
    sees the same values)."""

    payment_window_s: float = 3600.0  # when the provider gives no expiry
    expiry_grace_s: float = 300.0  # past the provider's expiry before we ask it and give up
    pending_grace_s: float = 3600.0  # a payment seen but not final extends the deadline by this much...
    pending_max_s: float = 86400.0  # ...up to this much in all
    onchain_window_s: float = 3600.0  # after the payer says it will pay on chain
    halt_poll_s: float = 30.0
    retry_initial_s: float = 5.0  # a temporary revert (paused contract, empty inventory) is retried...
    retry_max_s: float = 300.0  # ...with backoff up to this interval
    history_limit: int = 10_000  # events in one run before it continues as new
    kyc_wait_s: float = 7 * 86400.0  # how long the flow waits for a KYC outcome


class Paid(BaseModel):
    """A payment the flow accepts: exactly the fee, on one rail."""

    rail: Rail
    payment_ref: str
    amount_minor: int
    asset: str
    onchain_tx: str | None = None
    sge_amount_minor: int | None = None


class FlowCarry(BaseModel):
    """Everything a run knows, handed to the next run when it continues as new (bounded history)."""

    stage: Stage = Stage.BEGIN
    state: FlowState = FlowState.REGISTERING
    since: datetime | None = None
    reason: str = ""
    timing: FlowTiming = PField(default_factory=FlowTiming)
    program_key: str = ""
    referrer: str | None = None
    referral_on_chain: bool = False
    token_id: int | None = None
    mint_tx: str | None = None
    referral_tx: str | None = None
    payment_seq: int = 0
    payment: Charge | None = None
    payment_keys: list[str] = PField(default_factory=list)  # every charge this flow created
    deadline: datetime | None = None
    pending_until: datetime | None = None  # how far pending events may push the deadline
    onchain_watch: bool = False
    onchain_tx_hint: str | None = None
    from_block: int = 0
    paid: Paid | None = None
    claim_tx: str | None = None
    delivered: bool = False
    chain_attempts: dict[str, int] = PField(default_factory=dict)  # purpose → attempt (a mined revert burns a key)
    pending_events: list[PaymentEvent] = PField(default_factory=list)
    seen_events: list[str] = PField(default_factory=list)  # the last event ids handled (bounded)
    kyc_required: bool = False  # from `begin`: only then does the flow run its KYC gate
    kyc_outcome: str | None = None  # KycStatus value, or "not_required"
    kyc_reference: str | None = None  # the provider's applicant id
    kyc_url: str | None = None  # where the person verifies
    kyc_deadline: datetime | None = None
    kyc_events: list[KycSignal] = PField(default_factory=list)


class OnboardingInput(BaseModel):
    program: str
    wallet: str  # EIP-55
    referral_code: str | None = None
    source: str = "api"
    carry: FlowCarry | None = None  # set when a run continues as new


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
    kyc_outcome: str | None = None
    kyc_url: str | None = None


# --- operator reads --------------------------------------------------------------------------------

# Waiting for the user to pay (or for operators to lift a halt) is not "stuck"; every other
# non-terminal state is the platform's own work (DELIVERY_BLOCKED included: it needs an operator).
WAITING_ON_OTHERS = frozenset(
    {FlowState.AWAITING_PAYMENT, FlowState.HALTED, FlowState.KYC_PENDING, FlowState.KYC_REVIEW}
)
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
    query = select(Onboarding, Program).join(Program, col(Program.id) == col(Onboarding.program_id))
    if state is not None:
        query = query.where(col(Onboarding.state) == state)
    if program is not None:
        query = query.where(col(Program.slug) == program)
    if stuck:
        idle = [s.value for s in TERMINAL_STATES | WAITING_ON_OTHERS]
        query = query.where(
            col(Onboarding.state).not_in(idle), col(Onboarding.state_since) < (now or utcnow()) - STUCK_AFTER
        )
    if after_id is not None:
        query = query.where(col(Onboarding.id) > after_id)
    return list(session.exec(query.order_by(col(Onboarding.id)).limit(limit)).all())
