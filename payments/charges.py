"""A flow's payment: create the provider charge (crash-safe), read its state, record the flow's outcome.

The provider is a program setting (`Program.payment_provider`): Coinbase Commerce charges or Coinbase
Business payment links. Plain code over settings, an engine and an httpx client — no Temporal here;
`activities/payments.py` registers these as activities.

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

Errors (all `DomainError`s): bad input (unknown program, invalid wallet, key reuse) is
`InvalidPaymentRequest`, permanent; provider 4xx that a retry cannot fix are permanent `ProviderError`s;
transport errors, 5xx, 429 and missing/refused credentials are retryable (an operator fixes the
configuration and the flow continues).

Layering: `core/` and `models/` only.
"""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from core.columns import utcnow
from core.db import row_id, session_scope
from core.errors import DomainError
from core.logs import get_logger
from core.settings import Settings
from models.documents import DocumentKind
from models.payments import (
    Charge,
    ChargeSnapshot,
    CreateChargeRequest,
    GetChargeRequest,
    InvalidWallet,
    Payment,
    PaymentStatus,
    checksum_wallet,
    get_payment,
)
from models.platform import PaymentProvider, Program
from models.terms import document_for, terms_for
from payments.business import BusinessClient, business_currency, business_link_body, idempotency_key
from payments.commerce import CommerceClient, commerce_charge_body
from payments.interface import PaymentsNotConfigured, ProviderCharge, ProviderClient, ProviderError
from payments.wire import MAX_DISCLOSURE_CHARS, METADATA_RISK, METADATA_TERMS, payment_metadata

log = get_logger(__name__)


class InvalidPaymentRequest(DomainError):
    """A request no retry can fix: unknown program or payment, invalid wallet, a payment key reused."""

    code = "invalid_payment_request"
    status = 422


def commerce_client(settings: Settings, http: httpx.Client) -> CommerceClient:
    key = settings.coinbase_commerce_api_key
    if key is None:
        raise PaymentsNotConfigured("SGE_COINBASE_COMMERCE_API_KEY is not set")
    return CommerceClient(settings.coinbase_commerce_api_url, key.get_secret_value(), http)


def business_client(settings: Settings, http: httpx.Client) -> BusinessClient:
    key = settings.coinbase_business_api_key
    if key is None or not settings.coinbase_business_api_key_id:
        raise PaymentsNotConfigured("SGE_COINBASE_BUSINESS_API_KEY_ID and SGE_COINBASE_BUSINESS_API_KEY must be set")
    return BusinessClient(
        settings.coinbase_business_api_url, settings.coinbase_business_api_key_id, key.get_secret_value(), http
    )


def provider_client(settings: Settings, provider: PaymentProvider, http: httpx.Client) -> ProviderClient:
    client: ProviderClient = (
        commerce_client(settings, http)
        if provider == PaymentProvider.COINBASE_COMMERCE
        else business_client(settings, http)
    )
    return client


def charge_of(row: Payment) -> Charge:
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


