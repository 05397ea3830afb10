"""A tiny workflow that records `payment_event` signals: stands in for the onboarding flow in API tests."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.payments import PAYMENT_EVENT_SIGNAL, PaymentEvent


@workflow.defn(name="PaymentSignalRecorder")
class PaymentSignalRecorder:
    def __init__(self) -> None:
        self._events: list[PaymentEvent] = []
        self._done = False

    @workflow.run
    async def run(self, finish_after: int) -> int:
        """Completes after `finish_after` events (0: only when told to finish)."""
        await workflow.wait_condition(lambda: self._done or (finish_after and len(self._events) >= finish_after))
        return len(self._events)

    @workflow.signal(name=PAYMENT_EVENT_SIGNAL)
    def payment_event(self, event: PaymentEvent) -> None:
        self._events.append(event)

    @workflow.signal
    def finish(self) -> None:
        self._done = True

    @workflow.query
    def events(self) -> list[PaymentEvent]:
        return self._events
