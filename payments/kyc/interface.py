"""What a KYC provider looks like to the platform: an outcome, a check (the provider's applicant, reduced
to its reference and outcome), the client protocol, and the errors.

Layering: `core/` only.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel

from payments.interface import ProviderError  # noqa: F401 - provider calls fail as payment calls do


class KycOutcome(StrEnum):
    PENDING = "pending"  # created, documents not yet submitted or being checked
    REVIEW = "review"  # the provider holds it for a manual review (on hold)
    APPROVED = "approved"
    REJECTED = "rejected"  # final: a rejection the applicant cannot retry

    @property
    def final(self) -> bool:
        return self in (KycOutcome.APPROVED, KycOutcome.REJECTED)


class KycCheck(BaseModel):
    """One applicant at the provider: what the platform keeps (reference, outcome) plus where to send
    the person (a hosted verification URL, never stored)."""

    provider: str
    reference: str  # the provider's applicant id
    external_id: str  # our key for the person (the flow's KYC key), echoed by the provider
    outcome: KycOutcome
    hosted_url: str | None = None


class KycEvent(BaseModel):
    """One verified webhook delivery, normalised."""

    provider: str
    event_id: str  # unique per delivery content: provider-assigned or derived from the body
    event_type: str
    reference: str
    external_id: str
    outcome: KycOutcome


class KycProvider(Protocol):
    def start(self, external_id: str) -> KycCheck:
        """Create (or find, idempotently on `external_id`) the applicant and a hosted verification link."""
        ...

    def status(self, reference: str) -> KycCheck: ...
