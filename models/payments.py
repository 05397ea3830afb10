"""Payments: the `payment` and `webhook_event` tables, the normalised provider event the webhook
endpoints signal to a flow, and the names and payload types of the payment activities.

A payment row is reserved (status `creating`) under the workflow's payment key *before* the provider
is called; the provider reference is written together with status `open` in one compare-and-set
update, so a retried or concurrent create never stores two charges for one key (see
`payments/charges.py` for the crash-recovery argument).

Webhook events are recorded only after they were handed to their flow (a Temporal signal), so a
failed hand-off leaves no trace and the provider's retry gets another chance. The flow decides what
an event means: events may repeat and arrive in any order, so the workflow must deduplicate signals
by `PaymentEvent.event_id` (a signal can be delivered more than once if the recording after it fails).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from eth_utils import is_address, to_checksum_address
from pydantic import BaseModel
from sqlalchemy import Column, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, select

from core.columns import AmountType, UtcDateTime, utcnow
from core.db import session_scope
from models.platform import PaymentProvider

# Activity names (workflows call these by name) and the signal the webhook endpoints send.
CREATE_CHARGE = "payments.create_charge"
PAYMENT_EVENT_SIGNAL = "payment_event"


class PaymentStatus(StrEnum):
    CREATING = "creating"  # row reserved under our key; the provider charge is not recorded yet
    OPEN = "open"  # charge / link exists, waiting for the payer
    PENDING = "pending"  # payment seen, not final
    CONFIRMED = "confirmed"
    UNDERPAID = "underpaid"
    OVERPAID = "overpaid"
    FAILED = "failed"
    EXPIRED = "expired"
    REFUNDED = "refunded"
    IN_SUSPENSE = "in_suspense"  # money arrived that cannot settle the fee (late, duplicate, wrong asset)


class PaymentEventKind(StrEnum):
    """What a provider event says, in one vocabulary for both providers."""

    CREATED = "created"
    PENDING = "pending"  # payment detected (Commerce charge:pending)
    CONFIRMED = "confirmed"  # paid and final (charge:confirmed, payment_link.payment.success)
    FAILED = "failed"  # includes Commerce UNRESOLVED (e.g. context UNDERPAID)
    EXPIRED = "expired"
    DELAYED = "delayed"  # paid after expiry (legacy Commerce)
    RESOLVED = "resolved"  # merchant resolved an unresolved charge (legacy Commerce)
    REFUNDED = "refunded"
    OTHER = "other"  # a type we do not know: handed over anyway, the flow may ignore it


class WebhookOutcome(StrEnum):
    HANDED_OFF = "handed_off"  # signalled to the payment's flow
    DUPLICATE = "duplicate"  # event id seen before (counted on the first row, not stored again)
    UNKNOWN_CHARGE = "unknown_charge"  # no payment of ours: kept for reconciliation
    FLOW_CLOSED = "flow_closed"  # (before payment aftercare) the flow had ended: kept for reconciliation
    AFTERCARE = "aftercare"  # the flow had ended: handed to payment aftercare, which books it


class PaymentEvent(BaseModel):
    """The payload of the `payment_event` signal: one provider webhook, normalised.

    Amounts are integers in the currency's minor units (USD/USDC/USDT at 6 decimals); `paid_minor`
    is what the payer actually paid (sum of payments), so the flow can detect under/over-payment.
    It is None when the event carries no payment, or the currency is not one we account in
    (`paid_currency` then still names it).
    """

    provider: PaymentProvider
    event_id: str
    event_type: str  # the provider's own type, e.g. charge:confirmed
    kind: PaymentEventKind
    provider_ref: str  # charge id / payment link id
    payment_key: str | None = None  # ours, from the metadata we set on creation
    provider_status: str = ""  # last timeline status / link status
    context: str | None = None  # Commerce timeline context: UNDERPAID, OVERPAID, DELAYED, ...
    amount_minor: int | None = None  # the price the provider holds
    currency: str | None = None
    paid_minor: int | None = None
    paid_currency: str | None = None
    tx_hash: str | None = None
    occurred_at: datetime | None = None


# --- activity payloads -------------------------------------------------------------------------------


class CreateChargeRequest(BaseModel):
    payment_key: str  # unique per payment: from the business key or workflow.uuid4(), never the run id
    program: str  # program slug; its payment_provider picks the adapter, its fee is the default price
    wallet: str
    flow_id: str  # workflow id the webhooks are signalled to
    amount_minor: int | None = None  # default: the program's fee (USD, 6 decimals)
    currency: str = "USD"
    description: str = ""
    redirect_url: str | None = None


class Charge(BaseModel):
    """What the payer needs (hosted URL, expiry) and what the flow keeps."""

    payment_key: str
    provider: PaymentProvider
    provider_ref: str
    hosted_url: str
    amount_minor: int
    currency: str
    expires_at: datetime | None
    status: PaymentStatus


class GetChargeRequest(BaseModel):
    payment_key: str


class ChargeSnapshot(BaseModel):
    """The provider's current view of a charge (e.g. to check before giving up at expiry)."""

    payment_key: str
    provider: PaymentProvider
    provider_ref: str
    provider_status: str
    kind: PaymentEventKind | None
    context: str | None = None
    amount_minor: int | None = None
    currency: str | None = None
    paid_minor: int | None = None
    paid_currency: str | None = None
    expires_at: datetime | None = None
    tx_hash: str | None = None


