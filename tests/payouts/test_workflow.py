"""The payout batch workflow's rules, each on the real activities: anvil with the contracts, the DB,
the relayer and the Temporal dev server (real time; short durations come from settings)."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select
from temporalio.client import WorkflowUpdateFailedError

from contracts.deploy import DeployParams
from core.db import session_scope
from models import affiliates as aff
from models import approval_policy as policy
from models import commissions as com
from models import ledger
from models.affiliates import AffiliateStatus
from models.books import verify_books
from models.chain import SubmitTx
from models.ledger import Accounts
from models.payouts import io
from models.payouts import selection as sel
from relayer.engine import Relayer
from tests.helpers.ledger import CLI
from tests.payouts.conftest import earn, pay

USD = 10**6


def lines(engine, batch_id):
    with Session(engine) as s:
        return {ln.affiliate_id: ln for ln in sel.batch_lines(s, batch_id)}


def commission_states(engine) -> list[str]:
    with Session(engine) as s:
        return sorted(c.status for c in s.exec(select(com.Commission)).all())


def contract_outflow(engine) -> int:
    """What the ledger says left the payout contract: the deployment's funding (booked by the fixture)
    minus its balance now (a debit-normal asset account)."""
    with Session(engine) as s:
        balance = sum(
            b.balance
            for b in ledger.balances(s, prefix=Accounts.payout_contract)
            if b.account == Accounts.payout_contract
        )
    return DeployParams().payout_funding - balance


async def test_two_approvals_by_plain_signals_pay_and_the_chain_equals_the_ledger(payouts, db_engine):
    root, child, _user = earn(db_engine)
    handle = await payouts.start()
    status = await payouts.until(handle, "awaiting_approval")
    assert (status.total, status.line_count, status.required) == (15 * USD, 2, 2)
    before = {a.wallet: payouts.usdc(a.wallet) for a in (root, child)}
    await payouts.approve(handle, "alice")
    status = await payouts.until(handle, "awaiting_approval")
    await payouts.approve(handle, "bob")
    result = await handle.result()
    assert (result.state, result.reason) == ("paid", "")
    assert sorted(result.approvals) == sorted([payouts.signers["alice"].address, payouts.signers["bob"].address])
    assert payouts.usdc(child.wallet) - before[child.wallet] == 10 * USD
    assert payouts.usdc(root.wallet) - before[root.wallet] == 5 * USD
    assert contract_outflow(db_engine) == 15 * USD  # the books say exactly what the chain paid
    assert all(ln.state == "paid" and ln.chain_tx for ln in lines(db_engine, handle.id).values())
    assert commission_states(db_engine) == ["paid", "paid"]
    with Session(db_engine) as s:
        row = sel.batch_row(s, handle.id)
        assert row.state == "paid" and row.approve_tx and len(row.approvals) == 2
        assert ledger.verify(s).ok
    await payouts.keep(handle, "payout-paid")


async def test_creator_twice_and_outsider_are_refused_and_recorded(payouts, db_engine):
    earn(db_engine)
    handle = await payouts.start(created_by="dave")
    await payouts.until(handle, "awaiting_approval")
    for who, reason in (("dave", policy.CREATOR), ("outsider", policy.NOT_ELIGIBLE)):
        with pytest.raises(WorkflowUpdateFailedError) as err:  # the Update answers at once...
            await handle.execute_update(
                io.UPDATE_APPROVE, io.ApproveSignal(signature=payouts.sign(handle, who)), result_type=io.Decision
            )
        assert err.value.cause.message == reason
        await payouts.approve(handle, who)  # ...a signal is recorded, refused
    accepted = await handle.execute_update(
        io.UPDATE_APPROVE,
        io.ApproveSignal(signature=payouts.sign(handle, "alice"), operator="alice"),
        result_type=io.Decision,
    )
    assert accepted.outcome == "accepted" and accepted.signer == payouts.signers["alice"].address
    await payouts.approve(handle, "alice")  # the same approver again
    status = await payouts.status(handle)
    assert [(d.outcome, d.reason) for d in status.decisions] == [
        ("refused", policy.CREATOR),
        ("refused", policy.NOT_ELIGIBLE),
        ("accepted", ""),
        ("refused", policy.ALREADY),
    ]
    assert status.state == "awaiting_approval" and status.approvals == [payouts.signers["alice"].address]
    await handle.signal(io.SIGNAL_CANCEL, io.CancelSignal(operator="dave", reason="test over"))
    assert (await handle.result()).state == "cancelled"
    assert commission_states(db_engine) == ["payable", "payable"]  # cancel voids: back to payable
    assert all(ln.state == "voided" for ln in lines(db_engine, handle.id).values())
    await payouts.keep(handle, "payout-cancelled")


async def test_above_the_threshold_three_approvals_are_needed(payouts, db_engine):
    earn(db_engine, payments=4)  # 60 USD ≥ 50 USD
    handle = await payouts.start()
    status = await payouts.until(handle, "awaiting_approval")
    assert (status.total, status.required) == (60 * USD, 3)
    await payouts.approve(handle, "alice")
    await payouts.approve(handle, "bob")
    await payouts.until(handle, "awaiting_approval")
    assert len((await payouts.status(handle)).approvals) == 2
    await payouts.approve(handle, "carol")
    assert (await handle.result()).state == "paid"
    assert contract_outflow(db_engine) == 60 * USD
    await payouts.keep(handle, "payout-three-approvals")


async def test_a_signed_rejection_voids_the_batch(payouts, db_engine):
    earn(db_engine)
    handle = await payouts.start()
    await payouts.until(handle, "awaiting_approval")
    await payouts.approve(handle, "alice")
    bad = payouts.sign_rejection(handle, "outsider", "not mine to say")
    await handle.signal(io.SIGNAL_REJECT, io.RejectSignal(signature=bad, reason="not mine to say"))
    good = payouts.sign_rejection(handle, "bob", "line 2 pays a wrong wallet")
    await handle.signal(io.SIGNAL_REJECT, io.RejectSignal(signature=good, reason="line 2 pays a wrong wallet"))
    result = await handle.result()
    assert result.state == "rejected" and "line 2 pays a wrong wallet" in result.reason
    assert [(d.kind, d.outcome) for d in result.decisions] == [
        ("approve", "accepted"),
        ("reject", "refused"),
        ("reject", "accepted"),
    ]
    assert commission_states(db_engine) == ["payable", "payable"]
    assert contract_outflow(db_engine) == 0
    await payouts.keep(handle, "payout-rejected")


@pytest.mark.parametrize("overrides", [{"payout_approval_seconds": 5}])
async def test_no_decision_before_the_deadline_expires_and_voids(payouts, db_engine):
    earn(db_engine)
    handle = await payouts.start()
    await payouts.until(handle, "awaiting_approval")
    await payouts.approve(handle, "alice")  # one is not enough
    result = await handle.result()
    assert result.state == "expired"
    assert commission_states(db_engine) == ["payable", "payable"]
    late = await handle.query(io.QUERY_STATUS, result_type=io.PayoutStatus)
    assert late.state == "expired"
    await payouts.keep(handle, "payout-expired")


async def test_clawbacks_are_netted_and_suspended_affiliates_skipped(payouts, db_engine):
    root, child, user = earn(db_engine)
    first = await payouts.start()
    await payouts.until(first, "awaiting_approval")
    await payouts.approve(first, "alice")
    await payouts.approve(first, "carol")
    assert (await first.result()).state == "paid"
    with session_scope(db_engine) as s:  # both paid commissions refunded: child owes 10, root 5
        (ref,) = {c.payment_ref for c in s.exec(select(com.Commission)).all()}
        com.reverse_payment(s, ref, "chargeback")
        aff.set_status(s, CLI, root.id, AffiliateStatus.SUSPENDED, "review")
    for i in range(3):
        pay(db_engine, f"coinbase_commerce:more-{i}-{first.id[-6:]}", user)  # child +30, root +15 (suspended)
    before = payouts.usdc(child.wallet)
    second = await payouts.start()
    status = await payouts.until(second, "awaiting_approval")
    assert (status.line_count, status.total) == (1, 20 * USD)  # 30 earned - 10 owed; root skipped
    await payouts.approve(second, "alice")
    await payouts.approve(second, "bob")
    assert (await second.result()).state == "paid"
    assert payouts.usdc(child.wallet) - before == 20 * USD
    assert contract_outflow(db_engine) == 15 * USD + 20 * USD
    with Session(db_engine) as s:
        owed = {b.account: b.balance for b in ledger.balances(s, prefix="asset:affiliate:")}
        assert owed.get(Accounts.affiliate_clawback(child.id), 0) == 0  # settled by netting
        assert owed.get(Accounts.affiliate_clawback(root.id)) == 5 * USD  # suspended: still owed
        assert ledger.verify(s).ok
        books = verify_books(s)
        assert books.ok, books.problems


async def test_a_batch_with_nothing_to_pay_ends_empty(payouts, db_engine):
    earn(db_engine, payments=0)
    handle = await payouts.start()
    assert (await handle.result()).state == "empty"


async def test_the_contract_refuses_a_relayer_paying_an_unapproved_batch(payouts, db_engine, payout_settings):
    """A compromised worker or relayer alone cannot pay: payLines of a batch nobody approved reverts."""
    earn(db_engine)
    handle = await payouts.start()
    await payouts.until(handle, "awaiting_approval")
    from activities.payouts import PayoutActivities

    acts = PayoutActivities(payout_settings, db_engine)
    ids = [ln.payout_id for ln in lines(db_engine, handle.id).values()]
    tx: SubmitTx = acts.prepare_tx(
        io.PrepareTx(batch_id=handle.id, key=f"{handle.id}:rogue", kind="pay", payout_ids=ids)
    )
    outcome = Relayer(payout_settings, db_engine).send_and_wait(tx)
    assert outcome.status == "failed" and "BatchNotApproved" in (outcome.revert_reason or "")
    # Nor with signatures that are not enough: one approver's alone.
    tx = acts.prepare_tx(
        io.PrepareTx(
            batch_id=handle.id,
            key=f"{handle.id}:rogue-approve",
            kind="approve",
            signatures=[payouts.sign(handle, "alice")],
        )
    )
    outcome = Relayer(payout_settings, db_engine).send_and_wait(tx)
    assert outcome.status == "failed" and "NotEnoughApprovals" in (outcome.revert_reason or "")
    await handle.signal(io.SIGNAL_CANCEL, io.CancelSignal(operator="dave"))
    assert (await handle.result()).state == "cancelled"


async def test_a_line_that_reverts_alone_is_voided_and_the_rest_paid(payouts, db_engine, chain):
    """The per-transaction cap drops after the batch was planned: the two-line payLines reverts, each
    line is tried alone, the 10 USD line reverts (voided, its commissions payable again), 5 USD pays."""
    root, child, _user = earn(db_engine)
    handle = await payouts.start()
    await payouts.until(handle, "awaiting_approval")
    token = chain.addr("TestUSDC")
    cap = chain.view("AffiliatePayout", "capPerTx", token)
    chain.tx(chain.deployer, "AffiliatePayout", "setCap", token, 7 * USD)
    try:
        await payouts.approve(handle, "alice")
        await payouts.approve(handle, "bob")
        result = await handle.result()
    finally:
        chain.tx(chain.deployer, "AffiliatePayout", "setCap", token, cap)
    assert result.state == "partially_paid"
    by_affiliate = lines(db_engine, handle.id)
    assert by_affiliate[root.id].state == "paid"
    assert by_affiliate[child.id].state == "voided" and "CapExceeded" in by_affiliate[child.id].reason
    assert result.voided == {by_affiliate[child.id].payout_id: by_affiliate[child.id].reason}
    assert commission_states(db_engine) == ["paid", "payable"]
    assert contract_outflow(db_engine) == 5 * USD
    await payouts.keep(handle, "payout-partially-paid")


async def test_the_halt_switch_stops_a_batch_before_its_transactions(payouts, db_engine):
    from models.halt import set_halt

    earn(db_engine)
    handle = await payouts.start()
    await payouts.until(handle, "awaiting_approval")
    with session_scope(db_engine) as s:
        set_halt(s, CLI, True, "reconciliation difference")
    await payouts.approve(handle, "alice")
    await payouts.approve(handle, "bob")
    status = await payouts.until(handle, "halted")
    assert "reconciliation difference" in status.reason and contract_outflow(db_engine) == 0
    with session_scope(db_engine) as s:
        set_halt(s, CLI, False, "resolved")
    await handle.signal(io.SIGNAL_RESUME)
    assert (await handle.result()).state == "paid"
    assert contract_outflow(db_engine) == 15 * USD
    await payouts.keep(handle, "payout-halted")


async def test_the_weekly_run_starts_one_batch_per_program_for_last_week_once(payouts, db_engine):
    earn(db_engine)
    args = dict(id=f"weekly-{payouts.queue}", task_queue=payouts.queue, result_type=list[str])
    started = await payouts.client.execute_workflow(io.WEEKLY_WORKFLOW, **args)
    (bid,) = started
    assert bid.startswith("payout:demo:") and "-W" in bid
    handle = payouts.client.get_workflow_handle(bid)
    status = await payouts.until(handle, "awaiting_approval")
    assert status.total == 15 * USD
    again = await payouts.client.execute_workflow(io.WEEKLY_WORKFLOW, **{**args, "id": f"weekly2-{payouts.queue}"})
    assert again == []  # this week's batch exists: not started twice
    await handle.signal(io.SIGNAL_CANCEL, io.CancelSignal(operator="test"))
    assert (await handle.result())["state"] == "cancelled"


@pytest.mark.parametrize("overrides", [{"payout_funds_poll_seconds": 60}])
async def test_without_funds_the_batch_waits_and_pays_once_funded(payouts, db_engine, chain):
    earn(db_engine)
    handle = await payouts.start()
    await payouts.until(handle, "awaiting_approval")
    token, contract = chain.addr("TestUSDC"), chain.addr("AffiliatePayout")
    held = chain.view("TestUSDC", "balanceOf", contract)
    chain.tx(chain.deployer, "AffiliatePayout", "withdraw", token, chain.deployer.address, held)
    try:
        await payouts.approve(handle, "alice")
        await payouts.approve(handle, "bob")
        status = await payouts.until(handle, "awaiting_funds")
        assert status.reason == f"payout contract holds 0, needs {15 * USD}"
    finally:
        chain.tx(chain.deployer, "TestUSDC", "transfer", contract, held)
    await handle.signal(io.SIGNAL_FUNDED)  # look again now, not in a minute
    assert (await handle.result()).state == "paid"
    assert contract_outflow(db_engine) == 15 * USD
    await payouts.keep(handle, "payout-awaiting-funds")


async def test_too_few_eligible_approvers_voids_the_batch_at_once(payouts, db_engine):
    from models.operators import set_active

    earn(db_engine)
    with session_scope(db_engine) as s:
        for name in ("alice", "bob"):
            set_active(s, CLI, name, False)  # carol remains, and dave, who creates it
    handle = await payouts.start(created_by="dave")
    result = await handle.result()
    assert result.state == "unapprovable" and "2 approvals needed" in result.reason
    assert commission_states(db_engine) == ["payable", "payable"]
