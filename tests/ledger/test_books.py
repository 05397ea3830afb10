"""`verify_books`: the journal's own checks plus the tables that post to it agreeing with what they posted.

A clean, realistic set of books reports ok; then each test breaks exactly one thing, around the code
(the way a buggy writer or a manual edit would: Core statements through the session's connection),
and sees exactly the check that guards it. The journal is append-only (UPDATE / DELETE refused by
triggers), so breaking it means inserting rows; the other tables are broken in place.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import pytest
from eth_account import Account
from sqlalchemy import delete, text, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

from core.columns import utcnow
from core.db import is_postgres, session_scope, table_of
from models import affiliates as aff
from models import commissions as com
from models import ledger
from models.books import verify_books
from models.ledger import Accounts, LedgerPending, LedgerPosting, LedgerTx, credit, debit
from models.suspense import SuspenseItem, SuspenseStatus, open_item, resolve
from tests.helpers.ledger import CLI, check_ledger_invariants, make_program, register

FEE = 100_000_000  # 100 USD at 6 decimals
FUNDING = 10**12  # USDC in the payout contract
_TX = table_of(LedgerTx)
_POSTING = table_of(LedgerPosting)
_PENDING = table_of(LedgerPending)
_SETTLEMENT = table_of(com.PaymentSettlement)
_COMMISSION = table_of(com.Commission)
_ITEM = table_of(SuspenseItem)


@dataclass
class Books:
    root: aff.Affiliate
    child: aff.Affiliate
    user: str
    open_item_id: int
    refunded_item_id: int


def ref(name: str) -> str:
    return f"coinbase_commerce:{name}"


def settle(engine: Engine, name: str, wallet: str, **kwargs) -> com.SettlementResult:
    with session_scope(engine) as s:
        return com.settle_payment(s, ref(name), "demo", wallet, FEE, "USD", **kwargs)


def commission_ids(engine: Engine, name: str) -> list[int]:
    with Session(engine) as s:
        return [c.id for c in com.payment_commissions(s, ref(name))]


@pytest.fixture
def books(db_engine) -> Books:
    """demo (10 % / 5 %, 30-day hold): root ← child ← user. Four settled payments: PAID-1 paid out,
    OPEN-2 in an open payout reservation, ACCRUED-3 in its hold (with an overpayment in suspense),
    REFUNDED-4 reversed; a late payment refunded out of suspense; the payout contract funded."""
    make_program(db_engine)
    root = register(db_engine)
    child = register(db_engine, parent_code=root.code)
    user = Account.create().address
    with session_scope(db_engine) as s:
        assert aff.attribute(s, "demo", user, child.code, "test").status == "new"
        ledger.post_transaction(
            s,
            "fund:payouts",
            "funding",
            {},
            [debit(Accounts.payout_contract, "USDC", FUNDING), credit(Accounts.capital, "USDC", FUNDING)],
        )
    earlier = utcnow() - timedelta(days=31)
    settle(db_engine, "PAID-1", user, now=earlier)
    settle(db_engine, "OPEN-2", user, now=earlier)
    with session_scope(db_engine) as s:
        assert com.release_due(s).released == 4
    settle(db_engine, "ACCRUED-3", user)
    settle(db_engine, "REFUNDED-4", user)
    with session_scope(db_engine) as s:
        com.reverse_payment(s, ref("REFUNDED-4"), "customer refund")
    with session_scope(db_engine) as s:
        com.reserve_payout(s, "payout:paid", "demo", commission_ids(db_engine, "PAID-1"))
    with session_scope(db_engine) as s:
        com.complete_payout(s, "payout:paid", chain_ref="0xfeed")
    with session_scope(db_engine) as s:
        com.reserve_payout(s, "payout:open", "demo", commission_ids(db_engine, "OPEN-2"))
    with session_scope(db_engine) as s:
        item = open_item(
            s, "suspense:ACCRUED-3:over", ref("ACCRUED-3"), 2_500_000, "USD", ledger.SuspenseReason.OVERPAYMENT
        )
        late = open_item(s, "suspense:LATE-5", ref("LATE-5"), 7_000_000, "USDC", ledger.SuspenseReason.LATE_PAYMENT)
        resolve(s, late, SuspenseStatus.REFUNDED, CLI, note="sent back", external_ref="RF-1")
        open_id, refunded_id = item.id, late.id
    assert open_id is not None and refunded_id is not None
    return Books(root=root, child=child, user=user, open_item_id=open_id, refunded_item_id=refunded_id)


def checks(engine: Engine) -> list[str]:
    with Session(engine) as s:
        report = verify_books(s)
    assert report.ok == (not report.problems)
    return sorted({p.check for p in report.problems})


@contextmanager
def around_the_code(engine: Engine) -> Iterator:
    """A connection in one committed transaction, for Core statements that bypass the domain code."""
    with session_scope(engine) as s:
        yield s.connection()


def rogue_tx(engine: Engine, tx_id: str, legs: list[tuple[str, str, int]], *, digest: str | None = None) -> None:
    """A journal entry inserted around post_transaction (no chart, balance or never-negative check)."""
    now = utcnow()
    with around_the_code(engine) as conn:
        content = digest or ledger.content_hash("rogue", {}, legs)
        conn.execute(_TX.insert().values(id=tx_id, kind="rogue", refs={}, content_hash=content, created_at=now))
        conn.execute(
            _POSTING.insert(),
            [{"tx_id": tx_id, "account": a, "asset": s, "amount": n, "created_at": now} for a, s, n in legs],
        )


# --- clean books ----------------------------------------------------------------------------------


def test_clean_realistic_books_are_ok(db_engine, books):
    with Session(db_engine) as s:
        report = verify_books(s)
        balances = {(b.account, b.asset.value): b.normal_balance for b in ledger.balances(s)}
    assert report.ok, report.problems
    assert report.problems == [] and set(report.asset_totals.values()) == {"0"}
    # The books really hold what each cross-check compares (so the checks below are not vacuous).
    flight = Accounts.payouts_in_flight("demo")
    assert balances[(flight, "USD")] == 15_000_000  # OPEN-2's two commissions, reserved
    assert balances[(Accounts.affiliate_accrued(books.child.id), "USD")] == 10_000_000  # ACCRUED-3
    assert balances[(Accounts.affiliate_accrued(books.root.id), "USD")] == 5_000_000
    assert balances.get((Accounts.affiliate_payable(books.child.id), "USD"), 0) == 0  # PAID-1 paid, OPEN-2 reserved
    assert balances[(Accounts.suspense("coinbase_commerce"), "USD")] == 2_500_000
    assert balances.get((Accounts.suspense("coinbase_commerce"), "USDC"), 0) == 0  # the refunded late payment
    assert balances[(Accounts.payout_contract, "USDC")] == FUNDING - 15_000_000
    check_ledger_invariants(db_engine)


def test_empty_books_are_ok(db_engine):
    with Session(db_engine) as s:
        report = verify_books(s)
    assert report.ok and report.transactions == 0


# --- the new journal checks -----------------------------------------------------------------------


def test_a_posting_to_an_account_outside_the_chart(db_engine, books):
    rogue_tx(db_engine, "rogue:chart", [("asset:mystery", "USD", 5), (Accounts.capital, "USD", -5)])
    assert checks(db_engine) == ["chart"]


def test_a_never_negative_account_below_zero(db_engine, books):
    # The payout contract holds FUNDING − 15 USDC; this takes 2 × FUNDING out of it.
    rogue_tx(
        db_engine,
        "rogue:overdraw",
        [(Accounts.payout_contract, "USDC", -2 * FUNDING), (Accounts.capital, "USDC", 2 * FUNDING)],
    )
    assert checks(db_engine) == ["negative_balance"]


# --- the existing journal checks keep working -----------------------------------------------------


def test_an_unbalanced_transaction(db_engine, books):
    pg = is_postgres(db_engine)
    if pg:  # the deferred balance trigger would refuse it at commit: a rogue writer switched it off
        with db_engine.begin() as conn:
            conn.execute(text("ALTER TABLE ledger_posting DISABLE TRIGGER ledger_posting_balanced"))
    try:
        rogue_tx(db_engine, "rogue:unbalanced", [(Accounts.treasury, "USD", 5), (Accounts.capital, "USD", -4)])
    finally:
        if pg:
            with db_engine.begin() as conn:
                conn.execute(text("ALTER TABLE ledger_posting ENABLE TRIGGER ledger_posting_balanced"))
    # One transaction off by one: it is unbalanced, and so is the asset across the ledger.
    assert checks(db_engine) == ["asset_total", "unbalanced"]


def test_postings_that_do_not_match_their_content_hash(db_engine, books):
    recorded = ledger.content_hash("rogue", {}, [(Accounts.treasury, "USD", 5), (Accounts.capital, "USD", -5)])
    altered = [(Accounts.treasury, "USD", 6), (Accounts.capital, "USD", -6)]
    rogue_tx(db_engine, "rogue:altered", altered, digest=recorded)
    assert checks(db_engine) == ["content_hash"]


def test_a_resolved_pending_entry_without_its_resolving_transaction(db_engine, books):
    with around_the_code(db_engine) as conn:
        conn.execute(update(_PENDING).where(_PENDING.c.key == "payout:paid").values(resolve_tx_id=None))
    assert checks(db_engine) == ["pending"]


# --- the cross-checks against the tables that post ------------------------------------------------


def test_a_settlement_without_its_settle_transaction(db_engine, books):
    # The foreign key keeps a dangling id out; NULL is what a settle that never posted leaves.
    with around_the_code(db_engine) as conn:
        conn.execute(update(_SETTLEMENT).where(_SETTLEMENT.c.payment_ref == ref("PAID-1")).values(settle_tx_id=None))
    assert checks(db_engine) == ["settlement"]


def test_a_settlement_pointing_at_a_transaction_that_does_not_exist(db_engine, books):
    # Only with the foreign key switched off (as a restore or a manual edit could).
    if is_postgres(db_engine):
        with session_scope(db_engine) as s:
            conn = s.connection()
            conn.execute(text("SET LOCAL session_replication_role = replica"))  # FK triggers off
            conn.execute(
                update(_SETTLEMENT)
                .where(_SETTLEMENT.c.payment_ref == ref("PAID-1"))
                .values(settle_tx_id="settle:never-posted")
            )
    else:
        raw = db_engine.raw_connection()  # autocommit (isolation_level None): the pragma applies
        try:
            raw.execute("PRAGMA foreign_keys=OFF")
            raw.execute(
                "UPDATE payment_settlement SET settle_tx_id = 'settle:never-posted' WHERE payment_ref = ?",
                (ref("PAID-1"),),
            )
        finally:
            raw.execute("PRAGMA foreign_keys=ON")
            raw.close()
    with Session(db_engine) as s:
        problems = verify_books(s).problems
    assert [(p.check, p.tx_id) for p in problems] == [("settlement", "settle:never-posted")]


def test_a_reversed_settlement_without_its_reversal(db_engine, books):
    with around_the_code(db_engine) as conn:
        conn.execute(update(_SETTLEMENT).where(_SETTLEMENT.c.payment_ref == ref("PAID-1")).values(status="reversed"))
    assert checks(db_engine) == ["settlement"]


@pytest.mark.parametrize("to", ["payable", "cancelled"])
def test_commission_rows_disagree_with_the_affiliate_balances(db_engine, books, to):
    with Session(db_engine) as s:
        accrued = [c.id for c in com.payment_commissions(s, ref("ACCRUED-3")) if c.level == 1]
    with around_the_code(db_engine) as conn:
        conn.execute(update(_COMMISSION).where(_COMMISSION.c.id == accrued[0]).values(status=to))
    with Session(db_engine) as s:
        problems = verify_books(s).problems
    assert {p.check for p in problems} == {"commissions"}
    off = {Accounts.affiliate_accrued(books.child.id)}
    if to == "payable":
        off.add(Accounts.affiliate_payable(books.child.id))
    assert {p.detail.split()[0] for p in problems} == off


def test_a_resolved_reservation_reopened(db_engine, books):
    # payout:paid was posted: reopening it claims 15 USD in flight that the ledger already paid out.
    with around_the_code(db_engine) as conn:
        conn.execute(update(_PENDING).where(_PENDING.c.key == "payout:paid").values(status="pending"))
    assert checks(db_engine) == ["reservations"]


def test_an_open_reservation_marked_voided(db_engine, books):
    # payout:open still holds 15 USD in flight; marking it voided (with a resolving tx id, so the
    # pending check is satisfied) leaves that balance unexplained.
    with around_the_code(db_engine) as conn:
        conn.execute(
            update(_PENDING)
            .where(_PENDING.c.key == "payout:open")
            .values(status="voided", resolve_tx_id=_PENDING.c.reserve_tx_id)
        )
    assert checks(db_engine) == ["reservations"]


def test_an_open_suspense_item_deleted(db_engine, books):
    with around_the_code(db_engine) as conn:
        conn.execute(delete(_ITEM).where(_ITEM.c.id == books.open_item_id))
    assert checks(db_engine) == ["suspense"]


def test_a_suspense_item_without_its_money(db_engine, books):
    with around_the_code(db_engine) as conn:
        conn.execute(
            _ITEM.insert().values(
                ledger_tx_id="suspense:never-posted",
                payment_ref=ref("GHOST"),
                rail="coinbase_commerce",
                asset="USD",
                amount_minor=1,
                reason="unknown_charge",
                status="open",
                note="",
                created_at=utcnow(),
            )
        )
    assert checks(db_engine) == ["suspense"]


def test_a_resolved_suspense_item_reopened(db_engine, books):
    with around_the_code(db_engine) as conn:
        conn.execute(update(_ITEM).where(_ITEM.c.id == books.refunded_item_id).values(status="open"))
    assert checks(db_engine) == ["suspense"]


def test_every_problem_is_reported_together(db_engine, books):
    """Several things broken at once: each check reports its own, nothing hides another."""
    rogue_tx(db_engine, "rogue:chart", [("asset:mystery", "USD", 5), (Accounts.capital, "USD", -5)])
    with around_the_code(db_engine) as conn:
        conn.execute(update(_SETTLEMENT).where(_SETTLEMENT.c.payment_ref == ref("PAID-1")).values(settle_tx_id=None))
        conn.execute(update(_PENDING).where(_PENDING.c.key == "payout:paid").values(status="pending"))
        conn.execute(delete(_ITEM).where(_ITEM.c.id == books.open_item_id))
    assert checks(db_engine) == ["chart", "reservations", "settlement", "suspense"]
    with Session(db_engine) as s:
        assert len(verify_books(s, max_problems=2).problems) == 2
