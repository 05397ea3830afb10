"""Whether a wallet has accepted the terms in force: a signed registration message naming the current
version and hash (the evidence is `wallet_consent`). A new terms version needs a new signature before
the next payment; signing the registration message again (which joins the running flow) gives it."""

from __future__ import annotations

from sqlmodel import Session, col, select

from core.db import row_id
from core.errors import DomainError
from models.auth_nonces import WalletConsent
from models.platform import Program
from models.terms import terms_for


class TermsAcceptanceRequired(DomainError):
    code = "terms_acceptance_required"
    status = 409


def latest_acceptance(session: Session, program: Program, wallet: str) -> WalletConsent | None:
    return session.exec(
        select(WalletConsent)
        .where(col(WalletConsent.program_id) == row_id(program), col(WalletConsent.wallet) == wallet)
        .order_by(col(WalletConsent.id).desc())
    ).first()


def require_current_acceptance(session: Session, program: Program, wallet: str) -> None:
    """409 `terms_acceptance_required` unless `wallet`'s newest acceptance names the terms in force."""
    terms = terms_for(program, session)
    accepted = latest_acceptance(session, program, wallet)
    if accepted is not None and (accepted.terms_version, accepted.terms_sha256) == (terms.version, terms.sha256):
        return
    raise TermsAcceptanceRequired(
        f"the terms of {program.slug!r} changed (version {terms.version}); sign the registration message again",
        details={
            "version": terms.version,
            "sha256": terms.sha256,
            "url": f"/v1/programs/{program.slug}/documents/terms",
        },
    )
