"""Onboarding: register → mint SGE-ID → record referral → pay (Coinbase or on chain) → deliver the claim.

One workflow per (program, wallet); its id is derived from that key. Each run resumes from where the
flow stands: `begin` hands back a settled payment (delivered, never charged again), a still-payable
charge (reused, never a second one) and what the chain already shows. Every step that changes the
world carries a key derived from the flow and the step's purpose (never from randomness a reset
re-seeds), so a retried activity, a restarted worker, a reset or a new run never does anything twice.

Every outcome is a state (see models/onboarding.py): money that cannot settle the fee ends in suspense
with its reason; a failure after settlement is either delivered eventually (temporary reverts are
waited out, other failures park the flow in DELIVERY_BLOCKED for an operator) or reversed — never left
half. Value-moving steps wait while the platform halt switch is on; long waits continue as new, so
history stays bounded however long a halt lasts.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from models.flow import PROGRAM, WALLET
    from models.kyc import KYC_PATCH, SIGNAL_KYC, KycSignal
    from models.onboarding import (
        QUERY_STATUS,
        SIGNAL_ONCHAIN,
        SIGNAL_RESUME,
        UPDATE_PREPARE_ONCHAIN,
        WORKFLOW_NAME,
        FlowCarry,
        FlowState,
        OnboardingInput,
        OnboardingStatus,
        Stage,
        flow_id,
    )
    from models.onboarding_io import (
        BEGIN,
        PREPARE_ONCHAIN,
        Begin,
        BeginResult,
        OnchainClaimHint,
        OnchainSteps,
        PrepareOnchain,
    )
    from models.payments import PAYMENT_EVENT_SIGNAL, PaymentEvent

from workflows.onboarding_base import CHAIN_READ, Terminal, cause_text, error_type
from workflows.onboarding_chain import ChainSteps
from workflows.onboarding_kyc import KycSteps
from workflows.onboarding_payment import PaymentSteps


@workflow.defn(name=WORKFLOW_NAME)
class OnboardingWorkflow(PaymentSteps, ChainSteps, KycSteps):
    def __init__(self) -> None:
        self.s = FlowCarry()
        self.inp = OnboardingInput(program="", wallet="")
        self.fid = ""
        self.resume_requested = False
        self.onchain_task = None

    # --- operator / API surface --------------------------------------------------------------------
    @workflow.query(name=QUERY_STATUS)
    def status(self) -> OnboardingStatus:
        s = self.s
        return OnboardingStatus(
            flow_id=self.fid,
            program=self.inp.program,
            wallet=self.inp.wallet,
            state=s.state,
            state_since=s.since or workflow.now(),
            reason=s.reason,
            token_id=s.token_id,
            referrer_wallet=s.referrer,
            mint_tx=s.mint_tx,
            referral_tx=s.referral_tx,
            rail=s.paid.rail if s.paid else None,
            payment_ref=s.paid.payment_ref if s.paid else (s.payment.payment_key if s.payment else None),
            hosted_url=s.payment.hosted_url if s.payment else None,
            payment_expires_at=s.payment.expires_at if s.payment else None,
            claim_tx=s.claim_tx,
            kyc_outcome=s.kyc_outcome,
            kyc_url=s.kyc_url if s.state in (FlowState.KYC_PENDING, FlowState.KYC_REVIEW) else None,
        )

    @workflow.signal(name=PAYMENT_EVENT_SIGNAL)
    def payment_event(self, event: PaymentEvent) -> None:
        # Providers and the webhook endpoint may deliver an event more than once: `apply` acts on it once.
        self.s.pending_events.append(event)

    @workflow.signal(name=SIGNAL_KYC)
    def kyc_event(self, event: KycSignal) -> None:
        self.s.kyc_events.append(event)  # confirmed with the provider before the flow acts on it

    @workflow.signal(name=SIGNAL_ONCHAIN)
    def onchain_claim(self, hint: OnchainClaimHint) -> None:
        self.s.onchain_watch = True
        if hint.tx_hash:
            self.s.onchain_tx_hint = hint.tx_hash

    @workflow.signal(name=SIGNAL_RESUME)
    def resume(self) -> None:
        self.resume_requested = True

    @workflow.update(name=UPDATE_PREPARE_ONCHAIN)
    async def prepare_onchain(self, token: str) -> OnchainSteps:
        """The unsigned steps for paying on chain; the flow starts watching the chain for the claim."""
        assert self.s.payment is not None
        steps: OnchainSteps = await self.remote(
            PREPARE_ONCHAIN,
            PrepareOnchain(
                program=self.inp.program, wallet=self.inp.wallet, token=token, payment_ref=self.s.payment.payment_key
            ),
            OnchainSteps,
            **CHAIN_READ,
        )
        self.s.onchain_watch = True
        return steps

    @prepare_onchain.validator
    def _validate_prepare(self, token: str) -> None:
        if token not in ("USDC", "USDT"):
            raise ApplicationError(f"unsupported token {token!r}: use USDC or USDT", type="bad_token")
        if self.s.state != FlowState.AWAITING_PAYMENT or self.s.payment is None:
            raise ApplicationError(
                f"the flow is {self.s.state.value}, not awaiting payment", type="not_awaiting_payment"
            )

    # --- the flow ------------------------------------------------------------------------------------
    @workflow.run
    async def run(self, inp: OnboardingInput) -> OnboardingStatus:
        self.inp = inp.model_copy(update={"carry": None})
        self.fid = flow_id(inp.program, inp.wallet)
        if inp.carry is not None:
            self.s = inp.carry  # a continued run: carry on where the last one stopped
        else:
            workflow.upsert_search_attributes([WALLET.value_set(inp.wallet), PROGRAM.value_set(inp.program)])
        try:
            await self.steps()
            await self.finish(FlowState.COMPLETED, "")
        except Terminal as end:
            await self.finish(end.state, end.reason)
        return self.status()

    async def steps(self) -> None:
        s = self.s
        if s.stage == Stage.BEGIN:
            await self.enter(FlowState.REGISTERING)
            await self.begin()
            s.stage = Stage.MINT
        try:
            if s.stage == Stage.MINT:
                if s.token_id is None:  # one SGE-ID per wallet, ever: a later run or program reuses it
                    await self.chain_gate()
                    await self.mint()
                s.stage = Stage.REFER
            if s.stage == Stage.REFER:
                if s.referrer and not s.referral_on_chain:
                    await self.chain_gate()
                    await self.refer()
                s.stage = Stage.PAY
            if s.stage == Stage.PAY:
                if s.paid is None:
                    # No charge before KYC passes. Only flows that need KYC take this branch (and leave the
                    # patch marker), so every other flow's commands are as before.
                    if s.kyc_required and workflow.patched(KYC_PATCH):
                        await self.kyc_gate()
                    s.paid = await self.pay()
                    await self.record(
                        rail=s.paid.rail,
                        payment_ref=s.paid.payment_ref,
                        paid_amount_minor=s.paid.amount_minor,
                        paid_asset=s.paid.asset,
                    )
                s.stage = Stage.DELIVER
        except ActivityError as err:  # a refusal no retry can fix, before any money was taken
            raise Terminal(FlowState.FAILED, f"{error_type(err) or 'error'}: {cause_text(err)}") from None
        while s.stage == Stage.DELIVER:
            await self.halt_gate()  # (a refund that arrives during a halt is seen before delivering)
            await self.drain()  # a refund that arrived before delivery stops it
            assert s.paid is not None
            try:
                await self.deliver(s.paid)
                s.stage = Stage.DONE
            except ActivityError as err:  # paid and settled: never give up, never leave it half done
                await self.blocked(f"{error_type(err) or 'error'}: {cause_text(err)}")
        await self.drain()  # a refund or chargeback that arrived meanwhile reverses it (after delivery)

    async def begin(self) -> None:
        s = self.s
        begin: BeginResult = await self.remote(
            BEGIN, Begin(flow_id=self.fid, run_id=workflow.info().run_id, input=self.inp), BeginResult, **CHAIN_READ
        )
        if begin.error:
            raise Terminal(FlowState.FAILED, begin.error)
        s.timing, s.program_key, s.referrer = begin.timing, begin.program_key, begin.referrer_wallet
        s.token_id, s.referral_on_chain, s.from_block = begin.token_id, begin.referral_on_chain, begin.from_block
        s.payment_seq, s.payment_keys, s.paid = begin.payment_seq, begin.payment_keys, begin.settled
        s.kyc_required = begin.kyc_required
        if begin.open_payment is not None:
            self.use_charge(begin.open_payment)
        claim = begin.chain_claim
        if s.paid is None and claim is not None:
            if not claim.onchain_paid:
                raise Terminal(
                    FlowState.FAILED,
                    "a claim was delivered on chain for a payment the books do not know: reconcile before retrying",
                )
            s.onchain_watch = True  # the wallet paid on chain (before or outside this flow): settle that

    async def blocked(self, reason: str) -> None:
        """Delivery failed in a way no automatic retry fixes: wait, parked and listed as stuck, until an
        operator sends `resume` (`sge flows retry`); then try again under a fresh key."""
        await self.enter(FlowState.DELIVERY_BLOCKED, reason)
        self.resume_requested = False
        while not self.resume_requested:
            await self.maybe_continue_as_new()
            with contextlib.suppress(TimeoutError):  # wake daily to keep the history bounded
                await workflow.wait_condition(lambda: self.resume_requested, timeout=timedelta(days=1))
        assert self.s.paid is not None
        purpose = f"claim:{self.s.paid.payment_ref}"
        self.s.chain_attempts[purpose] = self.s.chain_attempts.get(purpose, 0) + 1

    async def finish(self, state: FlowState, reason: str) -> None:
        if self.onchain_task is not None and not self.onchain_task.done():
            self.onchain_task.cancel()
        await self.enter(state, reason)
        if state == FlowState.COMPLETED:
            await self.record(claim_tx=self.s.claim_tx, completed=True)
        try:
            await self.drain()  # late money for an ended flow is booked (suspense), not dropped
        except Terminal as late:
            await self.enter(late.state, late.reason)
