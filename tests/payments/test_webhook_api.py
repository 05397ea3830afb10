"""The webhook endpoints through the API: verify, hand off to the flow (a real signal on the dev server), record."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlmodel import select
from temporalio.worker import Worker

from api.app import create_app
from core.db import session_scope
from models.onboarding_io import AFTERCARE_WORKFLOW, aftercare_id
from models.payments import Payment, PaymentEvent, PaymentEventKind, PaymentStatus, WebhookEvent
from models.platform import PaymentProvider
from ops.devstack.processes import free_port
from payments.wire import METADATA_PAYMENT_KEY
from temporal.client import connect
from tests.helpers.payments import BUSINESS_WEBHOOK_SECRET, COMMERCE_WEBHOOK_SECRET, FEE, WALLET, make_program
from tests.helpers.workflows import PaymentSignalRecorder

COMMERCE = "/v1/webhooks/coinbase-commerce"
BUSINESS = "/v1/webhooks/coinbase-business"


# --- helpers -------------------------------------------------------------------------------------------


def add_payment(
    engine, program, *, provider: PaymentProvider, ref: str | None, flow_id: str, key: str | None = None
) -> str:
    key = key or f"pay-{uuid.uuid4().hex[:8]}"
    with session_scope(engine) as session:
        session.add(
            Payment(
                key=key,
                program_id=program.id,
                wallet=WALLET,
                wallet_lower=WALLET.lower(),
                provider=provider.value,
                provider_ref=ref,
                amount_minor=FEE,
                currency="USD",
                flow_id=flow_id,
                status=(PaymentStatus.OPEN if ref else PaymentStatus.CREATING).value,
            )
        )
    return key


def commerce_body(
    ref: str, key: str | None, event_type: str = "charge:confirmed", event_id: str | None = None, paid: str = "100.00"
) -> bytes:
    timeline = [{"status": "NEW"}, {"status": "PENDING"}, {"status": "COMPLETED"}]
    return json.dumps(
        {
            "id": str(uuid.uuid4()),
            "attempt_number": 1,
            "event": {
                "id": event_id or str(uuid.uuid4()),
                "type": event_type,
                "api_version": "2018-03-22",
                "created_at": "2026-11-28T00:00:00Z",
                "data": {
                    "id": ref,
                    "code": "CODE1234",
                    "pricing": {"local": {"amount": "100.00", "currency": "USD"}},
                    "metadata": {METADATA_PAYMENT_KEY: key} if key else {},
                    "timeline": timeline,
                    "payments": [
                        {
                            "status": "confirmed",
                            "transaction_id": "0xabc",
                            "value": {"local": {"amount": paid, "currency": "USD"}},
                        }
                    ],
                },
            },
        }
    ).encode()


def commerce_headers(body: bytes, secret: str = COMMERCE_WEBHOOK_SECRET) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-CC-Webhook-Signature": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
    }


def business_request(ref: str, key: str | None, event_id: str, *, t: int | None = None) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(
        {
            "id": ref,
            "url": "https://pay/x",
            "status": "COMPLETED",
            "amount": "100.00",
            "currency": "USDC",
            "settlement": {"totalAmount": "100.00", "feeAmount": "1.00", "netAmount": "99.00", "currency": "USDC"},
            "metadata": {METADATA_PAYMENT_KEY: key} if key else {},
            "eventType": "payment_link.payment.success",
            "updatedAt": "2026-11-28T00:00:00Z",
        }
    ).encode()
    signed = [
        ("content-type", "application/json"),
        ("x-event-id", event_id),
        ("x-event-type", "payment_link.payment.success"),
    ]
    t = int(time.time()) if t is None else t
    names = " ".join(n for n, _ in signed)
    message = f"{t}.{names}.{'.'.join(v for _, v in signed)}.".encode() + body
    code = hmac.new(BUSINESS_WEBHOOK_SECRET.encode(), message, hashlib.sha256).hexdigest()
    return body, {**dict(signed), "X-Hook0-Signature": f"t={t},h={names},v1={code}"}


def recorded(engine) -> list[WebhookEvent]:
    with session_scope(engine) as session:
        return list(session.exec(select(WebhookEvent).order_by(WebhookEvent.id)))


def counted(provider: PaymentProvider, outcome: str) -> float:
    return (
        REGISTRY.get_sample_value("sge_webhook_events_total", {"provider": provider.value, "outcome": outcome}) or 0.0
    )


@pytest.fixture
async def recorder_queue(temporal_dev) -> AsyncIterator[str]:
    queue = f"pay-{uuid.uuid4().hex[:8]}"
    async with Worker(temporal_dev.client, task_queue=queue, workflows=[PaymentSignalRecorder]):
        yield queue


async def start_flow(temporal_dev, queue: str, finish_after: int = 0):
    flow_id = f"flow-{uuid.uuid4().hex[:8]}"
    handle = await temporal_dev.client.start_workflow(
        PaymentSignalRecorder.run, finish_after, id=flow_id, task_queue=queue
    )
    return handle


async def signals(handle) -> list[PaymentEvent]:
    return await handle.query(PaymentSignalRecorder.events)


# --- Commerce ------------------------------------------------------------------------------------------


async def test_good_event_is_signalled_then_recorded_and_a_duplicate_is_ignored(
    api_client, db_engine, temporal_dev, recorder_queue
):
    program = make_program(db_engine, PaymentProvider.COINBASE_COMMERCE)
    handle = await start_flow(temporal_dev, recorder_queue)
    key = add_payment(db_engine, program, provider=PaymentProvider.COINBASE_COMMERCE, ref="ch-1", flow_id=handle.id)
    body = commerce_body("ch-1", key, event_id="evt-1")
    before = counted(PaymentProvider.COINBASE_COMMERCE, "handed_off")

    resp = await api_client.post(COMMERCE, content=body, headers=commerce_headers(body))
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"status": "handed_off", "event_id": "evt-1"}
    [event] = await signals(handle)
    assert (event.event_id, event.kind, event.provider_ref, event.payment_key, event.paid_minor) == (
        "evt-1",
        PaymentEventKind.CONFIRMED,
        "ch-1",
        key,
        FEE,
    )
    [row] = recorded(db_engine)
    assert (row.event_id, row.outcome, row.duplicates, row.handed_off_at is not None) == (
        "evt-1",
        "handed_off",
        0,
        True,
    )
    assert row.body_sha256 == hashlib.sha256(body).hexdigest()
    assert counted(PaymentProvider.COINBASE_COMMERCE, "handed_off") == before + 1

    # The provider retries the same event (a new delivery: new body, same event id).
    again = commerce_body("ch-1", key, event_id="evt-1")
    resp = await api_client.post(COMMERCE, content=again, headers=commerce_headers(again))
    assert resp.status_code == 200 and resp.json()["status"] == "duplicate"
    assert len(await signals(handle)) == 1
    [row] = recorded(db_engine)
    assert row.duplicates == 1


async def test_event_arriving_before_the_charge_ref_is_stored_matches_by_payment_key(
    api_client, db_engine, temporal_dev, recorder_queue
):
    program = make_program(db_engine, PaymentProvider.COINBASE_COMMERCE)
    handle = await start_flow(temporal_dev, recorder_queue)
    key = add_payment(db_engine, program, provider=PaymentProvider.COINBASE_COMMERCE, ref=None, flow_id=handle.id)
    body = commerce_body("ch-early", key, event_type="charge:created")
    resp = await api_client.post(COMMERCE, content=body, headers=commerce_headers(body))
    assert resp.json()["status"] == "handed_off"
    assert [e.kind for e in await signals(handle)] == [PaymentEventKind.CREATED]
    # An orphan charge (its key names our payment, but another charge was stored) is not handed off.
    add_payment(
        db_engine,
        program,
        provider=PaymentProvider.COINBASE_COMMERCE,
        ref="ch-kept",
        flow_id=handle.id,
        key="pay-orphan",
    )
    orphan = commerce_body("ch-orphan", "pay-orphan")
    resp = await api_client.post(COMMERCE, content=orphan, headers=commerce_headers(orphan))
    assert resp.json()["status"] == "unknown_charge"
    assert len(await signals(handle)) == 1


@pytest.mark.parametrize(
    ("mutate", "status", "code"),
    [
        (lambda body, headers: (body, {**headers, "X-CC-Webhook-Signature": "0" * 64}), 401, "bad_signature"),
        (lambda body, headers: (body.replace(b"100.00", b"999.00"), headers), 401, "bad_signature"),  # tampered
        (lambda body, headers: (body, {"Content-Type": "application/json"}), 401, "missing_signature"),
        (lambda body, headers: (body, commerce_headers(body, "someone-else")), 401, "bad_signature"),
        (lambda body, headers: (body, {**headers, "Content-Type": "text/plain"}), 415, "unsupported_media_type"),
        (
            lambda body, headers: (body, {k: v for k, v in headers.items() if k != "Content-Type"}),
            415,
            "unsupported_media_type",
        ),
        (lambda body, headers: (b"{not json", commerce_headers(b"{not json")), 400, "malformed_event"),
        (
            lambda body, headers: (b'{"type": "charge:confirmed"}', commerce_headers(b'{"type": "charge:confirmed"}')),
            422,
            "invalid_event",
        ),
    ],
    ids=[
        "bad-signature",
        "tampered-body",
        "missing-signature",
        "other-secret",
        "text-plain",
        "no-content-type",
        "malformed-json",
        "no-event",
    ],
)
async def test_rejected_requests_record_nothing_and_signal_nothing(
    mutate, status, code, api_client, db_engine, temporal_dev, recorder_queue
):
    program = make_program(db_engine, PaymentProvider.COINBASE_COMMERCE)
    handle = await start_flow(temporal_dev, recorder_queue)
    key = add_payment(db_engine, program, provider=PaymentProvider.COINBASE_COMMERCE, ref="ch-2", flow_id=handle.id)
    body = commerce_body("ch-2", key)
    body, headers = mutate(body, commerce_headers(body))
    resp = await api_client.post(COMMERCE, content=body, headers=headers)
    assert resp.status_code == status, resp.text
    assert resp.json()["error"]["code"] == code
    assert recorded(db_engine) == []
    assert await signals(handle) == []


async def test_oversized_body_is_refused(api_client, db_engine, settings):
    body = b'{"pad": "' + b"x" * settings.max_body_bytes + b'"}'
    resp = await api_client.post(COMMERCE, content=body, headers=commerce_headers(body))
    assert resp.status_code == 413 and resp.json()["error"]["code"] == "payload_too_large"
    assert recorded(db_engine) == []


async def test_unknown_charge_is_acknowledged_recorded_and_counted(api_client, db_engine):
    before = counted(PaymentProvider.COINBASE_COMMERCE, "unknown_charge")
    body = commerce_body("ch-nobody", "pay-nobody", event_id="evt-u")
    resp = await api_client.post(COMMERCE, content=body, headers=commerce_headers(body))
    assert resp.status_code == 200 and resp.json() == {"status": "unknown_charge", "event_id": "evt-u"}
    [row] = recorded(db_engine)
    assert (row.outcome, row.provider_ref, row.payment_key, row.handed_off_at) == (
        "unknown_charge",
        "ch-nobody",
        "pay-nobody",
        None,
    )
    assert counted(PaymentProvider.COINBASE_COMMERCE, "unknown_charge") == before + 1


async def test_unknown_charge_becomes_known_on_a_later_delivery(api_client, db_engine, temporal_dev, recorder_queue):
    body = commerce_body("ch-late", None, event_id="evt-late")
    assert (await api_client.post(COMMERCE, content=body, headers=commerce_headers(body))).json()[
        "status"
    ] == "unknown_charge"
    program = make_program(db_engine, PaymentProvider.COINBASE_COMMERCE)
    handle = await start_flow(temporal_dev, recorder_queue)
    add_payment(db_engine, program, provider=PaymentProvider.COINBASE_COMMERCE, ref="ch-late", flow_id=handle.id)
    assert (await api_client.post(COMMERCE, content=body, headers=commerce_headers(body))).json()[
        "status"
    ] == "handed_off"
    [row] = recorded(db_engine)
    assert row.outcome == "handed_off" and len(await signals(handle)) == 1


async def test_event_for_a_completed_flow_goes_to_payment_aftercare(
    api_client, db_engine, temporal_dev, recorder_queue
):
    """The flow has ended: the event is handed to payment aftercare (signal-with-start, keyed by the
    payment), which books it; it is never just stored."""
    program = make_program(db_engine, PaymentProvider.COINBASE_COMMERCE)
    handle = await start_flow(temporal_dev, recorder_queue, finish_after=1)
    key = add_payment(db_engine, program, provider=PaymentProvider.COINBASE_COMMERCE, ref="ch-3", flow_id=handle.id)
    first = commerce_body("ch-3", key)
    assert (await api_client.post(COMMERCE, content=first, headers=commerce_headers(first))).json()[
        "status"
    ] == "handed_off"
    assert await handle.result() == 1
    late = commerce_body("ch-3", key, event_type="charge:resolved", event_id="evt-after")
    resp = await api_client.post(COMMERCE, content=late, headers=commerce_headers(late))
    assert resp.status_code == 200 and resp.json()["status"] == "aftercare"
    assert [r.outcome for r in recorded(db_engine)] == ["handed_off", "aftercare"]
    aftercare = temporal_dev.client.get_workflow_handle(aftercare_id(key))
    desc = await aftercare.describe()
    assert (
        desc.workflow_type == AFTERCARE_WORKFLOW
        and desc.task_queue == api_client.app.state.settings.temporal_task_queue
    )
    await aftercare.terminate("no worker in this test")


async def test_temporal_unreachable_is_503_and_nothing_is_recorded(settings, db_engine):
    program = make_program(db_engine, PaymentProvider.COINBASE_COMMERCE)
    key = add_payment(db_engine, program, provider=PaymentProvider.COINBASE_COMMERCE, ref="ch-4", flow_id="flow-x")
    down = await connect(settings.model_copy(update={"temporal_address": f"127.0.0.1:{free_port()}"}), lazy=True)
    app = create_app(settings, temporal_client=down, engine=db_engine)
    before = counted(PaymentProvider.COINBASE_COMMERCE, "unavailable")
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            body = commerce_body("ch-4", key)
            resp = await client.post(COMMERCE, content=body, headers=commerce_headers(body))
    assert resp.status_code == 503 and resp.json()["error"]["code"] == "flow_unavailable"
    assert recorded(db_engine) == []
    assert counted(PaymentProvider.COINBASE_COMMERCE, "unavailable") == before + 1


async def test_no_secret_configured_fails_closed(settings, db_engine, temporal_dev):
    bare = settings.model_copy(
        update={"coinbase_commerce_webhook_secret": None, "coinbase_business_webhook_secret": None}
    )
    app = create_app(bare, temporal_client=temporal_dev.client, engine=db_engine)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            body = commerce_body("ch-5", None)
            c = await client.post(COMMERCE, content=body, headers=commerce_headers(body))
            body, headers = business_request("68f7a946db0529ea9b6d3a12", None, "e-1")
            b = await client.post(BUSINESS, content=body, headers=headers)
    for resp in (c, b):
        assert resp.status_code == 503 and resp.json()["error"]["code"] == "webhook_not_configured"
    assert recorded(db_engine) == []


# --- Business ------------------------------------------------------------------------------------------


async def test_business_event_is_verified_and_signalled(api_client, db_engine, temporal_dev, recorder_queue):
    program = make_program(db_engine, PaymentProvider.COINBASE_BUSINESS)
    handle = await start_flow(temporal_dev, recorder_queue)
    ref = "68f7a946db0529ea9b6d3a12"
    key = add_payment(db_engine, program, provider=PaymentProvider.COINBASE_BUSINESS, ref=ref, flow_id=handle.id)
    body, headers = business_request(ref, key, "hook0-evt-1")
    resp = await api_client.post(BUSINESS, content=body, headers=headers)
    assert resp.status_code == 200 and resp.json() == {"status": "handed_off", "event_id": "hook0-evt-1"}
    [event] = await signals(handle)
    assert (event.provider, event.kind, event.paid_minor, event.paid_currency) == (
        PaymentProvider.COINBASE_BUSINESS,
        PaymentEventKind.CONFIRMED,
        FEE,
        "USDC",
    )
    # replay of the same delivery: duplicate
    resp = await api_client.post(BUSINESS, content=body, headers=headers)
    assert resp.json()["status"] == "duplicate" and len(await signals(handle)) == 1


@pytest.mark.parametrize(
    ("t_offset", "tamper", "code"),
    [(-301, False, "stale_signature"), (400, False, "stale_signature"), (0, True, "bad_signature")],
    ids=["stale", "future", "tampered-header"],
)
async def test_business_signature_failures_are_401(t_offset, tamper, code, api_client, db_engine):
    program = make_program(db_engine, PaymentProvider.COINBASE_BUSINESS)
    ref = "68f7a946db0529ea9b6d3a13"
    key = add_payment(db_engine, program, provider=PaymentProvider.COINBASE_BUSINESS, ref=ref, flow_id="flow-y")
    body, headers = business_request(ref, key, "hook0-evt-2", t=int(time.time()) + t_offset)
    if tamper:
        headers["x-event-id"] = "hook0-evt-other"
    resp = await api_client.post(BUSINESS, content=body, headers=headers)
    assert resp.status_code == 401 and resp.json()["error"]["code"] == code
    assert recorded(db_engine) == []
