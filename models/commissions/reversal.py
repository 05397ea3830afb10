"""A refunded or reversed payment: cancel unpaid commissions, claw back paid ones, reverse the revenue."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import select, update
from sqlmodel import Session, col

from core.columns import utcnow
from core.db import get_existing, table_of
from models import ledger
from models.commissions.records import (
    Commission,
    CommissionLine,
    CommissionStatus,
    PaymentSettlement,
    SettlementError,
    check_payment_ref,
    commission_lines,
    commissions_of,
)
from models.ledger import Accounts, Posting, credit, debit
from models.ledger.journal import is_pg
from models.money import Asset
from models.platform import Program

_S = table_of(PaymentSettlement)


class ReverseRequest(BaseModel):
    """Input of `ledger.reverse_payment`."""

    payment_ref: str
    reason: str


class ReversalResult(BaseModel):
    payment_ref: str
    ledger_tx_id: str
    replayed: bool
    revenue_reversed_minor: int
    asset: Asset
    cancelled: list[CommissionLine]
    clawed_back: list[CommissionLine]


def reverse_payment(session: Session, payment_ref: str, reason: str, *, now: datetime | None = None) -> ReversalResult:
    """A refunded or reversed payment: cancel its unpaid commissions, claw back paid (or reserved)
    ones, reverse the revenue; one ledger transaction `reverse:<payment_ref>`. Idempotent."""
    check_payment_ref(payment_ref)
    now = now or utcnow()
    stmt = select(PaymentSettlement).where(col(PaymentSettlement.payment_ref) == payment_ref)
    if is_pg(session):
        stmt = stmt.with_for_update()
    s = session.execute(stmt.execution_options(populate_existing=True)).scalars().first()
    if s is None:
        raise SettlementError(
            f"payment {payment_ref} was never settled: nothing to reverse", code="payment_not_settled", status=404
        )
    program = get_existing(session, Program, s.program_id)
    tx_key = f"reverse:{payment_ref}"
    if s.status == "reversed":
        rows = commissions_of(session, payment_ref)
        lines = commission_lines(session, rows)
        return ReversalResult(
            payment_ref=payment_ref,
            ledger_tx_id=s.reverse_tx_id,
            replayed=True,
            revenue_reversed_minor=int(s.amount),
            asset=Asset(s.asset),
            cancelled=[line for line, c in zip(lines, rows, strict=False) if c.cancel_tx_id == tx_key],
            clawed_back=[line for line, c in zip(lines, rows, strict=False) if c.clawback_tx_id == tx_key],
        )
    asset = Asset(s.asset)
    amount = int(s.amount)
    legs: list[Posting] = [
        debit(Accounts.fee_revenue(program.slug), asset, amount),
        credit(Accounts.processor_receivable(s.rail), asset, amount),
    ]
    cancelled: list[Commission] = []
    clawed: list[Commission] = []
    expense = Accounts.commission_expense(program.slug)
    for c in commissions_of(session, payment_ref, lock=True):
        c_amount = int(c.amount)
        if c.status == CommissionStatus.ACCRUED.value:
            legs += [
                debit(Accounts.affiliate_accrued(c.affiliate_id), asset, c_amount),
                credit(expense, asset, c_amount),
            ]
            c.status, c.cancel_tx_id, c.cancelled_at = CommissionStatus.CANCELLED.value, tx_key, now
            cancelled.append(c)
        elif c.status == CommissionStatus.PAYABLE.value:
            legs += [
                debit(Accounts.affiliate_payable(c.affiliate_id), asset, c_amount),
                credit(expense, asset, c_amount),
            ]
            c.status, c.cancel_tx_id, c.cancelled_at = CommissionStatus.CANCELLED.value, tx_key, now
            cancelled.append(c)
        elif c.status in (CommissionStatus.RESERVED.value, CommissionStatus.PAID.value) and c.clawback_tx_id is None:
            # The money is (or may be) out: the affiliate owes it back. A reserved one stays in its
            # batch; if the batch is voided the clawback is settled against the payable (void_payout).
            legs += [
                debit(Accounts.affiliate_clawback(c.affiliate_id), asset, c_amount),
                credit(expense, asset, c_amount),
            ]
            if c.status == CommissionStatus.PAID.value:
                c.status = CommissionStatus.CLAWED_BACK.value
            c.clawback_tx_id, c.clawed_back_at = tx_key, now
            clawed.append(c)
        else:
            continue
        c.updated_at = now
        session.add(c)
    posted = ledger.post_transaction(
        session, tx_key, "payment.reverse", {"payment_ref": payment_ref, "reason": (reason or "")[:200]}, legs
    )
    done = session.connection().execute(
        update(_S)
        .where(_S.c.payment_ref == payment_ref, _S.c.status == "settled")
        .values(status="reversed", reverse_tx_id=tx_key, reverse_reason=(reason or "")[:200], reversed_at=now)
    )
    if done.rowcount != 1:  # pragma: no cover - the row lock (PG) / write lock (SQLite) prevents this
        raise SettlementError(
            f"payment {payment_ref} was reversed concurrently", code="concurrent_reversal", status=409
        )
    session.flush()
    return ReversalResult(
        payment_ref=payment_ref,
        ledger_tx_id=posted.tx_id,
        replayed=False,
        revenue_reversed_minor=amount,
        asset=asset,
        cancelled=commission_lines(session, cancelled),
        clawed_back=commission_lines(session, clawed),
    )
