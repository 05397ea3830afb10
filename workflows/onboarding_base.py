"""What every part of the onboarding flow shares: its carried state, state changes (recorded in the
DB row and in search attributes), the halt gate, bounded history (continue-as-new), and the activity
options. Deterministic: no I/O here, only Temporal commands.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from models import io
    from models.flow import FLOW_STATE, STATE_SINCE
    from models.onboarding import FlowCarry, FlowState, OnboardingInput, Paid
    from models.onboarding_io import FIND_ONCHAIN_CLAIM, RECORD, FindOnchainClaim, Record

DB: dict[str, Any] = dict(start_to_close_timeout=timedelta(seconds=30))
PROVIDER: dict[str, Any] = dict(start_to_close_timeout=timedelta(seconds=60))
CHAIN_READ: dict[str, Any] = dict(start_to_close_timeout=timedelta(seconds=30))
# Sending waits for the receipt and its confirmations; the heartbeat lets a restarted worker take the
# wait over at once (the relayer's outbox keeps the transaction: nothing is sent twice).
CHAIN_SEND: dict[str, Any] = dict(start_to_close_timeout=timedelta(minutes=30), heartbeat_timeout=timedelta(seconds=30))
# Outages (DB, RPC, provider, relayer balance) are retried until they clear: the flow waits, visibly
# (its state's age shows in `sge flows list --stuck`), and never fails for them.
PATIENT = RetryPolicy(
    initial_interval=timedelta(seconds=1), backoff_coefficient=2, maximum_interval=timedelta(seconds=30)
)
SEEN_EVENTS_KEPT = 200
CHAIN_GATE_PATCH = "chain-gate"  # the gate check before mint and referral (histories before it skip it)
# "Not on chain yet" is a retryable failure: Temporal's retries poll the chain, no slot held meanwhile.
ONCHAIN_POLL = RetryPolicy(
    initial_interval=timedelta(seconds=1), backoff_coefficient=1.5, maximum_interval=timedelta(seconds=15)
)


class Terminal(Exception):
    """The flow ends in `state` (raised anywhere, finished once in `run`)."""

    def __init__(self, state: FlowState, reason: str = ""):
        super().__init__(reason)
        self.state = state
        self.reason = reason


class FlowBase:
    s: FlowCarry
    fid: str
    inp: OnboardingInput

    # --- state ---------------------------------------------------------------------------------------
    async def enter(self, state: FlowState, reason: str = "") -> None:
        changed = state != self.s.state or self.s.since is None
        self.s.state, self.s.reason = state, reason
        if changed:
            self.s.since = workflow.now()
            workflow.upsert_search_attributes([FLOW_STATE.value_set(state.value), STATE_SINCE.value_set(self.s.since)])
        await self.record()

    async def record(self, **fields: Any) -> None:
        assert self.s.since is not None
        await self.local(
            RECORD,
            Record(
                flow_id=self.fid, state=self.s.state, state_since=self.s.since, reason=self.s.reason[:500], **fields
            ),
        )

    # --- activities ----------------------------------------------------------------------------------
    async def local(self, name: str, arg: Any, result_type: type | None = None) -> Any:
        args = [] if arg is None else [arg]
        return await workflow.execute_local_activity(
            name, args=args, result_type=result_type, retry_policy=PATIENT, **DB
        )

    async def remote(self, name: str, arg: Any, result_type: type | None, **options: Any) -> Any:
        options.setdefault("retry_policy", PATIENT)
        return await workflow.execute_activity(name, arg, result_type=result_type, **options)

    # --- the halt switch -----------------------------------------------------------------------------
    async def halt_gate(self) -> None:
        """Wait while the platform is halted (before every value-moving step). The wait polls the
        switch every `halt_poll_s` and continues as new long before the history grows large, so a
        flow survives a halt of any length. The caller enters its own state afterwards."""
        while True:
            halt: io.HaltStatus = await self.local(io.HALT_STATUS, None, io.HaltStatus)
            if not halt.halted:
                return
            if self.s.state != FlowState.HALTED:
                await self.enter(FlowState.HALTED, f"platform halted: {halt.reason}")
            await workflow.sleep(timedelta(seconds=self.s.timing.halt_poll_s))
            await self.maybe_continue_as_new()

    # --- the pre-payment chain gate ------------------------------------------------------------------
    async def chain_gate(self) -> None:
        """Before a transaction the flow pays gas for ahead of any payment (mint, referral): wait while
        the gate is closed (models/chain_gate.py). Flows recorded before the gate existed skip it."""
        if not workflow.patched(CHAIN_GATE_PATCH):
            return
        while True:
            gate: io.GateStatus = await self.local(io.CHAIN_GATE, None, io.GateStatus)
            if gate.open:
                return
            if self.s.state != FlowState.GATED:
                await self.enter(FlowState.GATED, f"waiting: pre-payment chain gate closed ({gate.reason})")
            await workflow.sleep(timedelta(seconds=self.s.timing.halt_poll_s))
            await self.maybe_continue_as_new()

    # --- bounded history -----------------------------------------------------------------------------
    async def maybe_continue_as_new(self) -> None:
        """Hand the carried state to a fresh run once this one's history is long (checked in every
        loop that can wait for long: halt, payment, blocked delivery, temporary reverts)."""
        info = workflow.info()
        if info.get_current_history_length() < self.s.timing.history_limit and not info.is_continue_as_new_suggested():
            return
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(self.inp.model_copy(update={"carry": self.s}))

    async def find_onchain(self) -> Paid:
        """The wallet's claim in this program, final on chain (the activity polls through retries)."""
        return await workflow.execute_activity(
            FIND_ONCHAIN_CLAIM,
            FindOnchainClaim(
                program=self.inp.program,
                wallet=self.inp.wallet,
                from_block=self.s.from_block,
                tx_hash=self.s.onchain_tx_hint,
                payment_keys=self.s.payment_keys,
            ),
            result_type=Paid,
            retry_policy=ONCHAIN_POLL,
            **CHAIN_READ,
        )

    def remember(self, event_id: str) -> bool:
        """True the first time an event id is seen (providers deliver at least once)."""
        if event_id in self.s.seen_events:
            return False
        self.s.seen_events = [*self.s.seen_events[-(SEEN_EVENTS_KEPT - 1) :], event_id]
        return True


def error_type(err: ActivityError) -> str | None:
    cause = err.cause
    return cause.type if isinstance(cause, ApplicationError) else None


def cause_text(err: BaseException) -> str:
    """The innermost cause's message (an ApplicationError's str() already starts with its type)."""
    while err.__cause__ is not None:
        err = err.__cause__
    return err.message if isinstance(err, FailureError) else str(err)
