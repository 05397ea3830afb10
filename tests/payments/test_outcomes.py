"""The payment-outcome decision: every received cent booked exactly once, whatever the event order."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from models.ledger import SuspenseReason
from models.payment_outcomes import Booking, FlowOutcome, FlowView, Held, ProviderView, decide
from models.payments import PaymentEventKind as K

FEE = 100_000_000
OPEN = FlowView(accepting=True)


def view(paid: int = 0, currency: str | None = "USD", kind: K = K.CONFIRMED, refunded: bool = False) -> ProviderView:
    return ProviderView(kind=kind, paid_minor=paid, paid_currency=currency, refunded=refunded)


def test_exact_fee_settles():
    d = decide(view(FEE), FEE, "USD", Held(), OPEN)
    assert d.outcome == FlowOutcome.SETTLED
    assert [(e.booking, e.amount_minor) for e in d.entries] == [(Booking.SETTLE, FEE)]
    assert d.received_minor == FEE


def test_overpayment_settles_and_parks_the_excess():
    d = decide(view(FEE + 5), FEE, "USD", Held(), OPEN)
    assert d.outcome == FlowOutcome.SETTLED
    assert [(e.booking, e.amount_minor, e.reason) for e in d.entries] == [
        (Booking.SETTLE, FEE, None),
        (Booking.SUSPENSE, 5, SuspenseReason.OVERPAYMENT),
    ]


def test_underpayment_goes_to_suspense():
    d = decide(view(FEE - 1), FEE, "USD", Held(), OPEN)
    assert d.outcome == FlowOutcome.UNDERPAID
    assert [(e.booking, e.reason) for e in d.entries] == [(Booking.SUSPENSE, SuspenseReason.UNDERPAYMENT)]


def test_wrong_asset_goes_to_suspense():
    d = decide(view(10**18, "ETH"), FEE, "USD", Held(), OPEN)
    assert d.outcome == FlowOutcome.WRONG_ASSET
    assert d.entries[0].reason == SuspenseReason.WRONG_ASSET and d.entries[0].asset == "ETH"


def test_usd_stablecoins_pay_a_usd_charge():
    assert decide(view(FEE, "USDC"), FEE, "USD", Held(), OPEN).outcome == FlowOutcome.SETTLED


def test_no_money_outcomes():
    assert decide(view(kind=K.PENDING), FEE, "USD", Held(), OPEN).outcome == FlowOutcome.PENDING
    assert decide(view(kind=K.FAILED), FEE, "USD", Held(), OPEN).outcome == FlowOutcome.FAILED
    assert decide(view(kind=K.EXPIRED), FEE, "USD", Held(), OPEN).outcome == FlowOutcome.EXPIRED
    assert decide(view(kind=K.CREATED), FEE, "USD", Held(), OPEN).outcome == FlowOutcome.NONE
    closed = FlowView(accepting=False)
    assert decide(view(kind=K.EXPIRED), FEE, "USD", Held(), closed).outcome == FlowOutcome.NONE


def test_failed_event_with_money_attached_is_a_payment():
    # Commerce charge:failed with context OVERPAID / DELAYED / MULTIPLE still carries the money received.
    d = decide(view(FEE + 7, kind=K.FAILED), FEE, "USD", Held(), OPEN)
    assert d.outcome == FlowOutcome.SETTLED and d.received_minor == FEE + 7


def test_money_after_the_flow_ended_is_late():
    d = decide(view(FEE), FEE, "USD", Held(), FlowView(accepting=False))
    assert d.outcome == FlowOutcome.NONE and d.entries[0].reason == SuspenseReason.LATE_PAYMENT


def test_a_second_payment_of_a_paid_flow_is_a_duplicate():
    d = decide(view(FEE), FEE, "USD", Held(), FlowView(accepting=False, settled_elsewhere=True))
    assert d.entries[0].reason == SuspenseReason.DUPLICATE_PAYMENT


def test_repeat_of_a_settled_event_books_nothing():
    held = Held(received_minor=FEE, settled=True)
    d = decide(view(FEE), FEE, "USD", held, FlowView(accepting=False, delivered=True))
    assert d.entries == [] and d.outcome == FlowOutcome.NONE


def test_held_money_is_applied_when_the_rest_arrives():
    held = Held(received_minor=60, suspense_minor=60)
    d = decide(view(FEE), FEE, "USD", held, OPEN)
    assert d.outcome == FlowOutcome.SETTLED
    assert [(e.booking, e.amount_minor) for e in d.entries] == [(Booking.APPLY_SUSPENSE, 60), (Booking.SETTLE, FEE)]
    assert d.received_minor == FEE - 60


def test_refund_before_and_after_delivery():
    settled = Held(received_minor=FEE + 5, suspense_minor=5, settled=True)
    before = decide(view(refunded=True), FEE, "USD", settled, FlowView(accepting=False))
    assert [e.booking for e in before.entries] == [Booking.REVERSE, Booking.RELEASE_SUSPENSE]
    assert before.outcome == FlowOutcome.REFUNDED
    after = decide(view(refunded=True), FEE, "USD", settled, FlowView(accepting=False, delivered=True))
    assert [e.booking for e in after.entries] == [Booking.REVERSE, Booking.SGE_LOSS, Booking.RELEASE_SUSPENSE]
    again = decide(
        view(refunded=True),
        FEE,
        "USD",
        Held(received_minor=FEE, settled=True, reversed=True),
        FlowView(accepting=False, delivered=True),
    )
    assert again.entries == [] and again.outcome == FlowOutcome.NONE


def test_money_refunded_before_anything_booked_it_keeps_both_legs():
    d = decide(view(FEE, refunded=True), FEE, "USD", Held(), OPEN)
    assert [(e.booking, e.amount_minor, e.reason) for e in d.entries] == [
        (Booking.SUSPENSE, FEE, SuspenseReason.REFUNDED),
        (Booking.RELEASE_SUSPENSE, FEE, None),
    ]
    assert d.outcome == FlowOutcome.REFUNDED and d.received_minor == FEE


def test_refund_of_an_unpaid_charge_ends_the_flow_without_entries():
    d = decide(view(refunded=True), FEE, "USD", Held(), OPEN)
    assert d.entries == [] and d.outcome == FlowOutcome.REFUNDED


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3 * FEE), st.sampled_from([K.CONFIRMED, K.PENDING, K.FAILED, K.DELAYED])),
        min_size=1,
        max_size=8,
    )
)
def test_every_received_cent_is_booked_exactly_once(events):
    """Provider totals only grow (a later event may repeat an earlier total): whatever the sequence,
    the books end holding exactly the largest total seen, and at most one settlement."""
    held, accepting, settlements, high = Held(), True, 0, 0
    for paid, kind in sorted(events, key=lambda e: e[0]):
        high = max(high, paid)
        d = decide(view(paid, kind=kind), FEE, "USD", held, FlowView(accepting=accepting))
        settled_now = any(e.booking == Booking.SETTLE for e in d.entries)
        settlements += settled_now
        applied = sum(e.amount_minor for e in d.entries if e.booking == Booking.APPLY_SUSPENSE)
        parked = sum(e.amount_minor for e in d.entries if e.booking == Booking.SUSPENSE)
        held = Held(
            received_minor=held.received_minor + d.received_minor,
            suspense_minor=held.suspense_minor - applied + parked,
            settled=held.settled or settled_now,
        )
        if d.outcome in (FlowOutcome.SETTLED, FlowOutcome.UNDERPAID, FlowOutcome.FAILED, FlowOutcome.EXPIRED):
            accepting = False
    assert held.received_minor == high
    assert settlements <= 1
    assert held.suspense_minor == high - (FEE if held.settled else 0)
