"""The onboarding flow's KYC gate: before any charge is created, a flow whose program requires KYC
(models/kyc.py) starts a check at the provider and waits for its outcome, as it waits for a payment.

Outcomes arrive as `kyc_event` signals from the verified webhook route, any number of times and in any
order; each is confirmed with the provider by an activity before the flow acts on it. Until the check is
approved the flow holds no charge, so the wallet cannot pay (the on-chain rail is refused too: it is
offered only while awaiting payment). Rejected ends the flow KYC_REJECTED; no outcome by the deadline
(asked once more at the deadline) ends it EXPIRED.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.kyc import CONFIRM_KYC, START_KYC, ConfirmKyc, KycGate, KycStatus, StartKyc
    from models.onboarding import FlowState

from workflows.onboarding_base import PROVIDER, FlowBase, Terminal

NOT_REQUIRED = "not_required"
_WAITING = {KycStatus.PENDING: FlowState.KYC_PENDING, KycStatus.REVIEW: FlowState.KYC_REVIEW}


class KycSteps(FlowBase):
    async def kyc_gate(self) -> None:
        s = self.s
        if s.kyc_outcome in (KycStatus.APPROVED.value, NOT_REQUIRED):
            return
        gate: KycGate = await self.remote(
            START_KYC, StartKyc(flow_id=self.fid, program=self.inp.program, wallet=self.inp.wallet), KycGate, **PROVIDER
        )
        if not gate.required:
            s.kyc_outcome = NOT_REQUIRED
            return
        s.kyc_reference, s.kyc_url = gate.reference, gate.hosted_url or s.kyc_url
        if s.kyc_deadline is None:
            s.kyc_deadline = workflow.now() + timedelta(seconds=s.timing.kyc_wait_s)
        outcome = gate.outcome or KycStatus.PENDING
        while True:
            s.kyc_outcome = outcome.value
            if outcome == KycStatus.APPROVED:
                return
            if outcome == KycStatus.REJECTED:
                raise Terminal(FlowState.KYC_REJECTED, "KYC rejected by the provider: no payment is taken")
            await self.enter(_WAITING[outcome])
            outcome = await self.next_kyc_outcome(outcome)

    async def next_kyc_outcome(self, current: KycStatus) -> KycStatus:
        """The outcome after the next webhook for this check (confirmed with the provider), or at the deadline."""
        s = self.s
        while True:
            while s.kyc_events:
                event = s.kyc_events.pop(0)
                if event.reference != s.kyc_reference or not self.remember(f"kyc:{event.event_id}"):
                    continue
                confirmed = await self.confirm_kyc()
                if confirmed != current:
                    return confirmed
            assert s.kyc_deadline is not None
            remaining = (s.kyc_deadline - workflow.now()).total_seconds()
            if remaining <= 0:
                confirmed = await self.confirm_kyc()  # the webhook may have been lost: ask once more
                if confirmed in (KycStatus.APPROVED, KycStatus.REJECTED):
                    return confirmed
                raise Terminal(FlowState.EXPIRED, "KYC not completed before the deadline: no payment is taken")
            await self.maybe_continue_as_new()
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(lambda: bool(s.kyc_events), timeout=timedelta(seconds=remaining))

    async def confirm_kyc(self) -> KycStatus:
        assert self.s.kyc_reference is not None
        return await self.remote(
            CONFIRM_KYC, ConfirmKyc(flow_id=self.fid, reference=self.s.kyc_reference), KycStatus, **PROVIDER
        )
