"""KYC: a program's policy, the `kyc_check` table, and the onboarding flow's KYC contract types.

A program's policy lives in its flags: `{"kyc": {"mode": "none" | "before_payment" | "above_amount",
"threshold_usd_minor": <int, USD at 6 decimals>}}`. `above_amount` requires KYC once the wallet's
cumulative paid fees (every program, minor units) plus this fee exceed the threshold.

`kyc_check` holds only the provider's applicant reference and the outcome: never documents, names or
dates of birth (the provider keeps those). One row per flow (`check_key`, the id the provider echoes);
an approval is reused by the wallet's later flows.

Layering: `core/` only.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func
from sqlmodel import Field, Session, SQLModel, col, select

from core.columns import StrEnumType, UtcDateTime, utcnow
from core.errors import DomainError

START_KYC = "kyc.start"
CONFIRM_KYC = "kyc.confirm"
SIGNAL_KYC = "kyc_event"
KYC_PATCH = "kyc"  # the KYC gate before payment (histories recorded before it skip it)


class KycMode(StrEnum):
    NONE = "none"
    BEFORE_PAYMENT = "before_payment"
    ABOVE_AMOUNT = "above_amount"


class KycStatus(StrEnum):
    """The outcome as the platform keeps it (same values as `payments.kyc.interface.KycOutcome`)."""

    PENDING = "pending"
    REVIEW = "review"
    APPROVED = "approved"
    REJECTED = "rejected"


class KycPolicyError(DomainError):
    code = "invalid_kyc_policy"
    status = 422


class KycPolicy(BaseModel):
    mode: KycMode = KycMode.NONE
    threshold_usd_minor: int = 0

    model_config = {"extra": "forbid"}


def kyc_policy(flags: dict[str, Any] | None) -> KycPolicy:
    """The program's policy from its flags; `KycPolicyError` when it is malformed."""
    raw = (flags or {}).get("kyc")
    if raw is None:
        return KycPolicy()
    try:
        policy = KycPolicy.model_validate(raw)
    except ValueError as exc:
        raise KycPolicyError(f"flags.kyc: {exc}") from None
    if isinstance(policy.threshold_usd_minor, bool) or policy.threshold_usd_minor < 0:
        raise KycPolicyError("flags.kyc.threshold_usd_minor must be a non-negative integer")
    return policy


class KycCheckRow(SQLModel, table=True):
    __tablename__ = "kyc_check"

    id: int | None = Field(default=None, primary_key=True)
    check_key: str = Field(
        max_length=200, unique=True, index=True, description="The flow id; the provider's externalUserId."
    )
    wallet: str = Field(max_length=42, index=True)
    provider: str = Field(max_length=32)
    reference: str = Field(max_length=200, unique=True, index=True, description="The provider's applicant id.")
    outcome: KycStatus = Field(sa_type=StrEnumType(KycStatus))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


def approved_for(session: Session, wallet: str) -> KycCheckRow | None:
    return session.exec(
        select(KycCheckRow).where(col(KycCheckRow.wallet) == wallet, col(KycCheckRow.outcome) == KycStatus.APPROVED)
    ).first()


def cumulative_paid_minor(session: Session, wallet: str) -> int:
    from models.onboarding import Onboarding  # the onboarding table is the per-wallet record of paid fees

    total = session.exec(
        select(func.coalesce(func.sum(Onboarding.paid_amount_minor), 0)).where(col(Onboarding.wallet) == wallet)
    ).one()
    return int(total or 0)


def kyc_required(session: Session, policy: KycPolicy, wallet: str, fee_minor: int) -> bool:
    if policy.mode == KycMode.NONE:
        return False
    if policy.mode == KycMode.BEFORE_PAYMENT:
        return True
    return cumulative_paid_minor(session, wallet) + fee_minor > policy.threshold_usd_minor


# --- workflow ↔ activity contract -------------------------------------------------------------------------


class StartKyc(BaseModel):
    flow_id: str
    program: str
    wallet: str


class KycGate(BaseModel):
    """Whether the flow must wait for KYC, and where it stands."""

    required: bool
    outcome: KycStatus | None = None
    reference: str | None = None
    hosted_url: str | None = None  # where the person verifies (never stored in the DB)


class KycSignal(BaseModel):
    """A verified webhook, as the API hands it to the flow (confirmed with the provider before use)."""

    event_id: str
    reference: str
    outcome: KycStatus


class ConfirmKyc(BaseModel):
    flow_id: str
    reference: str
