"""A stand-in world for the onboarding flow and payment aftercare: every activity they call, registered
under its real name, scripted per test and recording every call; and a harness that runs them on the
real dev server (one worker on its own task queue per test).

The stand-ins answer from `World`'s fields, read at call time, so a test may change the world while a
flow runs (lift the halt, fix a paused contract). Scripts are lists whose last answer repeats. A `Gate`
holds one stand-in's answer until the test opens it, to make something happen at an exact point.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle, WorkflowHistory
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from contracts.abi import hexstr, program_id
from models import io
from models.chain import RELAYER_SEND, ChainEvent, SubmitTx, TxOutcome
from models.onboarding import FlowState, FlowTiming, OnboardingInput, OnboardingStatus, Paid, Rail, flow_id
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
    Applied,
    ApplyEvent,
    Begin,
    BeginResult,
    ChainFacts,
    ChainFactsRequest,
    Delivered,
    FindOnchainClaim,
    OnchainSteps,
    PrepareOnchain,
    Record,
    SettleOnchain,
    TxStep,
    Undeliverable,
)
from models.payment_outcomes import FlowOutcome
from models.payments import (
    CREATE_CHARGE,
    Charge,
    CreateChargeRequest,
    PaymentEvent,
    PaymentEventKind,
    PaymentStatus,
)
from models.platform import PaymentProvider
from workflows.aftercare import PaymentAftercareWorkflow
from workflows.onboarding import OnboardingWorkflow

PROGRAM = "demo"
PROGRAM_KEY = hexstr(program_id(PROGRAM))
REFERRER = "0x2222222222222222222222222222222222222222"
FEE = 100_000_000
TOKEN_ID = 7
SGE = 1000 * 10**18
TEMPORARY = "EnforcedPause()"  # the revert reasons the relayer stand-in answers with
PERMANENT = "AlreadyClaimed()"
# Seconds, not hours: every wait of a test happens in real time on the dev server.
FAST = FlowTiming(
    payment_window_s=60,
    expiry_grace_s=0.5,
    pending_grace_s=30,
    pending_max_s=1.5,
    onchain_window_s=10,
    halt_poll_s=0.1,
    retry_initial_s=0.1,
    retry_max_s=0.4,
)
# A relayer answer: one of these words, or an ApplicationError to raise.
SendAnswer = str | ApplicationError
SEND_ANSWERS = ("confirmed", "temporary", "temporary-mined", "permanent")


@dataclass
class Call:
    name: str  # the activity's name
    arg: Any  # its payload (None for halt_status)
    at: datetime  # when the flow scheduled it (the server's clock, as workflow.now())


class Gate:
    """Holds a stand-in's answer until the test opens it; `reached` is set once a call waits on it."""

    def __init__(self) -> None:
        self.reached = asyncio.Event()
        self.opened = asyncio.Event()

    async def wait(self) -> None:
        self.reached.set()
        await self.opened.wait()

    def open(self) -> None:
        self.opened.set()


def tx_hash(key: str) -> str:
    """The hash the relayer stand-in gives the transaction sent under `key`."""
    return "0x" + hashlib.sha256(key.encode()).hexdigest()


def _next(script: list[Any]) -> Any:
    """The next scripted answer; the last one repeats."""
    return script.pop(0) if len(script) > 1 else script[0]


def _fresh(error: ApplicationError) -> ApplicationError:
    return ApplicationError(error.message, type=error.type, non_retryable=error.non_retryable)


