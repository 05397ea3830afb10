"""Payment activities: thin Temporal shells over `payments/charges.py` (create a provider charge for a
flow, read its state, record the flow's outcome). The crash-safe create protocol is explained there.

Errors are `DomainError`s (`invalid_payment_request`, `provider_error`, `payments_not_configured`);
the worker's interceptor (`temporal/interceptors.py`) turns them into Temporal failures.
"""

from __future__ import annotations

import httpx
from sqlalchemy.engine import Engine
from temporalio import activity

from core.settings import Settings
from models.payments import (
    CREATE_CHARGE,
    GET_CHARGE,
    RECORD_OUTCOME,
    Charge,
    ChargeSnapshot,
    CreateChargeRequest,
    GetChargeRequest,
    RecordOutcomeRequest,
)
from payments.charges import Charges


class PaymentActivities:
    def __init__(self, settings: Settings, engine: Engine, http: httpx.Client | None = None):
        self.charges = Charges(settings, engine, http or httpx.Client(timeout=settings.payment_http_timeout_seconds))

    @activity.defn(name=CREATE_CHARGE)
    def create_charge(self, req: CreateChargeRequest) -> Charge:
        return self.charges.create(req)

    @activity.defn(name=GET_CHARGE)
    def get_charge(self, req: GetChargeRequest) -> ChargeSnapshot:
        return self.charges.snapshot(req)

    @activity.defn(name=RECORD_OUTCOME)
    def record_outcome(self, req: RecordOutcomeRequest) -> None:
        self.charges.record_outcome(req)

    def all(self) -> list:
        return [self.create_charge, self.get_charge, self.record_outcome]
