"""Operator endpoints for money that needs a person: suspense items and refunds made outside.

    GET  /v1/ops/suspense                      open (or all) suspense items           any operator
    POST /v1/ops/suspense/{id}/apply           settle the flow's fee with it, deliver admin
    POST /v1/ops/suspense/{id}/refund          record a refund made outside           admin
    POST /v1/ops/suspense/{id}/write-off       keep it (unknown payer)                admin
    POST /v1/ops/payments/{payment_key}/refund record a refund made in the provider's dashboard  admin

The platform never sends money back itself: these record what a person did (in the provider's
dashboard, or by the treasury on chain with its transaction hash), book it and audit it.
"""

from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session

from api.deps import Admin, EngineDep, RowId, SettingsDep, TemporalDep, Viewer
from api.errors import responses
from core.db import session_scope
from models import suspense
from models.suspense import SuspenseStatus, SuspenseView
from temporal import payments as payment_actions

router = APIRouter(prefix="/v1/ops", tags=["operators"], responses=responses(401, 403, 422))
RESOLVE = responses(404, 409)  # no such item; already resolved
HANDED_TO_FLOW = responses(404, 409, 503)  # ... and Temporal unavailable


class Reason(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=3, max_length=500)


class ApplyBody(Reason):
    accept_shortfall: bool = Field(False, description="Settle with less than the fee (an underpayment).")


class RefundBody(Reason):
    external_ref: str = Field(min_length=1, max_length=200, description="Provider refund id or treasury tx hash.")


@router.get("/suspense", response_model=list[SuspenseView], summary="Suspense items (open by default)")
async def list_suspense(
    engine: EngineDep,
    _actor: Viewer,
    status: SuspenseStatus | None = SuspenseStatus.OPEN,
    flow_id: str | None = Query(None, max_length=200),
    limit: int = Query(200, ge=1, le=1000),
) -> list[SuspenseView]:
    def read() -> list[SuspenseView]:
        with Session(engine) as session:
            return [suspense.view(i) for i in suspense.items(session, status=status, flow_id=flow_id, limit=limit)]

    return await run_in_threadpool(read)


@router.post(
    "/suspense/{item_id}/apply",
    responses=HANDED_TO_FLOW,
    summary="Use it to settle its flow's fee, then deliver (admin)",
)
async def apply_suspense(
    item_id: RowId, body: ApplyBody, engine: EngineDep, temporal: TemporalDep, settings: SettingsDep, actor: Admin
) -> dict:
    run = await payment_actions.apply_suspense(
        temporal, engine, settings.temporal_task_queue, item_id, actor, accept_shortfall=body.accept_shortfall
    )
    return {"item": item_id, "applied": True, "flow_run": run}


def _resolve(engine, item_id: int, status: SuspenseStatus, actor, note: str, external_ref: str | None) -> SuspenseView:
    with session_scope(engine) as session:
        item = suspense.get_item(session, item_id, lock=True)
        return suspense.view(suspense.resolve(session, item, status, actor, note=note, external_ref=external_ref))


@router.post(
    "/suspense/{item_id}/refund", response_model=SuspenseView, responses=RESOLVE, summary="Record its refund (admin)"
)
async def refund_suspense(item_id: RowId, body: RefundBody, engine: EngineDep, actor: Admin) -> SuspenseView:
    return await run_in_threadpool(
        _resolve, engine, item_id, SuspenseStatus.REFUNDED, actor, body.reason, body.external_ref
    )


@router.post(
    "/suspense/{item_id}/write-off", response_model=SuspenseView, responses=RESOLVE, summary="Write it off (admin)"
)
async def write_off_suspense(item_id: RowId, body: Reason, engine: EngineDep, actor: Admin) -> SuspenseView:
    return await run_in_threadpool(_resolve, engine, item_id, SuspenseStatus.WRITTEN_OFF, actor, body.reason, None)


@router.post(
    "/payments/{payment_key:path}/refund",
    responses=HANDED_TO_FLOW,
    summary="Record a refund made in the provider's dashboard (admin)",
)
async def refund_payment(
    payment_key: str, body: Reason, engine: EngineDep, temporal: TemporalDep, settings: SettingsDep, actor: Admin
) -> dict:
    to = await payment_actions.record_refund(
        temporal, engine, settings.temporal_task_queue, payment_key, body.reason, actor
    )
    return {"payment_key": payment_key, "handed_to": to}
