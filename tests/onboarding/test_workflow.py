"""The onboarding workflow's decisions, on the time-skipping server with stand-in activities.

The activities here only stand in for the chain, the provider and the DB so that each branch (rail,
expiry, under-payment, failure, refund, duplicates, relayer errors, halt switch) can be driven
exactly; the real activities are exercised end to end in tests/onboarding/test_end_to_end.py.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from temporalio import activity
from temporalio.client import WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from contracts.abi import hexstr, program_id
from models import io
from models.chain import RELAYER_SUBMIT, RELAYER_WAIT_FINAL, ChainEvent, SubmitTx, TxOutcome, TxRef, TxStatus
from models.onboarding import FlowState, OnboardingInput, Rail, flow_id
from models.onboarding_io import (
    BEGIN,
    CHAIN_COSTS,
    CLAIM_DELIVERED,
    FIND_ONCHAIN_CLAIM,
    PREPARE_ONCHAIN,
    RECORD,
    SETTLE,
    SUSPENSE,
    UNDELIVERABLE,
    Begin,
    BeginResult,
    ChainCosts,
    Delivered,
    FindOnchainClaim,
    OnchainSteps,
    Paid,
    PrepareOnchain,
    Record,
    Settle,
    Suspense,
    TxStep,
)
from models.payments import (
    CREATE_CHARGE,
    RECORD_OUTCOME,
    Charge,
    CreateChargeRequest,
    PaymentEvent,
    PaymentEventKind,
    PaymentStatus,
    RecordOutcomeRequest,
)
from models.platform import PaymentProvider
from workflows.onboarding import EXPIRY_GRACE, OnboardingWorkflow

WALLET = "0x1111111111111111111111111111111111111111"
REFERRER = "0x2222222222222222222222222222222222222222"
FEE = 100_000_000
DEMO_KEY = hexstr(program_id("demo"))


class World:
    """What the stand-in activities see and record."""

    def __init__(self) -> None:
        self.halted = False
        self.referrer: str | None = REFERRER
        self.submit_failures: Counter[str] = Counter()  # tx label → retryable failures to raise first
        self.onchain_paid = False
        self.calls: list[tuple[str, object]] = []
        self.charge: Charge | None = None
        self.charge_ttl = timedelta(hours=1)

    def named(self, name: str) -> list[object]:
        return [arg for n, arg in self.calls if n == name]

    def activities(self) -> list:
        world = self

        @activity.defn(name=io.HALT_STATUS)
        def halt_status() -> io.HaltStatus:
            return io.HaltStatus(halted=world.halted, reason="test halt" if world.halted else "")

        @activity.defn(name=BEGIN)
        def begin(req: Begin) -> BeginResult:
            world.calls.append((BEGIN, req))
            return BeginResult(
                program_id=1, program_key=DEMO_KEY, referrer_wallet=world.referrer, attribution="new", from_block=1
            )

        @activity.defn(name=RECORD)
        def record(req: Record) -> None:
            world.calls.append((RECORD, req))

        @activity.defn(name=RELAYER_SUBMIT)
        def submit(req: SubmitTx) -> TxRef:
            world.calls.append((RELAYER_SUBMIT, req))
            if world.submit_failures[req.label] > 0:
                world.submit_failures[req.label] -= 1
                raise ApplicationError("rpc unavailable", type="chain_unavailable")
            return TxRef(key=req.key, status=TxStatus.BROADCAST, nonce=1, hash="0x" + "ab" * 32)

        @activity.defn(name=RELAYER_WAIT_FINAL)
        def wait_final(key: str) -> TxOutcome:
            events = []
            if key.endswith(":mint"):
                events = [ChainEvent(contract="SGEID", event="Transfer", address="0x", args={"tokenId": 7})]
            if key.endswith(":claim"):
                events = [
                    ChainEvent(contract="SGEClaim", event="Claimed", address="0x", args={"amount": 1000 * 10**18})
                ]
            return TxOutcome(key=key, status="confirmed", hash="0x" + "cd" * 32, fee_wei=21_000 * 10**9, events=events)

        @activity.defn(name=CREATE_CHARGE)
        def create_charge(req: CreateChargeRequest) -> Charge:
            world.calls.append((CREATE_CHARGE, req))
            world.charge = Charge(
                payment_key=req.payment_key,
                provider=PaymentProvider.COINBASE_COMMERCE,
                provider_ref="CHG1",
                hosted_url="http://sandbox/charges/CHG1",
                amount_minor=FEE,
                currency="USD",
                expires_at=activity.info().current_attempt_scheduled_time + world.charge_ttl,
                status=PaymentStatus.OPEN,
            )
            return world.charge

        @activity.defn(name=RECORD_OUTCOME)
        def record_outcome(req: RecordOutcomeRequest) -> None:
            world.calls.append((RECORD_OUTCOME, req))

        @activity.defn(name=PREPARE_ONCHAIN)
        def prepare(req: PrepareOnchain) -> OnchainSteps:
            world.calls.append((PREPARE_ONCHAIN, req))
            return OnchainSteps(
                token=req.token,
                token_address="0xT",
                claim_contract="0xC",
                fee_minor=FEE,
                allowance_minor=0,
                balance_minor=FEE,
                payment_ref_bytes32="0x" + "00" * 32,
                steps=[TxStep(description="claim", to="0xC", data="0x")],
            )

        @activity.defn(name=FIND_ONCHAIN_CLAIM)
        def find(req: FindOnchainClaim) -> Paid:
            world.calls.append((FIND_ONCHAIN_CLAIM, req))
            if not world.onchain_paid:
                raise ApplicationError("not yet", type="not_yet_on_chain")
            return Paid(
                rail=Rail.ONCHAIN,
                payment_ref="onchain:0xfeed:0",
                amount_minor=FEE,
                asset="USDT",
                onchain_tx="0xfeed",
                sge_amount_minor=1000 * 10**18,
            )

        def recorder(name, kind):
            def rec(req):
                world.calls.append((name, req))

            rec.__annotations__ = {"req": kind, "return": None}  # the payload type the converter decodes to
            return activity.defn(name=name)(rec)

        return [
            halt_status,
            begin,
            record,
            submit,
            wait_final,
            create_charge,
            record_outcome,
            prepare,
            find,
            recorder(SETTLE, Settle),
            recorder(CLAIM_DELIVERED, Delivered),
            recorder(SUSPENSE, Suspense),
            recorder(UNDELIVERABLE, Suspense),
            recorder(CHAIN_COSTS, ChainCosts),
        ]


@pytest.fixture
async def flow(temporal_ts):
    """Start a flow with a fresh World and a worker; yields (world, handle, env)."""
    world = World()
    queue = f"onb-{uuid.uuid4().hex[:8]}"
    wallet = WALLET
    pool = ThreadPoolExecutor(8)
    async with Worker(
        temporal_ts.client,
        task_queue=queue,
        workflows=[OnboardingWorkflow],
        activities=world.activities(),
        activity_executor=pool,
    ):
        handle = await temporal_ts.client.start_workflow(
            OnboardingWorkflow.run,
            OnboardingInput(program="demo", wallet=wallet, referral_code="ABCD1234"),
            id=f"{flow_id('demo', wallet)}:{uuid.uuid4().hex[:6]}",
            task_queue=queue,
        )
        yield world, handle, temporal_ts
    pool.shutdown()


async def _until_state(handle: WorkflowHandle, state: FlowState, timeout: float = 10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        status = await handle.query(OnboardingWorkflow.status)
        if status.state == state:
            return status
        assert asyncio.get_running_loop().time() < deadline, f"still {status.state}, wanted {state}"
        await asyncio.sleep(0.05)


async def _result(env, handle: WorkflowHandle):
    """The flow's final status, in real time: with auto-skipping the test server jumped to timeouts
    while local activities ran on a loaded machine, and the test hung."""
    with env.auto_time_skipping_disabled():
        return await handle.result()


def _event(world: World, kind: PaymentEventKind, paid: int | None = FEE, **extra) -> PaymentEvent:
    assert world.charge is not None
    return PaymentEvent(
        provider=PaymentProvider.COINBASE_COMMERCE,
        event_id=str(uuid.uuid4()),
        event_type=f"charge:{kind}",
        kind=kind,
        provider_ref="CHG1",
        payment_key=world.charge.payment_key,
        amount_minor=FEE,
        currency="USD",
        paid_minor=paid,
        paid_currency="USD",
        **extra,
    )


async def test_coinbase_happy_path(flow):
    world, handle, env = flow
    await _until_state(handle, FlowState.AWAITING_PAYMENT)
    charge = await handle.execute_update(OnboardingWorkflow.payment)
    assert charge.hosted_url == "http://sandbox/charges/CHG1"
    await handle.signal(OnboardingWorkflow.payment_event, _event(world, PaymentEventKind.CONFIRMED))
    status = await _result(env, handle)
    assert status.state == FlowState.COMPLETED
    assert status.token_id == 7 and status.claim_tx == "0x" + "cd" * 32
    keys = [req.key for req in world.named(RELAYER_SUBMIT)]
    assert [k.rsplit(":", 1)[-1] for k in keys] == ["mint", "referral", "claim"]
    claim_call = world.named(RELAYER_SUBMIT)[-1].call
    assert claim_call.function == "deliverClaim" and claim_call.args == [DEMO_KEY, WALLET, "coinbase_commerce:CHG1"]
    referral_call = world.named(RELAYER_SUBMIT)[1].call
    assert referral_call.function == "registerReferral" and referral_call.args == [DEMO_KEY, WALLET, world.referrer]
    (settle,) = world.named(SETTLE)
    assert settle.paid.payment_ref == "coinbase_commerce:CHG1" and settle.paid.amount_minor == FEE
    (delivered,) = world.named(CLAIM_DELIVERED)
    assert delivered.paid.sge_amount_minor == 1000 * 10**18
    assert len(world.named(CHAIN_COSTS)) == 3  # gas of every transaction reaches the ledger
    assert [o.status for o in world.named(RECORD_OUTCOME)] == [PaymentStatus.CONFIRMED]


async def test_onchain_rail(flow):
    world, handle, env = flow
    await _until_state(handle, FlowState.AWAITING_PAYMENT)
    steps = await handle.execute_update(OnboardingWorkflow.prepare_onchain, "USDT")
    assert steps.fee_minor == FEE
    world.onchain_paid = True
    status = await _result(env, handle)
    assert status.state == FlowState.COMPLETED and status.rail == Rail.ONCHAIN
    assert status.claim_tx == "0xfeed"
    assert [req.key.rsplit(":", 1)[-1] for req in world.named(RELAYER_SUBMIT)] == ["mint", "referral"]  # no delivery
    (settle,) = world.named(SETTLE)
    assert settle.paid.asset == "USDT" and settle.paid.payment_ref == "onchain:0xfeed:0"


async def test_expiry(temporal_ts):
    world = World()
    world.charge_ttl = -EXPIRY_GRACE + timedelta(seconds=2)  # the flow's deadline: 2 s after the charge
    queue = f"onb-{uuid.uuid4().hex[:8]}"
    with ThreadPoolExecutor(8) as pool:
        async with Worker(
            temporal_ts.client,
            task_queue=queue,
            workflows=[OnboardingWorkflow],
            activities=world.activities(),
            activity_executor=pool,
        ):
            handle = await temporal_ts.client.start_workflow(
                OnboardingWorkflow.run,
                OnboardingInput(program="demo", wallet=WALLET),
                id=f"exp-{queue}",
                task_queue=queue,
            )
            status = await _result(temporal_ts, handle)  # real time: no skipping needed
    assert status.state == FlowState.EXPIRED
    assert not world.named(SETTLE) and len(world.named(RELAYER_SUBMIT)) == 2  # mint + referral; no delivery
    assert [o.status for o in world.named(RECORD_OUTCOME)] == [PaymentStatus.EXPIRED]


async def test_underpayment_goes_to_suspense(flow):
    world, handle, env = flow
    await _until_state(handle, FlowState.AWAITING_PAYMENT)
    await handle.signal(OnboardingWorkflow.payment_event, _event(world, PaymentEventKind.CONFIRMED, paid=FEE // 2))
    status = await _result(env, handle)
    assert status.state == FlowState.UNDERPAID
    (suspense,) = world.named(SUSPENSE)
    assert suspense.amount_minor == FEE // 2 and suspense.asset == "USD"
    assert not world.named(SETTLE) and not world.named(CLAIM_DELIVERED)


async def test_commerce_unresolved_underpaid(flow):
    world, handle, env = flow
    await _until_state(handle, FlowState.AWAITING_PAYMENT)
    await handle.signal(
        OnboardingWorkflow.payment_event, _event(world, PaymentEventKind.FAILED, paid=1_000, context="UNDERPAID")
    )
    assert (await _result(env, handle)).state == FlowState.UNDERPAID
    assert world.named(SUSPENSE)[0].amount_minor == 1_000


async def test_overpayment_settles_the_fee_and_parks_the_excess(flow):
    world, handle, env = flow
    await _until_state(handle, FlowState.AWAITING_PAYMENT)
    await handle.signal(OnboardingWorkflow.payment_event, _event(world, PaymentEventKind.CONFIRMED, paid=FEE + 5))
    assert (await _result(env, handle)).state == FlowState.COMPLETED
    assert world.named(SUSPENSE)[0].amount_minor == 5
    assert world.named(SETTLE)[0].paid.amount_minor == FEE


@pytest.mark.parametrize(
    ("kind", "state"),
    [
        (PaymentEventKind.FAILED, FlowState.FAILED),
        (PaymentEventKind.REFUNDED, FlowState.REFUNDED),
        (PaymentEventKind.EXPIRED, FlowState.EXPIRED),
    ],
)
async def test_failed_refunded_expired_events(flow, kind, state):
    world, handle, env = flow
    await _until_state(handle, FlowState.AWAITING_PAYMENT)
    await handle.signal(OnboardingWorkflow.payment_event, _event(world, kind, paid=None))
    assert (await _result(env, handle)).state == state
    assert not world.named(SETTLE) and len(world.named(RELAYER_SUBMIT)) == 2


async def test_duplicate_stale_and_out_of_order_events(flow):
    world, handle, env = flow
    await _until_state(handle, FlowState.AWAITING_PAYMENT)
    stranger = _event(world, PaymentEventKind.CONFIRMED).model_copy(
        update={"payment_key": "other", "provider_ref": "OTHER"}
    )
    confirmed = _event(world, PaymentEventKind.CONFIRMED)
    for event in (
        stranger,
        _event(world, PaymentEventKind.CREATED),
        confirmed,
        confirmed,
        _event(world, PaymentEventKind.PENDING),
    ):
        await handle.signal(OnboardingWorkflow.payment_event, event)
    assert (await _result(env, handle)).state == FlowState.COMPLETED
    assert len(world.named(SETTLE)) == 1
    assert sum(req.key.endswith(":claim") for req in world.named(RELAYER_SUBMIT)) == 1
    assert [o.status for o in world.named(RECORD_OUTCOME)] == [PaymentStatus.CONFIRMED]


async def test_a_redelivered_failure_after_confirmation_changes_nothing(flow):
    """The same event id twice is one event; a late failure cannot undo a settled payment."""
    world, handle, env = flow
    await _until_state(handle, FlowState.AWAITING_PAYMENT)
    failed = _event(world, PaymentEventKind.FAILED, paid=None)
    confirmed = _event(world, PaymentEventKind.CONFIRMED)
    await handle.signal(OnboardingWorkflow.payment_event, confirmed)
    await handle.signal(
        OnboardingWorkflow.payment_event, confirmed.model_copy(update={"kind": PaymentEventKind.FAILED})
    )
    await handle.signal(OnboardingWorkflow.payment_event, failed)
    assert (await _result(env, handle)).state == FlowState.COMPLETED


async def test_relayer_errors_are_retried(temporal_ts):
    world = World()
    world.referrer = None
    world.submit_failures["mint SGE-ID"] = 2
    queue = f"onb-{uuid.uuid4().hex[:8]}"
    with ThreadPoolExecutor(8) as pool:
        async with Worker(
            temporal_ts.client,
            task_queue=queue,
            workflows=[OnboardingWorkflow],
            activities=world.activities(),
            activity_executor=pool,
        ):
            handle = await temporal_ts.client.start_workflow(
                OnboardingWorkflow.run,
                OnboardingInput(program="demo", wallet=WALLET),
                id=f"retry-{queue}",
                task_queue=queue,
            )
            await _until_state(handle, FlowState.AWAITING_PAYMENT, timeout=30)
            await handle.signal(OnboardingWorkflow.payment_event, _event(world, PaymentEventKind.CONFIRMED))
            assert (await _result(temporal_ts, handle)).state == FlowState.COMPLETED
    mints = [req for req in world.named(RELAYER_SUBMIT) if req.key.endswith(":mint")]
    assert len(mints) == 3 and len({req.key for req in mints}) == 1  # same idempotency key every attempt


async def test_halt_switch_pauses_and_resumes(temporal_ts):
    world = World()
    world.halted = True
    queue = f"onb-{uuid.uuid4().hex[:8]}"
    with ThreadPoolExecutor(8) as pool:
        async with Worker(
            temporal_ts.client,
            task_queue=queue,
            workflows=[OnboardingWorkflow],
            activities=world.activities(),
            activity_executor=pool,
        ):
            handle = await temporal_ts.client.start_workflow(
                OnboardingWorkflow.run,
                OnboardingInput(program="demo", wallet=WALLET),
                id=f"halt-{queue}",
                task_queue=queue,
            )
            status = await _until_state(handle, FlowState.HALTED)
            assert "test halt" in status.reason
            assert not world.named(RELAYER_SUBMIT)  # nothing minted while halted
            world.halted = False
            with temporal_ts.auto_time_skipping_disabled():  # real time: the flow re-checks every 10 s
                await _until_state(handle, FlowState.AWAITING_PAYMENT, timeout=30)
            await handle.signal(OnboardingWorkflow.payment_event, _event(world, PaymentEventKind.CONFIRMED))
            assert (await _result(temporal_ts, handle)).state == FlowState.COMPLETED
