"""Public affiliate endpoints under /v1/affiliates: registration (nonce + wallet signature), public
profile and downline tree by referral code.

Money (commissions, statements) and wallets of the downline are not public: operators see them under
/v1/ops/affiliates. Registration is deterministic for a given nonce (single use), so the API's
Idempotency-Key layer can wrap it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import func
from sqlmodel import Session, select

from api.deps import WALLET_FORMAT, EngineDep
from api.errors import ApiError, responses
from core.db import row_id, session_scope
from models import affiliates as aff

router = APIRouter(prefix="/v1/affiliates", tags=["affiliates"], responses=responses(404, 422))


class NonceRequest(BaseModel):
    program: str = Field(max_length=64)
    wallet: str = Field(max_length=64, json_schema_extra=WALLET_FORMAT)


class RegisterRequest(BaseModel):
    program: str = Field(max_length=64)
    wallet: str = Field(max_length=64, json_schema_extra=WALLET_FORMAT)
    nonce: str = Field(max_length=64)
    signature: str = Field(max_length=200, description="EIP-191 personal_sign signature of the nonce message, 0x-hex.")
    parent_code: str | None = Field(
        None, max_length=16, description="The referral code of the affiliate to register under."
    )


class PublicAffiliate(BaseModel):
    program: str
    code: str
    parent_code: str | None
    depth: int
    status: aff.AffiliateStatus
    direct_referrals: int
    created_at: datetime


@router.post(
    "/nonce",
    response_model=aff.NonceIssued,
    status_code=201,
    responses=responses(409, 429),
    summary="A single-use message for the wallet to sign",
)
def issue_nonce(engine: EngineDep, body: NonceRequest) -> aff.NonceIssued:
    with session_scope(engine) as session:
        return aff.issue_nonce(session, body.program, body.wallet)


@router.post(
    "",
    response_model=aff.AffiliateView,
    status_code=201,
    responses=responses(401, 409),
    summary="Register as an affiliate (wallet signature)",
)
def register(engine: EngineDep, body: RegisterRequest) -> aff.AffiliateView:
    with session_scope(engine) as session:
        affiliate = aff.register_affiliate(
            session, body.program, body.wallet, body.nonce, body.signature, body.parent_code
        )
        return aff.affiliate_view(session, affiliate, body.program)


def _by_code(session: Session, program: str, code: str) -> aff.Affiliate:
    prog = aff.program_by_slug(session, program, active=False)
    found = aff.by_code(session, row_id(prog), aff.normalize_code(code))
    if found is None:
        raise ApiError(404, "affiliate_not_found", f"no affiliate with code {code!r} in {program}")
    return found


@router.get("/{program}/{code}", response_model=PublicAffiliate, summary="An affiliate's public profile")
def profile(engine: EngineDep, program: str, code: str) -> PublicAffiliate:
    with Session(engine) as session:
        a = _by_code(session, program, code)
        view = aff.affiliate_view(session, a, program)
        direct = session.exec(
            select(func.count()).select_from(aff.Affiliate).where(aff.Affiliate.parent_id == a.id)
        ).one()
    return PublicAffiliate(
        program=program,
        code=view.code,
        parent_code=view.parent_code,
        depth=view.depth,
        status=view.status,
        direct_referrals=direct,
        created_at=view.created_at,
    )


@router.get("/{program}/{code}/tree", response_model=aff.Tree, summary="An affiliate's downline: codes only, bounded")
def public_tree(
    engine: EngineDep,
    program: str,
    code: str,
    depth: Annotated[int, Query(ge=0, le=aff.MAX_TREE_DEPTH)] = 2,
    limit: Annotated[int, Query(ge=1, le=aff.MAX_TREE_NODES)] = 100,
) -> aff.Tree:
    with Session(engine) as session:
        return aff.tree(session, _by_code(session, program, code), depth=depth, limit=limit, with_wallets=False)
