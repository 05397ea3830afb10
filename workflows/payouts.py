"""A payout batch: created → approved by enough distinct approvers (signed EIP-712) → paid on chain.

One workflow per (program, period). The create activity selects and reserves the lines and snapshots
who may approve; from then on every approval or rejection — a signal, or the `approve_now` Update for an
immediate answer — is judged by one pure rule (models.approval_policy) and recorded, accepted or refused
with its reason. A valid rejection, the deadline or an admin's cancel voids every line (commissions back
to PAYABLE). Once approved: the halt switch is checked before each transaction, the relayer submits
`approveBatch` with the signatures (the contract checks them again), the contract's funds are checked,
then `payLines` goes out in chunks (each its own relayer key, so a retried or restarted step never sends
twice; each payout id pays once on chain). A chunk that reverts is split into single lines; a line that
reverts alone is voided with its reason. Each paid line's reservation is posted with its transaction.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from models import approval_policy as policy
    from models import io as platform_io
    from models.chain import RELAYER_SEND, SubmitTx, TxOutcome
    from models.flow import FLOW_STATE, PAYOUT_APPROVALS, PAYOUT_TOTAL, PROGRAM, STATE_SINCE
    from models.payouts import io
    from models.payouts.records import BatchState

DB: dict[str, Any] = dict(start_to_close_timeout=timedelta(seconds=30))
CHAIN: dict[str, Any] = dict(start_to_close_timeout=timedelta(seconds=60))
CHAIN_SEND: dict[str, Any] = dict(start_to_close_timeout=timedelta(minutes=30), heartbeat_timeout=timedelta(seconds=30))
PATIENT = RetryPolicy(
    initial_interval=timedelta(seconds=1), backoff_coefficient=2, maximum_interval=timedelta(seconds=30)
)
# Reverts that may pass by themselves: wait and send again (under a new key: a mined revert is final
# under its key). Others void the line (alone) or end the batch (approveBatch).
ALREADY_PAID = "PayoutAlreadyPaid"
ALREADY_APPROVED = "BatchAlreadyApproved"
EXPIRED_ON_CHAIN = "BatchExpired"
S = BatchState


class Ended(Exception):
    def __init__(self, state: BatchState, reason: str = ""):
        super().__init__(reason)
        self.state, self.reason = state, reason


@workflow.defn(name=io.WORKFLOW_NAME)
class PayoutBatchWorkflow:
    def __init__(self) -> None:
        self.inp = io.PayoutInput(program="", period="")
        self.bid = ""
        self.plan: io.BatchPlan | None = None
        self.state = S.CREATED
        self.reason = ""
        self.since: Any = None
        self.decisions: list[io.Decision] = []
        self.accepted: dict[str, str] = {}  # signer -> signature
        self.rejected: io.Decision | None = None
        self.cancelled: io.CancelSignal | None = None
        self.wake = False  # a funded / resume signal: look again now
        self.paid: list[str] = []
        self.voided: dict[str, str] = {}
        self.seen = 0  # decisions already acted on

    # --- operator surface --------------------------------------------------------------------------
    @workflow.query(name=io.QUERY_STATUS)
    def status(self) -> io.PayoutStatus:
        plan = self.plan
        return io.PayoutStatus(
            batch_id=self.bid,
            program=self.inp.program,
            period=self.inp.period,
            state=self.state.value,
            reason=self.reason,
            state_since=self.since,
            total=plan.total if plan else 0,
            line_count=len(plan.lines) if plan else 0,
            required=plan.snapshot.required if plan and plan.snapshot else 0,
            approvals=sorted(self.accepted),
            decisions=list(self.decisions),
            deadline=plan.snapshot.deadline if plan and plan.snapshot else None,
            paid=list(self.paid),
            voided=dict(self.voided),
        )

    def _judge(self, signature: str) -> policy.Decision:
        if self.state != S.AWAITING_APPROVAL or self.plan is None or self.plan.snapshot is None:
            return policy.Decision(outcome="refused", reason=f"batch is {self.state.value}")
        # eth_keys imports its crypto backend lazily, at the first recovery: let that import through.
        with workflow.unsafe.imports_passed_through():
            return policy.check_approval(
                self.plan.snapshot, self.plan.typed_data, signature, self.accepted.keys(), workflow.now()
            )

    def _take(self, sig: io.ApproveSignal, decision: policy.Decision) -> io.Decision:
        record = io.Decision(
            kind="approve",
            outcome=decision.outcome,
            signer=decision.signer,
            reason=decision.reason,
            operator=sig.operator[:100],
            at=workflow.now(),
        )
        self.decisions.append(record)
        if decision.accepted:
            self.accepted[decision.signer] = sig.signature
        return record

    @workflow.signal(name=io.SIGNAL_APPROVE)
    def approve(self, sig: io.ApproveSignal) -> None:
        self._take(sig, self._judge(sig.signature))

    @workflow.update(name=io.UPDATE_APPROVE)
    def approve_now(self, sig: io.ApproveSignal) -> io.Decision:
        return self._take(sig, self._judge(sig.signature))

    @approve_now.validator
    def _validate_approve(self, sig: io.ApproveSignal) -> None:
        decision = self._judge(sig.signature)  # the same pure rule; validators change nothing
        if not decision.accepted:
            raise ApplicationError(decision.reason, {"signer": decision.signer}, type="approval_refused")

    @workflow.signal(name=io.SIGNAL_REJECT)
    def reject(self, sig: io.RejectSignal) -> None:
        if self.state != S.AWAITING_APPROVAL or self.plan is None or self.plan.snapshot is None:
            decision = policy.Decision(outcome="refused", reason=f"batch is {self.state.value}")
        else:
            typed = policy.rejection_typed_data(self.plan.typed_data, sig.reason)
            with workflow.unsafe.imports_passed_through():
                decision = policy.check_rejection(self.plan.snapshot, typed, sig.signature, workflow.now())
        record = io.Decision(
            kind="reject",
            outcome=decision.outcome,
            signer=decision.signer,
            reason=sig.reason[: policy.MAX_REASON] if decision.accepted else decision.reason,
            operator=sig.operator[:100],
            at=workflow.now(),
        )
        self.decisions.append(record)
        if decision.accepted and self.rejected is None:
            self.rejected = record

    @workflow.signal(name=io.SIGNAL_CANCEL)
    def cancel(self, sig: io.CancelSignal) -> None:
        if self.state == S.AWAITING_APPROVAL and self.cancelled is None:  # once approved, money may move
            self.cancelled = sig

    @workflow.signal(name=io.SIGNAL_FUNDED)
    def funded(self) -> None:
        self.wake = True

    @workflow.signal(name=io.SIGNAL_RESUME)
    def resume(self) -> None:
        self.wake = True

    # --- the batch ---------------------------------------------------------------------------------
    @workflow.run
    async def run(self, inp: io.PayoutInput) -> io.PayoutStatus:
        self.inp = inp
        self.bid = io.batch_id(inp.program, inp.period)
        workflow.upsert_search_attributes([PROGRAM.value_set(inp.program)])
        try:
            self.plan = await self.act(io.CREATE, inp, io.BatchPlan)
            workflow.upsert_search_attributes([PAYOUT_TOTAL.value_set(self.plan.total)])
            if self.plan.state != S.AWAITING_APPROVAL:
                raise Ended(BatchState(self.plan.state), self.plan.reason)
            await self.enter(S.AWAITING_APPROVAL)
            await self.await_decision()
            await self.pay()
            end = (S.PAID, "") if not self.voided else (S.PARTIALLY_PAID, f"{len(self.voided)} line(s) voided")
            raise Ended(*end)
        except Ended as ended:
            await workflow.wait_condition(workflow.all_handlers_finished)
            terminal_void = ended.state in (S.REJECTED, S.EXPIRED, S.CANCELLED)
            await self.enter(ended.state, ended.reason, void_rest=terminal_void)
        return self.status()

    async def await_decision(self) -> None:
        assert self.plan is not None and self.plan.snapshot is not None
        snapshot = self.plan.snapshot
        left = (snapshot.deadline - workflow.now()).total_seconds()
        self.seen = 0
        while True:
            try:
                await workflow.wait_condition(
                    lambda: len(self.decisions) > self.seen or self.cancelled is not None,
                    timeout=timedelta(seconds=max(left, 0.001)),
                )
            except TimeoutError:
                raise Ended(S.EXPIRED, "no decision before the deadline") from None
            left = (snapshot.deadline - workflow.now()).total_seconds()
            self.seen = len(self.decisions)
            await self.record()  # each decision is in the DB too (the API lists them)
            workflow.upsert_search_attributes([PAYOUT_APPROVALS.value_set(len(self.accepted))])
            if self.cancelled is not None:
                raise Ended(S.CANCELLED, f"cancelled by {self.cancelled.operator}: {self.cancelled.reason}".strip())
            if self.rejected is not None:
                raise Ended(S.REJECTED, f"rejected by {self.rejected.signer}: {self.rejected.reason}")
            if len(self.accepted) >= snapshot.required:
                await self.enter(S.APPROVED)
                return

    async def pay(self) -> None:
        assert self.plan is not None
        approval = await self.send(
            io.PrepareTx(
                batch_id=self.bid, key=f"{self.bid}:approve", kind="approve", signatures=list(self.accepted.values())
            )
        )
        if approval.status != "confirmed" and ALREADY_APPROVED not in (approval.revert_reason or ""):
            reason = approval.revert_reason or "approveBatch failed"
            state = S.EXPIRED if EXPIRED_ON_CHAIN in reason else S.CANCELLED
            raise Ended(state, f"approveBatch reverted: {reason}")
        await self.enter(S.PAYING, approve_tx=approval.hash)
        for index, chunk in enumerate(self.chunks()):
            await self.wait_for_funds()
            await self.pay_chunk(f"{self.bid}:pay:{index}", chunk)

    def chunks(self) -> list[list[io.LineRef]]:
        """Lines in transactions of at most `lines_per_tx` lines and `cap_per_tx` in total; a line above
        the cap alone can never be paid: it is voided at once."""
        assert self.plan is not None
        out: list[list[io.LineRef]] = []
        current: list[io.LineRef] = []
        for line in self.plan.lines:
            if line.amount > self.plan.cap_per_tx:
                self.voided[line.payout_id] = "above the payout contract's per-transaction cap"
                continue
            if current and (
                len(current) >= self.plan.lines_per_tx
                or sum(x.amount for x in current) + line.amount > self.plan.cap_per_tx
            ):
                out.append(current)
                current = []
            current.append(line)
        return [*out, current] if current else out

    async def pay_chunk(self, key: str, lines: list[io.LineRef]) -> None:
        outcome = await self.send(
            io.PrepareTx(batch_id=self.bid, key=key, kind="pay", payout_ids=[ln.payout_id for ln in lines])
        )
        if outcome.status == "confirmed":
            self.paid += [ln.payout_id for ln in lines]
            await self.act(
                io.SETTLE_LINES,
                io.SettleLines(batch_id=self.bid, paid=[ln.payout_id for ln in lines], chain_tx=outcome.hash or ""),
            )
            return
        reason = outcome.revert_reason or "payLines failed"
        if len(lines) > 1:  # find the bad line: each line on its own
            for line in lines:
                await self.pay_chunk(f"{key}:{line.payout_id}", [line])
            return
        (line,) = lines
        if ALREADY_PAID in reason:  # paid on chain before (never twice): book it as paid
            self.paid.append(line.payout_id)
            await self.act(
                io.SETTLE_LINES, io.SettleLines(batch_id=self.bid, paid=[line.payout_id], chain_tx="already-paid")
            )
            return
        self.voided[line.payout_id] = reason[:500]
        await self.act(io.SETTLE_LINES, io.SettleLines(batch_id=self.bid, voided={line.payout_id: reason[:500]}))

    async def send(self, req: io.PrepareTx) -> TxOutcome:
        """Halt check, then the relayer; a temporary revert (paused contract) waits and tries again."""
        attempt = 0
        while True:
            await self.halt_gate()
            key = req.key if attempt == 0 else f"{req.key}:retry-{attempt}"
            tx: SubmitTx = await self.act(io.PREPARE_TX, req.model_copy(update={"key": key}), SubmitTx)
            outcome: TxOutcome = await workflow.execute_activity(
                RELAYER_SEND, tx, result_type=TxOutcome, retry_policy=PATIENT, **CHAIN_SEND
            )
            if outcome.status == "confirmed" or outcome.revert_kind != "temporary":
                return outcome
            attempt += 1
            previous = self.state
            await self.enter(S.HALTED, f"waiting: {outcome.revert_reason}")
            await self.nap(self.plan.halt_poll_s if self.plan else 30.0)
            await self.enter(previous)

    async def halt_gate(self) -> None:
        previous = self.state
        while True:
            halt: platform_io.HaltStatus = await workflow.execute_local_activity(
                platform_io.HALT_STATUS, result_type=platform_io.HaltStatus, retry_policy=PATIENT, **DB
            )
            if not halt.halted:
                if self.state == S.HALTED:
                    await self.enter(previous)
                return
            if self.state != S.HALTED:
                await self.enter(S.HALTED, f"platform halted: {halt.reason}")
            await self.nap(self.plan.halt_poll_s if self.plan else 30.0)

    async def wait_for_funds(self) -> None:
        previous = self.state
        while True:
            funds: io.Funds = await self.act(io.FUNDS, io.FundsNeeded(batch_id=self.bid), io.Funds, **CHAIN)
            if funds.enough:
                if self.state == S.AWAITING_FUNDS:
                    await self.enter(previous)
                return
            if self.state != S.AWAITING_FUNDS:
                await self.enter(S.AWAITING_FUNDS, f"payout contract holds {funds.balance}, needs {funds.needed}")
            await self.nap(self.plan.funds_poll_s if self.plan else 600.0)

    async def nap(self, seconds: float) -> None:
        """Sleep, or less when a funded/resume signal arrives."""
        self.wake = False
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(lambda: self.wake, timeout=timedelta(seconds=seconds))

    # --- state and activities ----------------------------------------------------------------------
    async def enter(self, state: BatchState, reason: str = "", **fields: Any) -> None:
        changed = state != self.state or self.since is None
        self.state, self.reason = state, reason
        if changed:
            self.since = workflow.now()
            workflow.upsert_search_attributes([FLOW_STATE.value_set(state.value), STATE_SINCE.value_set(self.since)])
        await self.record(**fields)

    async def record(self, **fields: Any) -> None:
        if self.plan is None:
            return  # nothing in the DB yet (create failed before writing)
        await self.act(
            io.RECORD,
            io.RecordBatch(
                batch_id=self.bid, state=self.state.value, reason=self.reason, decisions=self.decisions, **fields
            ),
        )

    async def act(self, name: str, arg: Any, result_type: type | None = None, **options: Any) -> Any:
        opts = {**DB, **options}
        return await workflow.execute_activity(name, arg, result_type=result_type, retry_policy=PATIENT, **opts)
