"""KYC activities: thin shells over `payments/kyc/` and `models/kyc.py` — decide whether a flow needs
KYC and start (or find) its check at the provider; confirm an outcome with the provider before the flow
acts on a webhook. Only the provider's reference and the outcome are written (`kyc_check`).
"""

from __future__ import annotations

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import col, select
from temporalio import activity

from core.columns import utcnow
from core.db import session_scope
from core.errors import NotFound
from core.settings import Settings
from models.kyc import (
    CONFIRM_KYC,
    START_KYC,
    ConfirmKyc,
    KycCheckRow,
    KycGate,
    KycStatus,
    StartKyc,
    approved_for,
    kyc_policy,
    kyc_required,
)
from models.programs import require_program
from payments.kyc.interface import KycCheck, KycProvider
from payments.kyc.sumsub import SumsubClient


def _secret(value) -> str | None:
    return value.get_secret_value() if value is not None else None


def kyc_provider(settings: Settings, http: httpx.Client) -> KycProvider:
    return SumsubClient(
        settings.kyc_api_url,
        _secret(settings.kyc_app_token),
        _secret(settings.kyc_secret_key),
        settings.kyc_level_name,
        http=http,
    )


class KycActivities:
    def __init__(self, settings: Settings, engine: Engine, http: httpx.Client | None = None):
        self.settings = settings
        self.engine = engine
        self.http = http or httpx.Client(timeout=settings.payment_http_timeout_seconds)

    @activity.defn(name=START_KYC)
    def start(self, req: StartKyc) -> KycGate:
        with session_scope(self.engine) as session:
            program = require_program(session, req.program)
            if not kyc_required(session, kyc_policy(program.flags), req.wallet, program.fee_usd_minor):
                return KycGate(required=False)
            approved = approved_for(session, req.wallet)  # one approval serves the wallet's later flows
            if approved is not None:
                return KycGate(required=True, outcome=KycStatus.APPROVED, reference=approved.reference)
            row = session.exec(select(KycCheckRow).where(col(KycCheckRow.check_key) == req.flow_id)).first()
            if row is not None and row.outcome == KycStatus.REJECTED:
                return KycGate(required=True, outcome=row.outcome, reference=row.reference)
        # The provider call is idempotent on the flow id (its externalUserId): a retry finds the same applicant.
        check = kyc_provider(self.settings, self.http).start(req.flow_id)
        self._store(req.flow_id, req.wallet, check)
        return KycGate(
            required=True,
            outcome=KycStatus(check.outcome.value),
            reference=check.reference,
            hosted_url=check.hosted_url,
        )

    @activity.defn(name=CONFIRM_KYC)
    def confirm(self, req: ConfirmKyc) -> KycStatus:
        """The outcome as the provider reports it now (a webhook alone never decides), stored."""
        with session_scope(self.engine) as session:
            row = session.exec(select(KycCheckRow).where(col(KycCheckRow.check_key) == req.flow_id)).first()
            if row is None or row.reference != req.reference:
                raise NotFound(f"no KYC check {req.reference!r} for this flow")
            wallet = row.wallet
        check = kyc_provider(self.settings, self.http).status(req.reference)
        return self._store(req.flow_id, wallet, check)

    def _store(self, flow_id: str, wallet: str, check: KycCheck) -> KycStatus:
        outcome = KycStatus(check.outcome.value)
        with session_scope(self.engine) as session:
            row = session.exec(select(KycCheckRow).where(col(KycCheckRow.check_key) == flow_id)).first()
            if row is None:
                row = KycCheckRow(
                    check_key=flow_id,
                    wallet=wallet,
                    provider=check.provider,
                    reference=check.reference,
                    outcome=outcome,
                )
            elif row.outcome not in (KycStatus.APPROVED, KycStatus.REJECTED):  # a final outcome stays
                row.outcome, row.updated_at = outcome, utcnow()
            session.add(row)
            return row.outcome

    def all(self) -> list:
        return [self.start, self.confirm]
