"""Attribution: a user's referrer, fixed at their first registration in a program, with its proof."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from core.db import row_id
from models.affiliates.records import (
    Affiliate,
    AffiliateError,
    AffiliateStatus,
    Attribution,
    by_code,
    normalize_code,
    normalize_wallet,
    program_by_slug,
)
from models.platform import Program
from models.reports.counters import ATTRIBUTION, count_event


class AttributionResult(BaseModel):
    """`new`: locked now. `existing`: locked earlier (`ignored_code` reports a later code that was
    ignored). `refused`: nothing written; `error_code` says why (self_referral, unknown_referral_code,
    referrer_suspended, invalid_code, invalid_wallet, program_not_found, program_inactive)."""

    status: Literal["new", "existing", "refused"]
    program: str
    wallet: str
    referrer_affiliate_id: int | None = None
    referrer_wallet: str | None = None
    referrer_code: str | None = None
    source: str = ""
    locked_at: datetime | None = None
    ignored_code: str | None = None
    error_code: str | None = None
    message: str = ""


def _result(
    status, program: Program, att: Attribution, session: Session, ignored: str | None = None
) -> AttributionResult:
    referrer = session.get(Affiliate, att.referrer_id) if att.referrer_id else None
    return AttributionResult(
        status=status,
        program=program.slug,
        wallet=att.wallet,
        referrer_affiliate_id=att.referrer_id,
        referrer_wallet=referrer.wallet if referrer else None,
        referrer_code=att.code,
        source=att.source,
        locked_at=att.created_at,
        ignored_code=ignored,
        message="a later referral code was ignored: the referrer was fixed at first registration" if ignored else "",
    )


def attribution_of(session: Session, program_id: int, wallet: str) -> Attribution | None:
    return session.exec(
        select(Attribution).where(Attribution.program_id == program_id, Attribution.wallet == wallet)
    ).first()


def referrer_for(session: Session, program: Program, wallet: str, code: str) -> Affiliate:
    """The affiliate a (normalised) referral code names for `wallet`, or an AffiliateError saying why
    it cannot refer it: unknown code, self-referral, suspended referrer."""
    referrer = by_code(session, row_id(program), code)
    if referrer is None:
        raise AffiliateError(f"no affiliate with code {code} in {program.slug}", code="unknown_referral_code")
    if referrer.wallet == wallet:
        raise AffiliateError("a wallet cannot refer itself", code="self_referral")
    if referrer.status != AffiliateStatus.ACTIVE.value:
        raise AffiliateError("the referring affiliate is suspended", code="referrer_suspended")
    return referrer


def attribute(
    session: Session, program_slug: str, wallet: str, code: str | None, source: str = ""
) -> AttributionResult:
    """Lock the wallet's referrer at its first registration in the program (see the module doc)."""
    refused = lambda err: AttributionResult(  # noqa: E731
        status="refused", program=program_slug, wallet=str(wallet), error_code=err.code, message=str(err)
    )
    try:
        program = program_by_slug(session, program_slug)
        wallet = normalize_wallet(wallet)
        code = normalize_code(code) if code else None
    except AffiliateError as err:
        return refused(err)
    source = (source or "")[:64]
    existing = attribution_of(session, row_id(program), wallet)
    if existing is not None:
        ignored = code if code and code != existing.code else None
        return _result("existing", program, existing, session, ignored)
    try:
        referrer = referrer_for(session, program, wallet, code) if code else None
    except AffiliateError as err:
        count_event(session, ATTRIBUTION, err.code)  # kept when the caller commits its refusal
        return refused(err)
    att = Attribution(
        program_id=row_id(program),
        wallet=wallet,
        referrer_id=referrer.id if referrer else None,
        code=code,
        source=source,
    )
    try:
        with session.begin_nested():
            session.add(att)
            session.flush()
    except IntegrityError:
        # A concurrent first registration won the lock: report what it locked.
        session.expunge(att) if att in session else None
        existing = attribution_of(session, row_id(program), wallet)
        if existing is None:  # pragma: no cover
            raise
        ignored = code if code and code != existing.code else None
        return _result("existing", program, existing, session, ignored)
    return _result("new", program, att, session)
