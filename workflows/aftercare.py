"""Payment aftercare: events for a charge whose onboarding flow has already ended.

A refund or chargeback after delivery, money that arrives after the flow expired, a second payment of
a paid flow: the webhook (or `sge payments refund`) starts this workflow with signal-with-start, keyed
by the payment, when the flow itself is closed. Each event is applied exactly like the flow would
(confirmed with the provider, booked by difference, see payments/outcomes.py), with the flow no longer
accepting payment; what happened is mirrored on the flow's row. It ends once no event has arrived for
a while, and the next event starts it again.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.onboarding_io import AFTERCARE_WORKFLOW, APPLY_PAYMENT_EVENT, AftercareInput, Applied, ApplyEvent
    from models.payments import PAYMENT_EVENT_SIGNAL, PaymentEvent

from workflows.onboarding_base import PATIENT, PROVIDER

IDLE = timedelta(seconds=30)


@workflow.defn(name=AFTERCARE_WORKFLOW)
class PaymentAftercareWorkflow:
    def __init__(self) -> None:
        self.events: list[PaymentEvent] = []
        self.seen: set[str] = set()
        self.outcomes: list[str] = []

    @workflow.signal(name=PAYMENT_EVENT_SIGNAL)
    def payment_event(self, event: PaymentEvent) -> None:
        self.events.append(event)

    @workflow.run
    async def run(self, inp: AftercareInput) -> list[str]:
        while True:
            while self.events:
                event = self.events.pop(0)
                if event.event_id in self.seen:
                    continue
                self.seen.add(event.event_id)
                applied: Applied = await workflow.execute_activity(
                    APPLY_PAYMENT_EVENT,
                    ApplyEvent(
                        flow_id=inp.flow_id, event=event, accepting=False, confirm=event.event_type != "operator_refund"
                    ),
                    result_type=Applied,
                    retry_policy=PATIENT,
                    **PROVIDER,
                )
                self.outcomes.append(f"{event.event_id}: {applied.outcome.value} {applied.message}".strip())
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(lambda: bool(self.events), timeout=IDLE)
            if not self.events:
                await workflow.wait_condition(workflow.all_handlers_finished)
                return self.outcomes
