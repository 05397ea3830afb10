"""The Sumsub adapter's wire format: request signing, webhook digests, outcome mapping, and the client's
calls (against an httpx MockTransport that checks each request's signature independently)."""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx
import pytest

from payments.interface import BadSignature, InvalidEvent, MalformedEvent, MissingSignature, WebhookNotConfigured
from payments.kyc.interface import KycOutcome
from payments.kyc.sumsub import SumsubClient, outcome_of, parse_webhook, request_signature, verified_kyc_event

SECRET = "whsec"


def event_body(kind: str = "applicantReviewed", **review) -> bytes:
    return json.dumps(
        {
            "applicantId": "app-1",
            "externalUserId": "kyc:prog:0xabc",
            "type": kind,
            "reviewStatus": "completed",
            "createdAtMs": "2026-12-01 10:00:00.000",
            **review,
        }
    ).encode()


def digest(body: bytes, fn=hashlib.sha256, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, fn).hexdigest()


def test_request_signature_covers_ts_method_path_and_body():
    expected = hmac.new(b"key", b"1700000000POST/resources/applicants?levelName=basic{}", hashlib.sha256).hexdigest()
    assert request_signature("key", 1700000000, "post", "/resources/applicants?levelName=basic", b"{}") == expected


@pytest.mark.parametrize(
    ("review", "outcome"),
    [
        ({"reviewStatus": "init"}, KycOutcome.PENDING),
        ({"reviewStatus": "pending"}, KycOutcome.PENDING),
        ({"reviewStatus": "onHold"}, KycOutcome.REVIEW),
        ({"reviewStatus": "completed", "reviewResult": {"reviewAnswer": "GREEN"}}, KycOutcome.APPROVED),
        (
            {"reviewStatus": "completed", "reviewResult": {"reviewAnswer": "RED", "reviewRejectType": "FINAL"}},
            KycOutcome.REJECTED,
        ),
        (
            {"reviewStatus": "completed", "reviewResult": {"reviewAnswer": "RED", "reviewRejectType": "RETRY"}},
            KycOutcome.PENDING,
        ),
        (None, KycOutcome.PENDING),
    ],
)
def test_outcome_mapping(review, outcome):
    assert outcome_of(review) == outcome


def test_webhook_digest_default_and_named_algorithms():
    body = event_body(reviewResult={"reviewAnswer": "GREEN"})
    event = verified_kyc_event(SECRET, body, {"x-payload-digest": digest(body)})
    assert (event.reference, event.outcome, event.event_type) == ("app-1", KycOutcome.APPROVED, "applicantReviewed")
    headers = {"x-payload-digest": digest(body, hashlib.sha512), "x-payload-digest-alg": "HMAC_SHA512_HEX"}
    assert verified_kyc_event(SECRET, body, headers).external_id == "kyc:prog:0xabc"


@pytest.mark.parametrize(
    ("secret", "headers", "error"),
    [
        (None, {"x-payload-digest": "00"}, WebhookNotConfigured),
        (SECRET, {}, MissingSignature),
        (SECRET, {"x-payload-digest": "00"}, BadSignature),
        (SECRET, {"x-payload-digest": "00", "x-payload-digest-alg": "MD5"}, BadSignature),
    ],
)
def test_webhook_refusals(secret, headers, error):
    with pytest.raises(error):
        verified_kyc_event(secret, event_body(), headers)


def test_tampered_body_is_refused():
    body = event_body(reviewResult={"reviewAnswer": "RED", "reviewRejectType": "FINAL"})
    sig = digest(body)
    with pytest.raises(BadSignature):
        verified_kyc_event(SECRET, body.replace(b"RED", b"GREEN"), {"x-payload-digest": sig})


def test_malformed_and_invalid_events():
    with pytest.raises(MalformedEvent):
        parse_webhook(b"not json")
    with pytest.raises(InvalidEvent):
        parse_webhook(json.dumps({"type": "applicantReviewed"}).encode())


def test_redelivery_has_the_same_event_id():
    body = event_body(reviewResult={"reviewAnswer": "GREEN"})
    assert parse_webhook(body).event_id == parse_webhook(body).event_id


def test_client_signs_requests_and_reuses_an_existing_applicant():
    seen: list[tuple[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        ts = request.headers["X-App-Access-Ts"]
        path = request.url.raw_path.decode()
        want = hmac.new(b"sk", f"{ts}{request.method}{path}".encode() + request.content, hashlib.sha256).hexdigest()
        assert request.headers["X-App-Access-Sig"] == want
        assert request.headers["X-App-Token"] == "tok"
        seen.append((request.method, path))
        if request.method == "POST" and request.url.path == "/resources/applicants":
            return httpx.Response(409, json={"description": "already exists", "code": 409})
        if "websdkLink" in request.url.path:
            return httpx.Response(200, json={"url": "https://kyc.example/v/abc"})
        return httpx.Response(
            200, json={"id": "app-9", "externalUserId": "k1", "review": {"reviewStatus": "onHold"}, "info": {"x": 1}}
        )

    client = SumsubClient(
        "https://api.example", "tok", "sk", "basic-kyc", http=httpx.Client(transport=httpx.MockTransport(handler))
    )
    check = client.start("k1")
    assert (check.reference, check.outcome, check.hosted_url) == (
        "app-9",
        KycOutcome.REVIEW,
        "https://kyc.example/v/abc",
    )
    assert "info" not in check.model_dump()  # personal data is never read
    assert [m for m, _ in seen] == ["POST", "GET", "POST"]
    assert seen[1][1] == "/resources/applicants/-;externalUserId=k1/one"
    assert client.status("app-9").outcome == KycOutcome.REVIEW
