"""Wallet-signed registration (Sign-In with Ethereum, EIP-4361).

1. `POST /v1/auth/nonce {program, wallet, referral_code?}` → the exact message to sign, built by the
   server (domain, URI, chain id, a single-use nonce, issued-at, expiration, the program, the referral
   code, the terms' version and SHA-256). A bad program or referral code is refused here, before any
   message is issued.
2. `POST /v1/register {message, signature}` → the message is parsed strictly and its signature
   verified (domain, chain, expiry, signer); then, in one DB transaction, its nonce is consumed, the
   referrer locked, the consent recorded and the flow's row created; then the flow is started (or
   joined). The answer carries a wallet session (body and cookie) for the wallet-scoped writes. The
   same message and signature sent again get the original answer (and a fresh session).

Rate limits count only valid requests: the body (and for registration the signature) is checked
before any limit is spent.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, col, select
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.service import RPCError

from api.deps import WALLET_FORMAT, EngineDep, LimiterDep, SettingsDep, TemporalDep
from api.documents import DocumentView, documents_in_force
from api.errors import ApiError, responses
from api.jurisdiction import enforce_jurisdiction
from api.public import _program, _temporal_error, _wallet, require_json
from api.wallet import SessionGrant, grant, session_key
from core.columns import utcnow
from core.db import row_id, session_scope
from core.settings.wallet_auth import siwe_domain
from models import affiliates as aff
from models import auth_nonces, siwe
from models.flow import FLOW_STATE, PROGRAM, STATE_SINCE, WALLET
from models.onboarding import WORKFLOW_NAME, FlowState, OnboardingInput
from models.platform import Program
from models.reports.counters import ATTRIBUTION, SIWE, count_event_now
from models.signed_registration import Registration, named_program, register_signed, signature_hash
from models.terms import terms_for

T = TypeVar("T")

router = APIRouter(prefix="/v1", tags=["public"])


class NonceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    program: str = Field(min_length=1, max_length=64, description="Program slug.")
    wallet: str = Field(
        min_length=1,
        max_length=64,
        json_schema_extra=WALLET_FORMAT,
        description="EIP-55 address (all-lower/upper accepted).",
    )
    referral_code: str | None = Field(default=None, max_length=32, description="An affiliate's referral code.")


class SignedRegistration(BaseModel):
    model_config = ConfigDict(extra="forbid")  # no stripping: the message is compared byte for byte

    message: str = Field(min_length=1, max_length=siwe.MAX_MESSAGE_CHARS, description="The message as issued.")
    signature: str = Field(min_length=1, max_length=200, description="EIP-191 personal_sign signature, 0x-hex.")


class Registered(BaseModel):
    flow_id: str
    program: str
    wallet: str
    state: FlowState
    status_url: str
    referral: dict | None = None
    session: SessionGrant = Field(description="Wallet session (also set as an HttpOnly cookie).")
    documents: list[DocumentView] = Field(
        default_factory=list, description="The program's terms, privacy notice and risk disclosures in force."
    )


def _referral_code(session: Session, program: Program, wallet: str, code: str | None) -> str | None:
    """The normalised code, refused now when it cannot refer this wallet. A wallet whose referrer is
    already locked keeps it: a later code is carried along and reported as ignored."""
    if not code:
        return None
    code = aff.normalize_code(code)
    if aff.attribution_of(session, row_id(program), wallet) is None:
        aff.referrer_for(session, program, wallet, code)
    return code


@router.post(
    "/auth/nonce",
    status_code=201,
    response_model=auth_nonces.NonceIssued,
    responses=responses(404, 409, 415, 422, 429),
    dependencies=[Depends(require_json)],
    summary="The registration message (EIP-4361) for a wallet to sign",
)
async def issue_nonce(
    request: Request, body: NonceRequest, engine: EngineDep, settings: SettingsDep, limiter: LimiterDep
):
    wallet = _wallet(body.wallet)

    def check() -> tuple[int, str | None]:
        with Session(engine) as session:
            program = _program(session, body.program)
            enforce_jurisdiction(request, settings, limiter, program, "nonce")
            return row_id(program), _referral_code(session, program, wallet, body.referral_code)

    program_id, code = await _counting_refusals(engine, check)
    await limiter.hit_ip("nonce_ip", request)
    await limiter.hit_wallet("nonce_wallet", wallet)
    network = limiter.client_network(request)

    def issue() -> auth_nonces.NonceIssued:
        with session_scope(engine) as session:
            program = session.get(Program, program_id)
            assert program is not None
            return auth_nonces.issue(
                session,
                program,
                wallet,
                code,
                terms_for(program, session),
                client_ip=network,
                domain=siwe_domain(settings),
                base_url=settings.api_base_url,
                chain_id=settings.chain_id,
                ttl=timedelta(seconds=settings.siwe_nonce_ttl_seconds),
                max_per_wallet=settings.siwe_max_nonces_per_wallet,
                max_per_ip=settings.siwe_max_nonces_per_ip,
            )

    return await run_in_threadpool(issue)


async def _counting_refusals(engine, fn: Callable[[], T]) -> T:
    """Run `fn` in a thread; a referral it refuses (self-referral, unknown code, ...) is counted for the
    operator reports' fraud section before the refusal is answered."""
    try:
        return await run_in_threadpool(fn)
    except aff.AffiliateError as err:
        await run_in_threadpool(count_event_now, engine, ATTRIBUTION, err.code)
        raise


