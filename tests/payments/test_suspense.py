"""Suspense items: opened once per key, resolved at most once (refund, write-off, apply), audited, and
the books whole after each step."""

from __future__ import annotations

import threading

import pytest
from eth_account import Account
from sqlmodel import Session

from core.db import session_scope
from models import commissions as com
from models import ledger
from models.ledger import Accounts, SuspenseReason
from models.operators import Actor, audit_entries
from models.payment_books import CannotApply, apply_to_fee
from models.suspense import SuspenseResolved, SuspenseStatus, get_item, items, open_item, resolve
from tests.helpers.books import (
    ENDED,
    RAIL,
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

ALICE = Actor(name="operator:alice", operator_id=None)
BOB = Actor(name="operator:bob", operator_id=None)
REF = f"{RAIL}:CH-1"


def legs(engine, tx_id: str) -> tuple[str, list[tuple[str, str, int]]]:
    with Session(engine) as s:
        found = ledger.get_transaction(s, tx_id)
    assert found is not None, f"no ledger transaction {tx_id}"
    tx, postings = found
    return tx.kind, sorted((p.account, p.asset.value, p.amount) for p in postings)


def moved(debited: str, credited: str, asset: str, amount: int) -> list[tuple[str, str, int]]:
    return sorted([(debited, asset, amount), (credited, asset, -amount)])


def open_one(engine, key: str = "suspense:CH-1:late", amount: int = 7_000_000, asset: str = "USDC", **kwargs) -> int:
    with session_scope(engine) as s:
        item = open_item(s, key, REF, amount, asset, SuspenseReason.LATE_PAYMENT, **kwargs)
    assert item.id is not None
    return item.id


def resolve_id(engine, item_id: int, status: SuspenseStatus, actor: Actor | None = ALICE, **kwargs):
    with session_scope(engine) as s:
        return resolve(s, get_item(s, item_id, lock=True), status, actor, **kwargs)


def audit_of(engine, item_id: int):
    with Session(engine) as s:
        return audit_entries(s, target_type="suspense_item", target_id=str(item_id))


# --- opening ----------------------------------------------------------------------------------------


def test_open_item_posts_its_money_and_is_idempotent_per_key(db_engine):
    first = open_one(db_engine, note="arrived after expiry")
    before = counts(db_engine)
    assert open_one(db_engine, note="the same key again") == first  # the same key: the same item
    assert counts(db_engine) == before
    assert legs(db_engine, "suspense:CH-1:late") == (
        "suspense",
        moved(Accounts.processor_receivable(RAIL), Accounts.suspense(RAIL), "USDC", 7_000_000),
    )
    with Session(db_engine) as s:
        item = get_item(s, first)
    assert (item.status, item.rail, item.asset, int(item.amount_minor), item.reason, item.note) == (
        "open",
        RAIL,
        "USDC",
        7_000_000,
        "late_payment",
        "arrived after expiry",
    )
    with pytest.raises(ledger.LedgerConflict):  # the same key with other money: refused, nothing written
        open_one(db_engine, amount=7_000_001)
    assert counts(db_engine) == before
    second = open_one(db_engine, key="suspense:CH-1:late:2")  # another key: another item
    assert second != first
    with Session(db_engine) as s:
        assert [i.id for i in items(s, payment_ref=REF)] == [first, second]
    assert_books_ok(db_engine)


# --- refund and write-off ---------------------------------------------------------------------------


def test_refund_posts_the_money_back_out_audits_and_resolves_once(db_engine):
    item_id = open_one(db_engine)
    done = resolve_id(db_engine, item_id, SuspenseStatus.REFUNDED, note="sent back", external_ref="0xrefund")
    assert (done.status, done.external_ref, done.resolved_by, done.note) == (
        "refunded",
        "0xrefund",
        "operator:alice",
        "sent back",
    )
    assert done.resolution_tx_id == f"suspense:{item_id}:refunded" and done.resolved_at is not None
    assert legs(db_engine, done.resolution_tx_id) == (
        "suspense.refund",
        moved(Accounts.suspense(RAIL), Accounts.processor_receivable(RAIL), "USDC", 7_000_000),
    )
    [entry] = audit_of(db_engine, item_id)
    assert (entry.actor, entry.action, entry.before, entry.after) == (
        "operator:alice",
        "suspense.refunded",
        {"status": "open"},
        {"status": "refunded", "note": "sent back", "external_ref": "0xrefund"},
    )
    assert_books_ok(db_engine)

    before = counts(db_engine)
    for status in (SuspenseStatus.REFUNDED, SuspenseStatus.WRITTEN_OFF, SuspenseStatus.APPLIED):
        with pytest.raises(SuspenseResolved) as err:
            resolve_id(db_engine, item_id, status, BOB)
        assert (err.value.code, err.value.status) == ("suspense_already_resolved", 409)
    assert counts(db_engine) == before
    assert_books_ok(db_engine)


def test_write_off_keeps_the_money_as_revenue(db_engine):
    item_id = open_one(db_engine, amount=3_000_000, asset="USD")
    done = resolve_id(db_engine, item_id, SuspenseStatus.WRITTEN_OFF, note="payer unknown")
    assert (done.status, done.resolution_tx_id) == ("written_off", f"suspense:{item_id}:written_off")
    assert legs(db_engine, done.resolution_tx_id) == (
        "suspense.write_off",
        moved(Accounts.suspense(RAIL), Accounts.suspense_written_off, "USD", 3_000_000),
    )
    with Session(db_engine) as s:
        tx, _ = ledger.get_transaction(s, done.resolution_tx_id) or (None, None)
        assert tx is not None and tx.refs == {"payment_ref": REF, "note": "payer unknown"}
        assert ledger.balance(s, Accounts.suspense(RAIL), "USD") == 0
    assert [e.action for e in audit_of(db_engine, item_id)] == ["suspense.written_off"]
    with pytest.raises(SuspenseResolved):
        resolve_id(db_engine, item_id, SuspenseStatus.REFUNDED)
    assert_books_ok(db_engine)


def test_a_stale_copy_of_a_resolved_item_cannot_resolve_it_again(db_engine):
    """An item read before another operator resolved it: the conditional update refuses it, and the
    unit of work (with the other way out already posted) rolls back whole."""
    item_id = open_one(db_engine)
    with Session(db_engine) as s:
        stale = get_item(s, item_id)
    resolve_id(db_engine, item_id, SuspenseStatus.REFUNDED)
    before = counts(db_engine)
    for status in (SuspenseStatus.WRITTEN_OFF, SuspenseStatus.REFUNDED):
        with pytest.raises(SuspenseResolved) as err:
            with session_scope(db_engine) as s:
                resolve(s, stale, status, BOB)
        assert err.value.code == "suspense_already_resolved"
    assert counts(db_engine) == before
    assert_books_ok(db_engine)


def test_concurrent_resolutions_leave_exactly_one(db_engine):
    item_id = open_one(db_engine)
    with Session(db_engine) as s:
        copies = [get_item(s, item_id), get_item(s, item_id)]  # both read while it is open
        s.expunge_all()
    start = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def run(actor: Actor, status: SuspenseStatus, item) -> None:
        start.wait()
        try:
            with session_scope(db_engine) as s:
                resolve(s, item, status, actor, note=actor.name)
            outcomes[actor.name] = status
        except SuspenseResolved as exc:
            outcomes[actor.name] = exc

    threads = [
        threading.Thread(target=run, args=(ALICE, SuspenseStatus.REFUNDED, copies[0])),
        threading.Thread(target=run, args=(BOB, SuspenseStatus.WRITTEN_OFF, copies[1])),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    won = [(name, o) for name, o in outcomes.items() if isinstance(o, SuspenseStatus)]
    lost = [o for o in outcomes.values() if isinstance(o, SuspenseResolved)]
    assert len(won) == 1 and len(lost) == 1, outcomes
    winner, status = won[0]
    with Session(db_engine) as s:
        item = get_item(s, item_id)
        resolutions = [
            key
            for key in (f"suspense:{item_id}:refunded", f"suspense:{item_id}:written_off")
            if ledger.get_transaction(s, key) is not None
        ]
    assert (item.status, item.resolved_by) == (status.value, winner)
    assert resolutions == [item.resolution_tx_id]  # the loser's posting rolled back with it
    assert [e.actor for e in audit_of(db_engine, item_id)] == [winner]
    assert_books_ok(db_engine)


# --- apply to the fee -------------------------------------------------------------------------------


@pytest.fixture
def tree(db_engine):
    return referral_tree(db_engine)


def underpaid(engine, tree, name: str, amount: int) -> tuple[str, int]:
    """A charge paid `amount` < fee while its flow waited: one underpayment item."""
    key = make_payment(engine, tree.program_id, tree.user, name)
    apply(engine, key, paid(amount))
    with Session(engine) as s:
        [item] = items(s, payment_ref=f"{RAIL}:{name}")
    assert item.reason == "underpayment" and item.payment_key == key
    return key, item.id


def apply_item(engine, item_id: int, **kwargs):
    with session_scope(engine) as s:
        return apply_to_fee(s, get_item(s, item_id, lock=True), ALICE, **kwargs)


def test_apply_refuses_an_item_whose_payment_is_already_settled(db_engine, tree):
    key = make_payment(db_engine, tree.program_id, tree.user, "CH-S")
    apply(db_engine, key, paid(FEE + 4_000_000))  # settled, the excess in suspense
    with Session(db_engine) as s:
        [excess] = items(s, payment_ref=f"{RAIL}:CH-S")
    assert excess.reason == "overpayment"
    before = counts(db_engine)
    with pytest.raises(CannotApply) as err:
        apply_item(db_engine, excess.id)
    assert (err.value.code, err.value.status) == ("suspense_cannot_apply", 409)
    assert counts(db_engine) == before
    assert_books_ok(db_engine)


def test_apply_refuses_an_item_of_no_flow(db_engine, tree):
    item_id = open_one(db_engine)  # an unknown charge: no payment key
    with pytest.raises(CannotApply) as err:
        apply_item(db_engine, item_id)
    assert err.value.code == "suspense_cannot_apply"


def test_apply_short_of_the_fee_needs_accept_shortfall(db_engine, tree):
    key, item_id = underpaid(db_engine, tree, "CH-U", 60_000_000)
    before = counts(db_engine)
    with pytest.raises(CannotApply) as err:
        apply_item(db_engine, item_id)
    assert (err.value.code, err.value.status) == ("suspense_short_of_fee", 422)
    assert counts(db_engine) == before and not get_payment(db_engine, key).settled
    assert_books_ok(db_engine)

    payment = apply_item(db_engine, item_id, accept_shortfall=True)
    assert (payment.settled, payment.status, int(payment.suspense_minor), int(payment.received_minor)) == (
        True,
        "confirmed",
        0,
        60_000_000,
    )
    ref = f"{RAIL}:CH-U"
    assert legs(db_engine, f"suspense:{item_id}:applied") == (
        "suspense.apply",
        moved(Accounts.suspense(RAIL), Accounts.processor_receivable(RAIL), "USD", 60_000_000),
    )
    # The item's amount is what settles: commissions on 60 USD, not on the fee.
    assert legs(db_engine, f"settle:{ref}") == (
        "payment.settle",
        sorted(
            [
                (Accounts.processor_receivable(RAIL), "USD", 60_000_000),
                (Accounts.fee_revenue(SLUG), "USD", -60_000_000),
                (Accounts.commission_expense(SLUG), "USD", 6_000_000),
                (Accounts.affiliate_accrued(tree.child.id), "USD", -6_000_000),
                (Accounts.commission_expense(SLUG), "USD", 3_000_000),
                (Accounts.affiliate_accrued(tree.root.id), "USD", -3_000_000),
            ]
        ),
    )
    with Session(db_engine) as s:
        item = get_item(s, item_id)
        assert (item.status, item.resolved_by) == ("applied", "operator:alice")
        assert ledger.balance(s, Accounts.processor_receivable(RAIL), "USD") == 60_000_000
        assert ledger.balance(s, Accounts.suspense(RAIL), "USD") == 0
    assert [e.action for e in audit_of(db_engine, item_id)] == ["suspense.applied"]
    with pytest.raises(CannotApply):  # applied once: its payment is settled now
        apply_item(db_engine, item_id, accept_shortfall=True)
    assert_books_ok(db_engine)


def test_apply_above_the_fee_settles_the_fee_and_parks_the_excess(db_engine, tree):
    key = make_payment(db_engine, tree.program_id, tree.user, "CH-L")
    apply(db_engine, key, paid(FEE + 9_000_000), ENDED)  # arrived after the flow ended: all of it held
    with Session(db_engine) as s:
        [late] = items(s, payment_ref=f"{RAIL}:CH-L")
    assert (late.reason, int(late.amount_minor)) == ("late_payment", FEE + 9_000_000)
    assert int(get_payment(db_engine, key).suspense_minor) == FEE + 9_000_000

    payment = apply_item(db_engine, late.id)
    assert (payment.settled, payment.status) == (True, "confirmed")
    assert (int(payment.suspense_minor), int(payment.received_minor)) == (9_000_000, FEE + 9_000_000)
    ref = f"{RAIL}:CH-L"
    with Session(db_engine) as s:
        settlement = s.get(com.PaymentSettlement, ref)
        assert settlement is not None and int(settlement.amount) == FEE
        [excess] = items(s, payment_ref=ref)
        assert ledger.balance(s, Accounts.suspense(RAIL), "USD") == -9_000_000
        assert ledger.balance(s, Accounts.fee_revenue(SLUG), "USD") == -FEE
    assert (excess.reason, int(excess.amount_minor), excess.payment_key, excess.status) == (
        "overpayment",
        9_000_000,
        key,
        "open",
    )
    assert excess.ledger_tx_id == f"suspense:{ref}:overpayment:applied:{late.id}"
    assert_books_ok(db_engine)
    # The excess is refunded the ordinary way.
    resolve_id(db_engine, excess.id, SuspenseStatus.REFUNDED, external_ref="RF-9")
    assert_books_ok(db_engine)


def test_apply_an_item_in_another_usd_unit(db_engine, tree):
    key = make_payment(db_engine, tree.program_id, tree.user, "CH-C")
    apply(db_engine, key, paid(FEE, "USDC"), ENDED)
    with Session(db_engine) as s:
        [late] = items(s, payment_ref=f"{RAIL}:CH-C")
    payment = apply_item(db_engine, late.id)
    assert payment.settled and int(payment.suspense_minor) == 0
    with Session(db_engine) as s:
        settlement = s.get(com.PaymentSettlement, f"{RAIL}:CH-C")
        assert settlement is not None and (int(settlement.amount), settlement.asset) == (FEE, "USDC")
    assert_books_ok(db_engine)


def test_apply_of_a_stranger_pays_no_commission(db_engine, tree):
    stranger = Account.create().address
    key = make_payment(db_engine, tree.program_id, stranger, "CH-X")
    apply(db_engine, key, paid(FEE), ENDED)
    with Session(db_engine) as s:
        [late] = items(s, payment_ref=f"{RAIL}:CH-X")
    apply_item(db_engine, late.id)
    with Session(db_engine) as s:
        assert com.payment_commissions(s, f"{RAIL}:CH-X") == []
    assert_books_ok(db_engine)


def test_apply_refuses_money_in_an_asset_the_fee_cannot_settle_in(db_engine, tree):
    key = make_payment(db_engine, tree.program_id, tree.user, "CH-E")
    apply(db_engine, key, paid(10**18, "ETH"))
    with Session(db_engine) as s:
        [wrong] = items(s, payment_ref=f"{RAIL}:CH-E")
    assert (wrong.reason, wrong.asset) == ("wrong_asset", "ETH")
    before = counts(db_engine)
    with pytest.raises(com.SettlementError) as err:
        apply_item(db_engine, wrong.id)
    assert err.value.code == "invalid_asset"
    assert counts(db_engine) == before  # the suspense posting and the resolution rolled back with it
    with Session(db_engine) as s:
        assert get_item(s, wrong.id).status == "open"
    resolve_id(db_engine, wrong.id, SuspenseStatus.REFUNDED, external_ref="0xeth-back")  # its way out
    assert_books_ok(db_engine)
