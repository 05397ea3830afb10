"""Coinbase protocol code, pure (no I/O): webhook signatures, webhook and API-object normalisation,
request bodies, and the CDP API-key JWT. Shared by the API's webhook endpoints and the activities.

Where each fact comes from (public documentation, read when this was written):

- Commerce charges: `POST /charges` with `X-CC-Api-Key` and `X-CC-Version: 2018-03-22`; body
  `name`, `description`, `pricing_type: fixed_price`, `local_price {amount, currency}`, `metadata`,
  `redirect_url`, `cancel_url` (docs.cdp.coinbase.com, "api schema mapping" of the Commerce → Business
  migration guide). Charge fields `id`, `code`, `hosted_url`, `expires_at`, `pricing.local`,
  `timeline[] {status, time, context}`, `payments[] {status, transaction_id, value.local {amount,
  currency}}` (Commerce "FAQ" and "webhooks fields" pages).
- Commerce webhooks: `X-CC-Webhook-Signature` = hex HMAC-SHA256 of the raw body keyed by the shared
  secret; body `{id, scheduled_for, attempt_number, event: {id, type, api_version, created_at, data}}`
  where `data` is the charge; types charge:created|pending|confirmed|failed (+ legacy delayed and
  resolved); retries with exponential backoff for up to three days, interval at most 1 h (Commerce
  "webhooks overview", "webhooks security", "webhooks fields"). Legacy statuses UNRESOLVED with
  context UNDERPAID / OVERPAID / DELAYED / MULTIPLE (Commerce "payment status").
- Business payment links: `POST /api/v1/payment-links` with a bearer JWT and optional
  `X-Idempotency-Key`; body `amount`, `currency`, `network`, `description`, `expiresAt`, `metadata`,
  `successRedirectUrl`, `failRedirectUrl`; link fields `id` (24 hex), `url`, `status` (ACTIVE,
  DEACTIVATED, EXPIRED, COMPLETED, FAILED), `amount`, `currency`, `settlement {totalAmount, feeAmount,
  netAmount, currency}`, `transactionHash`, `expiresAt`, `metadata` (docs.cdp.coinbase.com, Business
  "payment links" API reference). Webhook bodies are the link object plus `eventType`
  (`payment_link.payment.success|failed|expired`), as in the Business "webhooks" page examples.
- Business webhook signature (Hook0, shared by every CDP webhook): header `X-Hook0-Signature:
  t=<unix>,h=<space-separated header names>,v1=<hex>`; v1 = HMAC-SHA256(secret,
  `{t}.{h}.{values of those headers joined by "."}.{raw body}`); compare in constant time; reject
  outside a 5-minute window (CDP "verify signatures" page; hook0/hook0 `clients/go/signature.go` and
  its conformance vectors: the window is two-sided, a covered header that was not delivered is refused,
  v1 is the one verified when v0 is also offered).
- CDP API-key JWT (Business API auth): header `{alg: ES256 | EdDSA, kid: <key id>, typ: JWT, nonce}`,
  claims `{sub: <key id>, iss: "cdp", nbf, iat, exp: nbf + 120, uris: ["<METHOD> <host><path>"]}`;
  EC keys are PEM, Ed25519 keys base64 of 64 bytes (seed + public) (CDP SDK auth docs, coinbase/cdp-sdk
  `python/cdp/auth/utils/jwt.py`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel

from models.money import ASSET_SCALE, AmountError, Asset, format_amount, parse_amount
from models.payments import PaymentEvent, PaymentEventKind
from models.platform import PaymentProvider

COMMERCE_API_VERSION = "2018-03-22"
COMMERCE_SIGNATURE_HEADER = "X-CC-Webhook-Signature"
HOOK0_SIGNATURE_HEADER = "X-Hook0-Signature"
HOOK0_TOLERANCE_SECONDS = 300
CDP_JWT_TTL_SECONDS = 120
# Our payment key travels in the provider's metadata so a webhook can be matched even before the
# provider reference is stored (Commerce sends charge:created at once).
METADATA_PAYMENT_KEY = "sge_payment_key"
METADATA_PROGRAM = "sge_program"
METADATA_WALLET = "sge_wallet"

# Headers the Business webhook event id may arrive in (Hook0 sends x-event-id; CDP's examples also
# show x-hook0-id). Used only when the signature covers them.
_EVENT_ID_HEADERS = ("x-event-id", "x-hook0-id")


# --- errors: each maps to one HTTP answer -----------------------------------------------------------


class WebhookRejected(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class WebhookNotConfigured(WebhookRejected):
    status = 503  # the provider retries, so nothing is lost while the secret is being configured
    code = "webhook_not_configured"


class MissingSignature(WebhookRejected):
    status = 401
    code = "missing_signature"


class BadSignature(WebhookRejected):
    status = 401
    code = "bad_signature"


class StaleSignature(WebhookRejected):
    status = 401
    code = "stale_signature"


class MalformedEvent(WebhookRejected):
    status = 400
    code = "malformed_event"


class InvalidEvent(WebhookRejected):
    status = 422
    code = "invalid_event"


# --- signatures --------------------------------------------------------------------------------------


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
    expected = hmac.new(secret.encode(), hook0_message(sig.timestamp, sig.header_names, values, body), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, sig.v1):
        raise BadSignature("signature does not match the body and headers")
    current = time.time() if now is None else now
    if abs(current - sig.timestamp) > tolerance:
        raise StaleSignature(f"signature timestamp is {int(current - sig.timestamp)}s from now (window ±{tolerance}s)")
    return sig


# --- amounts -----------------------------------------------------------------------------------------


def amount_scale(currency: str | None) -> int | None:
    """Decimals of a currency we account in (USD/USDC/USDT at 6), None for anything else."""
    try:
        return ASSET_SCALE[Asset(str(currency).upper())]
    except ValueError:
        return None


def parse_money(amount: Any, currency: Any) -> int | None:
    """Provider amount string → integer minor units; None when the currency is not one we account in.

    Never via float: a JSON number is refused (providers send decimal strings).
    """
    if amount is None:
        return None
    scale = amount_scale(currency)
    if scale is None:
        return None
    if not isinstance(amount, str):
        raise InvalidEvent(f"amount {amount!r} is not a decimal string")
    try:
        return parse_amount(amount, scale)
    except AmountError as exc:
        raise InvalidEvent(str(exc)) from None


def money_text(minor: int, currency: str) -> str:
    """Integer minor units → the 2-decimal string providers expect for USD-like prices."""
    scale = amount_scale(currency)
    if scale is None:
        raise AmountError(f"unsupported currency {currency!r}")
    text = format_amount(minor, scale)
    whole, _, frac = text.partition(".")
    frac = frac.rstrip("0").ljust(2, "0")
    return f"{whole}.{frac}"


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise InvalidEvent(f"not an ISO timestamp: {value!r}") from None


def _json_object(body: bytes) -> dict:
    try:
        parsed = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedEvent(f"body is not JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise MalformedEvent("body is not a JSON object")
    return parsed


def _str(obj: Mapping, key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidEvent(f"{where}.{key} is missing or not a string")
    return value


# --- provider objects, normalised ----------------------------------------------------------------------


class ProviderCharge(BaseModel):
    """A Commerce charge or Business payment link as the platform sees it."""

    provider: PaymentProvider
    provider_ref: str
    hosted_url: str
    provider_status: str
    kind: PaymentEventKind | None = None  # the state the object is in, when it says so
    context: str | None = None
    amount_minor: int | None = None
    currency: str | None = None
    paid_minor: int | None = None
    paid_currency: str | None = None
    expires_at: datetime | None = None
    payment_key: str | None = None
    tx_hash: str | None = None


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
}


def parse_commerce_charge(charge: Any) -> ProviderCharge:
    if not isinstance(charge, dict):
        raise InvalidEvent("charge is not an object")
    ref = _str(charge, "id", "charge")
    timeline = charge.get("timeline") or []
    last = timeline[-1] if isinstance(timeline, list) and timeline and isinstance(timeline[-1], dict) else {}
    status = str(last.get("status") or "NEW").upper()
    context = last.get("context")
    local = ((charge.get("pricing") or {}).get("local") or {}) if isinstance(charge.get("pricing"), dict) else {}
    currency = local.get("currency")
    paid_minor, paid_currency, tx_hash = _commerce_paid(charge.get("payments") or [])
    metadata = charge.get("metadata") if isinstance(charge.get("metadata"), dict) else {}
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
        expires_at=_time(charge.get("expires_at")),
        payment_key=metadata.get(METADATA_PAYMENT_KEY) if isinstance(metadata.get(METADATA_PAYMENT_KEY), str) else None,
        tx_hash=tx_hash,
    )


def _commerce_paid(payments: Any) -> tuple[int | None, str | None, str | None]:
    """Sum of the payments' local values (a charge may receive several), skipping failed ones."""
    if not isinstance(payments, list) or not payments:
        return None, None, None
    total = 0
    currency: str | None = None
    tx_hash = None
    counted = False
    for payment in payments:
        if not isinstance(payment, dict) or str(payment.get("status", "")).lower() == "failed":
            continue
        local = ((payment.get("value") or {}).get("local") or {}) if isinstance(payment.get("value"), dict) else {}
        cur = str(local.get("currency") or "").upper()
        if currency is not None and cur != currency:
            raise InvalidEvent("payments in more than one local currency")
        currency = cur
        minor = parse_money(local.get("amount"), cur)
        if minor is None:
            return None, currency or None, payment.get("transaction_id")
        total += minor
        counted = True
        tx_hash = payment.get("transaction_id") or tx_hash
    return (total if counted else None), currency, tx_hash


