"""Onboarding: register → mint SGE-ID → record referral → pay (Coinbase or on chain) → settle → claim.

One workflow per (program, wallet); its id is derived from that key. Every step that changes the
world goes through an activity with an idempotency key derived from the business key (mint, referral
and claim: one per wallet ever) or from `workflow.uuid4()` (the payment of this run), so a retried
activity, a restarted worker or a new run after expiry never does anything twice.

Payment events arrive as signals in any order and any number of times; this workflow decides what
each one means for its state. Value moves (mint, claim delivery) wait while the platform halt switch
is on.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from models import io
    from models.chain import RELAYER_SUBMIT, RELAYER_WAIT_FINAL, ContractCall, SubmitTx, TxOutcome, TxRef
    from models.flow import FLOW_STATE, PROGRAM, STATE_SINCE, WALLET
    from models.onboarding import (
        QUERY_STATUS,
        SIGNAL_ONCHAIN,
        UPDATE_PAYMENT,
        UPDATE_PREPARE_ONCHAIN,
        WORKFLOW_NAME,
        FlowState,
        OnboardingInput,
        OnboardingStatus,
        Rail,
        flow_id,
    )
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
        OnchainClaimHint,
        OnchainSteps,
        Paid,
        PrepareOnchain,
        Record,
        Settle,
        Suspense,
    )
    from models.payments import (
        CREATE_CHARGE,
        PAYMENT_EVENT_SIGNAL,
        RECORD_OUTCOME,
        Charge,
        CreateChargeRequest,
        PaymentEvent,
        PaymentEventKind,
        PaymentStatus,
        RecordOutcomeRequest,
    )

DB = dict(start_to_close_timeout=timedelta(seconds=30))
CHAIN_SUBMIT = dict(start_to_close_timeout=timedelta(seconds=60))
# Waiting for a receipt can take minutes (replacement of stuck transactions happens inside); the
# heartbeat lets a restarted worker resume the wait at once instead of after the full timeout.
CHAIN_WAIT = dict(start_to_close_timeout=timedelta(minutes=30), heartbeat_timeout=timedelta(seconds=10))
# Relayer pauses (balance floor, RPC down) are retried until they clear: the flow waits, never fails.
PATIENT = RetryPolicy(
    initial_interval=timedelta(seconds=1), backoff_coefficient=2, maximum_interval=timedelta(seconds=30)
)
HALT_POLL = timedelta(seconds=10)
ONCHAIN_WINDOW = timedelta(hours=1)
DEFAULT_PAYMENT_WINDOW = timedelta(hours=1)
EXPIRY_GRACE = timedelta(minutes=5)


@workflow.defn(name=WORKFLOW_NAME)
class OnboardingWorkflow:
    def __init__(self) -> None:
        self._state = FlowState.REGISTERING
        self._since = workflow.now()
        self._reason = ""
        self._input: OnboardingInput | None = None
        self._fid = ""
        self._token_id: int | None = None
        self._referrer: str | None = None
        self._program_key = ""  # the program's on-chain id (0x-hex bytes32), from begin
        self._mint_tx: str | None = None
        self._referral_tx: str | None = None
        self._claim_tx: str | None = None
        self._payment: Charge | None = None
        self._rail: Rail | None = None
        self._payment_ref: str | None = None
        self._signals: list[PaymentEvent] = []
        self._seen_events: set[str] = set()
        self._onchain_hint: OnchainClaimHint | None = None
        self._deadline = workflow.now()

    # --- operator / API surface --------------------------------------------------------------------
    @workflow.query(name=QUERY_STATUS)
    def status(self) -> OnboardingStatus:
        assert self._input is not None
        return OnboardingStatus(
            flow_id=self._fid,
            program=self._input.program,
            wallet=self._input.wallet,
            state=self._state,
            state_since=self._since,
            reason=self._reason,
            token_id=self._token_id,
            referrer_wallet=self._referrer,
            mint_tx=self._mint_tx,
            referral_tx=self._referral_tx,
            rail=self._rail,
            payment_ref=self._payment_ref,
            hosted_url=self._payment.hosted_url if self._payment else None,
            payment_expires_at=self._payment.expires_at if self._payment else None,
            claim_tx=self._claim_tx,
        )

    @workflow.signal(name=PAYMENT_EVENT_SIGNAL)
    def payment_event(self, event: PaymentEvent) -> None:
        # Providers and the webhook endpoint may deliver an event more than once: act on it once.
        if event.event_id in self._seen_events:
            return
        self._seen_events.add(event.event_id)
        self._signals.append(event)

    @workflow.signal(name=SIGNAL_ONCHAIN)
    def onchain_claim(self, hint: OnchainClaimHint) -> None:
        # A later hint with a tx hash is more useful than an earlier "I am about to pay".
        if self._onchain_hint is None or hint.tx_hash:
            self._onchain_hint = hint

    @workflow.update(name=UPDATE_PAYMENT)
    async def payment(self) -> Charge:
        """The flow's payment (hosted URL, expiry), once created; waits for it if minting is under way."""
        await workflow.wait_condition(lambda: self._payment is not None or self._state.terminal)
        if self._payment is None:
            raise ApplicationError(
                f"flow ended {self._state.value}: {self._reason}", type="FlowEnded", non_retryable=True
            )
        return self._payment

    @payment.validator
    def _validate_payment(self) -> None:
        if self._state.terminal and self._payment is None:
            raise ApplicationError(f"flow ended {self._state.value}", type="FlowEnded")

    @workflow.update(name=UPDATE_PREPARE_ONCHAIN)
    async def prepare_onchain(self, token: str) -> OnchainSteps:
        """The unsigned steps for paying on chain; the flow starts watching the chain for the claim."""
        await workflow.wait_condition(lambda: self._payment is not None or self._state.terminal)
        if self._payment is None or self._state != FlowState.AWAITING_PAYMENT:
            raise ApplicationError(
                f"flow is {self._state.value}, not awaiting payment", type="NotAwaitingPayment", non_retryable=True
            )
        assert self._input is not None
        steps: OnchainSteps = await workflow.execute_activity(
            PREPARE_ONCHAIN,
            PrepareOnchain(
                program=self._input.program,
                wallet=self._input.wallet,
                token=token,
                payment_ref=self._payment.payment_key,
            ),
            result_type=OnchainSteps,
            start_to_close_timeout=timedelta(seconds=20),
            retry_policy=RetryPolicy(maximum_attempts=3),
        )
        if self._onchain_hint is None:
            self._onchain_hint = OnchainClaimHint()
        return steps

    @prepare_onchain.validator
    def _validate_prepare(self, token: str) -> None:
        if token not in ("USDC", "USDT"):
            raise ApplicationError(f"unsupported token {token!r}: use USDC or USDT", type="BadToken")
        if self._state.terminal:
            raise ApplicationError(f"flow ended {self._state.value}", type="FlowEnded")

    # --- the flow ------------------------------------------------------------------------------------
    @workflow.run
    async def run(self, inp: OnboardingInput) -> OnboardingStatus:
        self._input = inp
        self._fid = flow_id(inp.program, inp.wallet)
        workflow.upsert_search_attributes([WALLET.value_set(inp.wallet), PROGRAM.value_set(inp.program)])
        try:
            await self._run(inp)
        except _Terminal as end:
            await self._finish(end.state, end.reason)
        except ActivityError as err:
            # A non-retryable activity failure (bad configuration, unknown currency, ...): the flow
            # ends failed with the reason; transient failures never reach here (they are retried).
            await self._finish(FlowState.FAILED, f"{_error_type(err) or 'error'}: {_cause(err)}")
        return self.status()

    async def _run(self, inp: OnboardingInput) -> None:
        await self._enter(FlowState.REGISTERING)
        begin: BeginResult = await self._db(
            BEGIN, Begin(flow_id=self._fid, input=inp, run_id=workflow.info().run_id), BeginResult
        )
        if begin.error:
            raise _Terminal(FlowState.FAILED, begin.error)
        self._referrer = begin.referrer_wallet
        self._program_key = begin.program_key

        self._token_id = begin.token_id
        if self._token_id is None:  # one SGE-ID per wallet, ever: a later run reuses the first
            await self._wait_until_not_halted()
            await self._enter(FlowState.MINTING)
            mint = await self._chain_call(
                f"{self._fid}:mint", "mint SGE-ID", ContractCall(contract="SGEID", function="mint", args=[inp.wallet])
            )
            if mint.status == "failed":
                raise _Terminal(FlowState.FAILED, f"mint reverted: {mint.revert_reason}")
            self._mint_tx = mint.hash
            transfer = mint.event("SGEID", "Transfer")
            self._token_id = int(transfer.args["tokenId"]) if transfer else None
            await self._record(mint_tx=self._mint_tx, token_id=self._token_id)

        if self._referrer and not begin.referral_on_chain:
            await self._enter(FlowState.REFERRING)
            referral = await self._chain_call(
                f"{self._fid}:referral",
                "record referral",
                ContractCall(
                    contract="AffiliateRegistry",
                    function="registerReferral",
                    args=[self._program_key, inp.wallet, self._referrer],
                ),
            )
            if referral.status == "failed":
                raise _Terminal(FlowState.FAILED, f"referral reverted: {referral.revert_reason}")
            self._referral_tx = referral.hash
            await self._record(referral_tx=self._referral_tx)

        await self._enter(FlowState.AWAITING_PAYMENT)
        if begin.already_claimed_tx:
            # The wallet already claimed on chain (before or outside this flow): settle that payment.
            try:
                paid = await self._find_onchain(begin, begin.already_claimed_tx)
            except ActivityError as err:
                if _error_type(err) == "delivered_offchain":  # an earlier run delivered the claim
                    self._claim_tx = begin.already_claimed_tx
                    raise _Terminal(FlowState.COMPLETED, "claim delivered by an earlier run") from None
                raise
            await self._settle_and_deliver(inp, paid)
            return
        self._payment = await workflow.execute_activity(
            CREATE_CHARGE,
            CreateChargeRequest(
                payment_key=f"{self._fid}:payment:{workflow.uuid4()}",
                program=inp.program,
                wallet=inp.wallet,
                flow_id=self._fid,
            ),
            result_type=Charge,
            retry_policy=PATIENT,
            start_to_close_timeout=timedelta(seconds=30),
        )
        # The provider's own expiry event is authoritative; our timer is the backstop, a little later
        # so a late confirmation (or the provider's expired event) can still arrive first.
        self._deadline = (self._payment.expires_at or workflow.now() + DEFAULT_PAYMENT_WINDOW) + EXPIRY_GRACE
        self._payment_ref = self._payment.payment_key
        await self._record(payment_ref=self._payment_ref)
        paid = await self._await_payment(begin)
        await self._settle_and_deliver(inp, paid)

    async def _settle_and_deliver(self, inp: OnboardingInput, paid: Paid) -> None:
        await self._enter(FlowState.SETTLING)
        self._rail = paid.rail
        self._payment_ref = paid.payment_ref
        await self._db(SETTLE, Settle(flow_id=self._fid, program=inp.program, wallet=inp.wallet, paid=paid), None)

        if paid.rail == Rail.ONCHAIN:
            # The claim contract delivered the SGE in the user's own transaction.
            self._claim_tx = paid.onchain_tx
        else:
            await self._wait_until_not_halted()
            await self._enter(FlowState.CLAIMING)
            claim = await self._chain_call(
                f"{self._fid}:claim",
                "deliver claim",
                ContractCall(
                    contract="SGEClaim", function="deliverClaim", args=[self._program_key, inp.wallet, paid.payment_ref]
                ),
            )
            if claim.status == "failed":
                # Paid, but the wallet can no longer receive a claim (e.g. it claimed on chain in
                # the meantime): the revenue is reversed and the money parked in suspense.
                await self._db(
                    UNDELIVERABLE,
                    Suspense(
                        key=f"suspense:{paid.payment_ref}:undeliverable",
                        payment_ref=paid.payment_ref,
                        amount_minor=paid.amount_minor,
                        asset=paid.asset,
                        reason=f"claim delivery reverted: {claim.revert_reason}",
                    ),
                    None,
                )
                raise _Terminal(FlowState.FAILED, f"claim delivery reverted: {claim.revert_reason}")
            self._claim_tx = claim.hash
            delivered = claim.event("SGEClaim", "Claimed")
            paid.sge_amount_minor = int(delivered.args["amount"]) if delivered else None
        await self._db(
            CLAIM_DELIVERED,
            Delivered(
                flow_id=self._fid, program=inp.program, wallet=inp.wallet, paid=paid, claim_tx=self._claim_tx or ""
            ),
            None,
        )
        raise _Terminal(FlowState.COMPLETED, "")

    # --- payment -------------------------------------------------------------------------------------
    async def _await_payment(self, begin: BeginResult) -> Paid:
        """Until a payment settles (either rail), or the flow ends expired/failed/underpaid/refunded."""
        assert self._payment is not None and self._input is not None
        onchain_task = None
        while True:
            if self._onchain_hint is not None and onchain_task is None:
                self._deadline = max(self._deadline, workflow.now() + ONCHAIN_WINDOW)
                onchain_task = asyncio.ensure_future(self._find_onchain(begin, self._onchain_hint.tx_hash))
            remaining = (self._deadline - workflow.now()).total_seconds()
            if remaining <= 0:
                if onchain_task is not None:
                    onchain_task.cancel()
                await self._payment_outcome(PaymentStatus.EXPIRED, reason="not paid before it expired")
                raise _Terminal(FlowState.EXPIRED, "payment not received before it expired")
            try:
                await workflow.wait_condition(
                    lambda: (
                        bool(self._signals)
                        or (onchain_task is not None and onchain_task.done())  # noqa: B023 - read when evaluated, in this iteration
                        or (self._onchain_hint is not None and onchain_task is None)  # noqa: B023
                    ),
                    timeout=timedelta(seconds=remaining),
                )
            except TimeoutError:
                continue
            if onchain_task is not None and onchain_task.done():
                try:
                    return onchain_task.result()
                except ActivityError as err:
                    raise _Terminal(FlowState.FAILED, f"on-chain claim rejected: {_cause(err)}") from None
            while self._signals:
                event = self._signals.pop(0)
                outcome = await self._apply_payment_event(event)
                if outcome is not None:
                    if onchain_task is not None:
                        onchain_task.cancel()
                    return outcome

    async def _apply_payment_event(self, event: PaymentEvent) -> Paid | None:
        """What one provider event means now. Unknown, stale or repeated events change nothing."""
        charge = self._payment
        assert charge is not None
        if event.payment_key != charge.payment_key and event.provider_ref != charge.provider_ref:
            return None  # an older run's charge: reconciliation owns it
        kind = event.kind
        paid = event.paid_minor if event.paid_minor is not None else event.amount_minor
        currency = event.paid_currency or event.currency or ""
        if kind in (PaymentEventKind.CONFIRMED, PaymentEventKind.DELAYED, PaymentEventKind.RESOLVED):
            fee = charge.amount_minor
            if paid is None or currency != charge.currency or paid < fee:
                return await self._underpaid(event, paid or 0, currency)
            if paid > fee:
                await self._db(
                    SUSPENSE,
                    Suspense(
                        key=f"suspense:{_ledger_ref(charge)}:overpaid",
                        payment_ref=_ledger_ref(charge),
                        amount_minor=paid - fee,
                        asset=currency,
                        reason=f"overpaid by {paid - fee} {currency}",
                    ),
                    None,
                )
            status = PaymentStatus.OVERPAID if paid > fee else PaymentStatus.CONFIRMED
            await self._payment_outcome(status, paid, currency)
            return Paid(
                rail=Rail(charge.provider.value), payment_ref=_ledger_ref(charge), amount_minor=fee, asset=currency
            )
        if kind == PaymentEventKind.FAILED:
            if (event.context or "").upper() == "UNDERPAID":
                return await self._underpaid(event, paid or 0, currency)
            await self._payment_outcome(PaymentStatus.FAILED, reason=event.context or event.provider_status)
            raise _Terminal(
                FlowState.FAILED, f"payment failed ({event.context or event.provider_status or event.event_type})"
            )
        if kind == PaymentEventKind.EXPIRED:
            await self._payment_outcome(PaymentStatus.EXPIRED, reason="provider expired the charge")
            raise _Terminal(FlowState.EXPIRED, "payment expired")
        if kind == PaymentEventKind.REFUNDED:
            await self._payment_outcome(PaymentStatus.REFUNDED, reason="refunded before delivery")
            raise _Terminal(FlowState.REFUNDED, "payment refunded before delivery")
        return None  # created / pending / other: informational

    async def _underpaid(self, event: PaymentEvent, paid: int, currency: str) -> Paid:
        """Money that arrived but does not pay the fee goes to suspense; nothing is delivered."""
        charge = self._payment
        assert charge is not None
        if paid > 0:
            await self._db(
                SUSPENSE,
                Suspense(
                    key=f"suspense:{_ledger_ref(charge)}:underpaid",
                    payment_ref=_ledger_ref(charge),
                    amount_minor=paid,
                    asset=currency or charge.currency,
                    reason=f"underpaid: {paid} {currency} of {charge.amount_minor} {charge.currency}",
                ),
                None,
            )
        await self._payment_outcome(PaymentStatus.UNDERPAID, paid, currency, reason="underpaid")
        raise _Terminal(FlowState.UNDERPAID, f"paid {paid} {currency} of {charge.amount_minor} {charge.currency}")

    async def _payment_outcome(
        self, status: PaymentStatus, paid: int | None = None, currency: str | None = None, reason: str = ""
    ) -> None:
        assert self._payment is not None
        await self._db(
            RECORD_OUTCOME,
            RecordOutcomeRequest(
                payment_key=self._payment.payment_key,
                status=status,
                paid_minor=paid,
                paid_currency=currency,
                reason=reason,
            ),
            None,
        )

    async def _find_onchain(self, begin: BeginResult, tx_hash: str | None) -> Paid:
        assert self._input is not None
        return await workflow.execute_activity(
            FIND_ONCHAIN_CLAIM,
            FindOnchainClaim(
                program=self._input.program, wallet=self._input.wallet, from_block=begin.from_block, tx_hash=tx_hash
            ),
            result_type=Paid,
            start_to_close_timeout=timedelta(seconds=30),
            # "not on chain yet" is a retryable failure: Temporal's retries poll for us, no slot held.
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=1), backoff_coefficient=1.5, maximum_interval=timedelta(seconds=15)
            ),
        )

    # --- helpers -------------------------------------------------------------------------------------
    async def _chain_call(self, key: str, label: str, call: ContractCall) -> TxOutcome:
        ref: TxRef = await workflow.execute_activity(
            RELAYER_SUBMIT,
            SubmitTx(key=key, label=label, call=call),
            result_type=TxRef,
            retry_policy=PATIENT,
            **CHAIN_SUBMIT,
        )
        if ref.revert_reason and not ref.hash:  # would revert: nothing was sent
            return TxOutcome(key=key, status="failed", revert_reason=ref.revert_reason)
        outcome: TxOutcome = await workflow.execute_activity(
            RELAYER_WAIT_FINAL, key, result_type=TxOutcome, retry_policy=PATIENT, **CHAIN_WAIT
        )
        if outcome.fee_wei:
            await self._db(
                CHAIN_COSTS, ChainCosts(tx_key=key, fee_wei=outcome.fee_wei, tx_hash=outcome.hash or ""), None
            )
        return outcome

    async def _db(self, name: str, arg, result_type):
        args = [] if arg is None else [arg]
        return await workflow.execute_local_activity(
            name, args=args, result_type=result_type, retry_policy=PATIENT, **DB
        )

    async def _record(self, **fields) -> None:
        await self._db(
            RECORD,
            Record(flow_id=self._fid, state=self._state, state_since=self._since, reason=self._reason, **fields),
            None,
        )

    async def _enter(self, state: FlowState, reason: str = "") -> None:
        self._state = state
        self._since = workflow.now()
        self._reason = reason
        workflow.upsert_search_attributes([FLOW_STATE.value_set(state.value), STATE_SINCE.value_set(self._since)])
        await self._record()

    async def _finish(self, state: FlowState, reason: str) -> None:
        await self._enter(state, reason)
        if state == FlowState.COMPLETED:
            await self._record(claim_tx=self._claim_tx, completed=True)

    async def _wait_until_not_halted(self) -> None:
        before = self._state
        while True:
            halt: io.HaltStatus = await self._db(io.HALT_STATUS, None, io.HaltStatus)
            if not halt.halted:
                if self._state == FlowState.HALTED:
                    await self._enter(before)
                return
            if self._state != FlowState.HALTED:
                await self._enter(FlowState.HALTED, f"platform halted: {halt.reason}")
            await workflow.sleep(HALT_POLL)


class _Terminal(Exception):
    def __init__(self, state: FlowState, reason: str):
        super().__init__(reason)
        self.state = state
        self.reason = reason


def _ledger_ref(charge: Charge) -> str:
    """How the ledger and the claim contract name a provider payment: `<rail>:<provider ref>`."""
    return f"{charge.provider.value}:{charge.provider_ref}"


def _error_type(err: ActivityError) -> str | None:
    cause = err.cause
    return cause.type if isinstance(cause, ApplicationError) else None


def _cause(err: BaseException) -> str:
    while err.__cause__ is not None:
        err = err.__cause__
    return str(err)
