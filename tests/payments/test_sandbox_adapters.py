"""The production adapters (activities) against the sandbox over real HTTP, and the sandbox's signed webhooks."""

from __future__ import annotations

import json

import httpx
import pytest
from sqlalchemy import update
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.payments import PaymentActivities
from core.db import session_scope
from core.errors import DomainError
from models.payments import (
    CreateChargeRequest,
    GetChargeRequest,
    Payment,
    PaymentEventKind,
    PaymentStatus,
    get_payment,
    payments_for_wallet,
)
from models.platform import PaymentProvider
from ops.devstack.processes import free_port
from payments.cdp_jwt import cdp_jwt
from sandbox.app import create_sandbox_app
from temporal.interceptors import to_application_error
from tests.helpers.payments import (
    BUSINESS_KEY_ED25519,
    FEE,
    WALLET,
    ServerThread,
    act,
    make_program,
    received_events,
    sandbox_config,
    settled_deliveries,
)

env = ActivityEnvironment()


def run(activity_fn, req):
    """Runs an activity as the worker does: a DomainError leaves it as an ApplicationError (temporal/interceptors.py)."""
    try:
        return env.run(activity_fn, req)
    except DomainError as exc:
        raise to_application_error(exc) from None


def create(acts: PaymentActivities, program, key: str = "pay-1", wallet: str = WALLET, **kw):
    req = CreateChargeRequest(payment_key=key, program=program.slug, wallet=wallet, flow_id=f"flow-{key}", **kw)
    return run(acts.create_charge, req)


def sandbox_charges(sandbox) -> list[dict]:
    return httpx.get(f"{sandbox.url}/sandbox/charges").json()


# --- create: idempotent, also across a crash ----------------------------------------------------------------


@pytest.mark.parametrize("provider", list(PaymentProvider))
def test_create_charge_is_idempotent_on_the_payment_key(provider, pay_settings, db_engine, sandbox):
    program = make_program(db_engine, provider)
    acts = PaymentActivities(pay_settings, db_engine)
    first = create(acts, program, wallet=WALLET.lower())
    again = create(acts, program, wallet=WALLET.upper().replace("0X", "0x"))
    assert first == again
    assert first.provider == provider and first.status == PaymentStatus.OPEN and first.provider_ref
    expected_currency = "USD" if provider == PaymentProvider.COINBASE_COMMERCE else "USDC"
    assert (first.amount_minor, first.currency) == (FEE, expected_currency)
    assert first.hosted_url.startswith(sandbox.url) and first.expires_at is not None
    assert len(sandbox_charges(sandbox)) == 1
    page = httpx.get(first.hosted_url)
    assert page.status_code == 200 and "100.00" in page.text and "Pay" in page.text
    # The program's risk disclosure and terms version travel in the charge metadata to the checkout page.
    assert "Its value can fall to zero" in page.text and "Terms version 1" in page.text
    with session_scope(db_engine) as session:
        row = get_payment(session, "pay-1")
        assert row.wallet == WALLET  # stored EIP-55 whatever casing came in
        assert [p.key for p in payments_for_wallet(session, program.id, WALLET.lower())] == ["pay-1"]
        assert row.create_attempts == 1


@pytest.mark.parametrize("provider", list(PaymentProvider))
def test_a_crash_between_provider_call_and_db_write_does_not_make_a_second_charge(
    provider, pay_settings, db_engine, sandbox
):
    program = make_program(db_engine, provider)
    acts = PaymentActivities(pay_settings, db_engine)
    first = create(acts, program)
    # Undo the DB write as if the worker died right after the provider answered.
    with session_scope(db_engine) as session:
        session.exec(
            update(Payment)
            .where(Payment.key == "pay-1")
            .values(provider_ref=None, hosted_url=None, status=PaymentStatus.CREATING.value)
        )
    retried = create(acts, program)
    assert retried.provider_ref == first.provider_ref and retried.hosted_url == first.hosted_url
    assert len(sandbox_charges(sandbox)) == 1  # Business: X-Idempotency-Key; Commerce: found by its metadata key
    with session_scope(db_engine) as session:
        assert get_payment(session, "pay-1").create_attempts == 2


