"""The public API of the main job: register, status, payment, and the on-chain claim rail.

Writes go to the onboarding workflow (start / update / signal); reads come from the database, never
from Temporal's eventually consistent visibility.
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.service import RPCError, RPCStatusCode

from api.deps import EngineDep, LimiterDep, SettingsDep, TemporalDep
from api.errors import ApiError
from core.columns import utcnow
from core.db import row_id, session_scope
from models import affiliates as aff
from models.flow import FLOW_STATE, PROGRAM, STATE_SINCE, WALLET
from models.onboarding import (
    WORKFLOW_NAME,
    FlowState,
    Onboarding,
    OnboardingInput,
    ensure_row,
    flow_id,
)
from models.payments import Payment, PaymentStatus
from models.platform import Program

router = APIRouter(prefix="/v1", tags=["public"])

TX_HASH_RE = re.compile(r"^0x[0-9a-fA-F]{64}$")
UPDATE_TIMEOUT = timedelta(seconds=20)
PAYMENT_WAIT_S = 10.0
PAYABLE = (PaymentStatus.OPEN.value, PaymentStatus.PENDING.value)


def require_json(request: Request) -> None:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class RegisterRequest(_Body):
    program: str = Field(min_length=1, max_length=64, description="Program slug.")
    wallet: str = Field(min_length=1, max_length=64, description="EIP-55 address (all-lower/upper accepted).")
    referral_code: str | None = Field(default=None, max_length=32, description="An affiliate's referral code.")


class FlowRef(_Body):
    program: str = Field(min_length=1, max_length=64)
    wallet: str = Field(min_length=1, max_length=64)


class Registered(BaseModel):
    flow_id: str
    program: str
    wallet: str
    state: FlowState
    status_url: str
    referral: dict | None = None


class StatusView(BaseModel):
    flow_id: str
    program: str
    wallet: str
    state: FlowState
    state_since: datetime
    reason: str
    registered: dict | None = None
    referral: dict | None = None
    paid: dict | None = None
    claimed: dict | None = None


class PaymentView(BaseModel):
    flow_id: str
    provider: str
    provider_ref: str
    hosted_url: str
    amount_minor: int
    currency: str
    expires_at: datetime | None


def _wallet(value: str) -> str:
    return aff.normalize_wallet(value)


def _program(session: Session, slug: str) -> Program:
    program = session.exec(select(Program).where(Program.slug == slug)).first()
    if program is None:
        raise ApiError(404, "unknown_program", f"no program {slug!r}")
    if not program.active:
        raise ApiError(409, "program_inactive", f"program {slug!r} is not open for registration")
    return program


def _row(session: Session, program: Program, wallet: str) -> Onboarding | None:
    return session.exec(
        select(Onboarding).where(Onboarding.program_id == program.id, Onboarding.wallet == wallet)
    ).first()


def _check_referral(session: Session, program: Program, wallet: str, code: str | None) -> dict | None:
    """Refuse a bad code before any flow starts; report a later code that will be ignored."""
    locked = aff.attribution_of(session, row_id(program), wallet)
    if locked is not None:
        if code and aff.normalize_code(code) != locked.code:
            return {
                "status": "ignored",
                "message": "the referrer was fixed at the first registration",
                "code": locked.code,
            }
        return {"status": "existing", "code": locked.code}
    if not code:
        return None
    code = aff.normalize_code(code)
    aff.referrer_for(session, program, wallet, code)
    return {"status": "new", "code": code}


def _explorer(explorer_url: str, tx_hash: str | None) -> dict | None:
    if not tx_hash:
        return None
    base = explorer_url.rstrip("/")
    return {"tx_hash": tx_hash, "url": f"{base}/tx/{tx_hash}" if base else None}


def _status_view(explorer_url: str, program: Program, row: Onboarding) -> StatusView:
    registered = None
    if row.token_id is not None:
        registered = {"token_id": row.token_id, "mint": _explorer(explorer_url, row.mint_tx)}
    referral = None
    if row.referrer_wallet:
        referral = {"referrer_wallet": row.referrer_wallet, "recorded": _explorer(explorer_url, row.referral_tx)}
    paid = None
    if row.paid_amount_minor is not None:
        paid = {
            "rail": row.rail,
            "payment_ref": row.payment_ref,
            "amount_minor": row.paid_amount_minor,
            "asset": row.paid_asset,
        }
    claimed = None
    if row.claim_tx:
        claimed = {"sge_amount_minor": row.sge_amount_minor, "claim": _explorer(explorer_url, row.claim_tx)}
    return StatusView(
        flow_id=row.flow_id,
        program=program.slug,
        wallet=row.wallet,
        state=row.state,
        state_since=row.state_since,
        reason=row.reason,
        registered=registered,
        referral=referral,
        paid=paid,
        claimed=claimed,
    )


def _temporal_error(exc: RPCError) -> ApiError:
    if exc.status == RPCStatusCode.NOT_FOUND:
        return ApiError(404, "not_registered", "no registration for this wallet in this program")
    return ApiError(
        503,
        "orchestrator_unavailable",
        "the workflow service is unavailable; retry shortly",
        headers={"Retry-After": "5"},
    )


# --- endpoints -------------------------------------------------------------------------------------


@router.post(
    "/register",
    status_code=202,
    response_model=Registered,
    dependencies=[Depends(require_json)],
    summary="Register a wallet in a program (starts or joins its onboarding flow)",
)
async def register(
    request: Request,
    body: RegisterRequest,
    engine: EngineDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    limiter: LimiterDep,
):
    await limiter.hit_ip("register_ip", request)
    wallet = _wallet(body.wallet)
    await limiter.hit_wallet("register_wallet", wallet)

    def read():
        # The flow's row exists from the moment the registration is accepted, so the status and payment
        # reads that follow never race the workflow's first step.
        with session_scope(engine) as session:
            program = _program(session, body.program)
            referral = _check_referral(session, program, wallet, body.referral_code)
            return program, ensure_row(session, program, wallet), referral

    try:
        program, row, referral = await run_in_threadpool(read)
    except IntegrityError:  # a concurrent first registration created the row: use it
        program, row, referral = await run_in_threadpool(read)
    fid = flow_id(program.slug, wallet)
    status_url = f"/v1/status?program={program.slug}&wallet={wallet}"
    if row is not None and row.state == FlowState.COMPLETED:
        # Answered from the DB: a completed wallet is never started again.
        done = Registered(
            flow_id=fid, program=program.slug, wallet=wallet, state=row.state, status_url=status_url, referral=referral
        )
        return JSONResponse(done.model_dump(mode="json"), status_code=200)
    try:
        await temporal.start_workflow(
            WORKFLOW_NAME,
            OnboardingInput(program=program.slug, wallet=wallet, referral_code=body.referral_code, source="api"),
            id=fid,
            task_queue=settings.temporal_task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,  # a repeat joins the running flow
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,  # after expiry/failure a new run may start
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(FLOW_STATE, FlowState.REGISTERING.value),
                    SearchAttributePair(WALLET, wallet),
                    SearchAttributePair(PROGRAM, program.slug),
                    SearchAttributePair(STATE_SINCE, utcnow()),
                ]
            ),
        )
    except RPCError as exc:
        raise _temporal_error(exc) from None
    state = row.state if row is not None and not FlowState(row.state).terminal else FlowState.REGISTERING
    return Registered(
        flow_id=fid, program=program.slug, wallet=wallet, state=state, status_url=status_url, referral=referral
    )


@router.get(
    "/status", response_model=StatusView, summary="Where a wallet is: registered / paid / claimed (from the DB)"
)
async def status(
    engine: EngineDep, settings: SettingsDep, program: str = Query(max_length=64), wallet: str = Query(max_length=64)
):
    checked = _wallet(wallet)

    def read():
        with Session(engine) as session:
            prog = session.exec(select(Program).where(Program.slug == program)).first()
            if prog is None:
                raise ApiError(404, "unknown_program", f"no program {program!r}")
            row = _row(session, prog, checked)
            if row is None:
                raise ApiError(404, "not_registered", "no registration for this wallet in this program")
            return _status_view(settings.explorer_url, prog, row)

    return await run_in_threadpool(read)


@router.post(
    "/payments",
    response_model=PaymentView,
    dependencies=[Depends(require_json)],
    summary="The flow's payment: hosted checkout URL and expiry (created by the flow)",
)
async def payment(body: FlowRef, engine: EngineDep):
    """Read from the database (the flow writes its charge there), never a workflow update: any number of
    callers cost one indexed read each and cannot tie up the flow. A flow still minting has no charge
    yet: the answer waits a few seconds for it, then says when to ask again."""
    fid = flow_id(body.program, _wallet(body.wallet))
    deadline = asyncio.get_running_loop().time() + PAYMENT_WAIT_S
    while True:
        row, state = await run_in_threadpool(_open_charge, engine, fid)
        if row is not None:
            return PaymentView(
                flow_id=fid,
                provider=row.provider,
                provider_ref=row.provider_ref or "",
                hosted_url=row.hosted_url or "",
                amount_minor=int(row.amount_minor),
                currency=row.currency,
                expires_at=row.expires_at,
            )
        if state is None:
            raise ApiError(404, "not_registered", "no registration for this wallet in this program")
        if FlowState(state).terminal:
            raise ApiError(409, "flow_ended", f"this flow has ended ({state}); see GET /v1/status")
        if asyncio.get_running_loop().time() > deadline:
            raise ApiError(
                409,
                "payment_not_ready",
                "the flow has not created its payment yet; retry shortly",
                headers={"Retry-After": "2"},
            )
        await asyncio.sleep(0.25)


def _open_charge(engine, fid: str) -> tuple[Payment | None, str | None]:
    """The flow's newest payable charge, and the flow's state (None: no such flow)."""
    with Session(engine) as session:
        row = session.exec(select(Onboarding).where(col(Onboarding.flow_id) == fid)).first()
        if row is None:
            return None, None
        charge = session.exec(
            select(Payment)
            .where(
                col(Payment.flow_id) == fid, col(Payment.provider_ref).is_not(None), col(Payment.status).in_(PAYABLE)
            )
            .order_by(col(Payment.id).desc())
        ).first()
        return charge, row.state.value