def _program_any(session: Session, slug: str) -> Program:
    return session.exec(select(Program).where(col(Program.slug) == slug)).one()


def _answered_before(engine, nonce: str, signature: str) -> bool:
    """Whether this nonce was already used by this very signature (a retry: answered, not counted)."""
    with Session(engine) as session:
        used = session.exec(
            select(auth_nonces.AuthNonce.signature_hash).where(col(auth_nonces.AuthNonce.nonce) == nonce)
        ).first()
    return used is not None and used == signature_hash(signature)


async def _start(temporal, settings, reg: Registration) -> None:
    try:
        await temporal.start_workflow(
            WORKFLOW_NAME,
            OnboardingInput(program=reg.program, wallet=reg.wallet, referral_code=reg.referral_code, source="api"),
            id=reg.flow_id,
            task_queue=settings.temporal_task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,  # a repeat joins the running flow
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,  # after expiry/failure a new run may start
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(FLOW_STATE, FlowState.REGISTERING.value),
                    SearchAttributePair(WALLET, reg.wallet),
                    SearchAttributePair(PROGRAM, reg.program),
                    SearchAttributePair(STATE_SINCE, utcnow()),
                ]
            ),
        )
    except RPCError as exc:
        raise _temporal_error(exc) from None


@router.post(
    "/register",
    status_code=202,
    response_model=Registered,
    responses={
        200: {"model": Registered, "description": "Already completed: answered from the database."},
        **responses(401, 404, 409, 415, 422, 429, 503),
    },
    dependencies=[Depends(require_json)],
    summary="Register with a signed message: starts or joins the wallet's onboarding flow",
)
async def register(
    request: Request,
    response: Response,
    body: SignedRegistration,
    engine: EngineDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    limiter: LimiterDep,
):
    if session_key(settings) is None:
        raise ApiError(503, "wallet_sessions_unavailable", "wallet sessions are not configured (SGE_SESSION_SECRET)")
    now = utcnow()
    try:
        message = siwe.verify(
            body.message, body.signature, domain=siwe_domain(settings), chain_id=settings.chain_id, now=now
        )
    except siwe.SiweError as exc:  # counted for the operator reports' failed-signature section
        await run_in_threadpool(count_event_now, engine, SIWE, exc.code)
        raise
    wallet = _wallet(message.address)

    def check_country() -> None:
        with Session(engine) as session:
            enforce_jurisdiction(request, settings, limiter, _program(session, named_program(message)), "register")

    await run_in_threadpool(check_country)  # before the nonce is consumed or anything starts
    if not await run_in_threadpool(_answered_before, engine, message.nonce, body.signature):
        await limiter.hit_ip("register_ip", request)
        await limiter.hit_wallet("register_wallet", wallet)

    def accept() -> Registration:
        with session_scope(engine) as session:
            return register_signed(session, message, body.message, body.signature, now)

    reg = await _counting_refusals(engine, accept)

    def documents() -> list[DocumentView]:
        with Session(engine) as session:
            return documents_in_force(session, _program_any(session, reg.program))

    docs = await run_in_threadpool(documents)
    state = reg.state
    if state == FlowState.COMPLETED:
        response.status_code = 200  # answered from the DB: a completed wallet is never started again
    else:
        await _start(temporal, settings, reg)
        state = state if not FlowState(state).terminal else FlowState.REGISTERING
    return Registered(
        flow_id=reg.flow_id,
        program=reg.program,
        wallet=reg.wallet,
        state=state,
        status_url=f"/v1/status?program={reg.program}&wallet={reg.wallet}",
        referral=reg.referral,
        session=grant(settings, response, reg.wallet),
        documents=docs,
    )
