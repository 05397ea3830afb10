"""Building a batch in the DB (models.payouts.selection) on SQLite: lines per affiliate, clawbacks
netted, suspended affiliates and small lines skipped, one reservation per line, paid / voided lines."""

from __future__ import annotations

from datetime import timedelta

import pytest
from eth_account import Account
from sqlmodel import Session

from core.columns import utcnow
from core.db import session_scope
from models import affiliates as aff
from models import commissions as com
from models import ledger
from models.affiliates import AffiliateStatus
from models.ledger import Accounts
from models.payouts import BatchState, LineState, PayoutBatchRow
from models.payouts import selection as sel
from models.payouts.approvers import eligible_addresses, operator_addresses, register_address
from models.payouts.records import PayoutError
from tests.helpers.ledger import CLI, balances, make_operator, make_program, register

FEE = 100_000_000  # 100 USD: level 1 earns 10 USD, level 2 5 USD


@pytest.fixture
def tree(db_engine):
    make_program(db_engine)
    root = register(db_engine)
    child = register(db_engine, parent_code=root.code)
    user = Account.create().address
    with session_scope(db_engine) as s:
        aff.attribute(s, "demo", user, child.code, "test")
    return root, child, user


def _pay(engine, ref, wallet):
    with session_scope(engine) as s:
        com.settle_payment(s, ref, "demo", wallet, FEE, "USDC")


def _release(engine):
    with session_scope(engine) as s:
        com.release_due(s, now=utcnow() + timedelta(days=31))


def _fund(engine):
    with session_scope(engine) as s:
        ledger.post_transaction(
            s,
            "fund:payouts",
            "funding",
            {},
            [ledger.debit(Accounts.payout_contract, "USDC", 10**12), ledger.credit(Accounts.capital, "USDC", 10**12)],
        )


def _create(engine, batch_id="payout:demo:2026-W48", min_amount=1_000_000):
    with session_scope(engine) as s:
        program = aff.program_by_slug(s, "demo")
        drafts, skipped = sel.draft_lines(s, program, min_amount=min_amount)
        if drafts:
            row = PayoutBatchRow(id=batch_id, program_id=program.id, period="2026-W48", state="awaiting_approval")
            sel.reserve_lines(s, row, program, drafts)
        return drafts, skipped


def test_one_line_per_affiliate_each_reserved_on_its_own(db_engine, tree):
    root, child, user = tree
    _pay(db_engine, "coinbase_commerce:A-1", user)
    _pay(db_engine, "coinbase_commerce:A-2", user)
    _release(db_engine)
    drafts, skipped = _create(db_engine)
    assert skipped == []
    assert sorted((d.affiliate_id, d.amount, len(d.commission_ids)) for d in drafts) == sorted(
        [(child.id, 20_000_000, 2), (root.id, 10_000_000, 2)]
    )
    with Session(db_engine) as s:
        lines = sel.batch_lines(s, "payout:demo:2026-W48")
    assert {ln.reservation_key for ln in lines} == {f"payout:demo:2026-W48:{ln.payout_id}" for ln in lines}
    assert all(ln.state == LineState.RESERVED.value for ln in lines)
    assert sel.payout_id_of("payout:demo:2026-W48", child.id) in {ln.payout_id for ln in lines}
    b = balances(db_engine)
    assert b[(Accounts.payouts_in_flight("demo"), "USDC")] == -30_000_000
    # Nothing payable is left: a second batch finds nothing.
    assert _create(db_engine, "payout:demo:batch-2") == ([], [])


def test_a_line_pays_or_is_voided_alone_and_only_once(db_engine, tree):
    root, child, user = tree
    _fund(db_engine)
    _pay(db_engine, "coinbase_commerce:B-1", user)
    _release(db_engine)
    _create(db_engine)
    with Session(db_engine) as s:
        lines = {ln.affiliate_id: ln.payout_id for ln in sel.batch_lines(s, "payout:demo:2026-W48")}
    with session_scope(db_engine) as s:
        sel.mark_line_paid(s, lines[child.id], "0x" + "ab" * 32)
        sel.mark_line_paid(s, lines[child.id], "0x" + "ab" * 32)  # replay: nothing more
        sel.void_line(s, lines[root.id], "InvalidProof")
        sel.void_line(s, lines[root.id], "again")
        assert sel.void_line(s, lines[child.id], "too late").state == LineState.PAID.value  # paid stays paid
    b = balances(db_engine)
    assert b[(Accounts.payout_contract, "USDC")] == 10**12 - 10_000_000
    assert b[(Accounts.affiliate_payable(root.id), "USDC")] == -5_000_000  # back to payable
    with Session(db_engine) as s:
        states = sorted(c.status for c in com.payment_commissions(s, "coinbase_commerce:B-1"))
    assert states == ["paid", "payable"]
    with session_scope(db_engine) as s, pytest.raises(PayoutError):
        sel.mark_line_paid(s, lines[root.id], "0x" + "cd" * 32)  # a voided line is never paid
    with Session(db_engine) as s:
        assert ledger.verify(s).ok


