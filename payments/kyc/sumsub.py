"""Sumsub's public API shape: applicants, request signing, webhook digests.

Requests carry `X-App-Token`, `X-App-Access-Ts` (unix seconds) and `X-App-Access-Sig`, the hex
HMAC-SHA256, keyed with the secret key, of `ts + METHOD + path-with-query + body`. An applicant is
created per `externalUserId` at a verification level (`POST /resources/applicants?levelName=…`; a
second create answers 409, so `start` then reads it by external id), and the person verifies on the
hosted WebSDK page (`POST /resources/sdkIntegrations/levels/{level}/websdkLink`).

An applicant's `review` says where it stands: `reviewStatus` init / pending / queued / prechecked
(pending), onHold (manual review), completed with `reviewResult.reviewAnswer` GREEN (approved) or RED
with `reviewRejectType` FINAL (rejected; RETRY means the person may resubmit: still pending).

Webhooks (`applicantPending`, `applicantOnHold`, `applicantReviewed`, …) carry `X-Payload-Digest`, the
hex HMAC of the raw body keyed with the webhook secret, and `X-Payload-Digest-Alg` naming the hash
(HMAC_SHA256_HEX by default, HMAC_SHA1_HEX, HMAC_SHA512_HEX).

Only `id`, `externalUserId` and `review` are read from an applicant: never its personal data.

Layering: `core/` only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from payments.http import send
from payments.interface import (
    BadSignature,
    InvalidEvent,
    MalformedEvent,
    MissingSignature,
    PaymentsNotConfigured,
    ProviderError,
    WebhookNotConfigured,
)
from payments.kyc.interface import KycCheck, KycEvent, KycOutcome

PROVIDER = "sumsub"
DIGEST_HEADER = "X-Payload-Digest"
DIGEST_ALG_HEADER = "X-Payload-Digest-Alg"
DIGEST_ALGORITHMS: dict[str, Callable[[], Any]] = {
    "HMAC_SHA256_HEX": hashlib.sha256,
    "HMAC_SHA1_HEX": hashlib.sha1,
    "HMAC_SHA512_HEX": hashlib.sha512,
}
_PENDING_STATUSES = {"init", "pending", "queued", "prechecked", "awaitingUser", "awaitingService"}


# --- request signing ------------------------------------------------------------------------------------


def request_signature(secret: str, ts: int, method: str, path_with_query: str, body: bytes) -> str:
    message = f"{ts}{method.upper()}{path_with_query}".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(app_token: str, secret: str, method: str, path_with_query: str, body: bytes, ts: int) -> dict:
    return {
        "X-App-Token": app_token,
        "X-App-Access-Ts": str(ts),
        "X-App-Access-Sig": request_signature(secret, ts, method, path_with_query, body),
        "Accept": "application/json",
        "Content-Type": "application/json",
    }


# --- outcomes -------------------------------------------------------------------------------------------


def outcome_of(review: Mapping[str, Any] | None) -> KycOutcome:
    """The platform's outcome for a Sumsub `review` object (or a webhook's top-level review fields)."""
    review = review or {}
    status = review.get("reviewStatus") or "init"
    if status == "onHold":
        return KycOutcome.REVIEW
    if status != "completed":
        if status not in _PENDING_STATUSES:
            raise ValueError(f"unknown reviewStatus {status!r}")
        return KycOutcome.PENDING
    result = review.get("reviewResult") or {}
    answer = result.get("reviewAnswer")
    if answer == "GREEN":
        return KycOutcome.APPROVED
    if answer == "RED":
        return KycOutcome.REJECTED if result.get("reviewRejectType") != "RETRY" else KycOutcome.PENDING
    raise ValueError(f"completed review without a GREEN/RED answer: {answer!r}")


def parse_applicant(obj: Any, hosted_url: str | None = None) -> KycCheck:
    try:
        return KycCheck(
            provider=PROVIDER,
            reference=str(obj["id"]),
            external_id=str(obj["externalUserId"]),
            outcome=outcome_of(obj.get("review")),
            hosted_url=hosted_url,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ProviderError(f"sumsub: unexpected applicant: {exc}", retryable=False) from None


# --- webhooks -------------------------------------------------------------------------------------------


def verify_digest(secret: str | None, body: bytes, headers: Mapping[str, str]) -> None:
    """Raise a `WebhookRejected` unless the body's digest matches (headers looked up by lower-case name)."""
    if not secret:
        raise WebhookNotConfigured("the KYC webhook secret is not configured")
    digest = headers.get(DIGEST_HEADER.lower())
    if not digest:
        raise MissingSignature(f"missing {DIGEST_HEADER}")
    algorithm = headers.get(DIGEST_ALG_HEADER.lower()) or "HMAC_SHA256_HEX"
    hash_fn = DIGEST_ALGORITHMS.get(algorithm)
    if hash_fn is None:
        raise BadSignature(f"unsupported {DIGEST_ALG_HEADER} {algorithm!r}")
    expected = hmac.new(secret.encode(), body, hash_fn).hexdigest()
    if not hmac.compare_digest(expected, digest.strip().lower()):
        raise BadSignature("payload digest does not match")


