"""Affiliate records and lookups: the tables, the error, wallet and code normalisation."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from eth_utils import is_address, is_checksum_address, to_checksum_address
from sqlalchemy import Column, ForeignKey, Integer, Text, UniqueConstraint
from sqlmodel import Field, Session, SQLModel, select

from core.columns import UtcDateTime, utcnow
from core.errors import DomainError
from models.platform import Program

CODE_BYTES = 4  # 8 hex characters


class AffiliateError(DomainError):
    """A refused affiliate request; `code` is machine-readable, `status` the HTTP status to use."""

    code = "affiliate_error"
    status = 422


class AffiliateStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class Affiliate(SQLModel, table=True):
    __tablename__ = "affiliate"
    __table_args__ = (
        UniqueConstraint("program_id", "wallet", name="uq_affiliate_program_wallet"),
        UniqueConstraint("program_id", "code", name="uq_affiliate_program_code"),
    )

    id: int | None = Field(default=None, primary_key=True)
    program_id: int = Field(sa_column=Column(Integer, ForeignKey("program.id"), nullable=False, index=True))
    wallet: str = Field(max_length=42, description="EIP-55 checksum address.")
    code: str = Field(max_length=8, description="Referral code: 8 upper-case hex characters.")
    parent_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("affiliate.id"), nullable=True, index=True)
    )
    depth: int = Field(ge=1, description="Root affiliates are at depth 1.")
    status: str = Field(default=AffiliateStatus.ACTIVE.value, max_length=16)
    status_reason: str = Field(default="", max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class AffiliateNonce(SQLModel, table=True):
    """A server-issued, single-use, expiring challenge for one (program, wallet)."""

    __tablename__ = "affiliate_nonce"

    nonce: str = Field(primary_key=True, max_length=64)
    program_id: int = Field(sa_column=Column(Integer, ForeignKey("program.id"), nullable=False))
    wallet: str = Field(max_length=42)
    message: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    expires_at: datetime = Field(sa_type=UtcDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class Attribution(SQLModel, table=True):
    """A user's referrer in a program, locked at first registration (referrer None = no referrer)."""

    __tablename__ = "attribution"
    __table_args__ = (UniqueConstraint("program_id", "wallet", name="uq_attribution_program_wallet"),)

    id: int | None = Field(default=None, primary_key=True)
    program_id: int = Field(sa_column=Column(Integer, ForeignKey("program.id"), nullable=False))
    wallet: str = Field(max_length=42)
    referrer_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("affiliate.id"), nullable=True, index=True)
    )
    code: str | None = Field(default=None, max_length=8, description="The code presented (proof).")
    source: str = Field(default="", max_length=64, description="Where the registration came from (proof).")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


def normalize_wallet(wallet: str) -> str:
    if not isinstance(wallet, str) or not is_address(wallet):
        raise AffiliateError(f"not an Ethereum address: {str(wallet)[:64]!r}", code="invalid_wallet")
    body = wallet[2:]
    if body != body.lower() and body != body.upper() and not is_checksum_address(wallet):
        # Mixed case is an EIP-55 checksum: a wrong one means a mistyped address, never "close enough".
        raise AffiliateError(f"bad EIP-55 checksum: {wallet[:64]!r}", code="invalid_wallet")
    return to_checksum_address(wallet)


def normalize_code(code: str) -> str:
    code = (code or "").strip().upper()
    if len(code) != 2 * CODE_BYTES or any(c not in "0123456789ABCDEF" for c in code):
        raise AffiliateError("a referral code is 8 hexadecimal characters", code="invalid_code")
    return code


def program_by_slug(session: Session, slug: str, *, active: bool = True) -> Program:
    program = session.exec(select(Program).where(Program.slug == slug)).first()
    if program is None:
        raise AffiliateError(f"no program {slug!r}", code="program_not_found", status=404)
    if active and not program.active:
        raise AffiliateError(f"program {slug!r} is not active", code="program_inactive", status=409)
    return program


def by_code(session: Session, program_id: int, code: str) -> Affiliate | None:
    return session.exec(select(Affiliate).where(Affiliate.program_id == program_id, Affiliate.code == code)).first()


def by_wallet(session: Session, program_id: int, wallet: str) -> Affiliate | None:
    return session.exec(select(Affiliate).where(Affiliate.program_id == program_id, Affiliate.wallet == wallet)).first()


def ancestors(session: Session, affiliate: Affiliate, levels: int) -> list[Affiliate]:
    """The affiliate itself (level 1), its parent (level 2), ... up to `levels` entries."""
    chain = [affiliate]
    current = affiliate
    while len(chain) < levels and current.parent_id is not None:
        parent = session.get(Affiliate, current.parent_id)
        if parent is None:  # pragma: no cover - a foreign key keeps parents
            break
        chain.append(parent)
        current = parent
    return chain
