"""The payment sandbox's state: its configuration, the charges / payment links it holds in memory, and
how each renders in its provider's wire format (a snapshot always carries what was received so far:
Commerce `payments[]`, Business `settlement`).

Layering: `core/` only (a stand-in for the providers; it shares no code with the platform's parsers).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from core.logs import get_logger

log = get_logger(__name__)

COMMERCE = "coinbase_commerce"
BUSINESS = "coinbase_business"
CENT = Decimal("0.01")
USD_UNITS = frozenset({"USD", "USDC", "USDT"})  # 1:1 with each other: a USD charge takes any of them
MAX_DECIMALS = 18  # ETH's; an amount with more digits is no asset's


@dataclass
class SandboxConfig:
    public_url: str
    commerce_api_key: str | None = None
    commerce_webhook_secret: str | None = None
    commerce_webhook_url: str | None = None
    business_key_id: str | None = None
    business_key_secret: str | None = None  # the CDP key secret; only its public half is used here
    business_webhook_secret: str | None = None
    business_webhook_url: str | None = None
    charge_ttl_seconds: int = 3600
    retry_base_seconds: float = 1.0
    retry_max_seconds: float = 60.0
    max_attempts: int = 12
    delivery_workers: int = 8
    duplicate: bool = False
    out_of_order: bool = False

    @classmethod
    def from_settings(cls, settings) -> SandboxConfig:
        def secret(value):
            return value.get_secret_value() if value is not None else None

        api = settings.api_base_url.rstrip("/")
        return cls(
            public_url=settings.sandbox_base_url.rstrip("/"),
            commerce_api_key=secret(settings.coinbase_commerce_api_key),
            commerce_webhook_secret=secret(settings.coinbase_commerce_webhook_secret),
            commerce_webhook_url=f"{api}/v1/webhooks/coinbase-commerce",
            business_key_id=settings.coinbase_business_api_key_id or None,
            business_key_secret=secret(settings.coinbase_business_api_key),
            business_webhook_secret=secret(settings.coinbase_business_webhook_secret),
            business_webhook_url=f"{api}/v1/webhooks/coinbase-business",
            charge_ttl_seconds=settings.payment_expiry_seconds,
            retry_base_seconds=settings.sandbox_retry_base_seconds,
            retry_max_seconds=settings.sandbox_retry_max_seconds,
            max_attempts=settings.sandbox_retry_max_attempts,
        )

    def switches(self) -> dict[str, bool]:
        return {"duplicate": self.duplicate, "out_of_order": self.out_of_order}


class SandboxError(Exception):
    """One HTTP answer: each API surface renders it in its provider's error format."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now() -> datetime:
    return datetime.now(UTC)


def decimal_amount(text: Any) -> Decimal | None:
    """A positive, finite decimal string → Decimal; anything else → None."""
    if not isinstance(text, str):
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() and value > 0 else None


def cents(value: Decimal) -> str:
    return str(value.quantize(CENT))


def money_text(value: Decimal, currency: str) -> str:
    """A received amount as the providers write it: USD units at 2 decimals, other assets as exact as sent."""
    return cents(value) if currency in USD_UNITS else format(value.normalize(), "f")


def accepts(charge_currency: str, paid_currency: str) -> bool:
    """Whether a charge priced in one currency takes a transfer in another (its own, or a 1:1 USD unit)."""
    return paid_currency == charge_currency or (paid_currency in USD_UNITS and charge_currency in USD_UNITS)


@dataclass(frozen=True)
class Transfer:
    """One payer transfer to a charge: an amount of an asset (the charge's own, or another)."""

    amount: Decimal
    currency: str