class World:
    """What the stand-in activities answer, and every call they got (`calls`, in order)."""

    def __init__(self, *, timing: FlowTiming = FAST, referrer: str | None = REFERRER) -> None:
        self.wallet = "0x" + secrets.token_hex(20)  # a fresh wallet: a fresh flow id, so a fresh workflow id
        self.fid = flow_id(PROGRAM, self.wallet)
        self.calls: list[Call] = []
        self.begin = BeginResult(
            program_key=PROGRAM_KEY, referrer_wallet=referrer, attribution="new", timing=timing, from_block=1
        )
        self.halted = False
        self.gate_closed = False
        self.sends: dict[str, list[SendAnswer]] = {}  # contract function → answers (default: confirmed)
        self.outcomes: dict[str, list[FlowOutcome | Applied]] = {}  # event id → answers (default: by kind)
        self.facts = ChainFacts()
        self.charge_ttl = timedelta(seconds=60)  # the provider's expiry of a new charge
        self.charge_error: ApplicationError | None = None
        self.onchain: Paid | ApplicationError | None = None  # the final on-chain claim; None: not there yet
        self.gates: dict[str, Gate] = {}  # relayer: by contract function; apply_event: by event id
        self.charges: dict[str, Charge] = {}

    # --- reading what happened -----------------------------------------------------------------------
    def named(self, name: str) -> list[Any]:
        return [c.arg for c in self.calls if c.name == name]

    def sent(self, function: str | None = None) -> list[SubmitTx]:
        txs: list[SubmitTx] = self.named(RELAYER_SEND)
        return [tx for tx in txs if function is None or (tx.call is not None and tx.call.function == function)]

    def keys(self, function: str) -> list[str]:
        return [tx.key for tx in self.sent(function)]

    def recorded_states(self) -> list[FlowState]:
        """The states the flow recorded in its row, each change once."""
        states: list[FlowState] = []
        for rec in self.named(RECORD):
            if not states or states[-1] != rec.state:
                states.append(rec.state)
        return states

    def story(self) -> list[str]:
        """The calls that change or ask the world, in order (records, halt and gate checks left out)."""
        out = []
        for call in self.calls:
            if call.name in (RECORD, io.HALT_STATUS, io.CHAIN_GATE):
                continue
            is_tx = call.name == RELAYER_SEND and call.arg.call is not None
            out.append(f"{call.name}:{call.arg.call.function}" if is_tx else call.name)
        return out

    # --- building payloads ---------------------------------------------------------------------------
    def hold(self, name: str) -> Gate:
        self.gates[name] = Gate()
        return self.gates[name]

    def payment_key(self, seq: int = 0) -> str:
        return f"{self.fid}:payment:{seq}"

    def charge(self, key: str, expires_at: datetime | None = None) -> Charge:
        return Charge(
            payment_key=key,
            provider=PaymentProvider.COINBASE_COMMERCE,
            provider_ref=f"CHG-{key.rsplit(':', 1)[-1]}",
            hosted_url=f"https://pay.example/{key.rsplit(':', 1)[-1]}",
            amount_minor=FEE,
            currency="USD",
            expires_at=expires_at,
            status=PaymentStatus.OPEN,
        )

    def payment_ref(self, key: str | None = None) -> str:
        """How the books name the payment of charge `key` (the claim carries it)."""
        return f"coinbase_commerce:{self.charge(key or self.payment_key()).provider_ref}"

    def event(self, kind: PaymentEventKind, *, key: str | None = None, event_id: str | None = None) -> PaymentEvent:
        """A provider event for charge `key` (default: the flow's first charge)."""
        charge = self.charge(key or self.payment_key())
        return PaymentEvent(
            provider=charge.provider,
            event_id=event_id or f"evt-{uuid.uuid4().hex[:12]}",
            event_type=f"charge:{kind.value}",
            kind=kind,
            provider_ref=charge.provider_ref,
            payment_key=charge.payment_key,
            amount_minor=FEE,
            currency="USD",
            paid_minor=FEE if kind == PaymentEventKind.CONFIRMED else None,
            paid_currency="USDC" if kind == PaymentEventKind.CONFIRMED else None,
        )

    def paid(self, key: str | None = None) -> Paid:
        return Paid(rail=Rail.COINBASE_COMMERCE, payment_ref=self.payment_ref(key), amount_minor=FEE, asset="USDC")

    def onchain_paid(self, tx: str = "0x" + "fe" * 32) -> Paid:
        return Paid(
            rail=Rail.ONCHAIN,
            payment_ref=f"onchain:{tx}:3",
            amount_minor=FEE,
            asset="USDT",
            onchain_tx=tx,
            sge_amount_minor=SGE,
        )

    def applied(self, outcome: FlowOutcome, event: PaymentEvent) -> Applied:
        return Applied(
            outcome=outcome,
            paid=self.paid(event.payment_key) if outcome == FlowOutcome.SETTLED else None,
            payment_key=event.payment_key,
            message=f"stand-in: {outcome.value}",
            rail=Rail.COINBASE_COMMERCE,
        )

    @staticmethod
    def default_outcome(req: ApplyEvent) -> FlowOutcome:
        """Roughly what payments/outcomes.py decides for a well-behaved provider."""
        kind = req.event.kind
        if kind == PaymentEventKind.REFUNDED:
            return FlowOutcome.REFUNDED
        if not req.accepting:
            return FlowOutcome.NONE  # late money: booked to suspense, the flow is not told
        if req.expire_if_unpaid:
            return FlowOutcome.EXPIRED
        return {
            PaymentEventKind.CONFIRMED: FlowOutcome.SETTLED,
            PaymentEventKind.PENDING: FlowOutcome.PENDING,
            PaymentEventKind.FAILED: FlowOutcome.FAILED,
            PaymentEventKind.EXPIRED: FlowOutcome.EXPIRED,
        }.get(kind, FlowOutcome.NONE)

    def tx_outcome(self, req: SubmitTx, answer: str) -> TxOutcome:
        assert answer in SEND_ANSWERS, answer
        function = req.call.function if req.call else ""
        if answer == "confirmed":
            events = {
                "mint": [ChainEvent(contract="SGEID", event="Transfer", address="0x", args={"tokenId": TOKEN_ID})],
                "deliverClaim": [ChainEvent(contract="SGEClaim", event="Claimed", address="0x", args={"amount": SGE})],
            }.get(function, [])
            return TxOutcome(key=req.key, status="confirmed", hash=tx_hash(req.key), fee_wei=21_000, events=events)
        temporary = answer.startswith("temporary")
        return TxOutcome(
            key=req.key,
            status="failed",
            hash=tx_hash(req.key) if answer.endswith("-mined") else None,
            revert_reason=TEMPORARY if temporary else PERMANENT,
            revert_kind="temporary" if temporary else "permanent",
        )

    # --- the stand-in activities ---------------------------------------------------------------------
    def _record(self, name: str, arg: Any) -> None:
        self.calls.append(Call(name, arg, activity.info().current_attempt_scheduled_time))

    async def _gate(self, name: str) -> None:
        gate = self.gates.get(name)
        if gate is not None:
            await gate.wait()

    @activity.defn(name=io.HALT_STATUS)
    async def halt_status(self) -> io.HaltStatus:
        self._record(io.HALT_STATUS, None)
        return io.HaltStatus(halted=self.halted, reason="test halt" if self.halted else "")

    @activity.defn(name=io.CHAIN_GATE)
    async def chain_gate(self) -> io.GateStatus:
        self._record(io.CHAIN_GATE, None)
        return io.GateStatus(open=not self.gate_closed, reason="test budget" if self.gate_closed else "")

    @activity.defn(name=BEGIN)
    async def begin_(self, req: Begin) -> BeginResult:
        self._record(BEGIN, req)
        return self.begin

    @activity.defn(name=RECORD)
    async def record(self, req: Record) -> None:
        self._record(RECORD, req)

    @activity.defn(name=CHAIN_FACTS)
    async def chain_facts(self, req: ChainFactsRequest) -> ChainFacts:
        self._record(CHAIN_FACTS, req)
        return self.facts

    @activity.defn(name=PREPARE_ONCHAIN)
    async def prepare_onchain(self, req: PrepareOnchain) -> OnchainSteps:
        self._record(PREPARE_ONCHAIN, req)
        return OnchainSteps(
            token=req.token,
            token_address="0x" + "11" * 20,
            claim_contract="0x" + "22" * 20,
            fee_minor=FEE,
            allowance_minor=0,
            balance_minor=FEE,
            payment_ref_bytes32="0x" + "33" * 32,
            steps=[TxStep(description="claim", to="0x" + "22" * 20, data="0x")],
        )

    @activity.defn(name=FIND_ONCHAIN_CLAIM)
    async def find_onchain_claim(self, req: FindOnchainClaim) -> Paid:
        self._record(FIND_ONCHAIN_CLAIM, req)
        if self.onchain is None:
            raise ApplicationError("no final claim on chain for this wallet yet", type="not_yet_on_chain")
        if isinstance(self.onchain, ApplicationError):
            raise _fresh(self.onchain)
        return self.onchain

    @activity.defn(name=SETTLE_ONCHAIN)
    async def settle_onchain(self, req: SettleOnchain) -> None:
        self._record(SETTLE_ONCHAIN, req)

    @activity.defn(name=CLAIM_DELIVERED)
    async def claim_delivered(self, req: Delivered) -> None:
        self._record(CLAIM_DELIVERED, req)

    @activity.defn(name=UNDELIVERABLE)
    async def undeliverable(self, req: Undeliverable) -> None:
        self._record(UNDELIVERABLE, req)

    @activity.defn(name=CREATE_CHARGE)
    async def create_charge(self, req: CreateChargeRequest) -> Charge:
        self._record(CREATE_CHARGE, req)
        if self.charge_error is not None:
            raise _fresh(self.charge_error)
        charge = self.charge(req.payment_key, datetime.now(UTC) + self.charge_ttl)
        self.charges[req.payment_key] = charge
        return charge

    @activity.defn(name=APPLY_PAYMENT_EVENT)
    async def apply_event(self, req: ApplyEvent) -> Applied:
        self._record(APPLY_PAYMENT_EVENT, req)
        await self._gate(req.event.event_id)
        script = self.outcomes.get(req.event.event_id)
        answer = _next(script) if script else self.default_outcome(req)
        return self.applied(answer, req.event) if isinstance(answer, FlowOutcome) else answer

    @activity.defn(name=RELAYER_SEND)
    async def send(self, req: SubmitTx) -> TxOutcome:
        self._record(RELAYER_SEND, req)
        function = req.call.function if req.call else ""
        await self._gate(function)
        answer = _next(self.sends.get(function, ["confirmed"]))
        if isinstance(answer, ApplicationError):
            raise _fresh(answer)
        return self.tx_outcome(req, answer)

    def activities(self) -> list[Callable]:
        return [
            self.halt_status,
            self.chain_gate,
            self.begin_,
            self.record,
            self.chain_facts,
            self.prepare_onchain,
            self.find_onchain_claim,
            self.settle_onchain,
            self.claim_delivered,
            self.undeliverable,
            self.create_charge,
            self.apply_event,
            self.send,
        ]


