"""Programs (tenants) and platform-wide flags (e.g. the halt switch)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from core.columns import AmountType, StrEnumType, UtcDateTime, utcnow


class PaymentProvider(StrEnum):
    COINBASE_COMMERCE = "coinbase_commerce"
    COINBASE_BUSINESS = "coinbase_business"


class Program(SQLModel, table=True):
    """A tenant: its fee, claim amount and commission plan."""

    __tablename__ = "program"

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=64, unique=True, index=True)
    name: str = Field(max_length=200)
    treasury_address: str = Field(max_length=42, description="EIP-55 address receiving on-chain fees.")
    fee_usd_minor: int = Field(sa_type=AmountType, description="Registration fee, USD at 6 decimals.")
    claim_amount_minor: int = Field(sa_type=AmountType, description="SGE delivered per claim, 18 decimals.")
    commission_bps: list[int] = Field(
        sa_column=Column(JSON, nullable=False), description="Commission per level in basis points, level 1 first."
    )
    max_depth: int = Field(default=2, ge=1, le=10)
    hold_days: int = Field(default=30, ge=0, le=365)
    payment_provider: PaymentProvider = Field(
        default=PaymentProvider.COINBASE_COMMERCE, sa_type=StrEnumType(PaymentProvider)
    )
    flags: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    active: bool = Field(default=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class PlatformFlag(SQLModel, table=True):
    """A platform-wide switch, e.g. `halt` (stops every value-moving step while on)."""

    __tablename__ = "platform_flag"

    key: str = Field(primary_key=True, max_length=64)
    value: Any = Field(default=None, sa_column=Column(JSON, nullable=True))
    reason: str = Field(default="", max_length=500)
    updated_by: str = Field(default="", max_length=200)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


HALT_FLAG = "halt"
WORKERS_DRAIN_FLAG = "workers_drain"  # on: workers stop polling after their running activities finish
