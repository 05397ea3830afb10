"""Booking a payment outcome: the ledger entries of one `payment_outcomes.Decision`, posted in the
caller's DB transaction together with the payment row's held amounts, so a decision is booked whole
or not at all. Every entry is keyed by the payment and the running total it brings the books to, so a
replayed decision (an activity retried after its commit) finds nothing new to book.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from core.columns import utcnow
from core.errors import Conflict
from models import commissions, ledger
from models.ledger import SuspenseReason
from models.operators import Actor
from models.payment_outcomes import Booking, Decision, FlowOutcome
from models.payments import Payment, PaymentStatus
from models.platform import Program
from models.suspense import SuspenseItem, SuspenseStatus, items, open_item, resolve

_STATUS = {
    FlowOutcome.SETTLED: PaymentStatus.CONFIRMED,
    FlowOutcome.UNDERPAID: PaymentStatus.UNDERPAID,
    FlowOutcome.WRONG_ASSET: PaymentStatus.IN_SUSPENSE,
    FlowOutcome.FAILED: PaymentStatus.FAILED,
    FlowOutcome.EXPIRED: PaymentStatus.EXPIRED,
    FlowOutcome.REFUNDED: PaymentStatus.REFUNDED,
    FlowOutcome.PENDING: PaymentStatus.PENDING,
}


def book(session: Session, payment: Payment, program: Program, decision: Decision) -> None:
    """Post `decision`'s entries for `payment` (locked by the caller) and update what it holds."""
    ref = payment.ledger_ref
    received = int(payment.received_minor)
    suspense = int(payment.suspense_minor)
    for entry in decision.entries:
        match entry.booking:
            case Booking.SETTLE:
                commissions.settle_payment(session, ref, program.slug, payment.wallet, entry.amount_minor, entry.asset)
                payment.settled = True
                received += entry.amount_minor
            case Booking.SUSPENSE:
                assert entry.reason is not None
                received += entry.amount_minor
                suspense += entry.amount_minor
                open_item(
                    session,
                    f"suspense:{ref}:{entry.reason.value}:{received}",
                    ref,
                    entry.amount_minor,
                    entry.asset,
                    entry.reason,
                    payment_key=payment.key,
                    flow_id=payment.flow_id,
                    note=decision.message,
                )
            case Booking.APPLY_SUSPENSE | Booking.RELEASE_SUSPENSE:
                applied = entry.booking == Booking.APPLY_SUSPENSE
                for item in items(session, payment_ref=ref):
                    resolve(
                        session,
                        item,
                        SuspenseStatus.APPLIED if applied else SuspenseStatus.REFUNDED,
                        None,
                        note="applied to the fee" if applied else "refunded at the provider",
                    )
                    suspense -= int(item.amount_minor)
                    if applied:
                        received -= int(item.amount_minor)  # re-booked as received by the settlement
            case Booking.REVERSE:
                commissions.reverse_payment(session, ref, decision.message or "refunded")
                payment.reversed = True
            case Booking.SGE_LOSS:
                delivered = delivered_sge(session, ref)
                if delivered:
                    ledger.post_sge_loss(session, f"sge_loss:{ref}", program.slug, ref, delivered)
    payment.received_minor = received
    payment.suspense_minor = suspense
    if decision.outcome in _STATUS:
        payment.status = _STATUS[decision.outcome].value
    elif any(e.booking == Booking.RELEASE_SUSPENSE for e in decision.entries):
        payment.status = PaymentStatus.REFUNDED.value  # its flow had ended: what it held went back to the payer
    elif decision.entries and not payment.settled:
        payment.status = PaymentStatus.IN_SUSPENSE.value
    if decision.message:
        payment.outcome_reason = decision.message[:500]
    payment.updated_at = utcnow()
    session.add(payment)


def delivered_sge(session: Session, payment_ref: str) -> int:
    """The SGE a payment's claim delivered, from its delivery posting (0: not delivered)."""
    found = ledger.get_transaction(session, f"delivery:{payment_ref}")
    if found is None:
        return 0
    _tx, postings = found
    return sum(p.amount for p in postings if p.amount > 0 and p.asset == "SGE")


class CannotApply(Conflict):
    code = "suspense_cannot_apply"


def apply_to_fee(session: Session, item: SuspenseItem, actor: Actor, *, accept_shortfall: bool = False) -> Payment:
    """An operator uses money held in suspense to settle its flow's fee (the flow must not be running;
    the caller starts a new run, which finds the settled payment and delivers). Less than the fee only
    with `accept_shortfall`; more leaves the excess in suspense as an overpayment."""
    if not item.payment_key:
        raise CannotApply(f"suspense item {item.id} has no charge of a flow to settle (refund or write it off)")
    payment = session.exec(select(Payment).where(col(Payment.key) == item.payment_key)).first()
    if payment is None:
        raise CannotApply(f"suspense item {item.id}: its payment {item.payment_key!r} is gone")
    if payment.settled:
        raise CannotApply(f"the flow of payment {payment.key} is already paid: refund or write off the excess")
    fee = int(payment.amount_minor)
    amount = int(item.amount_minor)
    if amount < fee and not accept_shortfall:
        raise CannotApply(
            f"{amount} {item.asset} is short of the fee {fee}: refund it, or accept the shortfall",
            code="suspense_short_of_fee",
            status=422,
        )
    program = session.get(Program, payment.program_id)
    assert program is not None
    resolve(session, item, SuspenseStatus.APPLIED, actor, note="applied to the fee")
    settled = min(amount, fee)
    ref = payment.ledger_ref
    commissions.settle_payment(session, ref, program.slug, payment.wallet, settled, item.asset)
    suspense = int(payment.suspense_minor) - amount
    if amount > settled:
        open_item(
            session,
            f"suspense:{ref}:overpayment:applied:{item.id}",
            ref,
            amount - settled,
            item.asset,
            SuspenseReason.OVERPAYMENT,
            payment_key=payment.key,
            flow_id=payment.flow_id,
            note=f"excess of suspense item {item.id} over the fee",
        )
        suspense += amount - settled
    payment.settled, payment.suspense_minor = True, suspense
    payment.status, payment.updated_at = PaymentStatus.CONFIRMED.value, utcnow()
    session.add(payment)
    session.flush()
    return payment