def test_payment_key_reuse_and_bad_input_are_not_retried(pay_settings, db_engine, sandbox, commerce_program):
    acts = PaymentActivities(pay_settings, db_engine)
    create(acts, commerce_program)
    cases = [
        dict(key="pay-1", wallet="0x" + "11" * 20),  # same key, other wallet
        dict(key="pay-1", amount_minor=FEE + 1),
        dict(key="pay-2", wallet="0x1234"),
    ]
    for case in cases:
        with pytest.raises(ApplicationError) as exc:
            create(acts, commerce_program, **case)
        assert exc.value.non_retryable and exc.value.type == "invalid_payment_request", case
    with pytest.raises(ApplicationError) as exc:
        run(acts.create_charge, CreateChargeRequest(payment_key="pay-3", program="nope", wallet=WALLET, flow_id="f"))
    assert (
        exc.value.non_retryable and "unknown program" in str(exc.value) and exc.value.type == "invalid_payment_request"
    )
    assert len(sandbox_charges(sandbox)) == 1


def test_wrong_credentials_are_refused_by_the_sandbox_and_retryable(settings, db_engine, sandbox):
    from pydantic import SecretStr

    wrong = settings.model_copy(
        update={
            "coinbase_commerce_api_url": sandbox.url,
            "coinbase_business_api_url": sandbox.url,
            "coinbase_commerce_api_key": SecretStr("wrong"),
            "coinbase_business_api_key": SecretStr(BUSINESS_KEY_ED25519),  # a valid key, but not the sandbox's
        }
    )
    acts = PaymentActivities(wrong, db_engine)
    for provider in PaymentProvider:
        program = make_program(db_engine, provider)
        with pytest.raises(ApplicationError) as exc:
            create(acts, program, key=f"k-{provider.value}")
        assert "HTTP 401" in str(exc.value) and not exc.value.non_retryable and exc.value.type == "provider_error"
    unset = PaymentActivities(settings.model_copy(update={"coinbase_commerce_api_key": None}), db_engine)
    with pytest.raises(ApplicationError, match="SGE_COINBASE_COMMERCE_API_KEY is not set") as exc:
        create(unset, make_program(db_engine, PaymentProvider.COINBASE_COMMERCE), key="k-unset")
    assert exc.value.type == "payments_not_configured" and not exc.value.non_retryable
    assert sandbox_charges(sandbox) == []


