from datetime import timedelta

import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from activities.ledger import LedgerActivities
from core.columns import utcnow
from core.db import session_scope
from models import affiliates as aff
from models import commissions as com
from models import ledger
from models.books import verify_books
from models.ledger import Accounts
from tests.helpers.ledger import CLI, balances, check_ledger_invariants, make_program, register, row_counts

FEE = 100_000_000  # 100 USD at 6 decimals


# --- the rounding rule ----------------------------------------------------------------------------


@given(
    amount=st.integers(min_value=0, max_value=10**30), plan=st.lists(st.integers(0, 10_000), min_size=1, max_size=10)
)
@settings(max_examples=200, deadline=None)
def test_rounding_rule_floor_per_level_remainder_stays_with_the_platform(amount, plan):
    if sum(plan) > 10_000:
        plan = [bps * 10_000 // sum(plan) for bps in plan]
    parts = [com.commission_amount(amount, bps) for bps in plan]
    for bps, part in zip(plan, parts, strict=False):
        assert part * 10_000 <= amount * bps < (part + 1) * 10_000  # exactly floor(amount × bps / 10⁴)
    net = amount - sum(parts)
    assert net >= 0 and net + sum(parts) == amount  # nothing lost, nothing created


def test_rounding_examples():
    assert com.commission_amount(FEE, 1000) == 10_000_000
    assert com.commission_amount(FEE, 500) == 5_000_000
    assert com.commission_amount(99_999_999, 1000) == 9_999_999  # 9_999_999.9 → floor
    assert com.commission_amount(9, 1000) == 0
    with pytest.raises(ValueError):
        com.commission_amount(1, 10_001)


# --- settlement -----------------------------------------------------------------------------------


@pytest.fixture
def tree(db_engine):
    """demo program (10 % / 5 %, depth 2, 30-day hold): root ← child; a user referred by child."""
    make_program(db_engine)
    root = register(db_engine)
    child = register(db_engine, parent_code=root.code)
    user = Account.create().address
    with session_scope(db_engine) as s:
        assert aff.attribute(s, "demo", user, child.code, "test").status == "new"
    return root, child, user


def settle(engine, ref, wallet, amount=FEE, asset="USD", program="demo", now=None):
    with session_scope(engine) as s:
        return com.settle_payment(s, ref, program, wallet, amount, asset, now=now)


def test_settle_posts_revenue_and_commissions_in_one_transaction(db_engine, tree):
    root, child, user = tree
    result = settle(db_engine, "coinbase_commerce:CH-1", user, 100_000_007)
    assert not result.replayed and result.referrer_affiliate_id == child.id
    assert [(c.level, c.affiliate_id, c.amount) for c in result.commissions] == [
        (1, child.id, 10_000_000),
        (2, root.id, 5_000_000),
    ]
    assert result.platform_net_minor == 100_000_007 - 15_000_000
    assert all(c.status == com.CommissionStatus.ACCRUED for c in result.commissions)
    with Session(db_engine) as s:
        tx, postings = ledger.get_transaction(s, result.ledger_tx_id)
    assert tx.kind == "payment.settle" and len(postings) == 6
    b = balances(db_engine)
    assert b[(Accounts.processor_receivable("coinbase_commerce"), "USD")] == 100_000_007
    assert b[(Accounts.fee_revenue("demo"), "USD")] == -100_000_007
    assert b[(Accounts.commission_expense("demo"), "USD")] == 15_000_000
    assert b[(Accounts.affiliate_accrued(child.id), "USD")] == -10_000_000
    check_ledger_invariants(db_engine)


def test_settle_is_idempotent_and_refuses_other_facts(db_engine, tree):
    _root, _child, user = tree
    first = settle(db_engine, "onchain:0xabc:1", user, FEE, "USDC")
    before = row_counts(db_engine)
    again = settle(db_engine, "onchain:0xabc:1", user, FEE, "USDC")
    assert again.replayed and again.ledger_tx_id == first.ledger_tx_id
    assert [c.id for c in again.commissions] == [c.id for c in first.commissions]
    assert row_counts(db_engine) == before
    for kwargs in ({"amount": FEE + 1}, {"asset": "USDT"}, {"wallet": Account.create().address}):
        with pytest.raises(com.SettlementConflict):
            settle(db_engine, "onchain:0xabc:1", **{"wallet": user, **kwargs})
    assert row_counts(db_engine) == before


def test_unattributed_payment_earns_no_commission(db_engine, tree):
    stranger = Account.create().address
    result = settle(db_engine, "coinbase_commerce:CH-2", stranger)
    assert result.commissions == [] and result.platform_net_minor == FEE
    assert [s.reason for s in result.skipped] == ["no_ancestor", "no_ancestor"]
    check_ledger_invariants(db_engine)


def test_root_referrer_has_no_override_level(db_engine, tree):
    root, _child, _user = tree
    direct = Account.create().address
    with session_scope(db_engine) as s:
        aff.attribute(s, "demo", direct, root.code, "test")
    result = settle(db_engine, "coinbase_commerce:CH-3", direct)
    assert [(c.level, c.affiliate_id) for c in result.commissions] == [(1, root.id)]
    assert [(s.level, s.reason) for s in result.skipped] == [(2, "no_ancestor")]
    assert result.platform_net_minor == FEE - 10_000_000  # the unused level stays in revenue


def test_suspended_affiliates_do_not_earn(db_engine, tree):
    root, child, user = tree
    with session_scope(db_engine) as s:
        aff.set_status(s, CLI, child.id, aff.AffiliateStatus.SUSPENDED, "review")
    result = settle(db_engine, "coinbase_commerce:CH-4", user)
    assert [(c.level, c.affiliate_id) for c in result.commissions] == [(2, root.id)]  # no compression
    assert [(s.level, s.affiliate_id, s.reason) for s in result.skipped] == [(1, child.id, "suspended")]
    assert result.platform_net_minor == FEE - 5_000_000
    check_ledger_invariants(db_engine)


def test_the_payer_is_never_paid_an_override_on_its_own_payment(db_engine, tree):
    """root pays with its own child's code: child earns level 1, root's level-2 override is skipped."""
    root, child, _user = tree
    with session_scope(db_engine) as s:
        locked = aff.attribute(s, "demo", root.wallet, child.code, "test")
    assert (locked.status, locked.referrer_affiliate_id) == ("new", child.id)
    result = settle(db_engine, "coinbase_commerce:SELF-1", root.wallet.lower())  # any casing is the payer
    assert [(c.level, c.affiliate_id, c.amount) for c in result.commissions] == [(1, child.id, 10_000_000)]
    assert [(s.level, s.affiliate_id, s.reason) for s in result.skipped] == [(2, root.id, "payer")]
    assert result.platform_net_minor == FEE - 10_000_000  # the skipped share stays in revenue
    b = balances(db_engine)
    assert (Accounts.affiliate_accrued(root.id), "USD") not in b
    assert b[(Accounts.commission_expense("demo"), "USD")] == 10_000_000
    with Session(db_engine) as s:
        assert [c.affiliate_id for c in com.payment_commissions(s, "coinbase_commerce:SELF-1")] == [child.id]
        assert verify_books(s).ok
    check_ledger_invariants(db_engine)


def test_a_wallet_using_its_own_code_is_refused_at_attribution(db_engine, tree):
    root, _child, _user = tree
    with session_scope(db_engine) as s:
        refused = aff.attribute(s, "demo", root.wallet.lower(), root.code, "test")
    assert (refused.status, refused.error_code, refused.referrer_affiliate_id) == ("refused", "self_referral", None)
    with Session(db_engine) as s:
        assert aff.attribution_of(s, root.program_id, root.wallet) is None  # nothing locked
    result = settle(db_engine, "coinbase_commerce:SELF-2", root.wallet)  # so its payment earns nobody
    assert result.commissions == [] and result.referrer_affiliate_id is None
    assert [s.reason for s in result.skipped] == ["no_ancestor", "no_ancestor"]
    assert result.platform_net_minor == FEE
    check_ledger_invariants(db_engine)


def test_a_self_attribution_written_around_the_check_still_pays_the_payer_nothing(db_engine, tree):
    """Settlement does not trust attribution for this: an attribution row naming the payer itself
    (written around `attribute`, e.g. by an old import) pays it at no level."""
    root, child, _user = tree
    with session_scope(db_engine) as s:
        s.add(aff.Attribution(program_id=child.program_id, wallet=child.wallet, referrer_id=child.id, code=child.code))
    result = settle(db_engine, "coinbase_commerce:SELF-3", child.wallet)
    assert [(c.level, c.affiliate_id) for c in result.commissions] == [(2, root.id)]  # its parent still earns
    assert [(s.level, s.affiliate_id, s.reason) for s in result.skipped] == [(1, child.id, "payer")]
    assert result.platform_net_minor == FEE - 5_000_000
    check_ledger_invariants(db_engine)


def test_tiny_payment_rounds_to_zero_and_is_skipped(db_engine, tree):
    _root, _child, user = tree
    result = settle(db_engine, "coinbase_commerce:CH-5", user, 19)
    assert [(c.level, c.amount) for c in result.commissions] == [(1, 1)]  # 1.9 → 1; 0.95 → 0
    assert [(s.level, s.reason) for s in result.skipped] == [(2, "zero_amount")]
    assert result.platform_net_minor == 18


@pytest.mark.parametrize(
    "ref, amount, asset, program, code",
    [
        ("paypal:1", FEE, "USD", "demo", "invalid_payment_ref"),
        ("coinbase_commerce:1", 0, "USD", "demo", "invalid_amount"),
        ("coinbase_commerce:1", FEE, "ETH", "demo", "invalid_asset"),
        ("coinbase_commerce:1", FEE, "DOGE", "demo", "invalid_asset"),
        ("coinbase_commerce:1", FEE, "USD", "nope", "program_not_found"),
    ],
)
def test_settle_refusals(db_engine, tree, ref, amount, asset, program, code):
    before = row_counts(db_engine)
    with pytest.raises(ledger.LedgerError) as err:
        settle(db_engine, ref, tree[2], amount, asset, program)
    assert err.value.code == code
    assert row_counts(db_engine) == before


def test_settle_is_atomic_with_its_ledger_posting(db_engine, tree, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("database went away mid-transaction")

    monkeypatch.setattr(com.ledger, "post_transaction", broken)
    before = row_counts(db_engine)
    with pytest.raises(RuntimeError):
        settle(db_engine, "coinbase_commerce:CH-6", tree[2])
    assert row_counts(db_engine) == before


# --- hold, release, refunds -----------------------------------------------------------------------


def release(engine, now, limit=200):
    with session_scope(engine) as s:
        return com.release_due(s, now=now, limit=limit)


def statuses(engine, ref):
    with Session(engine) as s:
        return [c.status for c in com.payment_commissions(s, ref)]


def test_commissions_become_payable_after_the_hold(db_engine, tree):
    _root, _child, user = tree
    settle(db_engine, "coinbase_commerce:CH-7", user)
    assert release(db_engine, utcnow() + timedelta(days=29)).released == 0
    assert statuses(db_engine, "coinbase_commerce:CH-7") == ["accrued", "accrued"]
    result = release(db_engine, utcnow() + timedelta(days=30, seconds=1))
    assert result.released == 2 and not result.more
    assert statuses(db_engine, "coinbase_commerce:CH-7") == ["payable", "payable"]
    assert release(db_engine, utcnow() + timedelta(days=31)).released == 0  # idempotent
    check_ledger_invariants(db_engine)


def test_release_is_batched_and_skips_suspended_affiliates(db_engine, tree):
    root, _child, user = tree
    for i in range(3):
        settle(db_engine, f"coinbase_commerce:B-{i}", user)
    with session_scope(db_engine) as s:
        aff.set_status(s, CLI, root.id, aff.AffiliateStatus.SUSPENDED)
    later = utcnow() + timedelta(days=31)
    first = release(db_engine, later, limit=2)
    assert first.released == 2 and first.more
    assert release(db_engine, later, limit=2).released == 1  # the child's third; the root's stay held
    with Session(db_engine) as s:
        held = s.exec(select(com.Commission).where(com.Commission.affiliate_id == root.id)).all()
    assert {c.status for c in held} == {"accrued"}
    check_ledger_invariants(db_engine)


def test_refund_cancels_unpaid_and_claws_back_paid(db_engine, tree):
    _root, child, user = tree
    settle(db_engine, "coinbase_commerce:R-1", user)  # stays accrued
    settle(db_engine, "coinbase_commerce:R-2", user)
    release(db_engine, utcnow() + timedelta(days=31))  # payable
    settle(db_engine, "coinbase_commerce:R-3", user)  # accrued
    with session_scope(db_engine) as s:
        ledger.post_transaction(
            s,
            "fund:payouts",
            "funding",
            {},
            [ledger.debit(Accounts.payout_contract, "USDC", 10**12), ledger.credit(Accounts.capital, "USDC", 10**12)],
        )
    with Session(db_engine) as s:
        r2 = [c.id for c in com.payment_commissions(s, "coinbase_commerce:R-2")]
    with session_scope(db_engine) as s:
        com.reserve_payout(s, "payout:1", "demo", r2)
    with session_scope(db_engine) as s:
        com.complete_payout(s, "payout:1", chain_ref="0xfeed")
    assert statuses(db_engine, "coinbase_commerce:R-2") == ["paid", "paid"]
    check_ledger_invariants(db_engine)

    with session_scope(db_engine) as s:
        accrued_refund = com.reverse_payment(s, "coinbase_commerce:R-3", "customer refund")
    assert [c.status for c in accrued_refund.cancelled] == [
        "cancelled",
        "cancelled",
    ] and accrued_refund.clawed_back == []
    with session_scope(db_engine) as s:
        payable_refund = com.reverse_payment(s, "coinbase_commerce:R-1", "chargeback")
    assert len(payable_refund.cancelled) == 2
    with session_scope(db_engine) as s:
        paid_refund = com.reverse_payment(s, "coinbase_commerce:R-2", "chargeback")
    assert [c.status for c in paid_refund.clawed_back] == ["clawed_back", "clawed_back"]
    b = balances(db_engine)
    assert b[(Accounts.affiliate_clawback(child.id), "USD")] == 10_000_000
    for ref in ("R-1", "R-2", "R-3"):  # revenue fully reversed, commission expense net zero
        assert statuses(db_engine, f"coinbase_commerce:{ref}")[0] in ("cancelled", "clawed_back")
    assert b[(Accounts.fee_revenue("demo"), "USD")] == 0
    assert b[(Accounts.commission_expense("demo"), "USD")] == 0
    check_ledger_invariants(db_engine)

    before = row_counts(db_engine)
    with session_scope(db_engine) as s:
        replay = com.reverse_payment(s, "coinbase_commerce:R-2", "chargeback again")
    assert replay.replayed and len(replay.clawed_back) == 2 and row_counts(db_engine) == before
    with pytest.raises(com.SettlementError) as err:
        with session_scope(db_engine) as s:
            com.reverse_payment(s, "coinbase_commerce:never", "refund")
    assert err.value.code == "payment_not_settled"


def test_refund_of_a_reserved_commission_then_voided_batch(db_engine, tree):
    _root, child, user = tree
    settle(db_engine, "coinbase_commerce:V-1", user)
    release(db_engine, utcnow() + timedelta(days=31))
    with Session(db_engine) as s:
        ids = [c.id for c in com.payment_commissions(s, "coinbase_commerce:V-1")]
    with session_scope(db_engine) as s:
        com.reserve_payout(s, "payout:v", "demo", ids)
    with pytest.raises(com.SettlementError):  # already reserved: cannot be in two batches
        with session_scope(db_engine) as s:
            com.reserve_payout(s, "payout:w", "demo", ids)
    with session_scope(db_engine) as s:
        refund = com.reverse_payment(s, "coinbase_commerce:V-1", "refund")
    assert len(refund.clawed_back) == 2  # money may be on its way: recorded as owed back
    check_ledger_invariants(db_engine)
    with session_scope(db_engine) as s:
        com.void_payout(s, "payout:v")  # it never went out: the clawback is settled against the payable
    assert statuses(db_engine, "coinbase_commerce:V-1") == ["cancelled", "cancelled"]
    b = balances(db_engine)
    assert b.get((Accounts.affiliate_clawback(child.id), "USD"), 0) == 0
    assert b.get((Accounts.affiliate_payable(child.id), "USD"), 0) == 0
    check_ledger_invariants(db_engine)


def test_ledger_activities_raise_domain_errors(db_engine, tree):
    """The shells do not translate: the worker's interceptor turns these into non-retryable failures."""
    acts = LedgerActivities(db_engine)
    with pytest.raises(com.SettlementError) as err:
        acts.reverse_payment(com.ReverseRequest(payment_ref="coinbase_commerce:none", reason="x"))
    assert err.value.code == "payment_not_settled" and not err.value.retryable
    request = ledger.SuspenseRequest(
        key="s:1", payment_ref="coinbase_commerce:X", amount_minor=5, asset="USD", reason="overpayment"
    )
    item = acts.post_suspense(request)
    assert acts.post_suspense(request) == item  # the same key: the same item, nothing posted twice
    assert acts.release_due(100).released == 0
    check_ledger_invariants(db_engine)
    with Session(db_engine) as session:
        assert verify_books(session).ok  # the suspense balance is explained by its open item
