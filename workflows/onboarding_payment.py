"""The onboarding flow's payment: one charge (created once, reused by any later run), then waiting for
money on either rail until a deadline.

Provider events arrive as signals in any order and any number of times, for this run's charge or an
older one of the same flow. Each is applied by an activity that confirms the charge with the provider
and books what it finds (a signal alone never moves money); the flow only reacts to the outcome. A
pending payment extends the deadline (up to a cap); at the deadline the provider is asked once more
before the flow gives up.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from models.onboarding import FlowState, Paid
    from models.onboarding_io import APPLY_PAYMENT_EVENT, Applied, ApplyEvent
    from models.payment_outcomes import FlowOutcome
    from models.payments import CREATE_CHARGE, Charge, CreateChargeRequest, PaymentEvent, PaymentEventKind

from workflows.onboarding_base import PROVIDER, FlowBase, Terminal, cause_text

TERMINAL_OUTCOMES = {
    FlowOutcome.UNDERPAID: FlowState.UNDERPAID,
    FlowOutcome.WRONG_ASSET: FlowState.SUSPENSE,
    FlowOutcome.FAILED: FlowState.FAILED,
    FlowOutcome.EXPIRED: FlowState.EXPIRED,
    FlowOutcome.REFUNDED: FlowState.REFUNDED,
}


class PaymentSteps(FlowBase):
    onchain_task: asyncio.Task | None = None

    async def pay(self) -> Paid:
        """Until a payment settles this flow's fee (booked by the activity that saw it), or the flow ends."""
        if self.s.payment is None and not self.s.onchain_watch:
            await self.halt_gate()  # asking a provider to take money is a value-moving step
            await self.create_charge()
        await self.enter(FlowState.AWAITING_PAYMENT)
        while True:
            while self.s.pending_events:
                paid = await self.apply(self.s.pending_events.pop(0), accepting=True)
                if paid is not None:
                    return paid
            if self.s.onchain_watch and self.onchain_task is None:
                window = workflow.now() + timedelta(seconds=self.s.timing.onchain_window_s)
                self.s.deadline = max(self.s.deadline or window, window)
                self.onchain_task = asyncio.ensure_future(self.find_onchain())
            if self.onchain_task is not None and self.onchain_task.done():
                try:
                    return self.onchain_task.result()
                except ActivityError as err:
                    raise Terminal(FlowState.FAILED, f"on-chain claim rejected: {cause_text(err)}") from None
            assert self.s.deadline is not None
            remaining = (self.s.deadline - workflow.now()).total_seconds()
            if remaining <= 0:
                paid = await self.at_deadline()
                if paid is not None:
                    return paid
                continue
            await self.maybe_continue_as_new()
            task = self.onchain_task
            with contextlib.suppress(TimeoutError):  # the deadline: handled at the top of the loop
                await workflow.wait_condition(
                    lambda task=task: (  # type: ignore[misc]  # mypy cannot infer a defaulted lambda
                        bool(self.s.pending_events)
                        or (self.s.onchain_watch and task is None)
                        or (task is not None and task.done())
                    ),
                    timeout=timedelta(seconds=remaining),
                )

    async def create_charge(self) -> None:
        key = f"{self.fid}:payment:{self.s.payment_seq}"  # from the business key: a reset finds the same one
        charge: Charge = await self.remote(
            CREATE_CHARGE,
            CreateChargeRequest(payment_key=key, program=self.inp.program, wallet=self.inp.wallet, flow_id=self.fid),
            Charge,
            **PROVIDER,
        )
        self.use_charge(charge)

    def use_charge(self, charge: Charge) -> None:
        self.s.payment = charge
        if charge.payment_key not in self.s.payment_keys:
            self.s.payment_keys.append(charge.payment_key)
        t = self.s.timing
        # The provider's own expiry is authoritative; our deadline is a little later, so a late
        # confirmation (or the provider's expiry event) can still arrive first.
        expires = charge.expires_at or workflow.now() + timedelta(seconds=t.payment_window_s)
        self.s.deadline = expires + timedelta(seconds=t.expiry_grace_s)
        self.s.pending_until = self.s.deadline + timedelta(seconds=t.pending_max_s)

    async def apply(self, event: PaymentEvent, *, accepting: bool, expire_if_unpaid: bool = False) -> Paid | None:
        """Book one event (confirmed with the provider by the activity) and react to its outcome."""
        if not expire_if_unpaid and not self.remember(event.event_id):
            return None
        applied: Applied = await self.remote(
            APPLY_PAYMENT_EVENT,
            ApplyEvent(
                flow_id=self.fid,
                event=event,
                accepting=accepting,
                expire_if_unpaid=expire_if_unpaid,
                confirm=event.event_type != "operator_refund",
            ),
            Applied,
            **PROVIDER,
        )
        outcome = applied.outcome
        if outcome == FlowOutcome.SETTLED:
            return applied.paid
        if outcome == FlowOutcome.PENDING:
            self.extend_deadline()
            return None
        current = self.s.payment is not None and applied.payment_key == self.s.payment.payment_key
        if outcome in (FlowOutcome.FAILED, FlowOutcome.EXPIRED) and not current:
            return None  # an older charge of this flow failing changes nothing now
        if outcome in TERMINAL_OUTCOMES:
            raise Terminal(TERMINAL_OUTCOMES[outcome], applied.message or outcome.value)
        return None

    def extend_deadline(self) -> None:
        assert self.s.deadline is not None and self.s.pending_until is not None
        wanted = workflow.now() + timedelta(seconds=self.s.timing.pending_grace_s)
        self.s.deadline = min(max(self.s.deadline, wanted), self.s.pending_until)

    async def at_deadline(self) -> Paid | None:
        """Before giving up, ask the provider: money may have arrived without its event reaching us."""
        charge = self.s.payment
        if charge is None:  # only watching the chain
            raise Terminal(FlowState.EXPIRED, "no on-chain claim before the deadline")
        check = PaymentEvent(
            provider=charge.provider,
            event_id=f"deadline:{charge.payment_key}",
            event_type="deadline",
            kind=PaymentEventKind.OTHER,
            provider_ref=charge.provider_ref,
            payment_key=charge.payment_key,
        )
        before = self.s.deadline
        paid = await self.apply(check, accepting=True, expire_if_unpaid=True)
        if paid is None and self.s.deadline == before:  # not extended by a pending payment
            raise Terminal(FlowState.EXPIRED, "payment not received before it expired")
        return paid

    async def drain(self) -> None:
        """Events that arrive once the flow is paid or over: booked as what they are (refund, late,
        duplicate); a refund of the settled payment ends the flow REFUNDED."""
        while self.s.pending_events:
            await self.apply(self.s.pending_events.pop(0), accepting=False)