def test_sandbox_checks_the_jwt_like_coinbase(sandbox):
    from tests.helpers.payments import BUSINESS_KEY_ID, BUSINESS_KEY_PEM

    url = f"{sandbox.url}/api/v1/payment-links"
    body = {"amount": "1.00", "currency": "USDC"}
    for_other_path = cdp_jwt(BUSINESS_KEY_ID, BUSINESS_KEY_PEM, "POST", f"{sandbox.url}/api/v1/other")
    expired = cdp_jwt(BUSINESS_KEY_ID, BUSINESS_KEY_PEM, "POST", url, now=1_700_000_000)
    other_kid = cdp_jwt("organizations/x/apiKeys/y", BUSINESS_KEY_PEM, "POST", url)
    for token in (for_other_path, expired, other_kid, "not-a-jwt"):
        assert httpx.post(url, json=body, headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert httpx.post(url, json=body).status_code == 401
    good = cdp_jwt(BUSINESS_KEY_ID, BUSINESS_KEY_PEM, "POST", url)
    assert httpx.post(url, json=body, headers={"Authorization": f"Bearer {good}"}).status_code == 201


@pytest.mark.parametrize("provider", list(PaymentProvider))
def test_snapshot_reads_the_charge_from_the_provider(provider, pay_settings, db_engine, sandbox):
    acts = PaymentActivities(pay_settings, db_engine)
    charge = create(acts, make_program(db_engine, provider))
    before = acts.charges.snapshot(GetChargeRequest(payment_key="pay-1"))
    assert (before.kind, before.paid_minor, before.provider_ref) == (
        PaymentEventKind.CREATED,
        None,
        charge.provider_ref,
    )
    act(sandbox, charge.provider_ref, "pay")
    snap = acts.charges.snapshot(GetChargeRequest(payment_key="pay-1"))
    assert (snap.kind, snap.paid_minor, snap.paid_currency) == (PaymentEventKind.CONFIRMED, FEE, charge.currency)
    assert snap.provider_status == ("COMPLETED")


def test_hosted_page_buttons_act_on_the_charge(pay_settings, db_engine, sandbox, receiver, commerce_program):
    charge = create(PaymentActivities(pay_settings, db_engine), commerce_program)
    code = charge.hosted_url.rsplit("/", 1)[1]
    page = httpx.get(charge.hosted_url).text
    assert f'action="/sandbox/charges/{code}/underpay?page=true"' in page
    resp = httpx.post(f"{sandbox.url}/sandbox/charges/{code}/underpay", params={"page": "true"})
    assert resp.status_code == 303 and resp.headers["location"] == f"/pay/{code}"
    assert "UNRESOLVED" in httpx.get(charge.hosted_url).text
    settled_deliveries(sandbox.url, code, 3)


# --- webhooks: sequences, signatures, switches, retries ----------------------------------------------------


def commerce_flow(pay_settings, db_engine, program, sandbox, action: str, **params):
    acts = PaymentActivities(pay_settings, db_engine)
    charge = create(acts, program)
    act(sandbox, charge.provider_ref, action, **params)
    return charge


@pytest.mark.parametrize(
    ("action", "params", "expected"),
    [
        (
            "pay",
            {},
            [
                ("charge:created", "created", None),
                ("charge:pending", "pending", FEE),
                ("charge:confirmed", "confirmed", FEE),
            ],
        ),
        (
            "pay",
            {"amount": "120.00"},
            [
                ("charge:created", "created", None),
                ("charge:pending", "pending", 120_000_000),
                ("charge:confirmed", "confirmed", 120_000_000),
            ],
        ),
        (
            "underpay",
            {},
            [
                ("charge:created", "created", None),
                ("charge:pending", "pending", FEE // 2),
                ("charge:failed", "failed", FEE // 2),
            ],
        ),
        ("fail", {}, [("charge:created", "created", None), ("charge:failed", "failed", None)]),
        ("expire", {}, [("charge:created", "created", None), ("charge:failed", "expired", None)]),
    ],
    ids=["pay", "overpay", "underpay", "fail", "expire"],
)
def test_commerce_sequences_are_signed_and_in_order(
    action, params, expected, pay_settings, db_engine, sandbox, receiver, commerce_program
):
    charge = commerce_flow(pay_settings, db_engine, commerce_program, sandbox, action, **params)
    settled_deliveries(sandbox.url, charge.provider_ref, len(expected))
    events = received_events(receiver, PaymentProvider.COINBASE_COMMERCE)
    assert [(e.event_type, e.kind.value, e.paid_minor) for e in events] == expected
    assert all(e.provider_ref == charge.provider_ref and e.payment_key == "pay-1" for e in events)
    assert len({e.event_id for e in events}) == len(events)
    if action == "underpay":
        assert events[-1].context == "UNDERPAID"


@pytest.mark.parametrize(
    ("action", "event_type", "kind", "paid"),
    [
        ("pay", "payment_link.payment.success", "confirmed", FEE),
        ("underpay", "payment_link.payment.success", "confirmed", FEE // 2),
        ("fail", "payment_link.payment.failed", "failed", None),
        ("expire", "payment_link.payment.expired", "expired", None),
    ],
)
def test_business_events_are_hook0_signed(
    action, event_type, kind, paid, pay_settings, db_engine, sandbox, receiver, business_program
):
    acts = PaymentActivities(pay_settings, db_engine)
    charge = create(acts, business_program)
    act(sandbox, charge.provider_ref, action)
    settled_deliveries(sandbox.url, charge.provider_ref, 1)
    [event] = received_events(receiver, PaymentProvider.COINBASE_BUSINESS)
    assert (event.event_type, event.kind.value, event.paid_minor, event.provider_ref) == (
        event_type,
        kind,
        paid,
        charge.provider_ref,
    )
    assert event.amount_minor == FEE and event.currency == "USDC" and event.payment_key == "pay-1"
    assert not event.event_id.startswith(charge.provider_ref)  # the id came from the signed x-event-id header


def test_actions_on_a_closed_charge_are_refused(pay_settings, db_engine, sandbox, commerce_program):
    charge = commerce_flow(pay_settings, db_engine, commerce_program, sandbox, "pay")
    resp = httpx.post(f"{sandbox.url}/sandbox/charges/{charge.provider_ref}/pay")
    assert resp.status_code == 409


def test_duplicate_switch_delivers_every_event_twice(pay_settings, db_engine, sandbox, receiver, commerce_program):
    httpx.post(f"{sandbox.url}/sandbox/switches", json={"duplicate": True})
    charge = commerce_flow(pay_settings, db_engine, commerce_program, sandbox, "pay")
    settled_deliveries(sandbox.url, charge.provider_ref, 6)
    events = received_events(receiver, PaymentProvider.COINBASE_COMMERCE)
    types = [e.event_type for e in events]
    assert types == ["charge:created"] * 2 + ["charge:pending"] * 2 + ["charge:confirmed"] * 2
    assert events[0].event_id == events[1].event_id and events[2].event_id == events[3].event_id


def test_out_of_order_switch_reverses_each_actions_events(pay_settings, db_engine, sandbox, receiver, commerce_program):
    httpx.post(f"{sandbox.url}/sandbox/switches", json={"out_of_order": True})
    charge = commerce_flow(pay_settings, db_engine, commerce_program, sandbox, "pay")
    settled_deliveries(sandbox.url, charge.provider_ref, 3)
    types = [e.event_type for e in received_events(receiver, PaymentProvider.COINBASE_COMMERCE)]
    assert types == ["charge:created", "charge:confirmed", "charge:pending"]


def test_non_2xx_answers_are_retried_with_fresh_signatures(
    pay_settings, db_engine, sandbox, receiver, commerce_program
):
    acts = PaymentActivities(pay_settings, db_engine)
    receiver.app.state.receiver.fail_next = 2  # charge:created fails twice, then is accepted
    charge = create(acts, commerce_program)
    [delivery] = settled_deliveries(sandbox.url, charge.provider_ref, 1)
    assert delivery["state"] == "delivered"
    assert [a.get("status") for a in delivery["attempts"]] == [500, 500, 200]
    requests = receiver.app.state.receiver.by_path("coinbase-commerce")
    assert [json.loads(r.body)["attempt_number"] for r in requests] == [1, 2, 3]
    events = received_events(receiver, PaymentProvider.COINBASE_COMMERCE)  # every attempt verifies
    assert {e.event_id for e in events} == {delivery["event_id"]}


def test_delivery_is_given_up_after_max_attempts(pay_settings, db_engine, sandbox, receiver, commerce_program):
    receiver.app.state.receiver.fail_next = 100
    charge = create(PaymentActivities(pay_settings, db_engine), commerce_program)
    [delivery] = settled_deliveries(sandbox.url, charge.provider_ref, 1)
    assert delivery["state"] == "failed" and len(delivery["attempts"]) == 4


def test_unreachable_webhook_url_is_retried(pay_settings, db_engine, commerce_program):
    port = free_port()
    dead = f"http://127.0.0.1:{free_port()}"
    with ServerThread(create_sandbox_app(sandbox_config(port, dead)), port) as sandbox:
        settings = pay_settings.model_copy(update={"coinbase_commerce_api_url": sandbox.url})
        charge = create(PaymentActivities(settings, db_engine), commerce_program)
        [delivery] = settled_deliveries(sandbox.url, charge.provider_ref, 1)
    assert delivery["state"] == "failed" and all("ConnectError" in a["error"] for a in delivery["attempts"])


def test_charges_expire_by_themselves(pay_settings, db_engine, receiver, commerce_program):
    port = free_port()
    # Commerce charges live for the sandbox's TTL (1 h at Coinbase); 0 s here, so the sweeper expires it at once.
    with ServerThread(create_sandbox_app(sandbox_config(port, receiver.url, charge_ttl_seconds=0)), port) as sandbox:
        settings = pay_settings.model_copy(update={"coinbase_commerce_api_url": sandbox.url})
        charge = create(PaymentActivities(settings, db_engine), commerce_program)
        rows = settled_deliveries(sandbox.url, charge.provider_ref, 2)
    assert [r["event_type"] for r in rows] == ["charge:created", "charge:failed"]
    [*_, expired] = received_events(receiver, PaymentProvider.COINBASE_COMMERCE)
    assert expired.kind == PaymentEventKind.EXPIRED
