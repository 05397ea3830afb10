"""The onboarding flow's rules, one test each, driven through stand-in activities (tests/helpers/flows.py).

The stand-ins replace the chain, the provider and the database so each branch can be driven exactly;
the real activities are exercised end to end in tests/onboarding/test_end_to_end.py. Runs on the real
dev server (the time-skipping server's jumps time out under load), with the flow's timings in seconds:
every wait below happens in real time.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from models import io
from models.chain import RELAYER_SEND
from models.onboarding import FlowState, Rail
from models.onboarding_io import (
    APPLY_PAYMENT_EVENT,
    BEGIN,
    CHAIN_FACTS,
    CLAIM_DELIVERED,
    FIND_ONCHAIN_CLAIM,
    PREPARE_ONCHAIN,
    RECORD,
    SETTLE_ONCHAIN,
    UNDELIVERABLE,
    AftercareInput,
    ChainClaim,
    ChainFacts,
    ChainFactsRequest,
    aftercare_id,
)
from models.payment_outcomes import FlowOutcome
from models.payments import CREATE_CHARGE, PAYMENT_EVENT_SIGNAL, PaymentEventKind
from tests.helpers.flows import (
    FAST,
    PERMANENT,
    PROGRAM_KEY,
    REFERRER,
    SGE,
    TEMPORARY,
    TOKEN_ID,
    World,
    run_histories,
    running,
    scheduled,
    tx_hash,
)
from workflows import aftercare
from workflows.aftercare import PaymentAftercareWorkflow
from workflows.onboarding import OnboardingWorkflow

S = FlowState
CONFIRMED, PENDING, FAILED, REFUNDED = (
    PaymentEventKind.CONFIRMED,
    PaymentEventKind.PENDING,
    PaymentEventKind.FAILED,
    PaymentEventKind.REFUNDED,
)
SLACK = timedelta(milliseconds=10)  # clock rounding between the stand-ins and the server


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
async def flows(temporal_dev, world):
    async with running(temporal_dev.client, world) as f:
        yield f


async def paid_flow(flows, world):
    """Start a flow and pay its first charge; returns the handle."""
    handle = await flows.start()
    await flows.until(handle, S.AWAITING_PAYMENT)
    await flows.signal(handle, world.event(CONFIRMED))
    return handle


def calls(world: World, name: str):
    return [c for c in world.calls if c.name == name]


# --- 1. the happy path -----------------------------------------------------------------------------


async def test_coinbase_happy_path(flows, world, temporal_dev):
    handle = await paid_flow(flows, world)
    status = await flows.result(handle)

    ref = world.payment_ref()
    claim_key = f"{world.fid}:claim:{ref}"
    assert (status.state, status.reason) == (S.COMPLETED, "")
    assert (status.token_id, status.rail, status.payment_ref) == (TOKEN_ID, Rail.COINBASE_COMMERCE, ref)
    assert (status.mint_tx, status.referral_tx) == (tx_hash(f"{world.fid}:mint"), tx_hash(f"{world.fid}:referral"))
    assert status.claim_tx == tx_hash(claim_key)
    assert world.story() == [
        BEGIN,
        "relayer.send:mint",
        "relayer.send:registerReferral",
        CREATE_CHARGE,
        APPLY_PAYMENT_EVENT,
        "relayer.send:deliverClaim",
        CLAIM_DELIVERED,
    ]
    (begin,) = world.named(BEGIN)
    assert begin.flow_id == world.fid and begin.input.wallet == world.wallet and begin.input.carry is None
    mint, referral, claim = world.sent()
    assert (mint.key, mint.call.contract, mint.call.args) == (f"{world.fid}:mint", "SGEID", [world.wallet])
    assert (referral.key, referral.call.args) == (f"{world.fid}:referral", [PROGRAM_KEY, world.wallet, REFERRER])
    assert (claim.key, claim.call.contract, claim.call.args) == (
        claim_key,
        "SGEClaim",
        [PROGRAM_KEY, world.wallet, ref],
    )
    (charge,) = world.named(CREATE_CHARGE)
    assert (charge.payment_key, charge.flow_id, charge.wallet) == (f"{world.fid}:payment:0", world.fid, world.wallet)
    (applied,) = world.named(APPLY_PAYMENT_EVENT)
    assert applied.accepting and applied.confirm and not applied.expire_if_unpaid and applied.flow_id == world.fid
    (delivered,) = world.named(CLAIM_DELIVERED)
    assert delivered.claim_tx == status.claim_tx
    assert delivered.paid == world.paid().model_copy(update={"sge_amount_minor": SGE})  # the amount the chain says
    assert world.recorded_states() == [
        S.REGISTERING,
        S.MINTING,
        S.REFERRING,
        S.AWAITING_PAYMENT,
        S.CLAIMING,
        S.COMPLETED,
    ]
    assert world.named(RECORD)[-1].completed and world.named(RECORD)[-1].claim_tx == status.claim_tx
    # before each value-moving step: mint, referral, charge, and the delivery (once before the pre-delivery
    # drain, so a refund that arrived during a halt is seen first, and once just before sending)
    assert len(world.named(io.HALT_STATUS)) == 5
    (history,) = await run_histories(temporal_dev.client, handle)
    assert len(history.events) <= 80  # one run, bounded: 6 activities, 3 sends, a signal, a dozen records


# --- 2-5. payment events ---------------------------------------------------------------------------


async def test_the_same_event_signalled_twice_is_applied_once(flows, world, temporal_dev):
    """Once while waiting for payment (both copies queued) and once more during delivery (drained)."""
    delivery = world.hold("deliverClaim")
    confirmed = world.event(CONFIRMED)
    handle = await flows.start()
    await flows.until(handle, S.AWAITING_PAYMENT)
    await flows.signal(handle, confirmed, confirmed)
    await flows.reached(delivery)
    await flows.signal(handle, confirmed)
    delivery.open()

    assert (await flows.result(handle)).state == S.COMPLETED
    assert [a.event.event_id for a in world.named(APPLY_PAYMENT_EVENT)] == [confirmed.event_id]
    (history,) = await run_histories(temporal_dev.client, handle)
    assert scheduled(history, APPLY_PAYMENT_EVENT) == 1
    assert len(world.sent("deliverClaim")) == len(world.named(CLAIM_DELIVERED)) == 1


async def test_events_for_an_older_charge_are_applied_but_do_not_end_the_flow(flows, world):
    old, older, current = world.payment_key(0), world.payment_key(1), world.payment_key(2)
    world.begin = world.begin.model_copy(update={"payment_seq": 2, "payment_keys": [old, older]})
    handle = await flows.start()
    await flows.until(handle, S.AWAITING_PAYMENT)
    await flows.signal(handle, world.event(FAILED, key=old), world.event(PaymentEventKind.EXPIRED, key=older))
    await flows.until_true(lambda: len(world.named(APPLY_PAYMENT_EVENT)) == 2)
    await flows.signal(handle, world.event(CONFIRMED, key=current))

    status = await flows.result(handle)
    assert (status.state, status.payment_ref) == (S.COMPLETED, world.payment_ref(current))
    assert [c.payment_key for c in world.named(CREATE_CHARGE)] == [current]  # the next key, never an old one
    applied = world.named(APPLY_PAYMENT_EVENT)
    assert [a.event.payment_key for a in applied] == [old, older, current] and all(a.accepting for a in applied)
    assert S.FAILED not in world.recorded_states() and S.EXPIRED not in world.recorded_states()


async def test_pending_extends_the_deadline_up_to_pending_max_then_the_flow_expires(flows, world):
    world.charge_ttl = timedelta(seconds=1)
    handle = await flows.start()
    await flows.until(handle, S.AWAITING_PAYMENT)
    await flows.signal(handle, world.event(PENDING))

    status = await flows.result(handle)
    assert (status.state, status.reason) == (S.EXPIRED, "stand-in: expired")
    pending, deadline = calls(world, APPLY_PAYMENT_EVENT)
    charge = world.charges[world.payment_key()]
    assert charge.expires_at is not None
    assert pending.arg.accepting and not pending.arg.expire_if_unpaid
    check = deadline.arg
    assert check.accepting and check.expire_if_unpaid and check.event.event_id == f"deadline:{charge.payment_key}"
    assert (check.event.payment_key, check.event.provider_ref) == (charge.payment_key, charge.provider_ref)
    # Without the pending payment the flow would have asked at expiry + grace; it asked only once the
    # extension ran out: pending_max past that (pending_grace, 30 s, is capped by it).
    pending_until = charge.expires_at + timedelta(seconds=FAST.expiry_grace_s + FAST.pending_max_s)
    assert pending_until - SLACK <= deadline.at < pending.at + timedelta(seconds=FAST.pending_grace_s)
    assert not world.sent("deliverClaim")


async def test_money_found_at_the_deadline_settles_the_flow(flows, world):
    world.charge_ttl = timedelta(seconds=1)
    world.outcomes[f"deadline:{world.payment_key()}"] = [FlowOutcome.SETTLED]
    handle = await flows.start()

    status = await flows.result(handle)
    assert (status.state, status.payment_ref) == (S.COMPLETED, world.payment_ref())
    (deadline,) = calls(world, APPLY_PAYMENT_EVENT)
    charge = world.charges[world.payment_key()]
    assert charge.expires_at is not None and deadline.arg.expire_if_unpaid and deadline.arg.accepting
    assert deadline.at >= charge.expires_at + timedelta(seconds=FAST.expiry_grace_s) - SLACK
    assert world.keys("deliverClaim") == [f"{world.fid}:claim:{world.payment_ref()}"]


@pytest.mark.parametrize(
    ("kind", "outcome", "state"),
    [
        (CONFIRMED, FlowOutcome.UNDERPAID, S.UNDERPAID),
        (CONFIRMED, FlowOutcome.WRONG_ASSET, S.SUSPENSE),
        (FAILED, FlowOutcome.FAILED, S.FAILED),
        (REFUNDED, FlowOutcome.REFUNDED, S.REFUNDED),
    ],
)
async def test_outcomes_that_end_an_unpaid_flow(flows, world, kind, outcome, state):
    event = world.event(kind)
    world.outcomes[event.event_id] = [outcome]
    handle = await flows.start()
    await flows.until(handle, S.AWAITING_PAYMENT)
    await flows.signal(handle, event)

    status = await flows.result(handle)
    assert (status.state, status.reason) == (state, f"stand-in: {outcome.value}")
    (applied,) = world.named(APPLY_PAYMENT_EVENT)
    assert applied.accepting and applied.event.event_id == event.event_id
    assert not world.sent("deliverClaim") and not world.named(CLAIM_DELIVERED)
    assert world.recorded_states()[-2:] == [S.AWAITING_PAYMENT, state]


# --- 6. where `begin` finds the flow ---------------------------------------------------------------


async def test_an_open_charge_is_reused(flows, world):
    key = world.payment_key(0)
    open_charge = world.charge(key, datetime.now(UTC) + timedelta(seconds=60))
    world.begin = world.begin.model_copy(update={"open_payment": open_charge, "payment_seq": 1, "payment_keys": [key]})
    handle = await flows.start()
    waiting = await flows.until(handle, S.AWAITING_PAYMENT)
    assert (waiting.hosted_url, waiting.payment_ref) == (open_charge.hosted_url, key)
    await flows.signal(handle, world.event(CONFIRMED, key=key))

    assert (await flows.result(handle)).state == S.COMPLETED
    assert not world.named(CREATE_CHARGE)
    assert world.keys("deliverClaim") == [f"{world.fid}:claim:{world.payment_ref(key)}"]


async def test_a_settled_payment_goes_straight_to_delivery(flows, world):
    key = world.payment_key(0)
    world.begin = world.begin.model_copy(
        update={
            "settled": world.paid(key),
            "token_id": TOKEN_ID,
            "referral_on_chain": True,
            "payment_seq": 1,
            "payment_keys": [key],
        }
    )
    handle = await flows.start()

    status = await flows.result(handle)
    assert (status.state, status.payment_ref) == (S.COMPLETED, world.payment_ref(key))
    assert world.story() == [BEGIN, "relayer.send:deliverClaim", CLAIM_DELIVERED]  # no charge, no event
    assert world.keys("deliverClaim") == [f"{world.fid}:claim:{world.payment_ref(key)}"]


async def test_a_claim_paid_on_chain_is_settled_from_the_chain(flows, world):
    paid = world.onchain_paid()
    claim = ChainClaim(ref="0x" + "44" * 32, tx_hash=paid.onchain_tx, onchain_paid=True)
    world.begin = world.begin.model_copy(update={"chain_claim": claim, "token_id": TOKEN_ID, "referral_on_chain": True})
    world.onchain = paid
    handle = await flows.start()

    status = await flows.result(handle)
    assert (status.state, status.rail, status.claim_tx) == (S.COMPLETED, Rail.ONCHAIN, paid.onchain_tx)
    assert world.story() == [BEGIN, FIND_ONCHAIN_CLAIM, SETTLE_ONCHAIN, CLAIM_DELIVERED]  # no charge, no relayer
    (find,) = world.named(FIND_ONCHAIN_CLAIM)
    assert (find.wallet, find.from_block) == (world.wallet, 1)
    assert world.named(SETTLE_ONCHAIN)[0].paid == paid
    assert world.named(CLAIM_DELIVERED)[0].claim_tx == paid.onchain_tx
    assert S.SETTLING in world.recorded_states()


# --- 7-9. sending transactions ---------------------------------------------------------------------


@pytest.mark.parametrize(("function", "state"), [("mint", S.MINTING), ("deliverClaim", S.CLAIMING)])
async def test_a_temporary_revert_is_waited_out_under_the_same_key(flows, world, function, state):
    world.sends[function] = ["temporary"]  # until the test fixes the world
    handle = await (paid_flow(flows, world) if function == "deliverClaim" else flows.start())
    waiting = await flows.until(handle, state, reason=f"waiting: {TEMPORARY}")
    assert waiting.reason == f"waiting: {TEMPORARY} (retrying)"
    await flows.until_true(lambda: len(world.sent(function)) >= 3)
    world.sends[function] = ["confirmed"]
    if function == "mint":
        await flows.until(handle, S.AWAITING_PAYMENT)
        await flows.signal(handle, world.event(CONFIRMED))

    status = await flows.result(handle)
    assert (status.state, status.reason) == (S.COMPLETED, "")
    purpose = "mint" if function == "mint" else f"claim:{world.payment_ref()}"
    assert set(world.keys(function)) == {f"{world.fid}:{purpose}"}  # nothing was mined: the key stays free
    cleared = [r for r in world.named(RECORD) if r.state == state]
    assert cleared[0].reason == "" and cleared[-1].reason == ""  # the wait was shown, then cleared
    assert any(r.reason.startswith("waiting:") for r in cleared)


@pytest.mark.parametrize("function", ["mint", "deliverClaim"])
async def test_a_mined_temporary_revert_retries_under_the_next_key(flows, world, function):
    world.sends[function] = ["temporary-mined", "confirmed"]
    status = await flows.result(await paid_flow(flows, world))
    assert status.state == S.COMPLETED
    key = f"{world.fid}:mint" if function == "mint" else f"{world.fid}:claim:{world.payment_ref()}"
    assert world.keys(function) == [key, f"{key}:1"]
    assert (status.mint_tx if function == "mint" else status.claim_tx) == tx_hash(f"{key}:1")


async def test_a_permanent_revert_of_the_mint_carries_on_with_the_token_on_chain(flows, world):
    world.sends["mint"] = ["permanent"]  # e.g. AlreadyHasToken: another program's flow minted it
    world.facts = ChainFacts(token_id=42)
    status = await flows.result(await paid_flow(flows, world))

    assert (status.state, status.token_id, status.mint_tx) == (S.COMPLETED, 42, None)
    assert world.keys("mint") == [f"{world.fid}:mint"]
    assert world.named(CHAIN_FACTS) == [ChainFactsRequest(program_key=PROGRAM_KEY, wallet=world.wallet)]
    assert any(r.token_id == 42 for r in world.named(RECORD))


@pytest.mark.parametrize("ours", [True, False], ids=["claim-is-ours", "claim-went-elsewhere"])
async def test_a_permanent_revert_of_the_delivery_is_looked_up_on_chain(flows, world, ours):
    world.sends["deliverClaim"] = ["permanent"]
    chain_tx = "0x" + "c1" * 32
    world.facts = ChainFacts(
        token_id=TOKEN_ID, claim=ChainClaim(ref="0x" + "55" * 32, tx_hash=chain_tx), claim_is_ours=ours
    )
    status = await flows.result(await paid_flow(flows, world))

    ref = world.payment_ref()
    assert world.named(CHAIN_FACTS) == [
        ChainFactsRequest(program_key=PROGRAM_KEY, wallet=world.wallet, payment_ref=ref)
    ]
    assert len(world.sent("deliverClaim")) == 1
    if ours:  # an earlier attempt delivered it: book that delivery
        assert (status.state, status.claim_tx) == (S.COMPLETED, chain_tx)
        (delivered,) = world.named(CLAIM_DELIVERED)
        assert (delivered.claim_tx, delivered.paid) == (chain_tx, world.paid())
        assert not world.named(UNDELIVERABLE)
    else:  # the wallet's one claim went elsewhere: reverse the payment into suspense
        reason = f"claim undeliverable: {PERMANENT}"
        assert (status.state, status.reason) == (S.SUSPENSE, reason)
        (undeliverable,) = world.named(UNDELIVERABLE)
        assert (undeliverable.paid, undeliverable.reason, undeliverable.flow_id) == (world.paid(), reason, world.fid)
        assert not world.named(CLAIM_DELIVERED)


async def test_a_refused_delivery_waits_for_an_operator_then_retries_under_a_fresh_key(flows, world):
    world.sends["deliverClaim"] = [ApplicationError("nonce conflict", type="relayer_refused", non_retryable=True)]
    handle = await paid_flow(flows, world)
    blocked = await flows.until(handle, S.DELIVERY_BLOCKED)
    assert blocked.reason == "relayer_refused: nonce conflict"
    assert len(world.sent("deliverClaim")) == 1  # not retried by Temporal: the operator decides
    world.sends["deliverClaim"] = ["confirmed"]
    await handle.signal(OnboardingWorkflow.resume)

    status = await flows.result(handle)
    key = f"{world.fid}:claim:{world.payment_ref()}"
    assert (status.state, status.claim_tx) == (S.COMPLETED, tx_hash(f"{key}:1"))
    assert world.keys("deliverClaim") == [key, f"{key}:1"]
    assert world.recorded_states()[-3:] == [S.DELIVERY_BLOCKED, S.CLAIMING, S.COMPLETED]
    assert len(world.named(CLAIM_DELIVERED)) == 1


# --- 10. failures before payment -------------------------------------------------------------------


def _refuse_charge(world: World) -> str:
    world.charge_error = ApplicationError("no provider configured", type="payments_not_configured", non_retryable=True)
    return "payments_not_configured: no provider configured"


def _refuse_mint(world: World) -> str:
    world.sends["mint"] = [ApplicationError("bad calldata", type="relayer_refused", non_retryable=True)]
    return "relayer_refused: bad calldata"


def _closed_program(world: World) -> str:
    world.begin.error = "program 'demo' is not open for registration"
    return world.begin.error


def _unknown_claim_on_chain(world: World) -> str:
    world.begin.chain_claim = ChainClaim(ref="0x" + "66" * 32, tx_hash="0x" + "77" * 32, onchain_paid=False)
    return "a claim was delivered on chain for a payment the books do not know: reconcile before retrying"


def _claim_paid_in_an_unknown_token(world: World) -> str:
    world.begin.chain_claim = ChainClaim(ref="0x" + "66" * 32, tx_hash="0x" + "77" * 32, onchain_paid=True)
    world.onchain = ApplicationError("claim paid in unknown token 0xdead", type="bad_token", non_retryable=True)
    return "on-chain claim rejected: claim paid in unknown token 0xdead"


@pytest.mark.parametrize(
    "refuse", [_refuse_charge, _refuse_mint, _closed_program, _unknown_claim_on_chain, _claim_paid_in_an_unknown_token]
)
async def test_a_refusal_before_payment_fails_the_flow(flows, world, refuse):
    reason = refuse(world)
    status = await flows.result(await flows.start())
    assert (status.state, status.reason) == (S.FAILED, reason)
    assert not world.named(APPLY_PAYMENT_EVENT) and not world.sent("deliverClaim")
    assert world.recorded_states()[-1] == S.FAILED


# --- 11. the halt switch ---------------------------------------------------------------------------


async def test_a_halt_pauses_value_moving_steps_until_it_is_lifted(flows, world):
    world.halted = True
    handle = await flows.start()
    halted = await flows.until(handle, S.HALTED)
    assert halted.reason == "platform halted: test halt"
    await flows.until_true(lambda: len(world.named(io.HALT_STATUS)) >= 5)  # it keeps polling...
    assert not world.named(RELAYER_SEND)  # ...and sends nothing meanwhile
    world.halted = False
    await flows.until(handle, S.AWAITING_PAYMENT)
    await flows.signal(handle, world.event(CONFIRMED))

    assert (await flows.result(handle)).state == S.COMPLETED
    assert world.recorded_states()[:3] == [S.REGISTERING, S.HALTED, S.MINTING]
    assert world.keys("mint") == [f"{world.fid}:mint"]


async def test_a_closed_chain_gate_holds_the_pre_payment_steps_only(flows, world):
    """Closed before the mint: the flow waits in `gated` and sends nothing; opened, it mints, and with
    the gate closed again after payment, the delivery still goes (paid flows are never gated)."""
    world.gate_closed = True
    handle = await flows.start()
    gated = await flows.until(handle, S.GATED)
    assert gated.reason == "waiting: pre-payment chain gate closed (test budget)"
    await flows.until_true(lambda: len(world.named(io.CHAIN_GATE)) >= 3)  # it keeps asking...
    assert not world.named(RELAYER_SEND)  # ...and sends nothing meanwhile
    world.gate_closed = False
    await flows.until(handle, S.AWAITING_PAYMENT)
    world.gate_closed = True
    await flows.signal(handle, world.event(CONFIRMED))

    assert (await flows.result(handle)).state == S.COMPLETED
    assert world.recorded_states()[:3] == [S.REGISTERING, S.GATED, S.MINTING]
    assert len(world.named(io.CHAIN_GATE)) >= 4  # asked before the mint (closed, then open) and the referral
    gated_sends = [tx.call.function for tx in world.sent() if tx.gated and tx.call]
    assert gated_sends == ["mint", "registerReferral"]  # the relayer refuses these while closed, not the claim
    assert world.keys("deliverClaim")


async def test_a_long_halt_continues_as_new_with_the_flow_carried_over(flows, world, temporal_dev):
    limit = 60
    world.begin.timing = FAST.model_copy(update={"history_limit": limit, "halt_poll_s": 0.02})
    mint = world.hold("mint")
    handle = await flows.start()
    await flows.reached(mint)
    world.halted = True  # the token is minted, then the platform halts before the referral
    mint.open()
    await flows.until(handle, S.HALTED)
    for _ in range(200):  # a poll every 0.02 s overflows 60 events in a few seconds
        if len(await run_histories(temporal_dev.client, handle)) >= 3:
            break
        await asyncio.sleep(0.1)
    assert not world.sent("registerReferral")
    world.halted = False
    await flows.until(handle, S.AWAITING_PAYMENT)
    await flows.signal(handle, world.event(CONFIRMED))

    status = await flows.result(handle)
    assert (status.state, status.token_id, status.mint_tx) == (S.COMPLETED, TOKEN_ID, tx_hash(f"{world.fid}:mint"))
    runs = await run_histories(temporal_dev.client, handle)
    assert len(runs) >= 3
    # A run hands over at the first check that finds it at or past the limit: it may overshoot by one
    # halt poll (a marker, a timer, a workflow task: 6 events) plus its closing task (2). Seen: 65, 65, 56.
    assert all(len(run.events) <= limit + 8 for run in runs), [len(run.events) for run in runs]
    assert runs[-1].events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
    assert world.keys("mint") == [f"{world.fid}:mint"]  # the carried state knows the token: not minted again
    assert len(world.named(BEGIN)) == 1 and len(world.sent("registerReferral")) == 1
    assert len(world.named(CREATE_CHARGE)) == 1


# --- 12. events after the flow is paid or over -----------------------------------------------------


async def test_a_refund_after_delivery_ends_the_flow_refunded(flows, world):
    delivery = world.hold("deliverClaim")
    handle = await paid_flow(flows, world)
    await flows.reached(delivery)
    refund = world.event(REFUNDED)
    await flows.signal(handle, refund)
    delivery.open()

    status = await flows.result(handle)
    assert (status.state, status.reason) == (S.REFUNDED, "stand-in: refunded")
    assert status.claim_tx == tx_hash(f"{world.fid}:claim:{world.payment_ref()}")
    paid, refunded = world.named(APPLY_PAYMENT_EVENT)
    assert paid.accepting and (refunded.event.event_id, refunded.accepting) == (refund.event_id, False)
    assert len(world.named(CLAIM_DELIVERED)) == 1  # delivered first, then reversed
    assert world.recorded_states()[-2:] == [S.CLAIMING, S.REFUNDED]


async def test_a_late_event_after_expiry_is_booked_and_the_flow_stays_expired(flows, world):
    world.charge_ttl = timedelta(seconds=0.5)
    deadline = world.hold(f"deadline:{world.payment_key()}")
    handle = await flows.start()
    await flows.reached(deadline)
    late = world.event(CONFIRMED)
    await flows.signal(handle, late)
    deadline.open()

    status = await flows.result(handle)
    assert (status.state, status.reason) == (S.EXPIRED, "stand-in: expired")
    check, booked = world.named(APPLY_PAYMENT_EVENT)
    assert check.expire_if_unpaid and check.accepting
    assert (booked.event.event_id, booked.accepting, booked.expire_if_unpaid) == (late.event_id, False, False)
    assert world.recorded_states()[-1] == S.EXPIRED and not world.sent("deliverClaim")


# --- 13. paying on chain ---------------------------------------------------------------------------


async def test_prepare_onchain_refuses_a_bad_token_and_a_flow_not_awaiting_payment(flows, world, temporal_dev):
    world.onchain = world.onchain_paid()
    mint = world.hold("mint")
    handle = await flows.start()
    await flows.reached(mint)

    async def refused(token: str) -> str:
        with pytest.raises(WorkflowUpdateFailedError) as err:
            await handle.execute_update(OnboardingWorkflow.prepare_onchain, token)
        assert isinstance(err.value.cause, ApplicationError)
        return str(err.value.cause.type)

    assert await refused("USDC") == "not_awaiting_payment"  # still minting: no charge to pay yet
    assert await refused("DAI") == "bad_token"
    mint.open()
    await flows.until(handle, S.AWAITING_PAYMENT)
    assert await refused("usdt") == "bad_token"
    steps = await handle.execute_update(OnboardingWorkflow.prepare_onchain, "USDT")

    assert steps.token == "USDT"
    (prepared,) = world.named(PREPARE_ONCHAIN)
    assert (prepared.token, prepared.wallet, prepared.payment_ref) == ("USDT", world.wallet, world.payment_key())
    status = await flows.result(handle)
    assert (status.state, status.rail) == (S.COMPLETED, Rail.ONCHAIN)
    assert not world.sent("deliverClaim") and len(world.named(SETTLE_ONCHAIN)) == 1
    (history,) = await run_histories(temporal_dev.client, handle)
    accepted = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    assert sum(e.event_type == accepted for e in history.events) == 1  # refusals leave no trace in history


# --- 14. payment aftercare -------------------------------------------------------------------------


async def test_aftercare_applies_each_event_once_then_ends_when_idle(temporal_dev, monkeypatch):
    # IDLE is read by the workflow at run time; the module is passed through the sandbox so the patch
    # reaches it (the sandbox would otherwise re-import a fresh copy). Production keeps 30 s.
    idle = timedelta(seconds=1)
    monkeypatch.setattr(aftercare, "IDLE", idle)
    world = World()
    key = world.payment_key()
    first, second = world.event(REFUNDED), world.event(CONFIRMED)
    busy = world.hold(first.event_id)  # keeps the run busy while the other events arrive
    async with running(temporal_dev.client, world, passthrough=["workflows.aftercare"]) as flows:

        async def deliver(event):
            return await temporal_dev.client.start_workflow(
                PaymentAftercareWorkflow.run,
                AftercareInput(flow_id=world.fid, payment_key=key),
                id=aftercare_id(key),
                task_queue=flows.queue,
                start_signal=PAYMENT_EVENT_SIGNAL,
                start_signal_args=[event],
            )

        handle = await deliver(first)
        flows.started.append(handle)
        await flows.reached(busy)
        joined = [await deliver(second), await deliver(first)]  # the same run gets them (signal-with-start)
        assert {h.result_run_id for h in joined} == {handle.result_run_id}
        busy.open()
        outcomes = await flows.result(handle)

        (history,) = await run_histories(temporal_dev.client, handle)
    assert outcomes == [f"{first.event_id}: refunded stand-in: refunded", f"{second.event_id}: none stand-in: none"]
    applied = world.named(APPLY_PAYMENT_EVENT)
    assert [a.event.event_id for a in applied] == [first.event_id, second.event_id]
    assert all(not a.accepting and a.confirm and a.flow_id == world.fid for a in applied)
    done = EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
    last_applied = [e for e in history.events if e.event_type == done][-1].event_time.ToDatetime()
    closed = history.events[-1].event_time.ToDatetime()
    assert idle <= closed - last_applied < timedelta(seconds=15)  # it ended after its idle window, not before
