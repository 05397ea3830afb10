"""Affiliate registration: a single-use, expiring nonce signed by the wallet, then the affiliate
under its parent (when the program's depth allows), with a fresh referral code."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from eth_account import Account
from eth_account.messages import encode_defunct
from pydantic import BaseModel
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from core.columns import utcnow
from core.db import row_id
from models.affiliates.records import (
    CODE_BYTES,
    Affiliate,
    AffiliateError,
    AffiliateNonce,
    AffiliateStatus,
    by_code,
    by_wallet,
    normalize_code,
    normalize_wallet,
    program_by_slug,
)
from models.operators import Actor, audit
from models.platform import Program

CODE_ATTEMPTS = 16
NONCE_TTL = timedelta(minutes=10)


def new_code() -> str:
    """A referral code from `secrets` (a CSPRNG); `register_affiliate` redraws on a collision."""
    return secrets.token_hex(CODE_BYTES).upper()


class NonceIssued(BaseModel):
    nonce: str
    message: str
    expires_at: datetime


def nonce_message(program: Program, wallet: str, nonce: str, issued: datetime, expires: datetime) -> str:
    return (
        "SGE affiliate registration\n"
        f"Program: {program.slug}\n"
        f"Wallet: {wallet}\n"
        f"Nonce: {nonce}\n"
        f"Issued at: {issued.strftime('%Y-%m-%dT%H:%M:%SZ')}\n"
        f"Expires at: {expires.strftime('%Y-%m-%dT%H:%M:%SZ')}"
    )


def issue_nonce(session: Session, program_slug: str, wallet: str, *, ttl: timedelta = NONCE_TTL) -> NonceIssued:
    program = program_by_slug(session, program_slug)
    wallet = normalize_wallet(wallet)
    nonce = secrets.token_hex(16)
    now = utcnow().replace(microsecond=0)
    expires = now + ttl
    message = nonce_message(program, wallet, nonce, now, expires)
    session.add(
        AffiliateNonce(
            nonce=nonce, program_id=row_id(program), wallet=wallet, message=message, created_at=now, expires_at=expires
        )
    )
    session.flush()
    return NonceIssued(nonce=nonce, message=message, expires_at=expires)


def recover_signer(message: str, signature: str) -> str | None:
    """The EIP-191 (personal_sign) signer of `message`, or None when the signature is malformed."""
    try:
        return Account.recover_message(encode_defunct(text=message), signature=signature)
    except Exception:  # noqa: BLE001 - any malformed signature is simply "not a valid signature"
        return None


def register_affiliate(
    session: Session, program_slug: str, wallet: str, nonce: str, signature: str, parent_code: str | None = None
) -> Affiliate:
    """Verify the wallet proof and create the affiliate, all in the caller's DB transaction."""
    program = program_by_slug(session, program_slug)
    wallet = normalize_wallet(wallet)
    row = session.get(AffiliateNonce, nonce) if isinstance(nonce, str) and 0 < len(nonce) <= 64 else None
    if row is None or row.program_id != program.id or row.wallet != wallet:
        raise AffiliateError("unknown nonce for this program and wallet; request a new one", code="invalid_nonce")
    if row.used_at is not None:
        raise AffiliateError("this nonce was already used; request a new one", code="nonce_used", status=409)
    if row.expires_at <= utcnow():
        raise AffiliateError("this nonce has expired; request a new one", code="nonce_expired")
    signer = recover_signer(row.message, signature)
    if signer is None or signer != wallet:
        raise AffiliateError(
            "the signature is not the wallet's signature of the nonce message", code="invalid_signature", status=401
        )
    # Consume the nonce atomically: of two concurrent uses exactly one updates the row.
    used = session.connection().execute(
        update(AffiliateNonce)
        .where(col(AffiliateNonce.nonce) == nonce, col(AffiliateNonce.used_at).is_(None))
        .values(used_at=utcnow())
    )
    if used.rowcount != 1:
        raise AffiliateError("this nonce was already used; request a new one", code="nonce_used", status=409)
    if by_wallet(session, program.id, wallet) is not None:
        raise AffiliateError("this wallet is already an affiliate of the program", code="wallet_registered", status=409)
    parent: Affiliate | None = None
    depth = 1
    if parent_code:
        parent = by_code(session, program.id, normalize_code(parent_code))
        if parent is None:
            raise AffiliateError(
                f"no affiliate with code {parent_code!r} in {program.slug}", code="unknown_parent_code", status=404
            )
        if parent.status != AffiliateStatus.ACTIVE.value:
            raise AffiliateError("the parent affiliate is suspended", code="parent_suspended", status=409)
        depth = parent.depth + 1
        if depth > program.max_depth:
            raise AffiliateError(
                f"the parent is at depth {parent.depth}, the program allows {program.max_depth}: "
                "cannot attach below it",
                code="depth_exceeded",
                status=409,
            )
    for _ in range(CODE_ATTEMPTS):
        affiliate = Affiliate(
            program_id=program.id, wallet=wallet, code=new_code(), parent_id=parent.id if parent else None, depth=depth
        )
        try:
            with session.begin_nested():  # a savepoint: a collision must not abort the outer transaction
                session.add(affiliate)
                session.flush()
            return affiliate
        except IntegrityError:
            session.expunge(affiliate) if affiliate in session else None
            if by_wallet(session, program.id, wallet) is not None:  # a concurrent registration won
                raise AffiliateError(
                    "this wallet is already an affiliate of the program", code="wallet_registered", status=409
                ) from None
            continue  # the code collided: draw another
    raise AffiliateError(
        "could not draw a free referral code; try again", code="code_space_exhausted", status=503, retryable=True
    )


def set_status(
    session: Session, actor: Actor, affiliate_id: int, status: AffiliateStatus, reason: str = ""
) -> Affiliate:
    """Suspend or reinstate an affiliate (audited). Suspended affiliates earn nothing."""
    affiliate = session.get(Affiliate, affiliate_id)
    if affiliate is None:
        raise AffiliateError(f"no affiliate {affiliate_id}", code="affiliate_not_found", status=404)
    before = {"status": affiliate.status, "status_reason": affiliate.status_reason}
    affiliate.status = AffiliateStatus(status).value
    affiliate.status_reason = reason[:500]
    affiliate.updated_at = utcnow()
    session.add(affiliate)
    session.flush()
    action = "affiliate.suspend" if status == AffiliateStatus.SUSPENDED else "affiliate.reinstate"
    audit(
        session,
        actor,
        action,
        "affiliate",
        row_id(affiliate),
        before,
        {"status": affiliate.status, "status_reason": affiliate.status_reason},
    )
    return affiliate