def parse_webhook(body: bytes) -> KycEvent:
    try:
        obj = json.loads(body)
    except ValueError:
        raise MalformedEvent("body is not JSON") from None
    if not isinstance(obj, dict):
        raise MalformedEvent("body is not a JSON object")
    try:
        event_type = str(obj["type"])
        reference = str(obj["applicantId"])
        external_id = str(obj["externalUserId"])
        outcome = outcome_of(obj)
    except (KeyError, ValueError) as exc:
        raise InvalidEvent(f"not a Sumsub applicant event: {exc}") from None
    # Sumsub events carry no event id: a redelivery has the same body, so this identifies it.
    stamp = obj.get("createdAtMs") or obj.get("createdAt") or hashlib.sha256(body).hexdigest()[:16]
    return KycEvent(
        provider=PROVIDER,
        event_id=f"{reference}:{event_type}:{stamp}",
        event_type=event_type,
        reference=reference,
        external_id=external_id,
        outcome=outcome,
    )


def verified_kyc_event(secret: str | None, body: bytes, headers: Mapping[str, str]) -> KycEvent:
    verify_digest(secret, body, headers)
    return parse_webhook(body)


# --- the client -----------------------------------------------------------------------------------------


class SumsubClient:
    def __init__(
        self,
        base_url: str,
        app_token: str | None,
        secret_key: str | None,
        level_name: str,
        *,
        link_ttl_s: int = 1800,
        http: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
    ):
        if not app_token or not secret_key:
            raise PaymentsNotConfigured("the KYC provider's app token and secret key are not set")
        self.base_url = base_url.rstrip("/")
        self.app_token, self.secret_key, self.level_name = app_token, secret_key, level_name
        self.link_ttl_s = link_ttl_s
        self.http = http or httpx.Client(timeout=15.0)
        self.clock = clock

    def _call(self, method: str, path: str, what: str, query: dict | None = None, payload: Any = None) -> Any:
        path_with_query = path + (f"?{urlencode(query)}" if query else "")
        body = json.dumps(payload).encode() if payload is not None else b""
        headers = signed_headers(self.app_token, self.secret_key, method, path_with_query, body, int(self.clock()))
        return send(self.http, method, self.base_url + path_with_query, what, content=body, headers=headers)

    def start(self, external_id: str) -> KycCheck:
        try:
            obj = self._call(
                "POST",
                "/resources/applicants",
                "sumsub create applicant",
                {"levelName": self.level_name},
                {"externalUserId": external_id},
            )
        except ProviderError as exc:
            if exc.provider_status != 409:  # 409: this external id has an applicant already (a retry)
                raise
            obj = self._call(
                "GET", f"/resources/applicants/-;externalUserId={quote(external_id, safe='')}/one", "sumsub find"
            )
        link = self._call(
            "POST",
            f"/resources/sdkIntegrations/levels/{quote(self.level_name, safe='')}/websdkLink",
            "sumsub websdk link",
            {"ttlInSecs": self.link_ttl_s, "externalUserId": external_id},
        )
        return parse_applicant(obj, hosted_url=link.get("url") if isinstance(link, dict) else None)

    def status(self, reference: str) -> KycCheck:
        obj = self._call("GET", f"/resources/applicants/{quote(reference, safe='')}/one", "sumsub applicant")
        return parse_applicant(obj)
