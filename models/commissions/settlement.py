"""Settling a confirmed payment: fee revenue plus commissions up the referral tree, one ledger transaction.

The settlement row (mutable, erasable) holds the payer's wallet; the journal entry names the payer by
subject ref only."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import select, update
from sqlmodel import Session, col

from core.columns import utcnow
from core.db import get_existing, row_id, table_of
from models import ledger
from models.affiliates import Affiliate, AffiliateError, AffiliateStatus, ancestors, attribution_of, normalize_wallet
from models.commissions.records import (
    SETTLEMENT_ASSETS,
    Commission,
    CommissionLine,
    CommissionStatus,
    PaymentSettlement,
    SettlementConflict,
    SettlementError,
    check_payment_ref,
    commission_lines,
    commissions_of,
)
from models.ledger import Accounts, Posting, credit, debit
from models.ledger.journal import dialect_insert
from models.money import Asset
from models.platform import Program
from models.subjects import subject_ref

_S = table_of(PaymentSettlement)


class SkippedLevel(BaseModel):
    level: int
    affiliate_id: int | None
    reason: Literal["no_ancestor", "suspended", "zero_amount", "payer"]


class SettlementResult(BaseModel):
    payment_ref: str
    program: str
    wallet: str
    amount_minor: int
    asset: Asset
    ledger_tx_id: str
    replayed: bool  # True: this payment was settled before; nothing was written now
    status: Literal["settled", "reversed"]
    referrer_affiliate_id: int | None
    commissions: list[CommissionLine]
    skipped: list[SkippedLevel]
    platform_net_minor: int  # amount - sum(commissions): stays in fee revenue


# --- the rounding rule --------------------------------------------------------------------------


def commission_amount(amount: int, bps: int) -> int:
    """floor(amount * bps / 10_000): exact integer arithmetic, rounding down (see the module doc)."""
    if amount < 0 or not 0 <= bps <= 10_000:
        raise ValueError("amount must be >= 0 and bps within 0..10000")
    return amount * bps // 10_000


def _settlement_result(session: Session, s: PaymentSettlement, program: Program, replayed: bool) -> SettlementResult:
    rows = commissions_of(session, s.payment_ref)
    lines = commission_lines(session, rows)
    return SettlementResult(
        payment_ref=s.payment_ref,
        program=program.slug,
        wallet=s.wallet,
        amount_minor=int(s.amount),
        asset=Asset(s.asset),
        ledger_tx_id=s.settle_tx_id,
        replayed=replayed,
        status=s.status,
        referrer_affiliate_id=s.referrer_id,
        commissions=lines,
        skipped=[SkippedLevel(**k) for k in s.skipped],
        platform_net_minor=int(s.amount) - sum(line.amount for line in lines),
    )


# --- settle -------------------------------------------------------------------------------------


def settle_payment(
    session: Session,
    payment_ref: str,
    program_slug: str,
    wallet: str,
    amount_minor: int,
    asset: Asset | str,
    *,
    now: datetime | None = None,
) -> SettlementResult:
    """Record a confirmed payment: revenue plus commissions to each eligible ancestor of the wallet's
    attributed referrer, in one ledger transaction, in the caller's DB transaction. Idempotent on
    `payment_ref`: a replay with the same facts returns the original (`replayed=True`); other facts
    under the same ref raise SettlementConflict."""
    check_payment_ref(payment_ref)
    rail = ledger.rail_of(payment_ref)
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int) or amount_minor <= 0:
        raise SettlementError("amount_minor must be a positive integer", code="invalid_amount")
    try:
        asset = Asset(asset)
    except ValueError:
        raise SettlementError(f"unknown asset {asset!r}", code="invalid_asset") from None
    if asset not in SETTLEMENT_ASSETS:
        raise SettlementError(f"fees settle in USD, USDC or USDT, not {asset.value}", code="invalid_asset")
    try:
        wallet = normalize_wallet(wallet)
    except AffiliateError as exc:
        raise SettlementError(str(exc), code=exc.code) from None
    program = session.execute(select(Program).where(col(Program.slug) == program_slug)).scalars().first()
    if program is None:
        raise SettlementError(f"no program {program_slug!r}", code="program_not_found", status=404)
    now = now or utcnow()
    tx_key = f"settle:{payment_ref}"
    conn = session.connection()
    # Claim the payment first: a concurrent settle of the same ref waits here, then sees ours.
    claimed = conn.execute(
        dialect_insert(session, _S)
        .values(
            payment_ref=payment_ref,
            program_id=program.id,
            wallet=wallet,
            amount=amount_minor,
            asset=asset.value,
            rail=rail,
            status="settled",
            settle_tx_id=None,
            skipped=[],
            reverse_reason="",
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["payment_ref"])
        .returning(_S.c.payment_ref)
    ).first()
    if claimed is None:
        existing = get_existing(session, PaymentSettlement, payment_ref, populate_existing=True)
        same = (existing.program_id, existing.wallet, int(existing.amount), existing.asset) == (
            program.id,
            wallet,
            amount_minor,
            asset.value,
        )
        if not same:
            raise SettlementConflict(
                f"payment {payment_ref} was settled with other facts "
                f"({existing.wallet}, {existing.amount} {existing.asset})"
            )
        return _settlement_result(session, existing, program, replayed=True)

    attribution = attribution_of(session, program.id, wallet)
    referrer = session.get(Affiliate, attribution.referrer_id) if attribution and attribution.referrer_id else None
    bps_levels = list(program.commission_bps)
    chain = ancestors(session, referrer, len(bps_levels)) if referrer else []
    payable_at = now + timedelta(days=program.hold_days)
    legs: list[Posting] = [
        debit(Accounts.processor_receivable(rail), asset, amount_minor),
        credit(Accounts.fee_revenue(program.slug), asset, amount_minor),
    ]
    planned: list[tuple[int, Affiliate, int, int]] = []
    skipped: list[dict[str, Any]] = []
    for level, bps in enumerate(bps_levels, start=1):
        if level > len(chain):
            skipped.append({"level": level, "affiliate_id": None, "reason": "no_ancestor"})
            continue
        aff = chain[level - 1]
        if aff.status != AffiliateStatus.ACTIVE.value:
            skipped.append({"level": level, "affiliate_id": aff.id, "reason": "suspended"})
            continue
        if aff.wallet.lower() == wallet.lower():  # never paid on its own payment, at any level
            skipped.append({"level": level, "affiliate_id": aff.id, "reason": "payer"})
            continue
        amount = commission_amount(amount_minor, bps)
        if amount == 0:
            skipped.append({"level": level, "affiliate_id": aff.id, "reason": "zero_amount"})
            continue
        planned.append((level, aff, bps, amount))
        legs.append(debit(Accounts.commission_expense(program.slug), asset, amount))
        legs.append(credit(Accounts.affiliate_accrued(row_id(aff)), asset, amount))
    # The journal is never rewritten: it names the payer by subject, never by wallet (models/subjects.py).
    refs = {"payment_ref": payment_ref, "program": program.slug, "subject": subject_ref(session, wallet)}
    posted = ledger.post_transaction(session, tx_key, "payment.settle", refs, legs)
    conn.execute(
        update(_S)
        .where(_S.c.payment_ref == payment_ref)
        .values(settle_tx_id=posted.tx_id, referrer_id=referrer.id if referrer else None, skipped=skipped)
    )
    for level, aff, bps, amount in planned:
        session.add(
            Commission(
                program_id=program.id,
                payment_ref=payment_ref,
                level=level,
                affiliate_id=row_id(aff),
                base_amount=amount_minor,
                rate_bps=bps,
                amount=amount,
                asset=asset.value,
                status=CommissionStatus.ACCRUED.value,
                payable_at=payable_at,
                accrue_tx_id=posted.tx_id,
                created_at=now,
                updated_at=now,
            )
        )
    session.flush()
    settlement = get_existing(session, PaymentSettlement, payment_ref, populate_existing=True)
    return _settlement_result(session, settlement, program, replayed=False)