def test_open_clawbacks_are_netted_and_settled_when_the_line_pays(db_engine, tree):
    _root, child, user = tree
    _fund(db_engine)
    _pay(db_engine, "coinbase_commerce:C-1", user)
    _release(db_engine)
    _create(db_engine, "payout:demo:batch-1")
    with Session(db_engine) as s:
        first = sel.batch_lines(s, "payout:demo:batch-1")
    with session_scope(db_engine) as s:
        for line in first:
            sel.mark_line_paid(s, line.payout_id, "0x" + "01" * 32)
        com.reverse_payment(s, "coinbase_commerce:C-1", "chargeback")  # paid: child owes 10, root 5
    for ref in ("C-2", "C-3"):
        _pay(db_engine, f"coinbase_commerce:{ref}", user)
    _release(db_engine)
    drafts, _skipped = _create(db_engine, "payout:demo:batch-2")
    (line,) = [d for d in drafts if d.affiliate_id == child.id]
    assert (line.gross, line.netted, line.amount) == (20_000_000, {"USDC": 10_000_000}, 10_000_000)
    with Session(db_engine) as s:
        (row,) = [ln for ln in sel.batch_lines(s, "payout:demo:batch-2") if ln.affiliate_id == child.id]
    before = balances(db_engine)[(Accounts.payout_contract, "USDC")]
    with session_scope(db_engine) as s:
        sel.mark_line_paid(s, row.payout_id, "0x" + "02" * 32)
    b = balances(db_engine)
    assert before - b[(Accounts.payout_contract, "USDC")] == 10_000_000  # only what went out on chain
    assert b.get((Accounts.affiliate_clawback(child.id), "USDC"), 0) == 0  # the debt is settled
    with Session(db_engine) as s:
        assert ledger.verify(s).ok


def test_owing_more_than_payable_or_a_small_line_or_suspension_skips(db_engine, tree):
    root, child, user = tree
    _fund(db_engine)
    _pay(db_engine, "coinbase_commerce:D-1", user)
    _pay(db_engine, "coinbase_commerce:D-2", user)
    _release(db_engine)
    _create(db_engine, "payout:demo:batch-1")
    with Session(db_engine) as s:
        lines = sel.batch_lines(s, "payout:demo:batch-1")
    with session_scope(db_engine) as s:
        for line in lines:
            sel.mark_line_paid(s, line.payout_id, "0x" + "03" * 32)
        com.reverse_payment(s, "coinbase_commerce:D-1", "chargeback")
        com.reverse_payment(s, "coinbase_commerce:D-2", "chargeback")  # child owes 20, root 10
    _pay(db_engine, "coinbase_commerce:D-3", user)  # child +10, root +5
    _release(db_engine)
    drafts, skipped = _create(db_engine, "payout:demo:batch-2")
    assert drafts == []
    assert sorted((s.affiliate_id, s.reason) for s in skipped) == sorted(
        [(child.id, "nothing_after_clawbacks"), (root.id, "nothing_after_clawbacks")]
    )
    with Session(db_engine) as s:  # their commissions stay payable
        assert {c.status for c in com.payment_commissions(s, "coinbase_commerce:D-3")} == {"payable"}


def test_suspended_affiliates_and_lines_under_the_minimum_are_skipped(db_engine, tree):
    root, child, user = tree
    _pay(db_engine, "coinbase_commerce:E-1", user)
    _release(db_engine)
    with session_scope(db_engine) as s:
        aff.set_status(s, CLI, child.id, AffiliateStatus.SUSPENDED, "fraud review")
    drafts, skipped = _create(db_engine, min_amount=6_000_000)
    assert drafts == []
    assert sorted((s.affiliate_id, s.reason) for s in skipped) == sorted(
        [(child.id, "suspended"), (root.id, "below_minimum")]
    )


def test_void_reserved_lines_and_state(db_engine, tree):
    _root, _child, user = tree
    _pay(db_engine, "coinbase_commerce:F-1", user)
    _release(db_engine)
    _create(db_engine)
    with session_scope(db_engine) as s:
        assert sel.void_reserved_lines(s, "payout:demo:2026-W48", "rejected") == 2
        assert sel.void_reserved_lines(s, "payout:demo:2026-W48", "rejected") == 0
        row = sel.set_state(s, "payout:demo:2026-W48", BatchState.REJECTED, "wrong wallet")
        assert row.state == "rejected"
    with Session(db_engine) as s:
        assert {c.status for c in com.payment_commissions(s, "coinbase_commerce:F-1")} == {"payable"}
        with pytest.raises(PayoutError):
            sel.batch_row(s, "payout:demo:nope")


def test_approver_addresses_belong_to_approvers(db_engine):
    make_operator(db_engine, "alice", "approver")
    make_operator(db_engine, "vic", "viewer")
    a = Account.create().address
    with session_scope(db_engine) as s:
        register_address(s, CLI, "alice", a.lower())
        with pytest.raises(PayoutError) as err:
            register_address(s, CLI, "vic", Account.create().address)
        assert err.value.code == "not_an_approver"
    with session_scope(db_engine) as s, pytest.raises(PayoutError):
        register_address(s, CLI, "vic", a)
    with Session(db_engine) as s:
        assert eligible_addresses(s) == {a}
        assert operator_addresses(s, 1) == {a}
