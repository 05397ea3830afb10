"""Webhook signature verification for both schemes, and parsing into the normalised event."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from models.payments import PaymentEventKind
from models.platform import PaymentProvider
from payments.business import parse_business_webhook, verify_hook0_signature
from payments.cdp_jwt import cdp_jwt, load_cdp_private_key
from payments.commerce import parse_commerce_webhook, verify_commerce_signature
from payments.interface import (
    BadSignature,
    InvalidEvent,
    MalformedEvent,
    MissingSignature,
    StaleSignature,
    WebhookNotConfigured,
)
from payments.wire import METADATA_PAYMENT_KEY, money_text, parse_money

SECRET = "s3cret"
BODY = json.dumps({"event": {"id": "evt-1", "type": "charge:confirmed", "data": {"id": "ch-1"}}}).encode()


def commerce_sig(body: bytes, secret: str = SECRET) -> str:
    # Computed here with hashlib directly, not with the code under test.
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# --- Commerce: hex HMAC-SHA256 of the raw body -----------------------------------------------------------


def test_commerce_good_signature_passes():
    verify_commerce_signature(SECRET, BODY, commerce_sig(BODY))
    verify_commerce_signature(SECRET, BODY, commerce_sig(BODY).upper())  # hex case does not matter


@pytest.mark.parametrize(
    ("secret", "body", "header", "error"),
    [
        (SECRET, BODY, commerce_sig(BODY, "other-secret"), BadSignature),
        (SECRET, BODY + b" ", commerce_sig(BODY), BadSignature),  # tampered body
        (SECRET, BODY.replace(b"confirmed", b"failed!!!"), commerce_sig(BODY), BadSignature),
        (SECRET, BODY, "", MissingSignature),
        (SECRET, BODY, None, MissingSignature),
        (SECRET, BODY, "not-hex", BadSignature),
        (None, BODY, commerce_sig(BODY), WebhookNotConfigured),  # fail closed
        ("", BODY, commerce_sig(BODY, ""), WebhookNotConfigured),
    ],
    ids=[
        "wrong-secret",
        "tampered-whitespace",
        "tampered-type",
        "empty-header",
        "missing-header",
        "garbage",
        "no-secret",
        "empty-secret",
    ],
)
def test_commerce_bad_signatures_are_refused(secret, body, header, error):
    with pytest.raises(error) as exc:
        verify_commerce_signature(secret, body, header)
    assert exc.value.status in (401, 503)


# --- Business: Hook0 v1 over timestamp, covered headers and raw body ---------------------------------------

# Hook0's published conformance vectors (hook0/hook0, clients/conformance/signature.json): codes
# computed outside any implementation, so this checks our verifier against an independent answer.
VEC_SECRET = "a-subscription-secret"
VEC_BODY = b'{"event":"user.created"}'
VEC_HEADERS = {"x-event-id": "evt-1", "x-delivery-id": "dlv-1", "content-type": "application/json"}
VEC_V1 = "19a6fb8f6581715b241a93af02a58611c3b0ac7b747a8d2a5b120ee418d0c347"
VEC_V1_SWAPPED = "bf5f4e5fe0c9143510ae192f983316a09ed392d0104d2ce0faa3d7bce3687acb"
NOW = 1_800_000_000


def test_hook0_conformance_vector_verifies():
    sig = verify_hook0_signature(
        VEC_SECRET, VEC_BODY, f"t={NOW},h=x-event-id x-delivery-id,v1={VEC_V1}", VEC_HEADERS, now=NOW
    )
    assert sig.header_names == ["x-event-id", "x-delivery-id"]
    # the order the headers are named in is part of what is signed
    verify_hook0_signature(
        VEC_SECRET, VEC_BODY, f"t={NOW},h=x-delivery-id x-event-id,v1={VEC_V1_SWAPPED}", VEC_HEADERS, now=NOW
    )
    # v1 is verified when v0 is offered beside it
    verify_hook0_signature(
        VEC_SECRET,
        VEC_BODY,
        f"t={NOW},h=x-event-id x-delivery-id,v0={VEC_V1_SWAPPED},v1={VEC_V1}",
        VEC_HEADERS,
        now=NOW,
    )


def hook0(secret: str, t: int, headers: list[tuple[str, str]], body: bytes) -> str:
    names = " ".join(n for n, _ in headers)
    message = f"{t}.{names}.{'.'.join(v for _, v in headers)}.".encode() + body
    return f"t={t},h={names},v1={hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()}"


SIGNED = [("content-type", "application/json"), ("x-event-id", "e-1")]
DELIVERED = dict(SIGNED)


def test_hook0_good_signature_and_window_edges():
    body = b'{"id":"x"}'
    verify_hook0_signature(SECRET, body, hook0(SECRET, NOW, SIGNED, body), DELIVERED, now=NOW)
    verify_hook0_signature(SECRET, body, hook0(SECRET, NOW - 300, SIGNED, body), DELIVERED, now=NOW)
    verify_hook0_signature(SECRET, body, hook0(SECRET, NOW + 300, SIGNED, body), DELIVERED, now=NOW)


@pytest.mark.parametrize(
    ("secret", "header", "delivered", "body", "error"),
    [
        (SECRET, hook0("other", NOW, SIGNED, b"{}"), DELIVERED, b"{}", BadSignature),
        (SECRET, hook0(SECRET, NOW, SIGNED, b"{}"), DELIVERED, b"{ }", BadSignature),  # tampered body
        (SECRET, hook0(SECRET, NOW, SIGNED, b"{}"), {**DELIVERED, "x-event-id": "e-2"}, b"{}", BadSignature),
        (SECRET, hook0(SECRET, NOW, SIGNED, b"{}"), {"content-type": "application/json"}, b"{}", BadSignature),
        (SECRET, hook0(SECRET, NOW - 301, SIGNED, b"{}"), DELIVERED, b"{}", StaleSignature),
        (SECRET, hook0(SECRET, NOW + 301, SIGNED, b"{}"), DELIVERED, b"{}", StaleSignature),
        (SECRET, None, DELIVERED, b"{}", MissingSignature),
        (SECRET, f"t={NOW},v0={VEC_V1}", DELIVERED, b"{}", BadSignature),  # body-only v0: no downgrade
        (SECRET, f"t={NOW},h=x-event-id,v1=zz", DELIVERED, b"{}", BadSignature),
        (SECRET, f"t={NOW},h=x-event-id,v1={VEC_V1[:-1]}", DELIVERED, b"{}", BadSignature),
        (SECRET, f"h=x-event-id,v1={VEC_V1}", DELIVERED, b"{}", BadSignature),
        (None, hook0(SECRET, NOW, SIGNED, b"{}"), DELIVERED, b"{}", WebhookNotConfigured),
    ],
    ids=[
        "wrong-secret",
        "tampered-body",
        "tampered-covered-header",
        "covered-header-missing",
        "stale",
        "future",
        "missing-header",
        "v0-only",
        "v1-not-hex",
        "v1-half-byte",
        "no-timestamp",
        "no-secret",
    ],
)
def test_hook0_bad_signatures_are_refused(secret, header, delivered, body, error):
    with pytest.raises(error):
        verify_hook0_signature(secret, body, header, delivered, now=NOW)


# --- parsing -----------------------------------------------------------------------------------------


def commerce_event(event_type: str, timeline: list[dict], payments: list[dict] | None = None) -> bytes:
    return json.dumps(
        {
            "id": "delivery-1",
            "attempt_number": 1,
            "event": {
                "id": "evt-9",
                "type": event_type,
                "created_at": "2026-01-02T03:04:05Z",
                "data": {
                    "id": "ch-9",
                    "code": "ABCD1234",
                    "pricing": {"local": {"amount": "100.00", "currency": "USD"}},
                    "metadata": {METADATA_PAYMENT_KEY: "pay-1"},
                    "timeline": timeline,
                    "payments": payments or [],
                },
            },
        }
    ).encode()


def payment(amount: str, status: str = "confirmed", tx: str = "0xabc") -> dict:
    return {"status": status, "transaction_id": tx, "value": {"local": {"amount": amount, "currency": "USD"}}}


def test_commerce_event_is_read_under_event_with_exact_amounts():
    event = parse_commerce_webhook(
        commerce_event(
            "charge:confirmed",
            [{"status": "NEW"}, {"status": "COMPLETED"}],
            [payment("60.10"), payment("39.90", tx="0xdef")],
        )
    )
    assert event.provider == PaymentProvider.COINBASE_COMMERCE
    assert (event.event_id, event.event_type, event.kind) == ("evt-9", "charge:confirmed", PaymentEventKind.CONFIRMED)
    assert (event.provider_ref, event.payment_key) == ("ch-9", "pay-1")
    assert (event.amount_minor, event.currency) == (100_000_000, "USD")
    assert (event.paid_minor, event.paid_currency) == (100_000_000, "USD")  # 60.10 + 39.90, exactly
    assert event.tx_hash == "0xdef" and event.occurred_at.year == 2026


def test_commerce_underpaid_and_expired_are_told_apart():
    under = parse_commerce_webhook(
        commerce_event(
            "charge:failed",
            [{"status": "PENDING"}, {"status": "UNRESOLVED", "context": "UNDERPAID"}],
            [payment("50.00", "pending")],
        )
    )
    assert (under.kind, under.context, under.paid_minor) == (PaymentEventKind.FAILED, "UNDERPAID", 50_000_000)
    expired = parse_commerce_webhook(commerce_event("charge:failed", [{"status": "NEW"}, {"status": "EXPIRED"}]))
    assert (expired.kind, expired.paid_minor) == (PaymentEventKind.EXPIRED, None)
    other = parse_commerce_webhook(commerce_event("charge:something_new", [{"status": "NEW"}]))
    assert other.kind == PaymentEventKind.OTHER


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"not json", MalformedEvent),
        (b"[1,2]", MalformedEvent),
        (
            json.dumps({"id": "x", "type": "charge:confirmed", "data": {"id": "c"}}).encode(),
            InvalidEvent,
        ),  # not under `event`
        (json.dumps({"event": {"id": "e", "type": "charge:pending"}}).encode(), InvalidEvent),
        (commerce_event("charge:confirmed", [{"status": "COMPLETED"}], [payment("1.0000001")]), InvalidEvent),
        (
            commerce_event("charge:confirmed", [{"status": "COMPLETED"}]).replace(b'"evt-9"', b'"' + b"e" * 201 + b'"'),
            InvalidEvent,
        ),
        (
            json.dumps(
                {
                    "event": {
                        "id": "e",
                        "type": "charge:confirmed",
                        "data": {"id": "c", "pricing": {"local": {"amount": 100.0, "currency": "USD"}}},
                    }
                }
            ).encode(),
            InvalidEvent,
        ),
    ],
    ids=["not-json", "not-object", "top-level-event", "no-data", "sub-micro-amount", "overlong-id", "float-amount"],
)
def test_malformed_commerce_events(body, error):
    with pytest.raises(error):
        parse_commerce_webhook(body)


def business_body(event_type: str, status: str, settlement: dict | None = None) -> bytes:
    link = {
        "id": "68f7a946db0529ea9b6d3a12",
        "url": "https://pay/x",
        "status": status,
        "amount": "100.00",
        "currency": "USDC",
        "metadata": {METADATA_PAYMENT_KEY: "pay-2"},
        "eventType": event_type,
        "updatedAt": "2026-01-02T03:04:05Z",
    }
    if settlement:
        link["settlement"] = settlement
    return json.dumps(link).encode()


def test_business_event_id_comes_from_a_signed_header_only():
    body = business_body("payment_link.payment.success", "COMPLETED", {"totalAmount": "99.50", "currency": "USDC"})
    headers = {"x-event-id": "hook0-evt-1", "content-type": "application/json"}
    signed = parse_business_webhook(body, headers, ["content-type", "x-event-id"])
    assert signed.event_id == "hook0-evt-1"
    assert (signed.kind, signed.paid_minor, signed.paid_currency, signed.amount_minor) == (
        PaymentEventKind.CONFIRMED,
        99_500_000,
        "USDC",
        100_000_000,
    )
    unsigned = parse_business_webhook(body, headers, ["content-type"])
    assert unsigned.event_id == "68f7a946db0529ea9b6d3a12:payment_link.payment.success"
    expired = parse_business_webhook(business_body("payment_link.payment.expired", "EXPIRED"), {}, [])
    assert (expired.kind, expired.paid_minor) == (PaymentEventKind.EXPIRED, None)


def test_money_text_is_exact():
    assert money_text(100_000_000, "USD") == "100.00"
    assert money_text(1_234_567, "USDC") == "1.234567"
    assert parse_money("100.00", "usd") == 100_000_000
    assert parse_money("1.5", "BTC") is None  # not a currency we account in


def test_cdp_jwt_claims(monkeypatch):
    import jwt

    from tests.helpers.payments import BUSINESS_KEY_ED25519, BUSINESS_KEY_ID, BUSINESS_KEY_PEM

    for secret, alg in ((BUSINESS_KEY_PEM, "ES256"), (BUSINESS_KEY_ED25519, "EdDSA")):
        token = cdp_jwt(BUSINESS_KEY_ID, secret, "POST", "https://business.coinbase.com/api/v1/payment-links", now=NOW)
        header = jwt.get_unverified_header(token)
        assert header["alg"] == alg and header["kid"] == BUSINESS_KEY_ID and header["typ"] == "JWT" and header["nonce"]
        public = load_cdp_private_key(secret).public_key()
        claims = jwt.decode(
            token, public, algorithms=[alg], options={"verify_exp": False, "verify_nbf": False, "verify_iat": False}
        )
        assert claims == {
            "sub": BUSINESS_KEY_ID,
            "iss": "cdp",
            "iat": NOW,
            "nbf": NOW,
            "exp": NOW + 120,
            "uris": ["POST business.coinbase.com/api/v1/payment-links"],
        }