# --- running flows against a world -------------------------------------------------------------------


class Flows:
    """Starts and watches workflows on one worker's task queue; what is left running is terminated."""

    def __init__(self, client: Client, queue: str, world: World) -> None:
        self.client = client
        self.queue = queue
        self.world = world
        self.started: list[WorkflowHandle] = []

    async def start(self, referral_code: str | None = "ABCD1234") -> WorkflowHandle:
        world = self.world
        handle = await self.client.start_workflow(
            OnboardingWorkflow.run,
            OnboardingInput(program=PROGRAM, wallet=world.wallet, referral_code=referral_code),
            id=world.fid,
            task_queue=self.queue,
        )
        self.started.append(handle)
        return handle

    async def status(self, handle: WorkflowHandle) -> OnboardingStatus:
        return await handle.query(OnboardingWorkflow.status)

    async def until(
        self, handle: WorkflowHandle, state: FlowState, *, reason: str = "", timeout: float = 20.0
    ) -> OnboardingStatus:
        """Poll the flow's status until it is `state` (and its reason starts with `reason`)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            status = await self.status(handle)
            if status.state == state and status.reason.startswith(reason):
                return status
            assert loop.time() < deadline, f"still {status.state} ({status.reason!r}), wanted {state} ({reason!r})"
            await asyncio.sleep(0.05)

    @staticmethod
    async def until_true(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
        async def poll() -> None:
            while not predicate():
                await asyncio.sleep(0.02)

        await asyncio.wait_for(poll(), timeout)

    @staticmethod
    async def reached(gate: Gate, timeout: float = 20.0) -> None:
        await asyncio.wait_for(gate.reached.wait(), timeout)

    async def signal(self, handle: WorkflowHandle, *events: PaymentEvent) -> None:
        for event in events:
            await handle.signal(OnboardingWorkflow.payment_event, event)

    @staticmethod
    async def result(handle: WorkflowHandle, timeout: float = 30.0) -> Any:
        return await asyncio.wait_for(handle.result(), timeout)

    async def close(self) -> None:
        for handle in self.started:
            described = await self.client.get_workflow_handle(handle.id).describe()
            if described.status == WorkflowExecutionStatus.RUNNING:
                await self.client.get_workflow_handle(handle.id).terminate("test over")


@asynccontextmanager
async def running(client: Client, world: World, *, passthrough: Sequence[str] = ()) -> AsyncIterator[Flows]:
    """A worker with the onboarding and aftercare workflows and `world`'s activities, on a task queue of
    its own. `passthrough`: workflow modules the sandbox shares with the test (so a test may patch them)."""
    queue = f"wf-unit-{uuid.uuid4().hex[:12]}"
    restrictions = SandboxRestrictions.default.with_passthrough_modules(*passthrough)
    async with Worker(
        client,
        task_queue=queue,
        workflows=[OnboardingWorkflow, PaymentAftercareWorkflow],
        activities=world.activities(),
        workflow_runner=SandboxedWorkflowRunner(restrictions=restrictions),
    ):
        flows = Flows(client, queue, world)
        try:
            yield flows
        finally:
            await flows.close()


# --- reading histories -------------------------------------------------------------------------------


async def run_histories(client: Client, handle: WorkflowHandle) -> list[WorkflowHistory]:
    """Every run of the workflow, first to last, following continue-as-new."""
    histories = []
    run_id: str | None = handle.first_execution_run_id or handle.result_run_id
    while run_id:
        history = await client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
        histories.append(history)
        last = history.events[-1]
        run_id = None
        if last.HasField("workflow_execution_continued_as_new_event_attributes"):
            run_id = last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
    return histories


def scheduled(history: WorkflowHistory, activity_name: str) -> int:
    """How many times a (non-local) activity was scheduled in one run's history."""
    return sum(
        1
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == activity_name
    )