# Column widths of webhook_event / payment: longer values are not provider ids we can store.
_MAX_LEN = {"event_id": 200, "event_type": 100, "provider_ref": 100, "payment_key": 200}


def _bounded(event: PaymentEvent) -> PaymentEvent:
    for name, limit in _MAX_LEN.items():
        value = getattr(event, name)
        if value is not None and len(value) > limit:
            raise InvalidEvent(f"{name} is longer than {limit} characters")
    return event


def parse_commerce_webhook(body: bytes) -> PaymentEvent:
    """The `event` object of a Commerce webhook (the charge is `event.data`) → PaymentEvent."""
    root = _json_object(body)
    event = root.get("event")
    if not isinstance(event, dict):
        raise InvalidEvent("no `event` object (a Commerce webhook nests the event under `event`)")
    event_id = _str(event, "id", "event")
    event_type = _str(event, "type", "event")
    charge = parse_commerce_charge(event.get("data"))
    kind = _COMMERCE_TYPE_KIND.get(event_type, PaymentEventKind.OTHER)
    if event_type == "charge:failed" and charge.provider_status == "EXPIRED":
        kind = PaymentEventKind.EXPIRED  # Commerce reports expiry as charge:failed with an EXPIRED timeline
    return _bounded(PaymentEvent(
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
        occurred_at=_time(event.get("created_at")),
    ))


