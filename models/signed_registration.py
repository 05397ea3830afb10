"""Accepting a wallet-signed registration (the message was parsed and its signature verified by the
caller, `models.siwe.verify`).

In the caller's one DB transaction: the message must be one this server issued, byte for byte, and
unused; it is consumed, the referrer is locked (the code the message names), the consent evidence is
written and the flow's row created. The answer is stored with the message, so the same message sent
again with the same signature (a client retrying after a timeout) gets the original answer; with any
other signature it is refused (`nonce_used`).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from core.db import row_id
from core.errors import DomainError
from models.affiliates import AffiliateError, AttributionResult, attribute, normalize_wallet
from models.auth_nonces import PROGRAM_RESOURCE, REFERRAL_RESOURCE, AuthNonce, WalletConsent
from models.onboarding import FlowState, Onboarding, ensure_row, flow_id
from models.platform import Program
from models.siwe import SiweMessage
from models.terms import parse_resource

ATTRIBUTION_SOURCE = "api:siwe"


class RegistrationError(DomainError):
    code = "registration_refused"
    status = 422


class Registration(BaseModel):
    flow_id: str
    program: str
    wallet: str  # EIP-55
    state: FlowState
    referral_code: str | None = None
    referral: dict[str, Any] | None = None
    replayed: bool = False  # answered from the stored result of an earlier, identical request


def signature_hash(signature: str) -> str:
    return hashlib.sha256(signature.lower().removeprefix("0x").encode("ascii")).hexdigest()


def _referral(att: AttributionResult) -> dict[str, Any] | None:
    if att.status == "new":
        return {"status": "new", "code": att.referrer_code} if att.referrer_code else None
    if att.ignored_code:
        return {
            "status": "ignored",
            "message": "the referrer was fixed at the first registration",
            "code": att.referrer_code,
        }
    return {"status": "existing", "code": att.referrer_code}


def _terms(message: SiweMessage) -> tuple[str | None, str, str, str]:
    """(referral code, program slug, terms version, terms sha256) named by the message's resources."""
    code = slug = None
    terms = None
    for resource in message.resources:
        if resource.startswith(REFERRAL_RESOURCE):
            code = resource[len(REFERRAL_RESOURCE) :]
        elif resource.startswith(PROGRAM_RESOURCE):
            slug = resource[len(PROGRAM_RESOURCE) :]
        elif parsed := parse_resource(resource):
            terms = parsed
    if slug is None or terms is None:  # a message we issued always has both
        raise RegistrationError("the message does not name a program and its terms", code="invalid_siwe_message")
    return code, slug, terms[0], terms[1]


def named_program(message: SiweMessage) -> str:
    """The slug of the program a registration message names (refused when it names none)."""
    return _terms(message)[1]


def _flow_row(session: Session, program: Program, wallet: str) -> Onboarding:
    try:
        with session.begin_nested():  # a savepoint: a concurrent first registration must not abort ours
            return ensure_row(session, program, wallet)
    except IntegrityError:
        return session.exec(select(Onboarding).where(col(Onboarding.flow_id) == flow_id(program.slug, wallet))).one()


def register_signed(session: Session, message: SiweMessage, text: str, signature: str, now: datetime) -> Registration:
    """Consume the message's nonce and register its wallet (see the module doc)."""
    nonce = session.exec(select(AuthNonce).where(col(AuthNonce.nonce) == message.nonce).with_for_update()).first()
    if nonce is None or nonce.message != text:
        raise RegistrationError(
            "this message was not issued by this server; ask POST /v1/auth/nonce for one",
            code="unknown_nonce",
            status=401,
        )
    sig_hash = signature_hash(signature)
    if nonce.used_at is not None:
        if nonce.signature_hash == sig_hash and nonce.result is not None:
            return Registration.model_validate({**nonce.result, "replayed": True})
        raise RegistrationError(
            "this registration message was already used; ask for a new one", code="nonce_used", status=409
        )
    program = session.get(Program, nonce.program_id)
    if program is None or not program.active:
        raise RegistrationError("the program is not open for registration", code="program_inactive", status=409)
    code, slug, terms_version, terms_sha256 = _terms(message)
    if slug != program.slug or normalize_wallet(message.address).lower() != nonce.wallet:
        raise RegistrationError("the message does not match its nonce", code="unknown_nonce", status=401)
    wallet = normalize_wallet(message.address)
    # Consume first: of two concurrent uses exactly one updates the row (the row lock serialises them too).
    consumed = session.connection().execute(
        update(AuthNonce)
        .where(col(AuthNonce.nonce) == nonce.nonce, col(AuthNonce.used_at).is_(None))
        .values(used_at=now, signature_hash=sig_hash)
    )
    if consumed.rowcount != 1:
        raise RegistrationError("this registration message was already used", code="nonce_used", status=409)
    att = attribute(session, program.slug, wallet, code, ATTRIBUTION_SOURCE)
    if att.status == "refused":  # e.g. the referrer was suspended since the message was issued
        raise AffiliateError(att.message, code=att.error_code or "referral_refused")
    row = _flow_row(session, program, wallet)
    session.add(
        WalletConsent(
            flow_id=row.flow_id,
            program_id=row_id(program),
            wallet=wallet,
            nonce=nonce.nonce,
            terms_version=terms_version,
            terms_sha256=terms_sha256,
            message=text,
            signature="0x" + signature.lower().removeprefix("0x"),
            signed_at=now,
        )
    )
    result = Registration(
        flow_id=row.flow_id,
        program=program.slug,
        wallet=wallet,
        state=row.state,
        referral_code=code,
        referral=_referral(att),
    )
    session.connection().execute(
        update(AuthNonce)
        .where(col(AuthNonce.nonce) == nonce.nonce)
        .values(result=result.model_dump(mode="json", exclude={"replayed"}))
    )
    return result
