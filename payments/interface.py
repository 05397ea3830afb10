"""What every payment provider looks like to the platform: the normalised charge, the client protocol,
and the errors (provider calls and webhook rejections), all `core.errors.DomainError`s.

Layering: `core/` and `models/` only.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Protocol

from pydantic import BaseModel

from core.errors import DomainError
from models.payments import PaymentEventKind
from models.platform import PaymentProvider


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


class ProviderClient(Protocol):
    """What reading a charge needs from either provider's HTTP API (creating one is provider-specific:
    each module's client takes its own request body)."""

    def get(self, ref: str) -> ProviderCharge: ...

    def list(self, *, page_size: int = 100) -> Iterator[ProviderCharge]:
        """Every charge the account holds, with its current snapshot, paging as it is read."""
        ...


# --- provider calls ------------------------------------------------------------------------------------


class ProviderError(DomainError):
    """A provider call that did not produce an answer we can use.

    `retryable`: transport errors, 5xx, 408/409/425/429, and auth failures (401/403: a configuration
    problem an operator fixes, after which the flow continues) are worth retrying; other 4xx are not.
    `provider_status` is the provider's HTTP status, when it answered.
    """

    code = "provider_error"
    status = 502

    def __init__(self, message: str, *, provider_status: int | None = None, retryable: bool):
        super().__init__(
            message, retryable=retryable, details={"provider_status": provider_status} if provider_status else None
        )
        self.provider_status = provider_status


class PaymentsNotConfigured(ProviderError):
    """The provider's credentials are not set: retryable, an operator sets them and the flow continues."""

    code = "payments_not_configured"
    status = 503

    def __init__(self, message: str):
        super().__init__(message, retryable=True)


# --- webhook rejections: each maps to one HTTP answer ---------------------------------------------------


class WebhookRejected(DomainError):
    status = 400
    code = "bad_request"


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