_BUSINESS_STATUS_KIND = {
    "ACTIVE": PaymentEventKind.CREATED,
    "COMPLETED": PaymentEventKind.CONFIRMED,
    "FAILED": PaymentEventKind.FAILED,
    "EXPIRED": PaymentEventKind.EXPIRED,
    "DEACTIVATED": PaymentEventKind.FAILED,
}

_BUSINESS_TYPE_KIND = {
    "payment_link.payment.success": PaymentEventKind.CONFIRMED,
    "payment_link.payment.failed": PaymentEventKind.FAILED,
    "payment_link.payment.expired": PaymentEventKind.EXPIRED,
}


def parse_business_link(link: Any) -> ProviderCharge:
    if not isinstance(link, dict):
        raise InvalidEvent("payment link is not an object")
    ref = _str(link, "id", "paymentLink")
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
    metadata = link.get("metadata") if isinstance(link.get("metadata"), dict) else {}
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
        expires_at=_time(link.get("expiresAt")),
        payment_key=metadata.get(METADATA_PAYMENT_KEY) if isinstance(metadata.get(METADATA_PAYMENT_KEY), str) else None,
        tx_hash=link.get("transactionHash") if isinstance(link.get("transactionHash"), str) else None,
    )


def parse_business_webhook(body: bytes, headers: Mapping[str, str], signed_headers: list[str]) -> PaymentEvent:
    """A Business payment-link webhook (the link object plus `eventType`) → PaymentEvent.

    The event id comes from a delivery header only when the signature covers it; otherwise it is
    `<link id>:<eventType>` (a link has at most one success, failure or expiry).
    """
    link = _json_object(body)
    event_type = _str(link, "eventType", "event")
    charge = parse_business_link(link)
    event_id = next((headers[h] for h in _EVENT_ID_HEADERS if h in signed_headers and headers.get(h)), None)
    return _bounded(PaymentEvent(
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
        occurred_at=_time(link.get("updatedAt")),
    ))


# --- request bodies ----------------------------------------------------------------------------------


def payment_metadata(payment_key: str, program: str, wallet: str) -> dict[str, str]:
    return {METADATA_PAYMENT_KEY: payment_key, METADATA_PROGRAM: program, METADATA_WALLET: wallet}


def commerce_charge_body(
    *, name: str, description: str, amount_minor: int, currency: str, metadata: dict[str, str], redirect_url: str | None = None
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


# --- CDP API-key JWT ---------------------------------------------------------------------------------


def load_cdp_private_key(secret: str):
    """A CDP API key secret: an EC private key in PEM, or base64 of a 64-byte Ed25519 key (seed + public)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    text = secret.strip().replace("\\n", "\n")  # keys pasted into env vars often carry literal \n
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(text.encode(), password=None)
        if isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
            return key
        raise ValueError("PEM key is neither EC nor Ed25519")
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        raise ValueError("API key secret is neither PEM nor base64") from None
    if len(raw) != 64:
        raise ValueError("base64 Ed25519 key secret must decode to 64 bytes")
    return ed25519.Ed25519PrivateKey.from_private_bytes(raw[:32])


def jwt_algorithm(key) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec

    return "ES256" if isinstance(key, ec.EllipticCurvePrivateKey) else "EdDSA"


def request_uri(method: str, url: str) -> str:
    """`POST business.coinbase.com/api/v1/payment-links`: the form the JWT `uris` claim carries."""
    parts = urlsplit(url)
    return f"{method.upper()} {parts.netloc}{parts.path}"


def cdp_jwt(key_id: str, key_secret: str, method: str, url: str, *, now: int | None = None, ttl: int = CDP_JWT_TTL_SECONDS) -> str:
    """A short-lived bearer JWT for one request, signed by the CDP API key."""
    import jwt

    key = load_cdp_private_key(key_secret)
    issued = int(time.time()) if now is None else now
    claims = {
        "sub": key_id,
        "iss": "cdp",
        "iat": issued,
        "nbf": issued,
        "exp": issued + ttl,
        "uris": [request_uri(method, url)],
    }
    headers = {"kid": key_id, "typ": "JWT", "nonce": secrets.token_hex(16)}
    return jwt.encode(claims, key, algorithm=jwt_algorithm(key), headers=headers)
