"""The public API of the main job: status and payment (registration: api/registration.py; the
on-chain claim rail: api/claims.py).

Reads come from the database, never from Temporal's eventually consistent visibility. The payment
is a wallet-scoped write: it needs the wallet session a signed registration granted.
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, col, select
from temporalio.service import RPCError, RPCStatusCode

from api.deps import WALLET_FORMAT, EngineDep, LimiterDep, SettingsDep, TemporalDep
from api.errors import ApiError, responses
from api.jurisdiction import enforce_jurisdiction
from api.wallet import WalletSession, same_wallet
from models import affiliates as aff
from models.acceptance import require_current_acceptance
from models.onboarding import (
    QUERY_STATUS,
    FlowState,
    Onboarding,
    OnboardingStatus,
    flow_id,
)
from models.payments import Payment, PaymentStatus
from models.platform import Program

router = APIRouter(prefix="/v1", tags=["public"])
# A wallet-scoped write's refusals: no or a bad session (401), another wallet's (403), no such flow (404),
# not now (409), not JSON (415), invalid (422), rate limited (429), sessions or Temporal unavailable (503).
WALLET_WRITE = responses(401, 403, 404, 409, 415, 422, 429, 503)

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


class FlowRef(_Body):
    program: str = Field(min_length=1, max_length=64)
    wallet: str = Field(min_length=1, max_length=64, json_schema_extra=WALLET_FORMAT)


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
    kyc: dict | None = None  # while the flow waits for KYC: {"state", "verify_url"} (the provider's hosted page)


KYC_WAITING = (FlowState.KYC_PENDING, FlowState.KYC_REVIEW)
KYC_QUERY_TIMEOUT_S = 3.0


async def _kyc_view(temporal, state: FlowState, fid: str) -> dict | None:
    """The verification link lives only in the flow (never in the DB): asked of it while it waits for KYC;
    a status without the link is still an answer when the flow cannot be asked."""
    if state not in KYC_WAITING:
        return None
    url = None
    try:
        flow: OnboardingStatus = await asyncio.wait_for(
            temporal.get_workflow_handle(fid).query(QUERY_STATUS, result_type=OnboardingStatus), KYC_QUERY_TIMEOUT_S
        )
        url = flow.kyc_url
    except Exception:  # noqa: BLE001 - the DB answer stands on its own
        pass
    return {"state": state.value, "verify_url": url}


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


@router.get(
    "/status",
    response_model=StatusView,
    responses=responses(404, 422, 429),
    summary="Where a wallet is: registered / paid / claimed (from the DB)",
)
async def status(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    limiter: LimiterDep,
    temporal: TemporalDep,
    program: str = Query(max_length=64),
    wallet: str = Query(max_length=64, json_schema_extra=WALLET_FORMAT),
):
    checked = _wallet(wallet)
    await limiter.hit_ip("status_ip", request)  # public: counted per client IP, after validation

    def read():
        with Session(engine) as session:
            prog = session.exec(select(Program).where(Program.slug == program)).first()
            if prog is None:
                raise ApiError(404, "unknown_program", f"no program {program!r}")
            row = _row(session, prog, checked)
            if row is None:
                raise ApiError(404, "not_registered", "no registration for this wallet in this program")
            return _status_view(settings.explorer_url, prog, row)

    view = await run_in_threadpool(read)
    view.kyc = await _kyc_view(temporal, view.state, view.flow_id)
    return view


@router.post(
    "/payments",
    response_model=PaymentView,
    responses=WALLET_WRITE,
    dependencies=[Depends(require_json)],
    summary="The flow's payment: hosted checkout URL and expiry (created by the flow)",
)
async def payment(
    request: Request,
    body: FlowRef,
    engine: EngineDep,
    settings: SettingsDep,
    signed: WalletSession,
    limiter: LimiterDep,
):
    """Read from the database (the flow writes its charge there), never a workflow update: any number of
    callers cost one indexed read each and cannot tie up the flow. A flow still minting has no charge
    yet: the answer waits a few seconds for it, then says when to ask again. Only the wallet's own
    session may ask, within its per-IP and per-wallet limits."""
    wallet = same_wallet(signed, body.wallet)
    await limiter.hit_ip("payments_ip", request)
    await limiter.hit_wallet("payments_wallet", wallet)
    await run_in_threadpool(_payable_from_here, request, engine, settings, limiter, body.program, wallet)
    fid = flow_id(body.program, wallet)
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
        if FlowState(state) in KYC_WAITING:  # no money before KYC passes: the flow holds no charge yet
            raise ApiError(
                409, "kyc_required", "this program needs an identity check before payment; see GET /v1/status"
            )
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


def _payable_from_here(request: Request, engine, settings, limiter, slug: str, wallet: str) -> None:
    """No checkout is handed to a client in a country the program blocks (a paid flow still finishes),
    nor to a wallet that has not accepted the terms in force."""
    with Session(engine) as session:
        program = session.exec(select(Program).where(Program.slug == slug)).first()
        if program is not None:
            enforce_jurisdiction(request, settings, limiter, program, "payment")
            if session.exec(select(Onboarding.id).where(col(Onboarding.flow_id) == flow_id(slug, wallet))).first():
                require_current_acceptance(session, program, wallet)


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
