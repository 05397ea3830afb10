"""Verify one webhook delivery and parse it into a `models.payments.PaymentEvent`: all the API needs.

Verification is on the raw body, in constant time, and fails closed (no secret → `WebhookNotConfigured`).
Every refusal is a `WebhookRejected` carrying the HTTP status and code to answer with.

Layering: `core/` and `models/` only.
"""

from __future__ import annotations

from collections.abc import Mapping

from models.payments import PaymentEvent
from models.platform import PaymentProvider
from payments.business import HOOK0_SIGNATURE_HEADER, parse_business_webhook, verify_hook0_signature
from payments.commerce import COMMERCE_SIGNATURE_HEADER, parse_commerce_webhook, verify_commerce_signature
from payments.interface import WebhookRejected  # noqa: F401 - re-exported: what the API catches


def verified_event(
    provider: PaymentProvider, secret: str | None, body: bytes, headers: Mapping[str, str]
) -> PaymentEvent:
    """The delivery's event, once its signature checks out; raises `WebhookRejected` otherwise.

    `headers` is looked up by lower-case name. For Business it must hold the headers as delivered
    (the last of repeated ones, as Hook0's clients read them): the signature covers some of them.
    """
    if provider == PaymentProvider.COINBASE_COMMERCE:
        verify_commerce_signature(secret, body, headers.get(COMMERCE_SIGNATURE_HEADER.lower()))
        return parse_commerce_webhook(body)
    signature = verify_hook0_signature(secret, body, headers.get(HOOK0_SIGNATURE_HEADER.lower()), headers)
    return parse_business_webhook(body, headers, signature.header_names)