class Charges:
    """The payments of flows, against the configured providers."""

    def __init__(self, settings: Settings, engine: Engine, http: httpx.Client):
        self.settings = settings
        self.engine = engine
        self.http = http

    # --- create --------------------------------------------------------------------------------------
    def reserve(self, req: CreateChargeRequest) -> tuple[Payment, Program]:
        """Step 1: the row under the payment key, committed before any provider call."""
        try:
            wallet = checksum_wallet(req.wallet)
        except InvalidWallet as exc:
            raise InvalidPaymentRequest(str(exc)) from None
        with session_scope(self.engine) as session:
            program = session.exec(select(Program).where(Program.slug == req.program)).first()
            if program is None:
                raise InvalidPaymentRequest(f"unknown program {req.program!r}")
            currency = req.currency.upper()
            if program.payment_provider == PaymentProvider.COINBASE_BUSINESS:
                currency = business_currency(currency)
            amount = program.fee_usd_minor if req.amount_minor is None else req.amount_minor
            if amount <= 0:
                raise InvalidPaymentRequest(f"amount must be positive, got {amount}")
            row = get_payment(session, req.payment_key)
            if row is None:
                row = Payment(
                    key=req.payment_key,
                    program_id=row_id(program),
                    wallet=wallet,
                    wallet_lower=wallet.lower(),
                    provider=str(program.payment_provider),
                    amount_minor=amount,
                    currency=currency,
                    flow_id=req.flow_id,
                    # Fixed now so every attempt sends the same body under the same idempotency key.
                    expires_at=(utcnow() + timedelta(seconds=self.settings.payment_expiry_seconds)).replace(
                        microsecond=0
                    ),
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
                raise InvalidPaymentRequest(f"payment key {req.payment_key!r} is already used for a different payment")
            if row.provider_ref is None:
                row.create_attempts += 1
                row.updated_at = utcnow()
            session.flush()
            return row, program

    def store(self, key: str, charge: ProviderCharge) -> Payment:
        """Step 3, compare-and-set: the first recorded charge for the key wins."""
        with session_scope(self.engine) as session:
            session.exec(
                update(Payment)
                .where(col(Payment.key) == key, col(Payment.provider_ref).is_(None))
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

    def create(self, req: CreateChargeRequest) -> Charge:
        row, program = self.reserve(req)
        if row.provider_ref is not None:
            return charge_of(row)  # already created: same answer as the first time
        provider = PaymentProvider(row.provider)
        try:
            charge = self._call_provider(req, row, program)
        except ProviderError as exc:
            log.warning("payment_create_failed", payment_key=row.key, provider=provider.value, error=str(exc))
            raise
        if charge.payment_key not in (None, row.key):
            raise ProviderError(
                f"provider answered with a charge for another payment ({charge.payment_key!r})", retryable=True
            )
        if charge.expires_at is None:
            charge = charge.model_copy(update={"expires_at": row.expires_at})
        stored = self.store(row.key, charge)
        if stored.provider_ref != charge.provider_ref:
            log.warning(
                "payment_charge_lost_race", payment_key=row.key, orphan=charge.provider_ref, kept=stored.provider_ref
            )
        log.info(
            "payment_charge_created", payment_key=row.key, provider=provider.value, provider_ref=stored.provider_ref
        )
        return charge_of(stored)

    def _disclosures(self, program: Program) -> dict[str, str]:
        """The terms in force and the risk disclosure, for the checkout page to show (a short read)."""
        with Session(self.engine) as session:
            attached = session.get(Program, row_id(program))
            assert attached is not None
            terms = terms_for(attached, session)
            risk = document_for(attached, DocumentKind.RISK, session)
        return {METADATA_TERMS: f"{terms.version}:{terms.sha256}", METADATA_RISK: risk.text[:MAX_DISCLOSURE_CHARS]}

    def _call_provider(self, req: CreateChargeRequest, row: Payment, program: Program) -> ProviderCharge:
        """Step 2, outside any DB transaction."""
        metadata = payment_metadata(row.key, program.slug, row.wallet) | self._disclosures(program)
        description = req.description or f"{program.name} registration fee"
        if PaymentProvider(row.provider) == PaymentProvider.COINBASE_COMMERCE:
            client = commerce_client(self.settings, self.http)
            found = client.find_by_key(row.key) if row.create_attempts > 1 else None
            if found is not None:
                log.warning("payment_charge_adopted", payment_key=row.key, provider_ref=found.provider_ref)
                return found
            return client.create(
                commerce_charge_body(
                    name=f"{program.name} registration",
                    description=description,
                    amount_minor=row.amount_minor,
                    currency=row.currency,
                    metadata=metadata,
                    redirect_url=req.redirect_url,
                )
            )
        assert row.expires_at is not None
        return business_client(self.settings, self.http).create(
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

    # --- read ----------------------------------------------------------------------------------------
    def snapshot(self, req: GetChargeRequest) -> ChargeSnapshot:
        """The charge as the provider reports it now (a signal alone never moves money)."""
        with session_scope(self.engine) as session:
            row = get_payment(session, req.payment_key)
        if row is None:
            raise InvalidPaymentRequest(f"no payment {req.payment_key!r}")
        if row.provider_ref is None:
            raise InvalidPaymentRequest(f"payment {req.payment_key!r} has no provider charge yet")
        provider = PaymentProvider(row.provider)
        charge = provider_client(self.settings, provider, self.http).get(row.provider_ref)
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
