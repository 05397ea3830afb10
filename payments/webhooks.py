"""Verify one webhook delivery and parse it into a `models.payments.PaymentEvent`: all the API needs.

Verification is on the raw body, in constant time, and fails closed (no secret → `WebhookNotConfigured`).
Every refusal is a `WebhookRejected` carrying the HTTP status and code to answer with.

Secret rotation: while `SGE_COINBASE_*_WEBHOOK_SECRET_PREVIOUS_UNTIL` is in the future, a delivery
whose signature does not match the current secret is checked against the previous one too, so no
event is lost while the provider switches secrets. Only a signature mismatch falls through to the
previous secret; a missing, malformed or stale signature is refused as it is.

Layering: `core/` and `models/` only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from models.payments import PaymentEvent
from models.platform import PaymentProvider
from payments.business import HOOK0_SIGNATURE_HEADER, parse_business_webhook, verify_hook0_signature
from payments.commerce import COMMERCE_SIGNATURE_HEADER, parse_commerce_webhook, verify_commerce_signature
from payments.interface import (
    BadSignature,
    WebhookRejected,  # noqa: F401 - re-exported: what the API catches
)

_SETTING = {
    PaymentProvider.COINBASE_COMMERCE: "coinbase_commerce_webhook_secret",
    PaymentProvider.COINBASE_BUSINESS: "coinbase_business_webhook_secret",
}


def accepted_secrets(settings: Any, provider: PaymentProvider, now: datetime | None = None) -> list[str | None]:
    """The provider's current secret (None when unset), then the previous one while its overlap lasts."""
    field = _SETTING[provider]
    current, previous = getattr(settings, field), getattr(settings, f"{field}_previous")
    until = getattr(settings, f"{field}_previous_until")
    secrets: list[str | None] = [current.get_secret_value() if current is not None else None]
    if current is not None and previous is not None and until is not None and (now or datetime.now(UTC)) < until:
        secrets.append(previous.get_secret_value())
    return secrets


def verified_event(
    provider: PaymentProvider, secrets: str | Sequence[str | None] | None, body: bytes, headers: Mapping[str, str]
) -> PaymentEvent:
    """The delivery's event, once its signature checks out under one of `secrets`; raises `WebhookRejected`.

    `secrets` is the current secret first (see `accepted_secrets`); a lone string or None is the
    current secret alone. `headers` is looked up by lower-case name. For Business it must hold the
    headers as delivered (the last of repeated ones, as Hook0's clients read them): the signature
    covers some of them.
    """
    candidates = [secrets] if secrets is None or isinstance(secrets, str) else list(secrets) or [None]
    first_mismatch: BadSignature | None = None
    for secret in candidates:
        try:
            return _verified_with(provider, secret, body, headers)
        except BadSignature as exc:
            first_mismatch = first_mismatch or exc
    assert first_mismatch is not None
    raise first_mismatch


def _verified_with(
    provider: PaymentProvider, secret: str | None, body: bytes, headers: Mapping[str, str]
) -> PaymentEvent:
    if provider == PaymentProvider.COINBASE_COMMERCE:
        verify_commerce_signature(secret, body, headers.get(COMMERCE_SIGNATURE_HEADER.lower()))
        return parse_commerce_webhook(body)
    signature = verify_hook0_signature(secret, body, headers.get(HOOK0_SIGNATURE_HEADER.lower()), headers)
    return parse_business_webhook(body, headers, signature.header_names)
