"""Booking a payment decision (`models.payment_books.book`) on a real payment row: each kind of entry
posts exactly its legs, the row holds what was booked, a replay books nothing, and the books stay whole."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from core.db import session_scope
from models import commissions as com
from models import ledger
from models.ledger import Accounts
from models.payment_books import delivered_sge
from models.payment_outcomes import Booking, FlowOutcome, FlowView, ProviderView
from models.payments import PaymentEventKind, PaymentStatus
from models.suspense import items
from tests.helpers.books import (
    ENDED,
    RAIL,
    REFUNDED,
    SLUG,
    apply,
    assert_books_ok,
    counts,
    get_payment,
    make_payment,
    paid,
    referral_tree,
)
from tests.helpers.payments import FEE

RECEIVABLE = Accounts.processor_receivable(RAIL)
SUSPENSE = Accounts.suspense(RAIL)
CLAIM = 1000 * 10**18  # SGE delivered per claim


@pytest.fixture
def tree(db_engine):
    return referral_tree(db_engine)


def ref(name: str) -> str:
    return f"{RAIL}:{name}"


def held_on_row(engine, key: str) -> tuple[str, int, int, bool, bool]:
    p = get_payment(engine, key)
    return p.status, int(p.received_minor), int(p.suspense_minor), p.settled, p.reversed


def balance(engine, account: str, asset: str = "USD") -> int:
    with Session(engine) as s:
        return ledger.balance(s, account, asset)


def open_items(engine, name: str) -> list[tuple[str, int]]:
    with Session(engine) as s:
        return [(i.reason, int(i.amount_minor)) for i in items(s, payment_ref=ref(name))]


def legs(engine, tx_id: str) -> list[tuple[str, str, int]]:
    with Session(engine) as s:
        found = ledger.get_transaction(s, tx_id)
    assert found is not None, f"no ledger transaction {tx_id}"
    return sorted((p.account, p.asset.value, p.amount) for p in found[1])


def settle_legs(tree, amount: int = FEE, asset: str = "USD") -> list[tuple[str, str, int]]:
    return sorted(
        [
            (RECEIVABLE, asset, amount),
            (Accounts.fee_revenue(SLUG), asset, -amount),
            (Accounts.commission_expense(SLUG), asset, amount // 10),
            (Accounts.affiliate_accrued(tree.child.id), asset, -(amount // 10)),
            (Accounts.commission_expense(SLUG), asset, amount // 20),
            (Accounts.affiliate_accrued(tree.root.id), asset, -(amount // 20)),
        ]
    )


def test_settle_books_revenue_and_commissions(db_engine, tree):
    key = make_payment(db_engine, tree.program_id, tree.user, "CH-1")
    decision = apply(db_engine, key, paid(FEE))
    assert [e.booking for e in decision.entries] == [Booking.SETTLE]
    assert held_on_row(db_engine, key) == (PaymentStatus.CONFIRMED.value, FEE, 0, True, False)
    assert legs(db_engine, f"settle:{ref('CH-1')}") == settle_legs(tree)
    with Session(db_engine) as s:
        assert [(c.level, c.affiliate_id, c.amount) for c in com.payment_commissions(s, ref("CH-1"))] == [
            (1, tree.child.id, 10_000_000),
            (2, tree.root.id, 5_000_000),
        ]
    assert open_items(db_engine, "CH-1") == []
    assert_books_ok(db_engine)


def test_overpayment_settles_and_parks_the_excess(db_engine, tree):
    key = make_payment(db_engine, tree.program_id, tree.user, "CH-2")
    apply(db_engine, key, paid(FEE + 3_000_000))
    assert held_on_row(db_engine, key) == (PaymentStatus.CONFIRMED.value, FEE + 3_000_000, 3_000_000, True, False)
    assert legs(db_engine, f"settle:{ref('CH-2')}") == settle_legs(tree)  # commissions on the fee only
    assert open_items(db_engine, "CH-2") == [("overpayment", 3_000_000)]
    assert legs(db_engine, f"suspense:{ref('CH-2')}:overpayment:{FEE + 3_000_000}") == sorted(
        [(RECEIVABLE, "USD", 3_000_000), (SUSPENSE, "USD", -3_000_000)]
    )
    assert balance(db_engine, RECEIVABLE) == FEE + 3_000_000
    assert_books_ok(db_engine)
    # More money on the settled payment: another overpayment item, for the difference only.
    apply(db_engine, key, paid(FEE + 5_000_000))
    assert open_items(db_engine, "CH-2") == [("overpayment", 3_000_000), ("overpayment", 2_000_000)]
    assert held_on_row(db_engine, key)[1:3] == (FEE + 5_000_000, 5_000_000)
    assert_books_ok(db_engine)


def test_underpayment_then_the_rest_applies_the_suspense_and_settles(db_engine, tree):
    key = make_payment(db_engine, tree.program_id, tree.user, "CH-3")
    decision = apply(db_engine, key, paid(60_000_000))
    assert decision.outcome == FlowOutcome.UNDERPAID
    assert held_on_row(db_engine, key) == (PaymentStatus.UNDERPAID.value, 60_000_000, 60_000_000, False, False)
    assert open_items(db_engine, "CH-3") == [("underpayment", 60_000_000)]
    with Session(db_engine) as s:
        [item] = items(s, payment_ref=ref("CH-3"))
    assert legs(db_engine, item.ledger_tx_id) == sorted(
        [(RECEIVABLE, "USD", 60_000_000), (SUSPENSE, "USD", -60_000_000)]
    )
    assert_books_ok(db_engine)

    decision = apply(db_engine, key, paid(FEE))  # the payer sends the other 40
    assert [(e.booking, e.amount_minor) for e in decision.entries] == [
        (Booking.APPLY_SUSPENSE, 60_000_000),
        (Booking.SETTLE, FEE),
    ]
    assert held_on_row(db_engine, key) == (PaymentStatus.CONFIRMED.value, FEE, 0, True, False)
    assert legs(db_engine, f"suspense:{item.id}:applied") == sorted(
        [(SUSPENSE, "USD", 60_000_000), (RECEIVABLE, "USD", -60_000_000)]
    )
    assert legs(db_engine, f"settle:{ref('CH-3')}") == settle_legs(tree)
    with Session(db_engine) as s:
        [resolved] = items(s, status=None, payment_ref=ref("CH-3"))
    assert (resolved.status, resolved.resolved_by) == ("applied", "flow")
    assert open_items(db_engine, "CH-3") == []
    assert balance(db_engine, RECEIVABLE) == FEE and balance(db_engine, SUSPENSE) == 0  # every cent once
    assert_books_ok(db_engine)


def test_refund_before_delivery_reverses_and_releases_the_suspense(db_engine, tree):
    key = make_payment(db_engine, tree.program_id, tree.user, "CH-4")
    apply(db_engine, key, paid(FEE + 3_000_000))
    decision = apply(db_engine, key, REFUNDED, ENDED)
    assert [e.booking for e in decision.entries] == [Booking.REVERSE, Booking.RELEASE_SUSPENSE]
    assert decision.outcome == FlowOutcome.REFUNDED
    status, received, suspense, settled, reversed_ = held_on_row(db_engine, key)
    assert (status, suspense, settled, reversed_) == (PaymentStatus.REFUNDED.value, 0, True, True)
    assert received == FEE + 3_000_000  # what was booked as received does not shrink
    with Session(db_engine) as s:
        settlement = s.get(com.PaymentSettlement, ref("CH-4"))
        assert settlement is not None and settlement.status == "reversed"
        assert [c.status for c in com.payment_commissions(s, ref("CH-4"))] == ["cancelled", "cancelled"]
        [released] = items(s, status=None, payment_ref=ref("CH-4"))
    assert legs(db_engine, f"reverse:{ref('CH-4')}") == sorted(
        (a, s, -n) for a, s, n in settle_legs(tree)
    )  # the settlement, exactly undone
    assert released.status == "refunded" and released.resolved_by == "flow"
    assert legs(db_engine, f"suspense:{released.id}:refunded") == sorted(
        [(SUSPENSE, "USD", 3_000_000), (RECEIVABLE, "USD", -3_000_000)]
    )
    for account in (RECEIVABLE, SUSPENSE, Accounts.fee_revenue(SLUG), Accounts.commission_expense(SLUG)):
        assert balance(db_engine, account) == 0, account
    with Session(db_engine) as s:
        assert ledger.get_transaction(s, f"sge_loss:{ref('CH-4')}") is None
    assert_books_ok(db_engine)


def test_refund_after_delivery_books_the_delivered_sge_as_lost(db_engine, tree):
    key = make_payment(db_engine, tree.program_id, tree.user, "CH-5")
    apply(db_engine, key, paid(FEE))
    with session_scope(db_engine) as s:
        ledger.post_claim_delivery(
            s,
            ledger.ClaimDeliveryRequest(
                key=f"delivery:{ref('CH-5')}",
                program=SLUG,
                wallet=tree.user,
                amount_minor=CLAIM,
                payment_ref=ref("CH-5"),
                chain_tx="0xclaim",
            ),
        )
    with Session(db_engine) as s:
        assert delivered_sge(s, ref("CH-5")) == CLAIM
        assert delivered_sge(s, ref("CH-none")) == 0
    decision = apply(db_engine, key, REFUNDED, FlowView(accepting=False, delivered=True))
    assert [e.booking for e in decision.entries] == [Booking.REVERSE, Booking.SGE_LOSS]
    assert decision.message == "refunded after delivery"
    assert held_on_row(db_engine, key) == (PaymentStatus.REFUNDED.value, FEE, 0, True, True)
    assert legs(db_engine, f"reverse:{ref('CH-5')}") == sorted((a, s, -n) for a, s, n in settle_legs(tree))
    assert legs(db_engine, f"sge_loss:{ref('CH-5')}") == sorted(
        [(Accounts.sge_loss(SLUG), "SGE", CLAIM), (Accounts.sge_delivered(SLUG), "SGE", -CLAIM)]
    )
    assert balance(db_engine, Accounts.sge_loss(SLUG), "SGE") == CLAIM
    assert balance(db_engine, Accounts.sge_delivered(SLUG), "SGE") == 0
    assert balance(db_engine, Accounts.sge_inventory, "SGE") == -CLAIM  # the delivery itself stays
    assert_books_ok(db_engine)


@pytest.mark.parametrize(
    "first", [pytest.param(FlowView(accepting=True), id="underpaid"), pytest.param(ENDED, id="late")]
)
def test_refund_of_held_money_after_the_flow_ended_marks_the_payment_refunded(db_engine, tree, first):
    """Nothing changes for the ended flow, but the charge's money went back: the row says so (it said
    in_suspense, with nothing in suspense, before the fix)."""
    key = make_payment(db_engine, tree.program_id, tree.user, "CH-H")
    apply(db_engine, key, paid(60_000_000), first)
    decision = apply(db_engine, key, REFUNDED, ENDED)
    assert [e.booking for e in decision.entries] == [Booking.RELEASE_SUSPENSE]
    assert decision.outcome == FlowOutcome.NONE
    assert held_on_row(db_engine, key) == (PaymentStatus.REFUNDED.value, 60_000_000, 0, False, False)
    assert open_items(db_engine, "CH-H") == [] and balance(db_engine, SUSPENSE) == 0
    assert_books_ok(db_engine)


@pytest.mark.parametrize(
    "steps",
    [
        pytest.param([(FEE, None)], id="settled"),
        pytest.param([(FEE + 3_000_000, None)], id="overpaid"),
        pytest.param([(60_000_000, None)], id="underpaid"),
        pytest.param([(60_000_000, None), (FEE, None)], id="applied-then-settled"),
        pytest.param([(FEE, ENDED)], id="late"),
        pytest.param([(FEE + 3_000_000, None), ("refund", ENDED)], id="refunded"),
    ],
)
def test_a_replayed_decision_books_nothing_new(db_engine, tree, steps):
    """The same provider view decided again against the updated row (an activity retried after its
    commit, a repeated or reordered webhook) finds nothing new: no entries, no rows, the row unchanged."""
    key = make_payment(db_engine, tree.program_id, tree.user, "CH-R")
    for total, flow in steps:
        view = REFUNDED if total == "refund" else paid(total)
        apply(db_engine, key, view, flow or FlowView(accepting=True))
    assert_books_ok(db_engine)
    before, row = counts(db_engine), held_on_row(db_engine, key)
    for flow in (FlowView(accepting=True), ENDED):
        again = apply(db_engine, key, view, flow)
        assert again.entries == [], again
        assert counts(db_engine) == before and held_on_row(db_engine, key) == row
    # An older view (less money than the books hold) is not a refund of the difference either.
    if view is not REFUNDED:
        assert apply(db_engine, key, paid(total - 1)).entries == []
        assert counts(db_engine) == before
    assert_books_ok(db_engine)


def test_no_money_outcomes_book_nothing(db_engine, tree):
    key = make_payment(db_engine, tree.program_id, tree.user, "CH-N")
    before = counts(db_engine)
    for kind, status in (
        (PaymentEventKind.PENDING, PaymentStatus.PENDING),
        (PaymentEventKind.FAILED, PaymentStatus.FAILED),
        (PaymentEventKind.EXPIRED, PaymentStatus.EXPIRED),
    ):
        decision = apply(db_engine, key, ProviderView(kind=kind))
        assert decision.entries == [] and held_on_row(db_engine, key)[0] == status.value
    assert counts(db_engine) == before
    assert_books_ok(db_engine)
