"""Registration messages (EIP-4361) issued by the server, and the consent evidence of accepted ones.

`issue` builds the exact text a wallet signs (domain, URI, chain id, a single-use random nonce,
issued-at, expiration, the program, the referral code when given, the terms' version and SHA-256) and
stores it. A wallet and a client IP (IPv6: its /64) may hold only a few outstanding (unused, unexpired)
messages; the next is refused with 429 `too_many_nonces`. The caps count rows, so two concurrent
requests may both pass the last free place: the per-IP and per-wallet rate limits in front of
`issue` bound that overshoot. Messages are deleted a retention period after they expire, used or
not (`prune`, run by the Housekeeping schedule).
"""

from __future__ import annotations

import math
import secrets
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy import JSON, Column, ForeignKey, Integer, Text, delete, func
from sqlmodel import Field, Session, SQLModel, col, select

from core.columns import UtcDateTime, utcnow
from core.db import row_id
from core.errors import DomainError
from models.platform import Program
from models.siwe import SiweMessage, rfc3339
from models.terms import Terms, fee_text

PROGRAM_RESOURCE = "urn:sge:program:"
REFERRAL_RESOURCE = "urn:sge:referral:"


class AuthNonce(SQLModel, table=True):
    """One registration message: issued once, used at most once (by one signature)."""

    __tablename__ = "auth_nonce"

    nonce: str = Field(primary_key=True, max_length=64)
    wallet: str = Field(max_length=42, index=True, description="lower case")
    program_id: int = Field(sa_column=Column(Integer, ForeignKey("program.id"), nullable=False))
    referral_code: str | None = Field(default=None, max_length=32)
    message: str = Field(sa_column=Column(Text, nullable=False))
    client_ip: str = Field(max_length=64, index=True, description="The client's IP (IPv6: its /64).")
    issued_at: datetime = Field(sa_type=UtcDateTime)
    expires_at: datetime = Field(sa_type=UtcDateTime, index=True)
    used_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    signature_hash: str | None = Field(default=None, max_length=64, description="sha256 of the signature that used it.")
    result: dict[str, Any] | None = Field(
        default=None,
        sa_column=Column(JSON, nullable=True),
        description="The registration's answer, replayed to a retry.",
    )


class WalletConsent(SQLModel, table=True):
    """Evidence of a registration: the wallet's signature over the message naming the terms."""

    __tablename__ = "wallet_consent"

    id: int | None = Field(default=None, primary_key=True)
    flow_id: str = Field(max_length=200, index=True)
    program_id: int = Field(sa_column=Column(Integer, ForeignKey("program.id"), nullable=False))
    wallet: str = Field(max_length=42, description="EIP-55")
    nonce: str = Field(max_length=64, unique=True)
    terms_version: str = Field(max_length=32)
    terms_sha256: str = Field(max_length=64)
    message: str = Field(sa_column=Column(Text, nullable=False))
    signature: str = Field(max_length=132)
    signed_at: datetime = Field(sa_type=UtcDateTime, description="When the signed message was received and verified.")


class NonceIssued(BaseModel):
    message: str
    nonce: str
    expires_at: datetime


class NonceLimitError(DomainError):
    code = "too_many_nonces"
    status = 429
    retryable = True


def statement(program: Program, terms: Terms) -> str:
    return (
        f"Register this wallet in the SGE program {program.slug} and accept its terms "
        f"(version {terms.version}). The registration fee is {fee_text(program)}."
    )


def build_message(
    program: Program,
    wallet: str,
    referral_code: str | None,
    terms: Terms,
    *,
    domain: str,
    base_url: str,
    chain_id: int,
    nonce: str,
    issued: datetime,
    expires: datetime,
) -> SiweMessage:
    resources = [PROGRAM_RESOURCE + program.slug]
    if referral_code:
        resources.append(REFERRAL_RESOURCE + referral_code)
    resources.append(terms.resource)
    return SiweMessage(
        domain=domain,
        address=wallet,
        statement=statement(program, terms),
        uri=f"{base_url.rstrip('/')}/app/{program.slug}",
        chain_id=chain_id,
        nonce=nonce,
        issued_at=rfc3339(issued),
        expiration_time=rfc3339(expires),
        resources=resources,
    )


def _outstanding(session: Session, column, value: str, now: datetime) -> tuple[int, datetime | None]:
    """How many unused, unexpired messages match, and when the first of them expires."""
    count, first_expiry = session.exec(
        select(func.count(), func.min(AuthNonce.expires_at)).where(
            column == value, col(AuthNonce.used_at).is_(None), col(AuthNonce.expires_at) > now
        )
    ).one()
    return int(count), first_expiry


def _check_cap(session: Session, column, value: str, cap: int, what: str, now: datetime) -> None:
    count, first_expiry = _outstanding(session, column, value, now)
    if count < cap:
        return
    wait = max(1, math.ceil((first_expiry - now).total_seconds())) if first_expiry else 60
    raise NonceLimitError(
        f"{count} registration messages for this {what} are still outstanding; use one or wait {wait}s",
        headers={"Retry-After": str(wait)},
    )


def issue(
    session: Session,
    program: Program,
    wallet: str,
    referral_code: str | None,
    terms: Terms,
    *,
    client_ip: str,
    domain: str,
    base_url: str,
    chain_id: int,
    ttl: timedelta,
    max_per_wallet: int,
    max_per_ip: int,
    now: datetime | None = None,
) -> NonceIssued:
    """Store and return a new registration message for `wallet` (EIP-55) in `program`."""
    now = (now or utcnow()).replace(microsecond=0)
    _check_cap(session, col(AuthNonce.wallet), wallet.lower(), max_per_wallet, "wallet", now)
    _check_cap(session, col(AuthNonce.client_ip), client_ip, max_per_ip, "network", now)
    nonce = secrets.token_hex(16)
    expires = now + ttl
    text = build_message(
        program,
        wallet,
        referral_code,
        terms,
        domain=domain,
        base_url=base_url,
        chain_id=chain_id,
        nonce=nonce,
        issued=now,
        expires=expires,
    ).render()
    session.add(
        AuthNonce(
            nonce=nonce,
            wallet=wallet.lower(),
            program_id=row_id(program),
            referral_code=referral_code,
            message=text,
            client_ip=client_ip[:64],
            issued_at=now,
            expires_at=expires,
        )
    )
    session.flush()
    return NonceIssued(message=text, nonce=nonce, expires_at=expires)


def prune(session: Session, retention: timedelta, now: datetime | None = None) -> int:
    """Delete messages that expired more than `retention` ago, used or not (a used one is kept until
    then: a retry of its registration is answered from it). Returns how many."""
    cutoff = (now or utcnow()) - retention
    result = session.connection().execute(delete(AuthNonce).where(col(AuthNonce.expires_at) < cutoff))
    return int(result.rowcount or 0)
