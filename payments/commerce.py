"""Coinbase Commerce: the charge wire format, `X-CC-Webhook-Signature` verification, and the HTTP client.

Where each fact comes from (public documentation, read when this was written):

- Charges: `POST /charges` with `X-CC-Api-Key` and `X-CC-Version: 2018-03-22`; body `name`,
  `description`, `pricing_type: fixed_price`, `local_price {amount, currency}`, `metadata`,
  `redirect_url`, `cancel_url` (docs.cdp.coinbase.com, "api schema mapping" of the Commerce → Business
  migration guide). Charge fields `id`, `code`, `hosted_url`, `expires_at`, `pricing.local`,
  `timeline[] {status, time, context}`, `payments[] {status, transaction_id, value.local {amount,
  currency}}` (Commerce "FAQ" and "webhooks fields" pages).
- Webhooks: `X-CC-Webhook-Signature` = hex HMAC-SHA256 of the raw body keyed by the shared secret; body
  `{id, scheduled_for, attempt_number, event: {id, type, api_version, created_at, data}}` where `data` is
  the charge; types charge:created|pending|confirmed|failed (+ legacy delayed and resolved); retries with
  exponential backoff for up to three days, interval at most 1 h (Commerce "webhooks overview",
  "webhooks security", "webhooks fields"). Legacy statuses UNRESOLVED with context UNDERPAID / OVERPAID /
  DELAYED / MULTIPLE / OTHER (Commerce "payment status"). Coinbase documents no refund webhook; the
  type `charge:refunded` (sent by the sandbox, and by anything else that reports a refund) maps to
  REFUNDED like the REFUNDED timeline status.
- Listing: `GET /charges?limit=&order=&starting_after=`, `pagination.next_uri` null on the last page
  (Commerce "pagination"); `CommerceClient.list` pages on with its own base URL.

Layering: `core/` and `models/` only (wire formats are pure; `CommerceClient` does the I/O).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from itertools import islice
from typing import Any

import httpx

from models.payments import PaymentEvent, PaymentEventKind
from models.platform import PaymentProvider
from payments.http import parse_answer, send
from payments.interface import (
    BadSignature,
    InvalidEvent,
    MissingSignature,
    ProviderCharge,
    WebhookNotConfigured,
)
from payments.wire import bounded, json_object, metadata_payment_key, money_text, parse_money, parse_time, required_str

COMMERCE_API_VERSION = "2018-03-22"
COMMERCE_SIGNATURE_HEADER = "X-CC-Webhook-Signature"


# --- signatures ----------------------------------------------------------------------------------------


def commerce_signature(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_commerce_signature(secret: str | None, body: bytes, header: str | None) -> None:
    """Raises unless `header` is the hex HMAC-SHA256 of the raw `body` under `secret`."""
    if not secret:
        raise WebhookNotConfigured("SGE_COINBASE_COMMERCE_WEBHOOK_SECRET is not set; refusing unverifiable webhooks")
    if not header:
        raise MissingSignature(f"{COMMERCE_SIGNATURE_HEADER} header is missing")
    expected = commerce_signature(secret, body)
    if not hmac.compare_digest(expected.encode(), header.strip().lower().encode()):
        raise BadSignature("signature does not match the body")


# --- charges and events, normalised ----------------------------------------------------------------------

_COMMERCE_STATUS_KIND = {
    "NEW": PaymentEventKind.CREATED,
    "SIGNED": PaymentEventKind.CREATED,
    "PENDING": PaymentEventKind.PENDING,
    "COMPLETED": PaymentEventKind.CONFIRMED,
    "EXPIRED": PaymentEventKind.EXPIRED,
    "FAILED": PaymentEventKind.FAILED,
    "UNRESOLVED": PaymentEventKind.FAILED,
    "RESOLVED": PaymentEventKind.RESOLVED,
    "CANCELED": PaymentEventKind.FAILED,
    "REFUNDED": PaymentEventKind.REFUNDED,
}

_COMMERCE_TYPE_KIND = {
    "charge:created": PaymentEventKind.CREATED,
    "charge:pending": PaymentEventKind.PENDING,
    "charge:confirmed": PaymentEventKind.CONFIRMED,
    "charge:failed": PaymentEventKind.FAILED,
    "charge:delayed": PaymentEventKind.DELAYED,
    "charge:resolved": PaymentEventKind.RESOLVED,
    "charge:refunded": PaymentEventKind.REFUNDED,  # not a documented Commerce type: see the module docstring
}


def parse_commerce_charge(charge: Any) -> ProviderCharge:
    if not isinstance(charge, dict):
        raise InvalidEvent("charge is not an object")
    ref = required_str(charge, "id", "charge")
    timeline = charge.get("timeline") or []
    last = timeline[-1] if isinstance(timeline, list) and timeline and isinstance(timeline[-1], dict) else {}
    status = str(last.get("status") or "NEW").upper()
    context = last.get("context")
    local = ((charge.get("pricing") or {}).get("local") or {}) if isinstance(charge.get("pricing"), dict) else {}
    currency = local.get("currency")
    paid_minor, paid_currency, tx_hash = _commerce_paid(charge.get("payments") or [])
    return ProviderCharge(
        provider=PaymentProvider.COINBASE_COMMERCE,
        provider_ref=ref,
        hosted_url=str(charge.get("hosted_url") or ""),
        provider_status=status,
        kind=_COMMERCE_STATUS_KIND.get(status),
        context=str(context).upper() if context else None,
        amount_minor=parse_money(local.get("amount"), currency),
        currency=str(currency).upper() if currency else None,
        paid_minor=paid_minor,
        paid_currency=paid_currency,
        expires_at=parse_time(charge.get("expires_at")),
        payment_key=metadata_payment_key(charge),
        tx_hash=tx_hash,
    )


def _commerce_paid(payments: Any) -> tuple[int | None, str | None, str | None]:
    """The total a charge received (it may receive several payments), skipping failed ones.

    Each payment counts in its `value.local` (the charge's pricing currency); one without a local value
    (an asset Coinbase did not price in the charge's currency, e.g. ETH sent to a USD charge) counts in
    its `value.crypto`, so money in a wrong asset is reported, not hidden. One currency per charge.
    """
    if not isinstance(payments, list) or not payments:
        return None, None, None
    total = 0
    currency: str | None = None
    tx_hash = None
    counted = False
    for payment in payments:
        if not isinstance(payment, dict) or str(payment.get("status", "")).lower() == "failed":
            continue
        value = payment.get("value")
        if not isinstance(value, dict):
            value = {}
        money = _priced(value.get("local")) or _priced(value.get("crypto")) or {}
        cur = str(money.get("currency") or "").upper()
        if currency is not None and cur != currency:
            raise InvalidEvent("payments in more than one currency")
        currency = cur
        minor = parse_money(money.get("amount"), cur)
        if minor is None:
            return None, currency or None, payment.get("transaction_id")
        total += minor
        counted = True
        tx_hash = payment.get("transaction_id") or tx_hash
    return (total if counted else None), currency, tx_hash


def _priced(money: Any) -> dict | None:
    """`{amount, currency}` when it states an amount, else None."""
    return money if isinstance(money, dict) and money.get("amount") is not None else None


def parse_commerce_webhook(body: bytes) -> PaymentEvent:
    """The `event` object of a Commerce webhook (the charge is `event.data`) → PaymentEvent."""
    root = json_object(body)
    event = root.get("event")
    if not isinstance(event, dict):
        raise InvalidEvent("no `event` object (a Commerce webhook nests the event under `event`)")
    event_id = required_str(event, "id", "event")
    event_type = required_str(event, "type", "event")
    charge = parse_commerce_charge(event.get("data"))
    kind = _COMMERCE_TYPE_KIND.get(event_type, PaymentEventKind.OTHER)
    if event_type == "charge:failed" and charge.provider_status == "EXPIRED":
        kind = PaymentEventKind.EXPIRED  # Commerce reports expiry as charge:failed with an EXPIRED timeline
    return bounded(
        PaymentEvent(
            provider=PaymentProvider.COINBASE_COMMERCE,
            event_id=event_id,
            event_type=event_type,
            kind=kind,
            provider_ref=charge.provider_ref,
            payment_key=charge.payment_key,
            provider_status=charge.provider_status,
            context=charge.context,
            amount_minor=charge.amount_minor,
            currency=charge.currency,
            paid_minor=charge.paid_minor,
            paid_currency=charge.paid_currency,
            tx_hash=charge.tx_hash,
            occurred_at=parse_time(event.get("created_at")),
        )
    )


# --- request body ----------------------------------------------------------------------------------------


def commerce_charge_body(
    *,
    name: str,
    description: str,
    amount_minor: int,
    currency: str,
    metadata: dict[str, str],
    redirect_url: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name[:100],
        "description": description[:200],
        "pricing_type": "fixed_price",
        "local_price": {"amount": money_text(amount_minor, currency), "currency": currency},
        "metadata": metadata,
    }
    if redirect_url:
        body["redirect_url"] = redirect_url
        body["cancel_url"] = redirect_url
    return body


# --- HTTP client -----------------------------------------------------------------------------------------


class CommerceClient:
    """Coinbase Commerce charges (`X-CC-Api-Key`, `X-CC-Version`). Commerce has no idempotency key."""

    def __init__(self, base_url: str, api_key: str, http: httpx.Client):
        self.base = base_url.rstrip("/")
        self.http = http
        self.headers = {"X-CC-Api-Key": api_key, "X-CC-Version": COMMERCE_API_VERSION, "Accept": "application/json"}

    def create(self, body: dict[str, Any]) -> ProviderCharge:
        answer = send(self.http, "POST", f"{self.base}/charges", "create charge", json=body, headers=self.headers)
        return parse_answer(parse_commerce_charge, (answer or {}).get("data"), "create charge")

    def get(self, ref: str) -> ProviderCharge:
        answer = send(self.http, "GET", f"{self.base}/charges/{ref}", "get charge", headers=self.headers)
        return parse_answer(parse_commerce_charge, (answer or {}).get("data"), "get charge")

    def list(self, *, page_size: int = 100, order: str = "desc") -> Iterator[ProviderCharge]:
        """Every charge, newest first (`order="asc"`: oldest first), page by page as it is read."""
        params: dict[str, Any] = {"limit": page_size, "order": order}
        while True:
            answer = send(self.http, "GET", f"{self.base}/charges", "list charges", params=params, headers=self.headers)
            items = (answer or {}).get("data") or []
            for item in items:
                yield parse_answer(parse_commerce_charge, item, "list charges")
            pagination = (answer or {}).get("pagination") or {}
            if not items or not pagination.get("next_uri"):
                return
            # Page on with our own base URL (never follow a URL the answer names with our key).
            params = {"limit": page_size, "order": order, "starting_after": items[-1].get("id")}

    def find_by_key(self, payment_key: str, *, max_pages: int = 5, page_size: int = 100) -> ProviderCharge | None:
        """A recent charge carrying our payment key in its metadata (newest first, a few pages)."""
        for charge in islice(self.list(page_size=page_size), max_pages * page_size):
            if charge.payment_key == payment_key:
                return charge
        return None
