"""Payment activities: create a provider charge for a flow, read its state, record the flow's outcome.

The provider is a program setting (`Program.payment_provider`): Coinbase Commerce charges or Coinbase
Business payment links, through `activities/coinbase_clients.py`.

Create is idempotent on the flow's payment key, also across a crash:

1. A `payment` row is reserved under the key (status `creating`, expected amount, planned expiry) and
   `create_attempts` is incremented, in a committed transaction, *before* the provider is called.
   The same key with different content (program, wallet, amount, flow) is refused.
2. The provider is called outside any DB transaction.
   - Business: `X-Idempotency-Key` (a UUID derived from the payment key) with a body that is the same
     on every attempt (the expiry was fixed in step 1), so Coinbase answers a retry with the link it
     already made.
   - Commerce has no idempotency key. Our key travels in the charge metadata; when the row shows an
     earlier attempt (`create_attempts > 1`: the previous one may have created a charge and died before
     step 3), recent charges are listed and one carrying our key is adopted instead of creating another.
3. The provider reference, hosted URL and expiry are stored with status `open` in one compare-and-set
   `UPDATE ... WHERE key = ? AND provider_ref IS NULL`: the first writer wins; a loser (an attempt
   that outlived its timeout) returns the winner's charge. A charge that lost (at most one, in that
   rare overlap, or one the listing did not show) is never shown to a payer, so nobody can pay it; if
   the provider reports it, its events do not match the stored reference and are recorded as
   `unknown_charge` for reconciliation.

Errors: bad input (unknown program, invalid wallet, key reuse) is non-retryable; provider 4xx that a
retry cannot fix are non-retryable; transport errors, 5xx, 429 and missing/refused credentials are
retryable (an operator fixes the configuration and the flow continues).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.coinbase_clients import BusinessClient, CommerceClient, ProviderError
from core.columns import utcnow
from models.coinbase import (
    ProviderCharge,
    business_link_body,
    commerce_charge_body,
    payment_metadata,
)
from core.db import session_scope
from core.logs import get_logger
from models.payments import (
    CREATE_CHARGE,
    GET_CHARGE,
    RECORD_OUTCOME,
    Charge,
    ChargeSnapshot,
    CreateChargeRequest,
    GetChargeRequest,
    InvalidWallet,
    Payment,
    PaymentStatus,
    RecordOutcomeRequest,
    checksum_wallet,
    get_payment,
)
from models.platform import PaymentProvider, Program
from core.settings import Settings

log = get_logger(__name__)

# Namespace for the Business idempotency key: uuid5(namespace, payment key).
_IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1c6b1e-9d0c-4c4b-9a3e-5e0f3c2b7a10")


def idempotency_key(payment_key: str) -> str:
    return str(uuid.uuid5(_IDEMPOTENCY_NAMESPACE, payment_key))


def _bad_input(message: str) -> ApplicationError:
    return ApplicationError(message, type="InvalidPaymentRequest", non_retryable=True)


def _provider_failure(exc: ProviderError) -> ApplicationError:
    return ApplicationError(str(exc), type="ProviderError", non_retryable=not exc.retryable)


def _charge(row: Payment) -> Charge:
    return Charge(
        payment_key=row.key,
        provider=PaymentProvider(row.provider),
        provider_ref=row.provider_ref or "",
        hosted_url=row.hosted_url or "",
        amount_minor=row.amount_minor,
        currency=row.currency,
        expires_at=row.expires_at,
        status=PaymentStatus(row.status),
    )


class PaymentActivities:
    def __init__(self, settings: Settings, engine: Engine, http: httpx.Client | None = None):
        self.settings = settings
        self.engine = engine
        self.http = http or httpx.Client(timeout=settings.payment_http_timeout_seconds)

    # --- adapters ------------------------------------------------------------------------------------
    def _commerce(self) -> CommerceClient:
        key = self.settings.coinbase_commerce_api_key
        if key is None:
            raise ApplicationError("SGE_COINBASE_COMMERCE_API_KEY is not set", type="PaymentsNotConfigured")
        return CommerceClient(self.settings.coinbase_commerce_api_url, key.get_secret_value(), self.http)

    def _business(self) -> BusinessClient:
        key = self.settings.coinbase_business_api_key
        if key is None or not self.settings.coinbase_business_api_key_id:
            raise ApplicationError(
                "SGE_COINBASE_BUSINESS_API_KEY_ID and SGE_COINBASE_BUSINESS_API_KEY must be set", type="PaymentsNotConfigured"
            )
        return BusinessClient(
            self.settings.coinbase_business_api_url, self.settings.coinbase_business_api_key_id, key.get_secret_value(), self.http
        )

    # --- create --------------------------------------------------------------------------------------
    def _reserve(self, req: CreateChargeRequest) -> tuple[Payment, Program]:
        try:
            wallet = checksum_wallet(req.wallet)
        except InvalidWallet as exc:
            raise _bad_input(str(exc)) from None
        with session_scope(self.engine) as session:
            program = session.exec(select(Program).where(Program.slug == req.program)).first()
            if program is None:
                raise _bad_input(f"unknown program {req.program!r}")
            currency = req.currency.upper()
            if program.payment_provider == PaymentProvider.COINBASE_BUSINESS:
                currency = _business_currency(currency)
            amount = program.fee_usd_minor if req.amount_minor is None else req.amount_minor
            if amount <= 0:
                raise _bad_input(f"amount must be positive, got {amount}")
            row = get_payment(session, req.payment_key)
            if row is None:
                row = Payment(
                    key=req.payment_key,
                    program_id=program.id,
                    wallet=wallet,
                    wallet_lower=wallet.lower(),
                    provider=str(program.payment_provider),
                    amount_minor=amount,
                    currency=currency,
                    flow_id=req.flow_id,
                    # Fixed now so every attempt sends the same body under the same idempotency key.
                    expires_at=(utcnow() + timedelta(seconds=self.settings.payment_expiry_seconds)).replace(microsecond=0),
                    status=PaymentStatus.CREATING.value,
                )
                session.add(row)
            elif (row.program_id, row.wallet_lower, row.amount_minor, row.currency, row.flow_id) != (
                program.id,
                wallet.lower(),
                amount,
                currency,
                req.flow_id,
            ):
                raise _bad_input(f"payment key {req.payment_key!r} is already used for a different payment")
            if row.provider_ref is None:
                row.create_attempts += 1
                row.updated_at = utcnow()
            session.flush()
            return row, program

    def _store(self, key: str, charge: ProviderCharge) -> Payment:
        """Compare-and-set: the first recorded charge for the key wins."""
        with session_scope(self.engine) as session:
            session.exec(
                update(Payment)
                .where(Payment.key == key, Payment.provider_ref.is_(None))
                .values(
                    provider_ref=charge.provider_ref,
                    hosted_url=charge.hosted_url,
                    expires_at=charge.expires_at,
                    status=PaymentStatus.OPEN.value,
                    updated_at=utcnow(),
                )
            )
            row = get_payment(session, key)
            assert row is not None
            return row

    @activity.defn(name=CREATE_CHARGE)
    def create_charge(self, req: CreateChargeRequest) -> Charge:
        row, program = self._reserve(req)
        if row.provider_ref is not None:
            return _charge(row)  # already created: same answer as the first time
        provider = PaymentProvider(row.provider)
        metadata = payment_metadata(row.key, program.slug, row.wallet)
        description = req.description or f"{program.name} registration fee"
        try:
            if provider == PaymentProvider.COINBASE_COMMERCE:
                client = self._commerce()
                found = client.find_by_key(row.key) if row.create_attempts > 1 else None
                if found is not None:
                    log.warning("payment_charge_adopted", payment_key=row.key, provider_ref=found.provider_ref)
                charge = found or client.create(
                    commerce_charge_body(
                        name=f"{program.name} registration",
                        description=description,
                        amount_minor=row.amount_minor,
                        currency=row.currency,
                        metadata=metadata,
                        redirect_url=req.redirect_url,
                    )
                )
            else:
                assert row.expires_at is not None
                charge = self._business().create(
                    business_link_body(
                        description=description,
                        amount_minor=row.amount_minor,
                        currency=row.currency,
                        expires_at=row.expires_at,
                        metadata=metadata,
                        redirect_url=req.redirect_url,
                    ),
                    idempotency_key=idempotency_key(row.key),
                )
        except ProviderError as exc:
            log.warning("payment_create_failed", payment_key=row.key, provider=provider.value, error=str(exc))
            raise _provider_failure(exc) from None
        if charge.payment_key not in (None, row.key):
            raise ApplicationError(
                f"provider answered with a charge for another payment ({charge.payment_key!r})", type="ProviderError"
            )
        if charge.expires_at is None:
            charge = charge.model_copy(update={"expires_at": row.expires_at})
        stored = self._store(row.key, charge)
        if stored.provider_ref != charge.provider_ref:
            log.warning("payment_charge_lost_race", payment_key=row.key, orphan=charge.provider_ref, kept=stored.provider_ref)
        log.info("payment_charge_created", payment_key=row.key, provider=provider.value, provider_ref=stored.provider_ref)
        return _charge(stored)

    # --- read ----------------------------------------------------------------------------------------
    @activity.defn(name=GET_CHARGE)
    def get_charge(self, req: GetChargeRequest) -> ChargeSnapshot:
        with session_scope(self.engine) as session:
            row = get_payment(session, req.payment_key)
        if row is None:
            raise _bad_input(f"no payment {req.payment_key!r}")
        if row.provider_ref is None:
            raise _bad_input(f"payment {req.payment_key!r} has no provider charge yet")
        provider = PaymentProvider(row.provider)
        try:
            client = self._commerce() if provider == PaymentProvider.COINBASE_COMMERCE else self._business()
            charge = client.get(row.provider_ref)
        except ProviderError as exc:
            raise _provider_failure(exc) from None
        return ChargeSnapshot(
            payment_key=row.key,
            provider=provider,
            provider_ref=charge.provider_ref,
            provider_status=charge.provider_status,
            kind=charge.kind,
            context=charge.context,
            amount_minor=charge.amount_minor,
            currency=charge.currency,
            paid_minor=charge.paid_minor,
            paid_currency=charge.paid_currency,
            expires_at=charge.expires_at,
            tx_hash=charge.tx_hash,
        )

    # --- the flow's decision ---------------------------------------------------------------------------
    @activity.defn(name=RECORD_OUTCOME)
    def record_outcome(self, req: RecordOutcomeRequest) -> None:
        with session_scope(self.engine) as session:
            row = get_payment(session, req.payment_key)
            if row is None:
                raise _bad_input(f"no payment {req.payment_key!r}")
            row.status = req.status.value
            row.paid_minor = req.paid_minor
            row.paid_currency = req.paid_currency.upper() if req.paid_currency else None
            row.outcome_reason = req.reason[:500]
            row.updated_at = utcnow()

    def all(self) -> list:
        return [self.create_charge, self.get_charge, self.record_outcome]


def _business_currency(currency: str) -> str:
    # Payment links are priced in USDC (the migration guide: "currently supports USDC"); USDC maps
    # 1:1 onto our 6-decimal USD, so a USD fee is asked for (and stored, and compared) as USDC.
    return "USDC" if currency == "USD" else currency
