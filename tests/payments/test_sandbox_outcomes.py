"""Every payment outcome the sandbox produces, for both providers, over real HTTP: the signed webhooks it
sends (types, order, what each says) and what the production clients read back (`get`, `list`).

The flow trusts only the snapshot a client reads, so each case checks that it tells the truth: status,
kind, context, and the cumulative amount received with its currency.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from core.columns import utcnow
from models.payments import PaymentEventKind as K
from models.platform import PaymentProvider
from ops.devstack.processes import free_port
from payments.business import BusinessClient, business_link_body, idempotency_key
from payments.commerce import CommerceClient, commerce_charge_body
from payments.wire import payment_metadata
from sandbox.app import create_sandbox_app
from tests.helpers.payments import (
    BUSINESS_KEY_ID,
    BUSINESS_KEY_PEM,
    COMMERCE_API_KEY,
    FEE,
    WALLET,
    ServerThread,
    act,
    received_events,
    sandbox_config,
    settled_deliveries,
)

COMMERCE, BUSINESS = PaymentProvider.COINBASE_COMMERCE, PaymentProvider.COINBASE_BUSINESS
USD = 1_000_000  # one dollar in minor units
ETH_005 = 5 * 10**16  # 0.05 ETH in wei


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


def commerce(sandbox, http) -> CommerceClient:
    return CommerceClient(sandbox.url, COMMERCE_API_KEY, http)


def business(sandbox, http) -> BusinessClient:
    return BusinessClient(sandbox.url, BUSINESS_KEY_ID, BUSINESS_KEY_PEM, http)


def new_charge(provider: PaymentProvider, sandbox, http, key: str = "pay-1"):
    metadata = payment_metadata(key, "prog", WALLET)
    if provider == COMMERCE:
        body = commerce_charge_body(name="Reg", description="fee", amount_minor=FEE, currency="USD", metadata=metadata)
        return commerce(sandbox, http).create(body)
    expires = (utcnow() + timedelta(hours=1)).replace(microsecond=0)
    body = business_link_body(
        description="fee", amount_minor=FEE, currency="USDC", expires_at=expires, metadata=metadata
    )
    return business(sandbox, http).create(body, idempotency_key=idempotency_key(key))


def client(provider: PaymentProvider, sandbox, http):
    return commerce(sandbox, http) if provider == COMMERCE else business(sandbox, http)


def run_steps(provider, sandbox, receiver, http, steps, event_count):
    """A fresh charge, the steps on it; then its verified events and what `get` and `list` read."""
    charge = new_charge(provider, sandbox, http)
    for action, params in steps:
        act(sandbox, charge.provider_ref, action, **params)
    rows = settled_deliveries(sandbox.url, charge.provider_ref, event_count)
    assert len(rows) == event_count and all(r["state"] == "delivered" for r in rows)
    events = [e for e in received_events(receiver, provider) if e.provider_ref == charge.provider_ref]
    assert len({e.event_id for e in events}) == len(events) == event_count
    assert all(e.payment_key == "pay-1" and e.amount_minor == FEE for e in events)
    got = client(provider, sandbox, http).get(charge.provider_ref)
    [listed] = [c for c in client(provider, sandbox, http).list() if c.provider_ref == charge.provider_ref]
    assert listed == got
    return events, got


def said(event):
    return (event.event_type, event.kind, event.paid_minor, event.paid_currency, event.context)


def snapshot(charge):
    return (charge.provider_status, charge.kind, charge.context, charge.paid_minor, charge.paid_currency)


CREATED = ("charge:created", K.CREATED, None, None, None)

COMMERCE_CASES = {
    "pay": (
        [("pay", {})],
        [CREATED, ("charge:pending", K.PENDING, FEE, "USD", None), ("charge:confirmed", K.CONFIRMED, FEE, "USD", None)],
        ("COMPLETED", K.CONFIRMED, None, FEE, "USD"),
    ),
    "pay in USDC (1:1)": (
        [("pay", {"currency": "usdc"})],
        [CREATED, ("charge:pending", K.PENDING, FEE, "USD", None), ("charge:confirmed", K.CONFIRMED, FEE, "USD", None)],
        ("COMPLETED", K.CONFIRMED, None, FEE, "USD"),
    ),
    "overpay": (
        [("pay", {"amount": "120.00"})],
        [
            CREATED,
            ("charge:pending", K.PENDING, 120 * USD, "USD", None),
            ("charge:confirmed", K.CONFIRMED, 120 * USD, "USD", "OVERPAID"),
        ],
        ("UNRESOLVED", K.FAILED, "OVERPAID", 120 * USD, "USD"),
    ),
    "underpay": (
        [("underpay", {})],
        [
            CREATED,
            ("charge:pending", K.PENDING, FEE // 2, "USD", None),
            ("charge:failed", K.FAILED, FEE // 2, "USD", "UNDERPAID"),
        ],
        ("UNRESOLVED", K.FAILED, "UNDERPAID", FEE // 2, "USD"),
    ),
    "wrong asset": (
        [("pay", {"amount": "0.05", "currency": "ETH"})],
        [
            CREATED,
            ("charge:pending", K.PENDING, ETH_005, "ETH", None),
            ("charge:failed", K.FAILED, ETH_005, "ETH", "OTHER"),
        ],
        ("UNRESOLVED", K.FAILED, "OTHER", ETH_005, "ETH"),
    ),
    "multiple": (
        [("multiple", {"amounts": "60,50.5"})],
        [
            CREATED,
            ("charge:pending", K.PENDING, 60 * USD, "USD", None),
            ("charge:pending", K.PENDING, 110_500_000, "USD", None),
            ("charge:failed", K.FAILED, 110_500_000, "USD", "MULTIPLE"),
        ],
        ("UNRESOLVED", K.FAILED, "MULTIPLE", 110_500_000, "USD"),
    ),
    "late after expiry": (
        [("expire", {}), ("pay", {})],
        [
            CREATED,
            ("charge:failed", K.EXPIRED, None, None, None),
            ("charge:failed", K.FAILED, FEE, "USD", "DELAYED"),
        ],
        ("UNRESOLVED", K.FAILED, "DELAYED", FEE, "USD"),
    ),
    "late, legacy charge:delayed": (
        [("expire", {}), ("pay", {"legacy": "true"})],
        [
            CREATED,
            ("charge:failed", K.EXPIRED, None, None, None),
            ("charge:delayed", K.DELAYED, FEE, "USD", "DELAYED"),
        ],
        ("UNRESOLVED", K.FAILED, "DELAYED", FEE, "USD"),
    ),
    "late after failure, underpaid": (
        [("fail", {}), ("underpay", {"amount": "40"})],
        [
            CREATED,
            ("charge:failed", K.FAILED, None, None, None),
            ("charge:failed", K.FAILED, 40 * USD, "USD", "DELAYED"),
        ],
        ("UNRESOLVED", K.FAILED, "DELAYED", 40 * USD, "USD"),
    ),
    "refund": (
        [("pay", {}), ("refund", {})],
        [
            CREATED,
            ("charge:pending", K.PENDING, FEE, "USD", None),
            ("charge:confirmed", K.CONFIRMED, FEE, "USD", None),
            ("charge:refunded", K.REFUNDED, FEE, "USD", None),
        ],
        ("REFUNDED", K.REFUNDED, None, FEE, "USD"),
    ),
    "resolve": (
        [("underpay", {}), ("resolve", {})],
        [
            CREATED,
            ("charge:pending", K.PENDING, FEE // 2, "USD", None),
            ("charge:failed", K.FAILED, FEE // 2, "USD", "UNDERPAID"),
            ("charge:resolved", K.RESOLVED, FEE // 2, "USD", None),
        ],
        ("RESOLVED", K.RESOLVED, None, FEE // 2, "USD"),
    ),
    "resolve, then refund": (
        [("pay", {"amount": "101"}), ("resolve", {}), ("refund", {})],
        [
            CREATED,
            ("charge:pending", K.PENDING, 101 * USD, "USD", None),
            ("charge:confirmed", K.CONFIRMED, 101 * USD, "USD", "OVERPAID"),
            ("charge:resolved", K.RESOLVED, 101 * USD, "USD", None),
            ("charge:refunded", K.REFUNDED, 101 * USD, "USD", None),
        ],
        ("REFUNDED", K.REFUNDED, None, 101 * USD, "USD"),
    ),
    "fail": (
        [("fail", {})],
        [CREATED, ("charge:failed", K.FAILED, None, None, None)],
        ("FAILED", K.FAILED, None, None, None),
    ),
    "expire": (
        [("expire", {})],
        [CREATED, ("charge:failed", K.EXPIRED, None, None, None)],
        ("EXPIRED", K.EXPIRED, None, None, None),
    ),
}


@pytest.mark.parametrize(("steps", "expected_events", "expected_snapshot"), COMMERCE_CASES.values(), ids=COMMERCE_CASES)
def test_commerce_outcomes(steps, expected_events, expected_snapshot, sandbox, receiver, http):
    events, got = run_steps(COMMERCE, sandbox, receiver, http, steps, len(expected_events))
    assert [said(e) for e in events] == expected_events
    assert snapshot(got) == expected_snapshot
    assert got.amount_minor == FEE and got.currency == "USD"


SUCCESS, FAILED = "payment_link.payment.success", "payment_link.payment.failed"

BUSINESS_CASES = {
    "pay": ([("pay", {})], [(SUCCESS, K.CONFIRMED, FEE, "USDC", None)], ("COMPLETED", K.CONFIRMED, None, FEE, "USDC")),
    "pay in USDT (1:1)": (
        [("pay", {"currency": "USDT"})],
        [(SUCCESS, K.CONFIRMED, FEE, "USDC", None)],
        ("COMPLETED", K.CONFIRMED, None, FEE, "USDC"),
    ),
    "overpay": (
        [("pay", {"amount": "120"})],
        [(SUCCESS, K.CONFIRMED, 120 * USD, "USDC", None)],
        ("COMPLETED", K.CONFIRMED, None, 120 * USD, "USDC"),
    ),
    "underpay": (
        [("underpay", {})],
        [(SUCCESS, K.CONFIRMED, FEE // 2, "USDC", None)],
        ("COMPLETED", K.CONFIRMED, None, FEE // 2, "USDC"),
    ),
    "wrong asset": (
        [("pay", {"amount": "0.05", "currency": "ETH"})],
        [(FAILED, K.FAILED, ETH_005, "ETH", None)],
        ("FAILED", K.FAILED, None, ETH_005, "ETH"),
    ),
    "multiple": (
        [("multiple", {"amounts": "60,50.5"})],
        [(SUCCESS, K.CONFIRMED, 60 * USD, "USDC", None), (SUCCESS, K.CONFIRMED, 110_500_000, "USDC", None)],
        ("COMPLETED", K.CONFIRMED, None, 110_500_000, "USDC"),
    ),
    "late after expiry": (
        [("expire", {}), ("pay", {})],
        [("payment_link.payment.expired", K.EXPIRED, None, None, None), (SUCCESS, K.CONFIRMED, FEE, "USDC", None)],
        ("COMPLETED", K.CONFIRMED, None, FEE, "USDC"),
    ),
    "late after failure": (
        [("fail", {}), ("pay", {"amount": "40"})],
        [(FAILED, K.FAILED, None, None, None), (SUCCESS, K.CONFIRMED, 40 * USD, "USDC", None)],
        ("COMPLETED", K.CONFIRMED, None, 40 * USD, "USDC"),
    ),
    "refund": (
        [("pay", {}), ("refund", {})],
        [(SUCCESS, K.CONFIRMED, FEE, "USDC", None), ("payment_link.payment.refunded", K.REFUNDED, FEE, "USDC", None)],
        ("REFUNDED", K.REFUNDED, None, FEE, "USDC"),
    ),
    "fail": ([("fail", {})], [(FAILED, K.FAILED, None, None, None)], ("FAILED", K.FAILED, None, None, None)),
    "expire": (
        [("expire", {})],
        [("payment_link.payment.expired", K.EXPIRED, None, None, None)],
        ("EXPIRED", K.EXPIRED, None, None, None),
    ),
}


@pytest.mark.parametrize(("steps", "expected_events", "expected_snapshot"), BUSINESS_CASES.values(), ids=BUSINESS_CASES)
def test_business_outcomes(steps, expected_events, expected_snapshot, sandbox, receiver, http):
    events, got = run_steps(BUSINESS, sandbox, receiver, http, steps, len(expected_events))
    assert [said(e) for e in events] == expected_events
    assert snapshot(got) == expected_snapshot
    assert got.amount_minor == FEE and got.currency == "USDC"
    assert all(not e.event_id.startswith(got.provider_ref) for e in events)  # ids from the signed x-event-id


def test_business_settlement_is_the_cumulative_total_in_the_asset_received(sandbox, http):
    charge = new_charge(BUSINESS, sandbox, http)
    act(sandbox, charge.provider_ref, "pay", amount="0.123456789012345678", currency="ETH")
    raw = http.get(f"{sandbox.url}/sandbox/charges/{charge.provider_ref}").json()
    assert (raw["received"], raw["received_currency"]) == ("0.123456789012345678", "ETH")
    got = business(sandbox, http).get(charge.provider_ref)
    assert (got.paid_minor, got.paid_currency) == (123456789012345678, "ETH")


def test_a_payment_after_the_deadline_is_late_even_before_the_sweeper_runs(receiver, http):
    port = free_port()
    with ServerThread(create_sandbox_app(sandbox_config(port, receiver.url, charge_ttl_seconds=0)), port) as sandbox:
        charge = new_charge(COMMERCE, sandbox, http)
        act(sandbox, charge.provider_ref, "pay")
        settled_deliveries(sandbox.url, charge.provider_ref, 3)
        got = commerce(sandbox, http).get(charge.provider_ref)
    events = received_events(receiver, COMMERCE)
    assert [said(e) for e in events] == [
        CREATED,
        ("charge:failed", K.EXPIRED, None, None, None),
        ("charge:failed", K.FAILED, FEE, "USD", "DELAYED"),
    ]
    assert snapshot(got) == ("UNRESOLVED", K.FAILED, "DELAYED", FEE, "USD")


@pytest.mark.parametrize(
    ("provider", "steps", "action", "params", "status"),
    [
        (COMMERCE, [("pay", {})], "pay", {}, 409),  # a second payment on a completed charge
        (COMMERCE, [("pay", {})], "resolve", {}, 409),  # nothing to resolve
        (COMMERCE, [], "refund", {}, 409),  # nothing received
        (COMMERCE, [("expire", {})], "multiple", {"amounts": "1,2"}, 409),
        (COMMERCE, [("pay", {}), ("refund", {})], "refund", {}, 409),
        (COMMERCE, [("expire", {}), ("pay", {})], "pay", {}, 409),  # one late payment: now UNRESOLVED
        (BUSINESS, [("pay", {})], "resolve", {}, 409),  # Business has no resolve
        (BUSINESS, [("pay", {"amount": "1", "currency": "ETH"})], "pay", {}, 409),  # one received asset per link
        (BUSINESS, [], "pay", {"amount": "abc"}, 400),
        (BUSINESS, [], "pay", {"amount": "1", "currency": "E T H"}, 400),
        (BUSINESS, [], "pay", {"amount": "0.0000000000000000001", "currency": "ETH"}, 400),
        (BUSINESS, [], "multiple", {"amounts": "5"}, 400),
        (BUSINESS, [], "underpay", {"amount": "100"}, 400),
        (BUSINESS, [], "donate", {}, 404),
    ],
)
def test_refused_actions_change_nothing(provider, steps, action, params, status, sandbox, http):
    charge = new_charge(provider, sandbox, http)
    for step, step_params in steps:
        act(sandbox, charge.provider_ref, step, **step_params)
    before = client(provider, sandbox, http).get(charge.provider_ref)
    resp = http.post(f"{sandbox.url}/sandbox/charges/{charge.provider_ref}/{action}", params=params)
    assert resp.status_code == status, resp.text
    assert client(provider, sandbox, http).get(charge.provider_ref) == before


def test_hosted_page_forms_post_every_action(sandbox, receiver, http):
    charge = new_charge(COMMERCE, sandbox, http)
    code = charge.hosted_url.rsplit("/", 1)[1]
    page = http.get(charge.hosted_url).text
    for action in ("pay", "underpay", "multiple", "fail", "expire", "refund", "resolve"):
        assert f'action="/sandbox/charges/{code}/{action}?page=true"' in page
    assert 'name="currency" value="USD"' in page and 'name="amounts"' in page
    # A form post (fields in the body, as a browser sends them): a wrong-asset payment.
    resp = http.post(
        f"{sandbox.url}/sandbox/charges/{code}/pay",
        params={"page": "true"},
        data={"amount": "0.05", "currency": "ETH"},
    )
    assert resp.status_code == 303 and resp.headers["location"] == f"/pay/{code}"
    page = http.get(charge.hosted_url).text
    assert "UNRESOLVED (OTHER)" in page and "received 0.05 ETH" in page
    got = commerce(sandbox, http).get(charge.provider_ref)
    assert (got.paid_minor, got.paid_currency) == (ETH_005, "ETH")


def test_hosted_page_offers_a_legacy_late_payment_once_expired(sandbox, http):
    charge = new_charge(COMMERCE, sandbox, http)
    assert 'name="legacy"' not in http.get(charge.hosted_url).text
    act(sandbox, charge.provider_ref, "expire")
    page = http.get(charge.hosted_url).text
    assert 'name="legacy"' in page and "Pay late" in page
    resp = http.post(
        f"{sandbox.url}/sandbox/charges/{charge.provider_ref}/pay", params={"page": "true"}, data={"legacy": "true"}
    )
    assert resp.status_code == 303
    rows = settled_deliveries(sandbox.url, charge.provider_ref, 3)
    assert [r["event_type"] for r in rows] == ["charge:created", "charge:failed", "charge:delayed"]