# --- tables ------------------------------------------------------------------------------------------


class Payment(SQLModel, table=True):
    __tablename__ = "payment"
    __table_args__ = (UniqueConstraint("provider", "provider_ref", name="uq_payment_provider_ref"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(
        max_length=200, unique=True, index=True, description="Our payment key (idempotency), given by the flow."
    )
    program_id: int = Field(sa_column=Column(Integer, ForeignKey("program.id"), nullable=False, index=True))
    wallet: str = Field(max_length=42, description="EIP-55 checksummed.")
    wallet_lower: str = Field(max_length=42, index=True, description="Lower-case wallet: the only form compared.")
    provider: str = Field(sa_type=String(32))
    provider_ref: str | None = Field(default=None, max_length=100, description="Charge id / payment link id.")
    hosted_url: str | None = Field(default=None, max_length=500)
    amount_minor: int = Field(sa_type=AmountType, description="Expected amount, minor units.")
    currency: str = Field(max_length=10)
    status: str = Field(default=PaymentStatus.CREATING.value, sa_type=String(16), index=True)
    expires_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    flow_id: str = Field(max_length=200, index=True, description="Workflow id that receives this payment's events.")
    create_attempts: int = Field(
        default=0, description="Provider create calls started (a retry after a crash sees > 1)."
    )
    paid_minor: int | None = Field(default=None, sa_type=AmountType)
    paid_currency: str | None = Field(default=None, max_length=10)
    outcome_reason: str = Field(default="", max_length=500)
    # What the books hold for this charge (models.payment_outcomes.Held): money is booked by difference
    # against the provider's confirmed total, so these only grow (or are released by a refund).
    received_minor: int = Field(default=0, sa_type=AmountType, description="Booked as received (fee + suspense).")
    suspense_minor: int = Field(default=0, sa_type=AmountType, description="Of which still in suspense.")
    settled: bool = Field(default=False, description="This payment settled its flow's fee.")
    reversed: bool = Field(default=False, description="...and was refunded or charged back since.")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)

    @property
    def ledger_ref(self) -> str:
        """How the ledger names this payment: `<rail>:<provider ref>` (the rail is the provider)."""
        return f"{self.provider}:{self.provider_ref}"


class WebhookEvent(SQLModel, table=True):
    __tablename__ = "webhook_event"
    __table_args__ = (UniqueConstraint("provider", "event_id", name="uq_webhook_event_provider_event"),)

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(sa_type=String(32))
    event_id: str = Field(max_length=200)
    event_type: str = Field(max_length=100)
    provider_ref: str | None = Field(default=None, max_length=100, index=True)
    payment_key: str | None = Field(default=None, max_length=200)
    outcome: str = Field(sa_type=String(20), index=True)
    duplicates: int = Field(default=0, description="Later deliveries of the same event id (acknowledged, ignored).")
    body_sha256: str = Field(max_length=64)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    handed_off_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    last_seen_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


# --- helpers -----------------------------------------------------------------------------------------


class InvalidWallet(ValueError):
    pass


def checksum_wallet(address: str) -> str:
    """EIP-55 form of an address (any casing in); InvalidWallet otherwise."""
    if not isinstance(address, str) or not is_address(address):
        raise InvalidWallet(f"not an Ethereum address: {address!r}")
    return to_checksum_address(address)


def get_payment(session: Session, key: str) -> Payment | None:
    return session.exec(select(Payment).where(Payment.key == key)).first()


def find_payment_by_provider_ref(
    session: Session, provider: PaymentProvider | str, provider_ref: str
) -> Payment | None:
    """The payment a provider charge / payment link belongs to, or None."""
    stmt = select(Payment).where(Payment.provider == str(provider), Payment.provider_ref == provider_ref)
    return session.exec(stmt).first()


def payments_for_wallet(session: Session, program_id: int, wallet: str) -> list[Payment]:
    """A wallet's payments in a program, newest first; any casing of the address matches."""
    stmt = (
        select(Payment)
        .where(col(Payment.program_id) == program_id, col(Payment.wallet_lower) == wallet.lower())
        .order_by(col(Payment.id).desc())
    )
    return list(session.exec(stmt))


def payment_for_event(session: Session, event: PaymentEvent) -> Payment | None:
    """The payment an event belongs to: by provider reference, else by the payment key in its metadata.

    The key fallback covers events that arrive before the reference is stored (Commerce sends
    charge:created at once). A row whose stored reference differs is not this charge: such an
    orphan (created by an attempt that lost the race) is left unmatched.
    """
    payment = find_payment_by_provider_ref(session, event.provider, event.provider_ref)
    if payment is not None or not event.payment_key:
        return payment
    payment = get_payment(session, event.payment_key)
    if payment is None or payment.provider != str(event.provider):
        return None
    if payment.provider_ref is not None and payment.provider_ref != event.provider_ref:
        return None
    return payment


def get_webhook_event(session: Session, provider: PaymentProvider | str, event_id: str) -> WebhookEvent | None:
    stmt = select(WebhookEvent).where(WebhookEvent.provider == str(provider), WebhookEvent.event_id == event_id)
    return session.exec(stmt).first()


def record_webhook_event(
    engine: Engine, event: PaymentEvent, outcome: WebhookOutcome, body_sha256: str
) -> WebhookOutcome:
    """Stores the event id with its outcome; returns the outcome that stands.

    A row already there as `unknown_charge` is upgraded (the charge became known later); any other
    existing row makes this delivery a duplicate (two concurrent deliveries: the unique constraint
    decides which one recorded it).
    """
    now = utcnow()
    for _ in range(2):
        try:
            with session_scope(engine) as session:
                row = get_webhook_event(session, event.provider, event.event_id)
                if row is None:
                    session.add(
                        WebhookEvent(
                            provider=str(event.provider),
                            event_id=event.event_id,
                            event_type=event.event_type,
                            provider_ref=event.provider_ref,
                            payment_key=event.payment_key,
                            outcome=outcome.value,
                            body_sha256=body_sha256,
                            received_at=now,
                            handed_off_at=now if outcome == WebhookOutcome.HANDED_OFF else None,
                            last_seen_at=now,
                        )
                    )
                    return outcome
                row.last_seen_at = now
                if row.outcome == WebhookOutcome.UNKNOWN_CHARGE and outcome != WebhookOutcome.UNKNOWN_CHARGE:
                    row.outcome = outcome.value
                    row.handed_off_at = now if outcome == WebhookOutcome.HANDED_OFF else None
                    return outcome
                row.duplicates += 1
                return (
                    WebhookOutcome.DUPLICATE
                    if outcome != WebhookOutcome.UNKNOWN_CHARGE
                    else WebhookOutcome.UNKNOWN_CHARGE
                )
        except IntegrityError:
            continue  # a concurrent delivery inserted it first: read it again
    return WebhookOutcome.DUPLICATE
