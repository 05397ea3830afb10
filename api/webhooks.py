"""Coinbase webhook endpoints: verify, hand the event durably to its flow, then record it.

    POST /v1/webhooks/coinbase-commerce   X-CC-Webhook-Signature (hex HMAC-SHA256 of the raw body)
    POST /v1/webhooks/coinbase-business   X-Hook0-Signature (t, h, v1; ±5 minutes)

Order of work, and why:
1. Content type must be JSON (415), then the signature is checked on the raw bytes in constant time;
   no secret configured → 503 `webhook_not_configured` (fail closed, and the provider keeps retrying);
   missing / bad / stale signature → 401. Nothing is recorded for a rejected request.
2. The body is parsed into one `PaymentEvent` (400 malformed JSON, 422 not a provider event).
3. An event id already recorded (other than as `unknown_charge`) is a duplicate: 200, not re-signalled.
4. No payment of ours for it → recorded as `unknown_charge` (reconciliation reads them), counted, 200.
5. Signal `payment_event` to the payment's flow; if the flow has ended, start (or join) payment
   aftercare for the charge with the event (signal-with-start), which books late money, refunds and
   chargebacks. Temporal unreachable → 503 and nothing recorded, so the provider retries.
6. Only now is the event id recorded. If that write fails the provider retries and the flow may get
   the signal twice: flows deduplicate by `event_id`, and every event is confirmed with the provider
   and booked by difference, so a repeat books nothing.

Webhooks are not rate limited per IP (the limiter skips this prefix) and carry no Idempotency-Key.
"""

from __future__ import annotations

import asyncio
import hashlib

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from prometheus_client import Counter
from sqlalchemy.engine import Engine
from temporalio.client import Client

from api.deps import EngineDep, SettingsDep, TemporalDep
from api.errors import ApiError, responses
from core.db import session_scope
from core.logs import get_logger
from models.payments import (
    PaymentEvent,
    WebhookOutcome,
    get_webhook_event,
    payment_for_event,
    record_webhook_event,
)
from models.platform import PaymentProvider
from payments import webhooks
from temporal.payments import hand_event

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
log = get_logger(__name__)

WEBHOOK_EVENTS = Counter(
    "sge_webhook_events_total",
    "Payment provider webhooks by outcome (handed_off, duplicate, unknown_charge, flow_closed, rejected, unavailable)",
    ["provider", "outcome"],
)
SIGNAL_TIMEOUT_S = 10.0


async def _raw_json_body(request: Request, provider: PaymentProvider) -> bytes:
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "application/json":
        WEBHOOK_EVENTS.labels(provider.value, "rejected").inc()
        raise ApiError(415, "unsupported_media_type", "webhooks must be sent as application/json")
    return await request.body()


def _delivered_headers(request: Request) -> dict[str, str]:
    """Lower-case name → value as delivered (the last of repeated headers, as Hook0's clients read them)."""
    headers: dict[str, str] = {}
    for name, value in request.headers.raw:
        headers[name.decode("latin-1").lower()] = value.decode("latin-1")
    return headers


def _count_rejection(provider: PaymentProvider, exc: webhooks.WebhookRejected) -> None:
    WEBHOOK_EVENTS.labels(provider.value, "rejected").inc()
    log.warning("webhook_rejected", provider=provider.value, code=exc.code, reason=exc.message)


# The provider's signed JSON event (read raw: the signature covers the exact bytes). Refusals: not JSON
# (400/415), a bad or missing signature (401), too large (413), not an event (422), no secret configured
# or the flow unreachable (503: the provider retries).
WEBHOOK_RESPONSES = responses(400, 401, 413, 415, 422, 503)
WEBHOOK_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}}


