"""Concurrency on PostgreSQL: many writers racing on the same idempotency key.

These need real concurrent transactions: SQLite takes one write lock per transaction (BEGIN
IMMEDIATE), so there is no race to test there — they are deselected (reported as not applicable) when
SGE_TEST_DATABASE_URL is not set. CI runs them on PostgreSQL.
"""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from eth_account import Account
from sqlmodel import Session, select

from core.db import make_engine, session_scope
from models import affiliates as aff
from models import commissions as com
from models import ledger
from models.ledger import Accounts
from tests.helpers.ledger import check_ledger_invariants, make_program, register, row_counts

pytestmark = pytest.mark.postgres  # a race test: not applicable on SQLite (one writer at a time)

WRITERS = 50


def race(url, fn):
    """Run fn(i) in WRITERS threads released together; returns results and exceptions."""
    engine = make_engine(url, pool_size=WRITERS)
    barrier = threading.Barrier(WRITERS)

    def one(i):
        barrier.wait()
        try:
            return fn(engine, i)
        except Exception as exc:
            return exc

    try:
        with ThreadPoolExecutor(WRITERS) as pool:
            return list(pool.map(one, range(WRITERS)))
    finally:
        engine.dispose()


def test_50_writers_same_key_make_exactly_one_transaction(db_engine, db_url):
    legs = [ledger.debit(Accounts.treasury, "USD", 7), ledger.credit(Accounts.capital, "USD", 7)]

    def post(engine, _i):
        with session_scope(engine) as s:
            return ledger.post_transaction(s, "same-key", "race", {"r": "1"}, legs)

    results = race(db_url, post)
    assert not [r for r in results if isinstance(r, Exception)]
    assert sum(r.created for r in results) == 1
    counts = row_counts(db_engine)
    assert counts["ledger_tx"] == 1 and counts["ledger_posting"] == 2


def test_50_writers_same_key_other_content_one_wins_rest_conflict(db_engine, db_url):
    def post(engine, i):
        with session_scope(engine) as s:
            return ledger.post_transaction(
                s,
                "contested",
                "race",
                {},
                [ledger.debit(Accounts.treasury, "USD", 1 + i), ledger.credit(Accounts.capital, "USD", 1 + i)],
            )

    results = race(db_url, post)
    assert sum(1 for r in results if isinstance(r, ledger.PostResult)) == 1
    assert all(isinstance(r, ledger.LedgerConflict) for r in results if not isinstance(r, ledger.PostResult))
    assert row_counts(db_engine)["ledger_posting"] == 2


def test_50_concurrent_settlements_of_one_payment_make_one_set_of_commissions(db_engine, db_url):
    make_program(db_engine)
    root = register(db_engine)
    child = register(db_engine, parent_code=root.code)
    user = Account.create().address
    with session_scope(db_engine) as s:
        aff.attribute(s, "demo", user, child.code, "race")

    def settle(engine, _i):
        with session_scope(engine) as s:
            return com.settle_payment(s, "coinbase_commerce:RACE", "demo", user, 100_000_000, "USD")

    results = race(db_url, settle)
    assert not [r for r in results if isinstance(r, Exception)], [r for r in results if isinstance(r, Exception)][:3]
    assert sum(not r.replayed for r in results) == 1
    assert {tuple(c.id for c in r.commissions) for r in results} == {tuple(c.id for c in results[0].commissions)}
    with Session(db_engine) as s:
        rows = s.exec(select(com.Commission)).all()
    assert sorted((c.level, c.affiliate_id) for c in rows) == [(1, child.id), (2, root.id)]
    assert row_counts(db_engine)["ledger_tx"] == 1
    check_ledger_invariants(db_engine)


def test_concurrent_refunds_and_releases_stay_consistent(db_engine, db_url):
    from datetime import timedelta

    from core.columns import utcnow

    make_program(db_engine, hold_days=0)
    root = register(db_engine)
    user = Account.create().address
    with session_scope(db_engine) as s:
        aff.attribute(s, "demo", user, root.code, "race")
        for i in range(20):
            com.settle_payment(
                s, f"onchain:0x{i:064x}:0", "demo", user, 100_000_000, "USDC", now=utcnow() - timedelta(seconds=1)
            )

    def work(engine, i):
        with session_scope(engine) as s:
            if i % 2:
                return com.release_due(s, limit=3)
            return com.reverse_payment(s, f"onchain:0x{i % 20:064x}:0", "race refund")

    results = race(db_url, work)
    assert not [r for r in results if isinstance(r, Exception)], [r for r in results if isinstance(r, Exception)][:3]
    check_ledger_invariants(db_engine)


def test_concurrent_attributions_lock_one_referrer(db_engine, db_url):
    make_program(db_engine)
    referrers = [register(db_engine) for _ in range(5)]
    user = Account.create().address

    def attribute(engine, i):
        with session_scope(engine) as s:
            return aff.attribute(s, "demo", user, referrers[i % 5].code, f"race-{i}")

    results = race(db_url, attribute)
    assert not [r for r in results if isinstance(r, Exception)]
    assert sum(r.status == "new" for r in results) == 1
    assert len({r.referrer_affiliate_id for r in results}) == 1
