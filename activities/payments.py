"""Payment activities: thin Temporal shells over `payments/` — create a provider charge for a flow
(the crash-safe protocol is in `payments/charges.py`), and apply a provider event to the books after
confirming it with the provider (`payments/outcomes.py`).

Errors are `DomainError`s (`invalid_payment_request`, `provider_error`, `payments_not_configured`);
the worker's interceptor (`temporal/interceptors.py`) turns them into Temporal failures.
"""

from __future__ import annotations

import httpx
from sqlalchemy.engine import Engine
from temporalio import activity

from core.settings import Settings
from models.onboarding_io import APPLY_PAYMENT_EVENT, Applied, ApplyEvent
from models.payments import CREATE_CHARGE, Charge, CreateChargeRequest
from payments.charges import Charges
from payments.outcomes import PaymentOutcomes


class PaymentActivities:
    def __init__(self, settings: Settings, engine: Engine, http: httpx.Client | None = None):
        http = http or httpx.Client(timeout=settings.payment_http_timeout_seconds)
        self.charges = Charges(settings, engine, http)
        self.outcomes = PaymentOutcomes(settings, engine, http)

    @activity.defn(name=CREATE_CHARGE)
    def create_charge(self, req: CreateChargeRequest) -> Charge:
        return self.charges.create(req)

    @activity.defn(name=APPLY_PAYMENT_EVENT)
    def apply_event(self, req: ApplyEvent) -> Applied:
        return self.outcomes.apply(req)

    def all(self) -> list:
        return [self.create_charge, self.apply_event]