@router.post(
    "/coinbase-commerce",
    summary="Coinbase Commerce charge events",
    responses=WEBHOOK_RESPONSES,
    openapi_extra=WEBHOOK_BODY,
)
async def coinbase_commerce(request: Request, settings: SettingsDep, engine: EngineDep, temporal: TemporalDep):
    provider = PaymentProvider.COINBASE_COMMERCE
    body = await _raw_json_body(request, provider)
    try:
        event = webhooks.verified_event(provider, webhooks.accepted_secrets(settings, provider), body, request.headers)
    except webhooks.WebhookRejected as exc:
        _count_rejection(provider, exc)
        raise
    return await _hand_off(engine, temporal, settings.temporal_task_queue, event, body)


@router.post(
    "/coinbase-business",
    summary="Coinbase Business payment-link events",
    responses=WEBHOOK_RESPONSES,
    openapi_extra=WEBHOOK_BODY,
)
async def coinbase_business(request: Request, settings: SettingsDep, engine: EngineDep, temporal: TemporalDep):
    provider = PaymentProvider.COINBASE_BUSINESS
    body = await _raw_json_body(request, provider)
    try:
        event = webhooks.verified_event(
            provider, webhooks.accepted_secrets(settings, provider), body, _delivered_headers(request)
        )
    except webhooks.WebhookRejected as exc:
        _count_rejection(provider, exc)
        raise
    return await _hand_off(engine, temporal, settings.temporal_task_queue, event, body)


def _lookup(engine, event: PaymentEvent):
    with session_scope(engine) as session:
        seen = get_webhook_event(session, event.provider, event.event_id)
        if seen is not None and seen.outcome != WebhookOutcome.UNKNOWN_CHARGE:
            seen.duplicates += 1  # acknowledged and ignored; counted on the first row
            return True, None, None
        payment = payment_for_event(session, event)
        if payment is None:
            return False, None, None
        return False, payment.flow_id, payment.key


async def _hand_off(engine: Engine, temporal: Client, task_queue: str, event: PaymentEvent, body: bytes) -> dict:
    provider = event.provider.value
    digest = hashlib.sha256(body).hexdigest()
    bound = {
        "provider": provider,
        "event_id": event.event_id,
        "event_type": event.event_type,
        "provider_ref": event.provider_ref,
    }

    duplicate, flow_id, payment_key = await run_in_threadpool(_lookup, engine, event)
    if duplicate:
        WEBHOOK_EVENTS.labels(provider, WebhookOutcome.DUPLICATE.value).inc()
        log.info("webhook_duplicate", **bound)
        return {"status": WebhookOutcome.DUPLICATE.value, "event_id": event.event_id}
    if flow_id is None or payment_key is None:
        outcome = await run_in_threadpool(record_webhook_event, engine, event, WebhookOutcome.UNKNOWN_CHARGE, digest)
        WEBHOOK_EVENTS.labels(provider, outcome.value).inc()
        log.warning("webhook_unknown_charge", **bound)
        return {"status": outcome.value, "event_id": event.event_id}

    try:
        to = await asyncio.wait_for(hand_event(temporal, task_queue, flow_id, payment_key, event), SIGNAL_TIMEOUT_S)
    except Exception as exc:  # noqa: BLE001 - connection failures surface as several types; all mean "retry later"
        raise _unavailable(provider, bound, exc) from None

    outcome = WebhookOutcome.HANDED_OFF if to == "flow" else WebhookOutcome.AFTERCARE
    outcome = await run_in_threadpool(record_webhook_event, engine, event, outcome, digest)
    WEBHOOK_EVENTS.labels(provider, outcome.value).inc()
    log.info("webhook_" + outcome.value, flow_id=flow_id, **bound)
    return {"status": outcome.value, "event_id": event.event_id}


def _unavailable(provider: str, bound: dict, exc: Exception) -> ApiError:
    WEBHOOK_EVENTS.labels(provider, "unavailable").inc()
    log.error("webhook_handoff_failed", error=f"{type(exc).__name__}: {str(exc)[:200]}", **bound)
    return ApiError(503, "flow_unavailable", "could not hand the event to its flow; retry later")
