"""Helpers for the tests of payment booking and suspense: a referral tree in a program, payment rows
written directly, a decision booked the way payment outcomes books it, and the books checked whole."""

from __future__ import annotations

from dataclasses import dataclass

from eth_account import Account
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from core.db import row_id, session_scope
from models import affiliates as aff
from models.books import verify_books
from models.payment_books import book
from models.payment_outcomes import Decision, FlowView, Held, ProviderView, decide
from models.payments import Payment, PaymentEventKind, PaymentStatus
from models.platform import PaymentProvider, Program
from tests.helpers.ledger import TABLES, check_ledger_invariants, register
from tests.helpers.payments import FEE, make_program

SLUG = "demo"
RAIL = PaymentProvider.COINBASE_COMMERCE.value
ACCEPTING = FlowView(accepting=True)
ENDED = FlowView(accepting=False)


@dataclass
class Tree:
    program_id: int
    root: aff.Affiliate
    child: aff.Affiliate
    user: str  # attributed to child: child earns level 1 (10 %), root level 2 (5 %)


def referral_tree(engine: Engine) -> Tree:
    """The demo program (fee 100 USD, 10 % / 5 %), written directly; root ← child ← user."""
    program = make_program(engine, PaymentProvider.COINBASE_COMMERCE, slug=SLUG)
    root = register(engine, program=SLUG)
    child = register(engine, parent_code=root.code, program=SLUG)
    user = Account.create().address
    with session_scope(engine) as s:
        assert aff.attribute(s, SLUG, user, child.code, "test").status == "new"
    return Tree(program_id=row_id(program), root=root, child=child, user=user)


def make_payment(engine: Engine, program_id: int, wallet: str, name: str, amount: int = FEE) -> str:
    """An open charge of flow `onboarding:<name>` (provider ref `name`); returns its payment key."""
    key = f"pay:{name}"
    with session_scope(engine) as s:
        s.add(
            Payment(
                key=key,
                program_id=program_id,
                wallet=wallet,
                wallet_lower=wallet.lower(),
                provider=RAIL,
                provider_ref=name,
                amount_minor=amount,
                currency="USD",
                status=PaymentStatus.OPEN.value,
                flow_id=f"onboarding:{name}",
            )
        )
    return key


def get_payment(engine: Engine, key: str) -> Payment:
    with Session(engine) as s:
        payment = s.exec(select(Payment).where(col(Payment.key) == key)).one()
        s.expunge(payment)
    return payment


def held(payment: Payment) -> Held:
    return Held(
        received_minor=int(payment.received_minor),
        suspense_minor=int(payment.suspense_minor),
        settled=payment.settled,
        reversed=payment.reversed,
    )


def paid(total: int, currency: str = "USD") -> ProviderView:
    return ProviderView(kind=PaymentEventKind.CONFIRMED, paid_minor=total, paid_currency=currency)


REFUNDED = ProviderView(kind=PaymentEventKind.REFUNDED, refunded=True)


def apply(engine: Engine, key: str, view: ProviderView, flow: FlowView = ACCEPTING) -> Decision:
    """Decide from what the payment row holds and book it, in one unit of work (as payment outcomes does)."""
    with session_scope(engine) as s:
        payment = s.exec(select(Payment).where(col(Payment.key) == key)).one()
        program = s.get(Program, payment.program_id)
        assert program is not None
        decision = decide(view, int(payment.amount_minor), payment.currency, held(payment), flow)
        book(s, payment, program, decision)
    return decision


def counts(engine: Engine) -> dict[str, int]:
    """Rows per table of everything booking may write (what "books nothing" compares)."""
    with engine.connect() as conn:
        return {
            t: conn.execute(text(f'SELECT COUNT(*) FROM "{t}"')).scalar_one()
            for t in (*TABLES, "payment", "suspense_item")
        }


def assert_books_ok(engine: Engine) -> None:
    with Session(engine) as s:
        report = verify_books(s)
    assert report.ok, report.problems
    check_ledger_invariants(engine)
