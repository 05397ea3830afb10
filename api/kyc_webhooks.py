"""KYC webhook endpoint: verify, then hand the outcome to the flow that waits for it.

    POST /v1/webhooks/kyc   X-Payload-Digest (hex HMAC of the raw body; X-Payload-Digest-Alg names the hash)

Order of work: JSON content type (415); the digest on the raw bytes in constant time (no secret → 503
`webhook_not_configured`, the provider keeps retrying; missing / bad → 401); parse (400 / 422). The
check's flow is found by the provider's reference in `kyc_check`; an unknown reference (e.g. the
applicantCreated event that can overtake the row's write) or an ended flow is acknowledged with 200.
The flow gets a `kyc_event` signal and confirms the outcome with the provider before acting on it, so a
repeated or reordered delivery changes nothing. Temporal unreachable → 503 so the provider retries.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from prometheus_client import Counter
from sqlmodel import Session, col, select
from temporalio.service import RPCError, RPCStatusCode

from api.deps import EngineDep, SettingsDep, TemporalDep
from api.errors import ApiError
from api.webhooks import WEBHOOK_BODY, WEBHOOK_RESPONSES
from core.logs import get_logger
from models.kyc import SIGNAL_KYC, KycCheckRow, KycSignal, KycStatus
from payments.interface import WebhookRejected
from payments.kyc.sumsub import verified_kyc_event

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
log = get_logger(__name__)

KYC_WEBHOOKS = Counter(
    "sge_kyc_webhook_events_total",
    "KYC provider webhooks by outcome (handed_off, unknown_check, flow_closed, rejected, unavailable)",
    ["outcome"],
)
SIGNAL_TIMEOUT_S = 10.0


def _flow_of(engine, reference: str) -> str | None:
    with Session(engine) as session:
        row = session.exec(select(KycCheckRow).where(col(KycCheckRow.reference) == reference)).first()
        return row.check_key if row is not None else None


@router.post(
    "/kyc",
    summary="KYC provider applicant events (Sumsub shape)",
    responses=WEBHOOK_RESPONSES,
    openapi_extra=WEBHOOK_BODY,
)
async def kyc_webhook(request: Request, settings: SettingsDep, engine: EngineDep, temporal: TemporalDep):
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        KYC_WEBHOOKS.labels("rejected").inc()
        raise ApiError(415, "unsupported_media_type", "webhooks must be sent as application/json")
    body = await request.body()
    secret = settings.kyc_webhook_secret.get_secret_value() if settings.kyc_webhook_secret else None
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in request.headers.raw}
    try:
        event = verified_kyc_event(secret, body, headers)
    except WebhookRejected as exc:
        KYC_WEBHOOKS.labels("rejected").inc()
        log.warning("kyc_webhook_rejected", code=exc.code, reason=exc.message)
        raise
    bound = {"event_id": event.event_id, "event_type": event.event_type, "reference": event.reference}
    flow_id = await run_in_threadpool(_flow_of, engine, event.reference)
    if flow_id is None:
        KYC_WEBHOOKS.labels("unknown_check").inc()
        log.info("kyc_webhook_unknown_check", **bound)
        return {"status": "unknown_check", "event_id": event.event_id}
    signal = KycSignal(event_id=event.event_id, reference=event.reference, outcome=KycStatus(event.outcome.value))
    try:
        await asyncio.wait_for(temporal.get_workflow_handle(flow_id).signal(SIGNAL_KYC, signal), SIGNAL_TIMEOUT_S)
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise _unavailable(bound, exc) from None
        KYC_WEBHOOKS.labels("flow_closed").inc()
        return {"status": "flow_closed", "event_id": event.event_id}
    except Exception as exc:  # noqa: BLE001 - connection failures surface as several types; all mean "retry later"
        raise _unavailable(bound, exc) from None
    KYC_WEBHOOKS.labels("handed_off").inc()
    log.info("kyc_webhook_handed_off", flow_id=flow_id, **bound)
    return {"status": "handed_off", "event_id": event.event_id}


def _unavailable(bound: dict, exc: Exception) -> ApiError:
    KYC_WEBHOOKS.labels("unavailable").inc()
    log.error("kyc_webhook_handoff_failed", error=f"{type(exc).__name__}: {str(exc)[:200]}", **bound)
    return ApiError(503, "flow_unavailable", "could not hand the event to its flow; retry later")
