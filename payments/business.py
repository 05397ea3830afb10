"""Coinbase Business payment links: the wire format, `X-Hook0-Signature` verification, and the HTTP client.

Where each fact comes from (public documentation, read when this was written):

- Payment links: `POST /api/v1/payment-links` with a bearer JWT (`payments/cdp_jwt.py`) and optional
  `X-Idempotency-Key`; body `amount`, `currency`, `network`, `description`, `expiresAt`, `metadata`,
  `successRedirectUrl`, `failRedirectUrl`; link fields `id` (24 hex), `url`, `status` (ACTIVE,
  DEACTIVATED, EXPIRED, COMPLETED, FAILED), `amount`, `currency`, `settlement {totalAmount, feeAmount,
  netAmount, currency}`, `transactionHash`, `expiresAt`, `metadata` (docs.cdp.coinbase.com, Business
  "payment links" API reference). Webhook bodies are the link object plus `eventType`
  (`payment_link.payment.success|failed|expired`), as in the Business "webhooks" page examples.
  Coinbase documents no refund status or event; REFUNDED and `payment_link.payment.refunded` (sent by
  the sandbox) map to REFUNDED so a refund reported that way is never read as anything else.
- Listing: `GET /api/v1/payment-links?pageSize=&pageToken=` (pageSize 1..100) answers
  `{paymentLinks, nextPageToken}`, the token omitted or empty on the last page (Business "List Payment
  Links" reference; CDP "pagination": treat the token as opaque).
- Webhook signature (Hook0, shared by every CDP webhook): header `X-Hook0-Signature:
  t=<unix>,h=<space-separated header names>,v1=<hex>`; v1 = HMAC-SHA256(secret,
  `{t}.{h}.{values of those headers joined by "."}.{raw body}`); compare in constant time; reject
  outside a 5-minute window (CDP "verify signatures" page; hook0/hook0 `clients/go/signature.go` and
  its conformance vectors: the window is two-sided, a covered header that was not delivered is refused,
  v1 is the one verified when v0 is also offered).

Layering: `core/` and `models/` only (wire formats are pure; `BusinessClient` does the I/O).
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import httpx
from pydantic import BaseModel

from models.payments import PaymentEvent, PaymentEventKind
from models.platform import PaymentProvider
from payments.cdp_jwt import cdp_jwt
from payments.http import parse_answer, send
from payments.interface import (
    BadSignature,
    InvalidEvent,
    MissingSignature,
    ProviderCharge,
    ProviderError,
    StaleSignature,
    WebhookNotConfigured,
)
from payments.wire import bounded, json_object, metadata_payment_key, money_text, parse_money, parse_time, required_str

HOOK0_SIGNATURE_HEADER = "X-Hook0-Signature"
HOOK0_TOLERANCE_SECONDS = 300

# Headers the event id may arrive in (Hook0 sends x-event-id; CDP's examples also show x-hook0-id).
# Used only when the signature covers them.
_EVENT_ID_HEADERS = ("x-event-id", "x-hook0-id")

# Namespace for the idempotency key: uuid5(namespace, payment key).
_IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1c6b1e-9d0c-4c4b-9a3e-5e0f3c2b7a10")


def idempotency_key(payment_key: str) -> str:
    """The `X-Idempotency-Key` for a payment: a UUID derived from our payment key, the same on every attempt."""
    return str(uuid.uuid5(_IDEMPOTENCY_NAMESPACE, payment_key))


def business_currency(currency: str) -> str:
    # Payment links are priced in USDC (the migration guide: "currently supports USDC"); USDC maps
    # 1:1 onto our 6-decimal USD, so a USD fee is asked for (and stored, and compared) as USDC.
    return "USDC" if currency == "USD" else currency


# --- signatures ----------------------------------------------------------------------------------------


class Hook0Signature(BaseModel):
    timestamp: int
    header_names: list[str]
    v1: bytes


def parse_hook0_signature(header: str) -> Hook0Signature:
    if len(header) > 8192:
        raise BadSignature("signature header too long")
    parts: dict[str, str] = {}
    for part in header.split(","):
        name, sep, value = part.partition("=")
        if sep:
            parts[name.strip()] = value.strip()
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        raise BadSignature("signature has no valid t= timestamp") from None
    if "v1" not in parts:
        # v0 covers the body only; accepting it because it is offered would be a downgrade.
        raise BadSignature("signature has no v1 code")
    try:
        v1 = bytes.fromhex(parts["v1"])
    except ValueError:
        raise BadSignature("v1 code is not hexadecimal") from None
    if len(v1) != 32:
        raise BadSignature("v1 code is not a SHA-256 HMAC")
    names = [n.lower() for n in parts.get("h", "").split(" ") if n]
    return Hook0Signature(timestamp=timestamp, header_names=names, v1=v1)


def hook0_message(timestamp: int, names: list[str], values: list[str], body: bytes) -> bytes:
    return b".".join([str(timestamp).encode(), " ".join(names).encode(), ".".join(values).encode(), body])


def verify_hook0_signature(
    secret: str | None,
    body: bytes,
    header: str | None,
    headers: Mapping[str, str],
    *,
    now: float | None = None,
    tolerance: int = HOOK0_TOLERANCE_SECONDS,
) -> Hook0Signature:
    """Verifies `X-Hook0-Signature` (v1) over the raw body and the covered headers.

    `headers` maps lower-case names to values as delivered (last value wins for repeats).
    Returns the parsed signature so callers know which headers were covered.
    """
    if not secret:
        raise WebhookNotConfigured("SGE_COINBASE_BUSINESS_WEBHOOK_SECRET is not set; refusing unverifiable webhooks")
    if not header:
        raise MissingSignature(f"{HOOK0_SIGNATURE_HEADER} header is missing")
    sig = parse_hook0_signature(header)
    values = []
    for name in sig.header_names:
        if name not in headers:
            # Signing over an absent value would let a sender drop a header and keep the signature.
            raise BadSignature(f"signed header {name!r} was not delivered")
        values.append(headers[name])
    expected = hmac.new(
        secret.encode(), hook0_message(sig.timestamp, sig.header_names, values, body), hashlib.sha256
    ).digest()
    if not hmac.compare_digest(expected, sig.v1):
        raise BadSignature("signature does not match the body and headers")
    current = time.time() if now is None else now
    if abs(current - sig.timestamp) > tolerance:
        raise StaleSignature(f"signature timestamp is {int(current - sig.timestamp)}s from now (window ±{tolerance}s)")
    return sig


# --- links and events, normalised --------------------------------------------------------------------------

_BUSINESS_STATUS_KIND = {
    "ACTIVE": PaymentEventKind.CREATED,
    "COMPLETED": PaymentEventKind.CONFIRMED,
    "FAILED": PaymentEventKind.FAILED,
    "EXPIRED": PaymentEventKind.EXPIRED,
    "DEACTIVATED": PaymentEventKind.FAILED,
    "REFUNDED": PaymentEventKind.REFUNDED,  # not a documented status: see the module docstring
}

_BUSINESS_TYPE_KIND = {
    "payment_link.payment.success": PaymentEventKind.CONFIRMED,
    "payment_link.payment.failed": PaymentEventKind.FAILED,
    "payment_link.payment.expired": PaymentEventKind.EXPIRED,
    "payment_link.payment.refunded": PaymentEventKind.REFUNDED,  # not a documented type: see the module docstring
}


def parse_business_link(link: Any) -> ProviderCharge:
    if not isinstance(link, dict):
        raise InvalidEvent("payment link is not an object")
    ref = required_str(link, "id", "paymentLink")
    status = str(link.get("status") or "").upper()
    currency = link.get("currency")
    amount_minor = parse_money(link.get("amount"), currency)
    paid_minor = paid_currency = None
    settlement = link.get("settlement")
    if isinstance(settlement, dict) and settlement.get("totalAmount") is not None:
        paid_currency = str(settlement.get("currency") or currency or "").upper() or None
        paid_minor = parse_money(settlement.get("totalAmount"), paid_currency)
    elif status == "COMPLETED":
        # A fixed-amount link that completed without settlement detail was paid its amount.
        paid_minor, paid_currency = amount_minor, (str(currency).upper() if currency else None)
    return ProviderCharge(
        provider=PaymentProvider.COINBASE_BUSINESS,
        provider_ref=ref,
        hosted_url=str(link.get("url") or ""),
        provider_status=status,
        kind=_BUSINESS_STATUS_KIND.get(status),
        amount_minor=amount_minor,
        currency=str(currency).upper() if currency else None,
        paid_minor=paid_minor,
        paid_currency=paid_currency,
        expires_at=parse_time(link.get("expiresAt")),
        payment_key=metadata_payment_key(link),
        tx_hash=link.get("transactionHash") if isinstance(link.get("transactionHash"), str) else None,
    )


def parse_business_webhook(body: bytes, headers: Mapping[str, str], signed_headers: list[str]) -> PaymentEvent:
    """A Business payment-link webhook (the link object plus `eventType`) → PaymentEvent.

    The event id comes from a delivery header only when the signature covers it; otherwise it is
    `<link id>:<eventType>` (a link has at most one success, failure or expiry).
    """
    link = json_object(body)
    event_type = required_str(link, "eventType", "event")
    charge = parse_business_link(link)
    event_id = next((headers[h] for h in _EVENT_ID_HEADERS if h in signed_headers and headers.get(h)), None)
    return bounded(
        PaymentEvent(
            provider=PaymentProvider.COINBASE_BUSINESS,
            event_id=event_id or f"{charge.provider_ref}:{event_type}",
            event_type=event_type,
            kind=_BUSINESS_TYPE_KIND.get(event_type, PaymentEventKind.OTHER),
            provider_ref=charge.provider_ref,
            payment_key=charge.payment_key,
            provider_status=charge.provider_status,
            amount_minor=charge.amount_minor,
            currency=charge.currency,
            paid_minor=charge.paid_minor,
            paid_currency=charge.paid_currency,
            tx_hash=charge.tx_hash,
            occurred_at=parse_time(link.get("updatedAt")),
        )
    )


# --- request body ----------------------------------------------------------------------------------------


def business_link_body(
    *,
    description: str,
    amount_minor: int,
    currency: str,
    expires_at: datetime,
    metadata: dict[str, str],
    network: str = "base",
    redirect_url: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "amount": money_text(amount_minor, currency),
        "currency": currency,
        "network": network,
        "description": description[:200],
        # Deterministic across retries (stored before the first call): the idempotency key must
        # always come with the same body.
        "expiresAt": expires_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "metadata": metadata,
    }
    if redirect_url:
        body["successRedirectUrl"] = redirect_url
        body["failRedirectUrl"] = redirect_url
    return body


# --- HTTP client -----------------------------------------------------------------------------------------


class BusinessClient:
    """Coinbase Business payment links (bearer JWT per request, `X-Idempotency-Key`)."""

    def __init__(self, base_url: str, key_id: str, key_secret: str, http: httpx.Client):
        self.base = base_url.rstrip("/")
        self.key_id = key_id
        self.key_secret = key_secret
        self.http = http

    def _auth(self, method: str, url: str) -> dict[str, str]:
        try:
            token = cdp_jwt(self.key_id, self.key_secret, method, url)
        except ValueError as exc:
            raise ProviderError(f"SGE_COINBASE_BUSINESS_API_KEY: {exc}", retryable=True) from None
        return {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    def create(self, body: dict[str, Any], *, idempotency_key: str) -> ProviderCharge:
        url = f"{self.base}/api/v1/payment-links"
        headers = {**self._auth("POST", url), "X-Idempotency-Key": idempotency_key}
        answer = send(self.http, "POST", url, "create payment link", json=body, headers=headers)
        return parse_answer(parse_business_link, answer, "create payment link")

    def get(self, ref: str) -> ProviderCharge:
        url = f"{self.base}/api/v1/payment-links/{ref}"
        answer = send(self.http, "GET", url, "get payment link", headers=self._auth("GET", url))
        return parse_answer(parse_business_link, answer, "get payment link")

    def list(self, *, page_size: int = 100, status: str | None = None) -> Iterator[ProviderCharge]:
        """Every payment link (of one status, when given), page by page as it is read."""
        url = f"{self.base}/api/v1/payment-links"
        params: dict[str, Any] = {"pageSize": page_size}
        if status:
            params["status"] = status
        while True:
            # A fresh JWT per page: each lives two minutes and a long listing may outlast one.
            answer = send(self.http, "GET", url, "list payment links", params=params, headers=self._auth("GET", url))
            links = (answer or {}).get("paymentLinks") or []
            for link in links:
                yield parse_answer(parse_business_link, link, "list payment links")
            token = (answer or {}).get("nextPageToken")
            if not links or not token:
                return
            params = {**params, "pageToken": token}
