import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from core.db import is_postgres, session_scope
from models import ledger
from models.ledger import Accounts, credit, debit
from models.money import Asset
from tests.helpers.ledger import row_counts

ROOT = Path(__file__).resolve().parents[2]


def post(engine, key, legs, kind="test", refs=None):
    with session_scope(engine) as session:
        return ledger.post_transaction(session, key, kind, refs or {}, legs)


def fund(amount=1000):
    return [debit(Accounts.treasury, Asset.USD, amount), credit(Accounts.capital, Asset.USD, amount)]


def test_post_replay_and_conflict(db_engine):
    first = post(db_engine, "k1", fund(), refs={"why": "seed"})
    assert first.created and first.tx_id == "k1"
    before = row_counts(db_engine)
    # Same content (postings in another order) → the original, nothing written.
    again = post(db_engine, "k1", list(reversed(fund())), refs={"why": "seed"})
    assert again.created is False and row_counts(db_engine) == before
    # Other content under the same key → conflict; the whole unit of work is rolled back.
    with pytest.raises(ledger.LedgerConflict):
        with session_scope(db_engine) as session:
            ledger.post_transaction(session, "k2", "test", {}, fund(5))  # would be written...
            ledger.post_transaction(session, "k1", "test", {"why": "seed"}, fund(999))
    assert row_counts(db_engine) == before  # ...but nothing was
    with pytest.raises(ledger.LedgerConflict):
        post(db_engine, "k1", fund(), refs={"why": "other"})  # refs are content too


@pytest.mark.parametrize(
    "legs, error",
    [
        ([debit(Accounts.treasury, "USD", 5), credit(Accounts.capital, "USD", 4)], ledger.LedgerUnbalanced),
        (
            [debit(Accounts.treasury, "USD", 5), credit(Accounts.capital, "USDC", 5)],
            ledger.LedgerUnbalanced,
        ),  # per asset
        ([debit(Accounts.treasury, "USD", 5)], ledger.LedgerUnbalanced),
        ([debit(Accounts.treasury, "USD", 0), credit(Accounts.capital, "USD", 0)], ledger.LedgerError),
        ([debit("asset:nowhere", "USD", 5), credit(Accounts.capital, "USD", 5)], ledger.UnknownAccount),
        ([debit("revenue:fees:Bad_Slug", "USD", 5), credit(Accounts.capital, "USD", 5)], ledger.UnknownAccount),
        # a never-negative account cannot be debited below zero (no commission accrued yet)
        (
            [debit(Accounts.affiliate_accrued(7), "USD", 5), credit(Accounts.capital, "USD", 5)],
            ledger.LedgerNegativeBalance,
        ),
    ],
)
def test_refused_postings_write_nothing(db_engine, legs, error):
    before = row_counts(db_engine)
    with pytest.raises(error):
        post(db_engine, "bad", legs)
    assert row_counts(db_engine) == before


def test_amounts_are_exact_integers():
    with pytest.raises(ValidationError):
        ledger.Posting(account=Accounts.treasury, asset=Asset.USD, amount=1.5)
    with pytest.raises(ValidationError):
        ledger.Posting(account=Accounts.treasury, asset=Asset.USD, amount=True)
    # 18-decimal amounts far beyond 64 bits are exact
    big = 10**30 + 1
    assert ledger.Posting(account=Accounts.sge_inventory, asset=Asset.SGE, amount=big).amount == big


def test_wide_amounts_round_trip_and_balance(db_engine):
    big = 123_456_789 * 10**18 + 1
    post(db_engine, "sge", [debit(Accounts.sge_inventory, Asset.SGE, big), credit(Accounts.capital, Asset.SGE, big)])
    with Session(db_engine) as session:
        assert ledger.balance(session, Accounts.sge_inventory, Asset.SGE) == big
        assert ledger.balance(session, Accounts.capital, Asset.SGE) == -big


def test_never_negative_guard_allows_down_to_zero(db_engine):
    acc = Accounts.affiliate_payable(3)
    post(db_engine, "in", [debit(Accounts.commission_expense("demo"), "USD", 10), credit(acc, "USD", 10)])
    post(db_engine, "out", [debit(acc, "USD", 10), credit(Accounts.capital, "USD", 10)])  # exactly to zero
    with pytest.raises(ledger.LedgerNegativeBalance):
        post(db_engine, "over", [debit(acc, "USD", 1), credit(Accounts.capital, "USD", 1)])


