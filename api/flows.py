"""Operator endpoints for onboarding flows, the halt switch and the pre-payment chain gate, under /v1/ops.

Listings read the database (consistent, paged); actions go to Temporal and are audited before (intent)
and after (outcome).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, select
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from api.deps import Admin, EngineDep, OptionalCursor, SettingsDep, TemporalDep, Viewer
from api.errors import ApiError, responses
from core.db import get_existing, session_scope
from models.audit import audited_call
from models.chain_gate import ChainGate, chain_gate, set_chain_gate
from models.halt import HaltState, halt_state, set_halt
from models.onboarding import QUERY_STATUS, FlowState, Onboarding, OnboardingStatus, list_flows
from models.operators import Actor
from models.platform import Program
from temporal import flows

router = APIRouter(prefix="/v1/ops", tags=["operators"], responses=responses(401, 403, 422))
FLOW_ACTION = responses(404, 409, 503)  # no such flow; not in a state for it; Temporal unavailable


class FlowRow(BaseModel):
    flow_id: str
    program: str
    wallet: str
    state: FlowState
    state_since: datetime
    reason: str
    token_id: int | None
    rail: str | None
    claim_tx: str | None
    updated_at: datetime


class FlowPage(BaseModel):
    flows: list[FlowRow]
    next_after_id: int | None


class ActionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=3, max_length=500)


class ResetBody(ActionBody):
    to: str = Field(
        "last", pattern="^(first|last)$", description="Replay from the first or last completed workflow task."
    )


class HaltBody(ActionBody):
    halted: bool


class GateBody(ActionBody):
    closed: bool = Field(
        description="Close (true) or open (false) the gate's switch; the spend budget still closes it while over."
    )


def _row_or_404(session: Session, flow_id: str) -> tuple[Onboarding, Program]:
    row = session.exec(select(Onboarding).where(Onboarding.flow_id == flow_id)).first()
    if row is None:
        raise ApiError(404, "flow_not_found", f"no flow {flow_id!r}")
    return row, get_existing(session, Program, row.program_id)


@router.get("/flows", response_model=FlowPage, summary="Onboarding flows from the DB; `stuck=true`: working > 10 min")
async def get_flows(
    engine: EngineDep,
    _actor: Viewer,
    state: FlowState | None = None,
    program: str | None = Query(None, max_length=64),
    stuck: bool = False,
    after_id: OptionalCursor = None,
    limit: int = Query(50, ge=1, le=500),
) -> FlowPage:
    def read() -> FlowPage:
        with Session(engine) as session:
            rows = list_flows(session, state=state, program=program, stuck=stuck, after_id=after_id, limit=limit + 1)
        page = [
            FlowRow(
                flow_id=r.flow_id,
                program=p.slug,
                wallet=r.wallet,
                state=r.state,
                state_since=r.state_since,
                reason=r.reason,
                token_id=r.token_id,
                rail=r.rail,
                claim_tx=r.claim_tx,
                updated_at=r.updated_at,
            )
            for r, p in rows[:limit]
        ]
        return FlowPage(flows=page, next_after_id=rows[limit - 1][0].id if len(rows) > limit else None)

    return await run_in_threadpool(read)


@router.get(
    "/flows/{flow_id}", responses=responses(404), summary="One flow: its DB row and, when running, its live status"
)
async def get_flow(engine: EngineDep, client: TemporalDep, flow_id: str, _actor: Viewer) -> dict:
    def read():
        with Session(engine) as session:
            row, program = _row_or_404(session, flow_id)
            return row.model_dump(mode="json") | {"program": program.slug}

    body = await run_in_threadpool(read)
    try:
        desc = await flows.describe(client, flow_id)
    except RPCError as exc:
        body["temporal"] = {"error": exc.status.name if exc.status else str(exc)}
        return body
    body["temporal"] = {"run_id": desc.run_id, "status": desc.status.name if desc.status else None}
    if desc.status == WorkflowExecutionStatus.RUNNING:
        try:  # answered by a worker: bounded, so a stalled worker pool does not stall the operator
            live = await client.get_workflow_handle(flow_id).query(
                QUERY_STATUS, result_type=OnboardingStatus, rpc_timeout=timedelta(seconds=3)
            )
            body["live"] = live.model_dump(mode="json")
        except Exception as exc:  # noqa: BLE001 - reported, not fatal: the DB row is still shown
            body["live"] = {"error": f"{type(exc).__name__}: no worker answered the status query"}
    return body


async def _act(engine, actor: Actor, flow_id: str, action: str, reason: str, run) -> dict:
    """Audited on both sides of the Temporal call: `flow.<action>.requested` is committed before it,
    `flow.<action>` (its result) or `flow.<action>.failed` (the error) after it."""

    def load():
        with Session(engine) as session:
            row, program = _row_or_404(session, flow_id)
            return row.state, program.slug, row.wallet

    before, program, wallet = await run_in_threadpool(load)
    try:
        result = await audited_call(
            engine,
            actor,
            f"flow.{action}",
            "flow",
            flow_id,
            {"state": before},
            {"reason": reason},
            lambda: run(program, wallet),
        )
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise ApiError(404, "flow_not_found", f"Temporal has no flow {flow_id!r}") from None
        raise ApiError(503, "orchestrator_unavailable", str(exc)) from None
    return {"flow_id": flow_id, "action": action, "result": result}


@router.post("/flows/{flow_id}/terminate", responses=FLOW_ACTION, summary="Terminate a running flow (admin)")
async def terminate_flow(engine: EngineDep, client: TemporalDep, flow_id: str, body: ActionBody, actor: Admin) -> dict:
    return await _act(
        engine,
        actor,
        flow_id,
        "terminate",
        body.reason,
        lambda _p, _w: flows.terminate(client, flow_id, f"{actor.name}: {body.reason}"),
    )


@router.post(
    "/flows/{flow_id}/retry",
    responses=FLOW_ACTION,
    summary="Start a new run of a flow that ended without completing (admin)",
)
async def retry_flow(
    engine: EngineDep, client: TemporalDep, settings: SettingsDep, flow_id: str, body: ActionBody, actor: Admin
) -> dict:
    queue = settings.temporal_task_queue
    return await _act(
        engine,
        actor,
        flow_id,
        "retry",
        body.reason,
        lambda program, wallet: flows.retry(client, flow_id, program, wallet, queue),
    )


@router.post(
    "/flows/{flow_id}/reset",
    responses=FLOW_ACTION,
    summary="Replay a flow from its first or last workflow task (admin)",
)
async def reset_flow(engine: EngineDep, client: TemporalDep, flow_id: str, body: ResetBody, actor: Admin) -> dict:
    return await _act(
        engine,
        actor,
        flow_id,
        "reset",
        body.reason,
        lambda _p, _w: flows.reset(client, flow_id, f"{actor.name}: {body.reason}", to=body.to),
    )


@router.get("/halt", response_model=HaltState, summary="The platform halt switch")
async def get_halt(engine: EngineDep, _actor: Viewer) -> HaltState:
    def read():
        with Session(engine) as session:
            return halt_state(session)

    return await run_in_threadpool(read)


@router.post("/halt", response_model=HaltState, summary="Turn the halt switch on or off (admin; audited)")
async def post_halt(engine: EngineDep, body: HaltBody, actor: Admin) -> HaltState:
    def write():
        with session_scope(engine) as session:
            return set_halt(session, actor, body.halted, body.reason)

    return await run_in_threadpool(write)


@router.get("/chain-gate", response_model=ChainGate, summary="The pre-payment chain gate and the relayer's spend")
async def get_chain_gate(engine: EngineDep, settings: SettingsDep, _actor: Viewer) -> ChainGate:
    def read():
        with Session(engine) as session:
            return chain_gate(session, settings)

    return await run_in_threadpool(read)


@router.post(
    "/chain-gate", response_model=ChainGate, summary="Close or open the pre-payment chain gate (admin; audited)"
)
async def post_chain_gate(engine: EngineDep, settings: SettingsDep, body: GateBody, actor: Admin) -> ChainGate:
    def write():
        with session_scope(engine) as session:
            return set_chain_gate(session, settings, actor, body.closed, body.reason)

    return await run_in_threadpool(write)
