"""Applying a provider event to the books: confirm it with the provider, decide, book — once.

The event is only a trigger. The charge is read from the provider (`get_charge`), and the provider's
confirmed view (total received, currency, refunded or not) is compared with what the books already
hold for that charge (`models.payment_outcomes.decide`); the difference is booked in one DB
transaction with the payment row locked (`models.payment_books.book`). So a forged or replayed signal
cannot move money, repeated or reordered events book nothing twice, and a late event for an older
charge of the flow is booked as what it is (see the table in `models/payment_outcomes.py`).

Used by the onboarding flow while it runs and by payment aftercare once it has ended.
"""

from __future__ import annotations

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from core.columns import utcnow
from core.db import session_scope
from core.logs import get_logger
from core.settings import Settings
from models.onboarding import FlowState, Onboarding, Paid, Rail
from models.onboarding_io import Applied, ApplyEvent
from models.payment_books import book
from models.payment_outcomes import FlowOutcome, FlowView, Held, ProviderView, decide
from models.payments import GetChargeRequest, Payment, PaymentEventKind, payment_for_event
from models.platform import Program
from payments.charges import Charges

log = get_logger(__name__)


class PaymentOutcomes:
    def __init__(self, settings: Settings, engine: Engine, http: httpx.Client):
        self.engine = engine
        self.charges = Charges(settings, engine, http)

    def apply(self, req: ApplyEvent) -> Applied:
        event = req.event
        with Session(self.engine) as session:
            payment = payment_for_event(session, event)
            key = payment.key if payment is not None else None
            flow = payment.flow_id if payment is not None else None
        if key is None or flow != req.flow_id:
            log.warning("payment_event_not_for_flow", flow_id=req.flow_id, event_id=event.event_id, payment_key=key)
            return Applied(outcome=FlowOutcome.NONE, message="not a charge of this flow")
        view = self._view(req, key)
        with session_scope(self.engine) as session:
            payment = _locked_payment(session, key)
            program = session.get(Program, payment.program_id)
            assert program is not None
            decision = decide(
                view, int(payment.amount_minor), payment.currency, _held(payment), _flow(session, req, payment)
            )
            book(session, payment, program, decision)
            self._mirror_on_row(session, req, payment, decision.outcome, decision.message)
            paid = None
            if decision.outcome == FlowOutcome.SETTLED:
                fee = next(e for e in decision.entries if e.booking.value == "settle")
                paid = Paid(
                    rail=Rail(payment.provider),
                    payment_ref=payment.ledger_ref,
                    amount_minor=fee.amount_minor,
                    asset=fee.asset,
                )
        log.info(
            "payment_event_applied",
            flow_id=req.flow_id,
            payment_key=key,
            event_id=event.event_id,
            outcome=decision.outcome.value,
            entries=[e.booking.value for e in decision.entries],
        )
        return Applied(
            outcome=decision.outcome, paid=paid, payment_key=key, message=decision.message, rail=Rail(payment.provider)
        )

    def _view(self, req: ApplyEvent, key: str) -> ProviderView:
        if not req.confirm:  # an operator's record of a refund made in the provider's dashboard
            return ProviderView(
                kind=req.event.kind,
                refunded=req.event.kind == PaymentEventKind.REFUNDED,
                paid_minor=req.event.paid_minor or 0,
                paid_currency=req.event.paid_currency,
            )
        snap = self.charges.snapshot(GetChargeRequest(payment_key=key))
        kind = snap.kind
        if (
            req.expire_if_unpaid
            and not snap.paid_minor
            and kind not in (PaymentEventKind.PENDING, PaymentEventKind.REFUNDED)
        ):
            kind = PaymentEventKind.EXPIRED  # past our deadline, nothing paid, nothing on its way
        return ProviderView(
            kind=kind,
            paid_minor=snap.paid_minor or 0,
            paid_currency=snap.paid_currency,
            refunded=snap.kind == PaymentEventKind.REFUNDED,
        )

    @staticmethod
    def _mirror_on_row(session: Session, req: ApplyEvent, payment: Payment, outcome: FlowOutcome, message: str) -> None:
        """A flow that has ended cannot record what happened to its money: the row says it (the API reads it)."""
        if req.accepting:
            return  # the running flow records its own state
        row = session.exec(select(Onboarding).where(col(Onboarding.flow_id) == payment.flow_id)).first()
        if row is None:
            return
        if outcome == FlowOutcome.REFUNDED and payment.settled:
            row.state, row.state_since = FlowState.REFUNDED, utcnow()
            row.reason = ("refunded after delivery" if row.claim_tx else "refunded") + f": {message}"[:400]
        elif message:
            row.reason = message[:500]
        row.updated_at = utcnow()
        session.add(row)


def _locked_payment(session: Session, key: str) -> Payment:
    query = select(Payment).where(col(Payment.key) == key)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    payment = session.exec(query.execution_options(populate_existing=True)).first()
    assert payment is not None
    return payment


def _held(payment: Payment) -> Held:
    return Held(
        received_minor=int(payment.received_minor),
        suspense_minor=int(payment.suspense_minor),
        settled=payment.settled,
        reversed=payment.reversed,
    )


def _flow(session: Session, req: ApplyEvent, payment: Payment) -> FlowView:
    others = session.exec(
        select(Payment).where(
            col(Payment.flow_id) == payment.flow_id,
            col(Payment.key) != payment.key,
            col(Payment.settled).is_(True),
            col(Payment.reversed).is_(False),
        )
    ).first()
    row = session.exec(select(Onboarding).where(col(Onboarding.flow_id) == payment.flow_id)).first()
    onchain_paid = row is not None and row.rail == Rail.ONCHAIN and row.paid_amount_minor is not None
    delivered = row is not None and bool(row.claim_tx) and row.payment_ref == payment.ledger_ref
    return FlowView(
        accepting=req.accepting and others is None and not onchain_paid,
        delivered=delivered,
        settled_elsewhere=others is not None or onchain_paid,
    )