def test_balances_and_paged_statement(db_engine):
    for i in range(1, 8):
        post(db_engine, f"t{i}", fund(i * 100))
    with Session(db_engine) as session:
        rows = {(b.account, b.asset): b for b in ledger.balances(session)}
        assert rows[(Accounts.treasury, Asset.USD)].balance == 2800
        assert rows[(Accounts.capital, Asset.USD)].normal_balance == 2800  # credit-normal, shown positive
        assert [b.account for b in ledger.balances(session, prefix="equity:")] == [Accounts.capital]
        page1 = ledger.statement(session, Accounts.treasury, Asset.USD, limit=3)
        assert [line.amount for line in page1.lines] == [100, 200, 300]
        assert page1.lines[-1].balance_after == 600 and page1.next_cursor is not None
        page2 = ledger.statement(session, Accounts.treasury, Asset.USD, after=page1.next_cursor, limit=3)
        assert page2.opening_balance == 600 and [line.amount for line in page2.lines] == [400, 500, 600]
        page3 = ledger.statement(session, Accounts.treasury, Asset.USD, after=page2.next_cursor, limit=3)
        assert page3.closing_balance == 2800 and page3.next_cursor is None and len(page3.lines) == 1


def test_two_phase_post_and_void_resolve_once(db_engine):
    flight = Accounts.payouts_in_flight("demo")
    payable = Accounts.affiliate_payable(1)
    post(db_engine, "accrue", [debit(Accounts.commission_expense("demo"), "USDC", 100), credit(payable, "USDC", 100)])
    post(db_engine, "fund", [debit(Accounts.payout_contract, "USDC", 1000), credit(Accounts.capital, "USDC", 1000)])
    reserve = [debit(payable, "USDC", 60), credit(flight, "USDC", 60)]
    with session_scope(db_engine) as s:
        entry = ledger.create_pending(s, "payout:a", "payout.reserve", {}, reserve)
    assert entry.status == ledger.PendingStatus.PENDING
    with session_scope(db_engine) as s:  # replay
        assert (
            ledger.create_pending(s, "payout:a", "payout.reserve", {}, reserve).status == ledger.PendingStatus.PENDING
        )
    complete = [debit(flight, "USDC", 60), credit(Accounts.payout_contract, "USDC", 60)]
    with pytest.raises(ledger.LedgerError, match="exactly"):
        with session_scope(db_engine) as s:
            ledger.post_pending(
                s, "payout:a", [debit(flight, "USDC", 50), credit(Accounts.payout_contract, "USDC", 50)]
            )
    with session_scope(db_engine) as s:
        assert ledger.post_pending(s, "payout:a", complete).status == ledger.PendingStatus.POSTED
    before = row_counts(db_engine)
    with session_scope(db_engine) as s:  # replaying the same resolution is fine
        assert ledger.post_pending(s, "payout:a", complete).status == ledger.PendingStatus.POSTED
    with pytest.raises(ledger.PendingAlreadyResolved):
        with session_scope(db_engine) as s:
            ledger.void_pending(s, "payout:a")
    assert row_counts(db_engine) == before

    with session_scope(db_engine) as s:
        ledger.create_pending(
            s, "payout:b", "payout.reserve", {}, [debit(payable, "USDC", 40), credit(flight, "USDC", 40)]
        )
    with session_scope(db_engine) as s:
        assert ledger.void_pending(s, "payout:b").status == ledger.PendingStatus.VOIDED
    with pytest.raises(ledger.PendingAlreadyResolved):
        with session_scope(db_engine) as s:
            ledger.post_pending(
                s, "payout:b", [debit(flight, "USDC", 40), credit(Accounts.payout_contract, "USDC", 40)]
            )
    with pytest.raises(ledger.PendingNotFound):
        with session_scope(db_engine) as s:
            ledger.void_pending(s, "payout:none")
    with Session(db_engine) as s:
        assert ledger.balance(s, flight, "USDC") == 0
        assert ledger.balance(s, payable, "USDC") == -40  # 100 accrued − 60 paid
        assert ledger.verify(s).ok


