"""The KYC sandbox's configuration and its applicants (in memory), in Sumsub's wire format.

An applicant holds no personal data here either: the sandbox's "verification" is a button press.

Layering: `core/` only.
"""

from __future__ import annotations

import copy
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sandbox.store import SandboxError


@dataclass
class KycSandboxConfig:
    public_url: str
    app_token: str | None = None
    secret_key: str | None = None
    webhook_secret: str | None = None
    webhook_url: str | None = None
    retry_base_seconds: float = 1.0
    retry_max_seconds: float = 60.0
    max_attempts: int = 12

    @classmethod
    def from_settings(cls, settings) -> KycSandboxConfig:
        def secret(value):
            return value.get_secret_value() if value is not None else None

        return cls(
            public_url=settings.kyc_sandbox_base_url.rstrip("/"),
            app_token=secret(settings.kyc_app_token),
            secret_key=secret(settings.kyc_secret_key),
            webhook_secret=secret(settings.kyc_webhook_secret),
            webhook_url=f"{settings.api_base_url.rstrip('/')}/v1/webhooks/kyc",
            retry_base_seconds=settings.sandbox_retry_base_seconds,
            retry_max_seconds=settings.sandbox_retry_max_seconds,
            max_attempts=settings.sandbox_retry_max_attempts,
        )


# action → (review as Sumsub reports it, webhook type)
ACTIONS: dict[str, tuple[dict, str]] = {
    "approve": ({"reviewStatus": "completed", "reviewResult": {"reviewAnswer": "GREEN"}}, "applicantReviewed"),
    "reject": (
        {
            "reviewStatus": "completed",
            "reviewResult": {"reviewAnswer": "RED", "reviewRejectType": "FINAL", "rejectLabels": ["FORGERY"]},
        },
        "applicantReviewed",
    ),
    "review": ({"reviewStatus": "onHold"}, "applicantOnHold"),
    "submit": ({"reviewStatus": "pending"}, "applicantPending"),
}


def created_at_ms() -> str:
    """Sumsub's `createdAtMs` format (UTC, milliseconds)."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%d %H:%M:%S.") + f"{now.microsecond // 1000:03d}"


@dataclass
class Applicant:
    id: str
    external_user_id: str
    level_name: str
    review: dict = field(default_factory=lambda: {"reviewStatus": "init"})
    created_at: float = field(default_factory=time.time)
    history: list[str] = field(default_factory=list)

    @property
    def final(self) -> bool:
        return self.review.get("reviewStatus") == "completed"

    def provider_json(self) -> dict:
        return {
            "id": self.id,
            "externalUserId": self.external_user_id,
            "levelName": self.level_name,
            "createdAt": datetime.fromtimestamp(self.created_at, UTC).strftime("%Y-%m-%d %H:%M:%S"),
            "review": dict(self.review),
        }

    def summary(self) -> dict:
        return {**self.provider_json(), "history": list(self.history)}


class ApplicantStore:
    def __init__(self) -> None:
        self.applicants: dict[str, Applicant] = {}
        self.by_external: dict[str, str] = {}

    def create(self, external_user_id: str, level_name: str) -> Applicant:
        if external_user_id in self.by_external:
            raise SandboxError(409, f"Applicant with external user id '{external_user_id}' already exists")
        applicant = Applicant(id=uuid.uuid4().hex[:24], external_user_id=external_user_id, level_name=level_name)
        self.applicants[applicant.id] = applicant
        self.by_external[external_user_id] = applicant.id
        return applicant

    def get(self, ref: str) -> Applicant:
        """By applicant id, or `-;externalUserId=…` as Sumsub's lookup path spells it."""
        if ref.startswith("-;externalUserId="):
            ref = self.by_external.get(ref.split("=", 1)[1], "")
        applicant = self.applicants.get(ref)
        if applicant is None:
            raise SandboxError(404, "Applicant not found")
        return applicant

    def act(self, applicant: Applicant, action: str) -> str:
        """Apply a button's outcome; the webhook type it produces. A final review is not changed again."""
        if action not in ACTIONS:
            raise SandboxError(404, f"unknown action {action!r}: one of {', '.join(ACTIONS)}")
        if applicant.final:
            raise SandboxError(409, "the applicant's review is final")
        review, event_type = ACTIONS[action]
        applicant.review = copy.deepcopy(review)
        applicant.history.append(action)
        return event_type
