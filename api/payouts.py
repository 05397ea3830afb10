"""Operator endpoints for payout batches, under /v1/ops/payouts.

Reads come from the DB; actions go to the batch's workflow and are audited before (intent) and after
(outcome). An approval is the approver's EIP-712 signature over the batch (`typed_data` in the detail):
the workflow's Update judges it with the approval policy and answers at once. Roles: any operator
reads; admins create and cancel; approvers approve and reject (the signature decides who counts)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session
from temporalio.service import RPCError, RPCStatusCode

from api.deps import Admin, Approver, EngineDep, SettingsDep, TemporalDep, Viewer
from api.errors import ApiError, responses
from models.affiliates import program_by_slug
from models.audit import audited_call
from models.operators import Actor
from models.payouts import io
from models.payouts.views import BatchDetail, BatchSummary, batch_detail, list_batches, next_manual_period
from temporal import payouts as batches

router = APIRouter(prefix="/v1/ops/payouts", tags=["payouts"], responses=responses(401, 403, 422))
# No such batch (or program); refused (exists, approval refused); Temporal unavailable.
ACTION = responses(404, 409, 503)
SIGNATURE = r"^0x[0-9a-fA-F]{130}$"


class CreateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    program: str = Field(min_length=1, max_length=64)
    period: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$", description="Default: batch-N.")


class ApproveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    signature: str = Field(pattern=SIGNATURE, description="EIP-712 signature of the batch's typed_data.")


class RejectBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    signature: str = Field(pattern=SIGNATURE, description="EIP-712 signature of the PayoutRejection message.")
    reason: str = Field(min_length=3, max_length=500)


class CancelBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=3, max_length=500)


async def _act(engine, actor: Actor, batch_id: str, action: str, details: dict[str, Any], run) -> Any:
    try:
        return await audited_call(engine, actor, f"payout.{action}", "payout_batch", batch_id, None, details, run)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise ApiError(404, "payout_not_found", f"no running batch {batch_id!r}") from None
        raise ApiError(503, "orchestrator_unavailable", str(exc)) from None


@router.get("", response_model=list[BatchSummary], summary="Payout batches, newest first")
async def get_batches(
    engine: EngineDep,
    _actor: Viewer,
    program: str | None = Query(None, max_length=64),
    state: str | None = Query(None, max_length=24),
    limit: int = Query(100, ge=1, le=500),
) -> list[BatchSummary]:
    def read():
        with Session(engine) as session:
            return list_batches(session, program=program, state=state, limit=limit)

    return await run_in_threadpool(read)


@router.get(
    "/{batch_id}",
    response_model=BatchDetail,
    responses=responses(404),
    summary="One batch: lines, approvals, what to sign",
)
async def get_batch(engine: EngineDep, batch_id: str, _actor: Viewer) -> BatchDetail:
    def read():
        with Session(engine) as session:
            return batch_detail(session, batch_id)

    return await run_in_threadpool(read)


@router.post(
    "",
    status_code=202,
    responses=ACTION,
    summary="Create a batch for a program (admin); the workflow selects and reserves",
)
async def create_batch(
    engine: EngineDep, client: TemporalDep, settings: SettingsDep, body: CreateBody, actor: Admin
) -> dict:
    def period() -> str:
        with Session(engine) as session:
            program = program_by_slug(session, body.program, active=False)
            assert program.id is not None
            return body.period or next_manual_period(session, program.id)

    chosen = await run_in_threadpool(period)
    bid = io.batch_id(body.program, chosen)
    queue = settings.temporal_task_queue
    await _act(
        engine,
        actor,
        bid,
        "create",
        {"program": body.program, "period": chosen},
        lambda: batches.start_batch(client, queue, body.program, chosen, actor.operator_id),
    )
    return {"batch_id": bid, "program": body.program, "period": chosen}


@router.post(
    "/{batch_id}/approve", response_model=io.Decision, responses=ACTION, summary="Approve with a signature (approver)"
)
async def approve_batch(engine: EngineDep, client: TemporalDep, batch_id: str, body: ApproveBody, actor: Approver):
    async def run() -> dict:
        return (await batches.approve(client, batch_id, body.signature, actor.name)).model_dump(mode="json")

    return await _act(engine, actor, batch_id, "approve", {"signature": body.signature[:20] + "…"}, run)


@router.post(
    "/{batch_id}/reject", status_code=202, responses=ACTION, summary="Reject with a signature and a reason (approver)"
)
async def reject_batch(engine: EngineDep, client: TemporalDep, batch_id: str, body: RejectBody, actor: Approver):
    async def run() -> str:
        await batches.reject(client, batch_id, body.signature, body.reason, actor.name)
        return "sent"

    await _act(engine, actor, batch_id, "reject", {"reason": body.reason}, run)
    return {"batch_id": batch_id, "action": "reject", "result": "sent"}


@router.post(
    "/{batch_id}/cancel", status_code=202, responses=ACTION, summary="Cancel a batch awaiting approval (admin)"
)
async def cancel_batch(engine: EngineDep, client: TemporalDep, batch_id: str, body: CancelBody, actor: Admin):
    async def run() -> str:
        await batches.cancel(client, batch_id, actor.name, body.reason)
        return "sent"

    await _act(engine, actor, batch_id, "cancel", {"reason": body.reason}, run)
    return {"batch_id": batch_id, "action": "cancel", "result": "sent"}