def test_domain_helpers_post_the_right_legs(db_engine):
    with session_scope(db_engine) as s:
        ledger.post_suspense(s, "susp:1", "coinbase_commerce:CH1", 5_000_000, "USD", "underpayment")
        ledger.post_claim_delivery(
            s, ledger.ClaimDeliveryRequest(key="claim:1", program="demo", wallet="0x" + "Ab" * 20, amount_minor=10**21)
        )
        ledger.post_gas(s, ledger.GasRequest(key="gas:1", fee_wei=21000 * 10**9, chain_tx="0xdead"))
    with pytest.raises(ledger.LedgerError, match="reason"):
        with session_scope(db_engine) as s:
            ledger.post_suspense(s, "susp:2", "coinbase_commerce:CH1", 1, "USD", "because")
    with pytest.raises(ledger.LedgerError) as err:
        with session_scope(db_engine) as s:
            ledger.post_suspense(s, "susp:3", "paypal:CH1", 1, "USD", "unknown_charge")
    assert err.value.code == "invalid_payment_ref"
    with Session(db_engine) as s:
        b = {(r.account, r.asset.value): r.balance for r in ledger.balances(s)}
    assert b[(Accounts.suspense("coinbase_commerce"), "USD")] == -5_000_000
    assert b[(Accounts.sge_delivered("demo"), "SGE")] == 10**21
    assert b[(Accounts.relayer_eth, "ETH")] == -21000 * 10**9


@pytest.mark.parametrize("table", ["ledger_posting", "ledger_tx", "audit_log"])
def test_journal_and_audit_log_refuse_update_and_delete(db_engine, table):
    post(db_engine, "k", fund())
    from models.operators import Actor, audit

    with session_scope(db_engine) as s:
        audit(s, Actor(name="t"), "test", "x", "1")
    column = {"ledger_posting": "account", "ledger_tx": "kind", "audit_log": "action"}[table]
    for sql in (f"UPDATE {table} SET {column} = 'x'", f"DELETE FROM {table}"):
        with pytest.raises(DBAPIError, match="append-only"):
            with session_scope(db_engine) as s:
                s.connection().execute(text(sql))
    with Session(db_engine) as s:
        assert ledger.verify(s).ok


def _bypass_insert(engine, tx_id: str, legs: list[tuple[str, str, int]]) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO ledger_tx (id, kind, refs, content_hash, created_at) VALUES (:id, 'rogue', '{}', :h, CURRENT_TIMESTAMP)"
            ),
            {"id": tx_id, "h": ledger.content_hash("rogue", {}, legs)},
        )
        for account, asset, amount in legs:
            conn.execute(
                text(
                    "INSERT INTO ledger_posting (tx_id, account, asset, amount, created_at) VALUES (:t, :a, :s, :n, CURRENT_TIMESTAMP)"
                ),
                {"t": tx_id, "a": account, "s": asset, "n": str(amount) if not is_postgres(engine) else amount},
            )


@pytest.mark.postgres  # a PostgreSQL constraint trigger: not applicable on SQLite
def test_postgres_trigger_refuses_an_unbalanced_transaction_at_commit(db_engine):
    with pytest.raises(DBAPIError, match="does not balance"):
        _bypass_insert(db_engine, "rogue", [(Accounts.treasury, "USD", 5)])
    assert row_counts(db_engine)["ledger_tx"] == 0


def _sge(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.integration  # runs the `sge` CLI as a process
def test_verify_catches_a_missing_leg_and_the_cli_exits_non_zero(db_engine, db_url, tmp_path):
    post(db_engine, "ok", fund())
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "SGE_HOME": str(tmp_path),
        "SGE_LOG_FORMAT": "console",
        "COLUMNS": "200",
    }
    env.pop("SGE_DATABASE_URL", None)
    good = _sge("ledger", "verify", "--json", env=env)
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["ok"] is True
    # A transaction with a leg missing, written around the code (as a buggy writer or a manual
    # edit would): on PostgreSQL the balance trigger must be switched off to even get it in.
    pg = is_postgres(db_engine)
    if pg:
        with db_engine.begin() as conn:
            conn.execute(text("ALTER TABLE ledger_posting DISABLE TRIGGER ledger_posting_balanced"))
    try:
        _bypass_insert(db_engine, "rogue", [(Accounts.processor_receivable("onchain"), "USDC", 100_000_000)])
    finally:
        if pg:
            with db_engine.begin() as conn:
                conn.execute(text("ALTER TABLE ledger_posting ENABLE TRIGGER ledger_posting_balanced"))
    with Session(db_engine) as s:
        report = ledger.verify(s)
    assert not report.ok
    checks = {p.check for p in report.problems}
    assert {"unbalanced", "asset_total", "postings"} <= checks
    bad = _sge("ledger", "verify", "--json", env=env)
    assert bad.returncode == 1
    body = json.loads(bad.stdout)
    assert body["ok"] is False and body["asset_totals"]["USDC"] == "100000000"
    human = _sge("ledger", "verify", env=env)
    assert human.returncode == 1 and "NOT BALANCED" in human.stdout