@dataclass
class SandboxCharge:
    provider: str
    ref: str
    code: str | None
    amount: Decimal
    currency: str
    description: str
    metadata: dict
    hosted_url: str
    created_at: datetime
    expires_at: datetime
    name: str = ""
    network: str = "base"
    status: str = "NEW"  # Commerce: last timeline status; Business: link status
    timeline: list[dict] = field(default_factory=list)
    payments: list[dict] = field(default_factory=list)  # Commerce: each transfer, as the API lists it
    received: Decimal = Decimal(0)  # total received so far, in `received_currency`
    received_currency: str | None = None  # the charge's own currency, or the other asset a payer sent
    tx_hash: str | None = None
    redirect_url: str | None = None
    updated_at: datetime = field(default_factory=now)

    @property
    def open(self) -> bool:
        return self.status in ("NEW", "ACTIVE")

    def counted_currency(self, currency: str) -> str:
        """The currency a transfer counts in: the charge's own for any 1:1 USD unit, else the asset sent."""
        return self.currency if accepts(self.currency, currency) else currency

    def check_receivable(self, transfers: list[Transfer]) -> None:
        """One received currency per charge: what a ProviderCharge (and a Business settlement) can carry."""
        counted = {self.counted_currency(t.currency) for t in transfers}
        if self.received_currency:
            counted.add(self.received_currency)
        if len(counted) > 1:
            raise SandboxError(409, f"one received asset per charge in the sandbox, not {sorted(counted)}")

    def receive(self, transfer: Transfer) -> None:
        self.check_receivable([transfer])
        self.received += transfer.amount
        self.received_currency = self.counted_currency(transfer.currency)

    def settlement(self) -> dict | None:
        """Business: what the link received (total, Coinbase's 1 % fee, net), once it received anything."""
        if self.received_currency is None:
            return None
        currency = self.received_currency
        fee = (self.received / 100).quantize(CENT if currency in USD_UNITS else Decimal(1).scaleb(-MAX_DECIMALS))
        return {
            "totalAmount": money_text(self.received, currency),
            "feeAmount": money_text(fee, currency),
            "netAmount": money_text(self.received - fee, currency),
            "currency": currency,
        }

    def commerce_json(self) -> dict:
        return {
            "id": self.ref,
            "resource": "charge",
            "code": self.code,
            "name": self.name,
            "description": self.description,
            "hosted_url": self.hosted_url,
            "created_at": iso(self.created_at),
            "expires_at": iso(self.expires_at),
            "pricing_type": "fixed_price",
            "pricing": {"local": {"amount": cents(self.amount), "currency": self.currency}},
            "metadata": self.metadata,
            "timeline": list(self.timeline),
            "payments": [dict(p) for p in self.payments],
            "redirect_url": self.redirect_url,
        }

    def business_json(self) -> dict:
        body = {
            "id": self.ref,
            "url": self.hosted_url,
            "status": self.status,
            "amount": cents(self.amount),
            "currency": self.currency,
            "network": self.network,
            "address": "0x" + hashlib.sha256(self.ref.encode()).hexdigest()[:40],
            "description": self.description,
            "expiresAt": iso(self.expires_at),
            "metadata": self.metadata,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
        }
        settlement = self.settlement()
        if settlement is not None:
            body["settlement"] = settlement
        if self.tx_hash:
            body["transactionHash"] = self.tx_hash
        return body

    def provider_json(self) -> dict:
        return self.commerce_json() if self.provider == COMMERCE else self.business_json()

    def summary(self) -> dict:
        """The operator's view (`/sandbox/charges`)."""
        return {
            "provider": self.provider,
            "ref": self.ref,
            "code": self.code,
            "status": self.status,
            "amount": cents(self.amount),
            "currency": self.currency,
            "received": money_text(self.received, self.received_currency) if self.received_currency else None,
            "received_currency": self.received_currency,
            "hosted_url": self.hosted_url,
            "expires_at": iso(self.expires_at),
            "metadata": self.metadata,
        }


class ChargeStore:
    """Every charge and payment link, by id (and Commerce code), in creation order."""

    def __init__(self) -> None:
        self.charges: dict[str, SandboxCharge] = {}
        self.codes: dict[str, str] = {}  # Commerce code → id
        self.order: list[str] = []  # creation order (newest last)
        self.idempotency: dict[str, tuple[str, str]] = {}  # Business key → (body digest, link id)

    def get(self, ref: str) -> SandboxCharge:
        """By id or Commerce code; 404 when there is none."""
        charge = self.charges.get(ref) or self.charges.get(self.codes.get(ref, ""))
        if charge is None:
            raise SandboxError(404, f"no charge {ref!r}")
        return charge

    def add(self, charge: SandboxCharge) -> None:
        self.charges[charge.ref] = charge
        if charge.code:
            self.codes[charge.code] = charge.ref
        self.order.append(charge.ref)
        log.info("sandbox_charge_created", provider=charge.provider, ref=charge.ref, amount=str(charge.amount))

    def newest_first(self, provider: str | None = None) -> list[SandboxCharge]:
        charges = (self.charges[r] for r in reversed(self.order))
        return [c for c in charges if provider is None or c.provider == provider]
