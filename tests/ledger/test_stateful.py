"""Hypothesis stateful test of the money core: random sequences of payments, accruals, releases,
payout reservations, posts, voids, refunds, generic postings and replays. After every step: every
transaction balances, each asset sums to zero, never-negative accounts are not negative, the
commission rows agree with the liability accounts, and replays changed nothing."""

from datetime import timedelta

from eth_account import Account
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlmodel import Session, select

from core.columns import utcnow
from core.db import make_engine, session_scope
from models import affiliates as aff
from models import commissions as com
from models import ledger
from models.ledger import Accounts
from models.money import Asset
from tests.helpers.ledger import CLI, check_ledger_invariants, make_program, row_counts

STABLE = [Asset.USD, Asset.USDC, Asset.USDT]
FREE_ACCOUNTS = [
    Accounts.treasury,
    Accounts.capital,
    Accounts.gas,
    Accounts.relayer_eth,
    Accounts.sge_inventory,
    Accounts.suspense("onchain"),
    Accounts.conversion,
]


def test_money_core_state_machine(test_database):
    class MoneyCore(RuleBasedStateMachine):
        payments = Bundle("payments")
        payouts = Bundle("payouts")
        postings = Bundle("postings")

        def __init__(self):
            super().__init__()
            self.engine = make_engine(test_database.fresh_url(), pool_size=2)
            make_program(self.engine, max_depth=3, commission_bps=[1000, 500, 250])
            self.now = utcnow()
            self.counter = 0
            # A tree root ← a ← b, plus a second root c; users attributed to each (or to nobody).
            with session_scope(self.engine) as s:
                program = aff.program_by_slug(s, "demo")
                nodes = []
                for parent in (None, 0, 1, None):
                    p = nodes[parent] if parent is not None else None
                    node = aff.Affiliate(
                        program_id=program.id,
                        wallet=Account.create().address,
                        code=aff.new_code(),
                        parent_id=p.id if p else None,
                        depth=(p.depth + 1) if p else 1,
                    )
                    s.add(node)
                    s.flush()
                    nodes.append(node)
                self.affiliates = [n.id for n in nodes]
                self.users = []
                for node in [*nodes, None]:
                    wallet = Account.create().address
                    assert aff.attribute(s, "demo", wallet, node.code if node else None, "hypothesis").status == "new"
                    self.users.append(wallet)
            with session_scope(self.engine) as s:  # the payout contract holds stablecoin to pay with
                ledger.post_transaction(
                    s,
                    "fund:payout_contract",
                    "funding",
                    {},
                    [
                        ledger.debit(Accounts.payout_contract, Asset.USDC, 10**15),
                        ledger.credit(Accounts.capital, Asset.USDC, 10**15),
                    ],
                )

        def teardown(self):
            self.engine.dispose()

        def key(self, prefix: str) -> str:
            self.counter += 1
            return f"{prefix}:{self.counter}"

        def unchanged(self, fn):
            """Run fn and assert it wrote nothing."""
            before = row_counts(self.engine)
            fn()
            assert row_counts(self.engine) == before

        # --- payments -------------------------------------------------------------------------

        @rule(
            target=payments,
            user=st.integers(0, 4),
            amount=st.integers(1, 10**12),
            asset=st.sampled_from(STABLE),
            rail=st.sampled_from(ledger.RAILS),
        )
        def settle(self, user, amount, asset, rail):
            ref = self.key(rail)
            with session_scope(self.engine) as s:
                result = com.settle_payment(s, ref, "demo", self.users[user], amount, asset, now=self.now)
            assert not result.replayed
            assert result.platform_net_minor + sum(c.amount for c in result.commissions) == amount
            for c in result.commissions:
                assert c.amount == amount * c.rate_bps // 10_000
            return (ref, self.users[user], amount, asset)

        @rule(payment=payments, other_amount=st.booleans())
        def replay_settle(self, payment, other_amount):
            ref, wallet, amount, asset = payment

            def go():
                if other_amount:
                    try:
                        with session_scope(self.engine) as s:
                            com.settle_payment(s, ref, "demo", wallet, amount + 1, asset, now=self.now)
                        raise AssertionError("a conflicting replay was accepted")
                    except com.SettlementConflict:
                        pass
                else:
                    with session_scope(self.engine) as s:
                        assert com.settle_payment(s, ref, "demo", wallet, amount, asset, now=self.now).replayed

            self.unchanged(go)

        @rule(payment=payments, again=st.booleans())
        def refund(self, payment, again):
            ref = payment[0]
            with session_scope(self.engine) as s:
                first = com.reverse_payment(s, ref, "refund")
            if again:

                def go():
                    with session_scope(self.engine) as s:
                        assert com.reverse_payment(s, ref, "refund again").replayed

                self.unchanged(go)
            assert first.payment_ref == ref

        @rule(payment=payments, excess=st.integers(1, 10**9))
        def suspense(self, payment, excess):
            key = self.key("suspense")
            with session_scope(self.engine) as s:
                ledger.post_suspense(s, key, payment[0], excess, payment[3], "overpayment")

        # --- hold and release --------------------------------------------------------------------

        @rule(days=st.integers(0, 40), limit=st.integers(1, 5))
        def advance_and_release(self, days, limit):
            self.now += timedelta(days=days)
            with session_scope(self.engine) as s:
                com.release_due(s, now=self.now, limit=limit)
            with session_scope(self.engine) as s:  # the rest of what is due (the first call was limited)
                com.release_due(s, now=self.now, limit=1000)

            def go():  # a third run finds nothing: releasing is idempotent
                with session_scope(self.engine) as s:
                    assert com.release_due(s, now=self.now, limit=1000).released == 0

            self.unchanged(go)

        @rule(which=st.integers(0, 3), suspend=st.booleans())
        def suspend_or_reinstate(self, which, suspend):
            status = aff.AffiliateStatus.SUSPENDED if suspend else aff.AffiliateStatus.ACTIVE
            with session_scope(self.engine) as s:
                aff.set_status(s, CLI, self.affiliates[which], status)

        # --- payouts (two-phase) -------------------------------------------------------------------

        def payable_ids(self):
            with Session(self.engine) as s:
                return [
                    c.id
                    for c in s.exec(
                        select(com.Commission).where(com.Commission.status == "payable").order_by(com.Commission.id)
                    )
                ]

        @precondition(lambda self: bool(self.payable_ids()))
        @rule(target=payouts, mask=st.integers(1, 2**12))
        def reserve(self, mask):
            ids = self.payable_ids()
            chosen = [i for n, i in enumerate(ids) if mask >> (n % 12) & 1] or ids[:1]
            key = self.key("payout")
            with session_scope(self.engine) as s:
                com.reserve_payout(s, key, "demo", chosen)
            self.unchanged(lambda: self._reserve_again(key, chosen))
            return key

        def _reserve_again(self, key, chosen):
            with session_scope(self.engine) as s:
                assert com.reserve_payout(s, key, "demo", chosen).status == ledger.PendingStatus.PENDING

        @rule(key=consumes(payouts), post=st.booleans())
        def resolve(self, key, post):
            with session_scope(self.engine) as s:
                if post:
                    com.complete_payout(s, key, chain_ref="0x" + "ab" * 32)
                else:
                    com.void_payout(s, key)

            def twice():  # the other resolution is refused; nothing changes
                try:
                    with session_scope(self.engine) as s:
                        if post:
                            com.void_payout(s, key)
                        else:
                            com.complete_payout(s, key)
                    raise AssertionError("a pending entry was resolved twice")
                except ledger.PendingAlreadyResolved:
                    pass

            self.unchanged(twice)

        # --- generic postings ------------------------------------------------------------------------

        @rule(
            target=postings,
            a=st.sampled_from(FREE_ACCOUNTS),
            b=st.sampled_from(FREE_ACCOUNTS),
            c=st.sampled_from(FREE_ACCOUNTS),
            x=st.integers(1, 10**24),
            y=st.integers(1, 10**24),
            asset=st.sampled_from(list(Asset)),
        )
        def post(self, a, b, c, x, y, asset):
            legs = [ledger.debit(a, asset, x), ledger.debit(b, asset, y), ledger.credit(c, asset, x + y)]
            key = self.key("generic")
            with session_scope(self.engine) as s:
                assert ledger.post_transaction(s, key, "generic", {"n": self.counter}, legs).created
            return (key, legs)

        @rule(posted=postings, mutate=st.booleans())
        def replay_post(self, posted, mutate):
            key, legs = posted
            if mutate:
                legs = [
                    ledger.debit(legs[0].account, legs[0].asset, legs[0].amount + 1),
                    *legs[1:2],
                    ledger.credit(legs[2].account, legs[2].asset, -legs[2].amount + 1),
                ]

            def go():
                try:
                    with session_scope(self.engine) as s:
                        result = ledger.post_transaction(
                            s, key, "generic", {"n": key.split(":")[1]}, list(reversed(legs))
                        )
                    assert not mutate and not result.created
                except ledger.LedgerConflict:
                    assert mutate

            self.unchanged(go)

        @rule(x=st.integers(1, 10**9), off=st.integers(1, 10**9))
        def unbalanced_is_refused(self, x, off):
            def go():
                try:
                    with session_scope(self.engine) as s:
                        ledger.post_transaction(
                            s,
                            self.key("bad"),
                            "generic",
                            {},
                            [
                                ledger.debit(Accounts.treasury, Asset.USD, x),
                                ledger.credit(Accounts.capital, Asset.USD, x + off),
                            ],
                        )
                    raise AssertionError("an unbalanced transaction was accepted")
                except ledger.LedgerUnbalanced:
                    pass

            self.unchanged(go)

        @invariant()
        def books_balance(self):
            check_ledger_invariants(self.engine)

    run_state_machine_as_test(
        MoneyCore,
        settings=settings(
            max_examples=40,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
