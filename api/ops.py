"""Operator endpoints under /v1/ops: operators, programs, affiliates, commissions, audit log.

Every endpoint names the role it needs (`any_operator` = viewer, approver or admin; `admin_only`).
Every change is audited in the same DB transaction (models.operators.audit).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from api.deps import Admin, Cursor, EngineDep, OptionalCursor, RowId, Viewer
from api.errors import ApiError, responses
from core.db import row_id, session_scope
from models import affiliates as aff
from models import commissions as com
from models import operators as ops
from models import programs as prg
from models.operators import Actor

router = APIRouter(prefix="/v1/ops", tags=["operators"], responses=responses(401, 403, 422))


# --- who am I ----------------------------------------------------------------------------------


class Me(BaseModel):
    name: str
    operator_id: int | None
    roles: list[ops.Role]


@router.get("/me", response_model=Me, summary="The authenticated operator (any role)")
def me(actor: Viewer) -> Me:
    return Me(name=actor.name, operator_id=actor.operator_id, roles=actor.roles)


# --- operators (admin) -------------------------------------------------------------------------


class OperatorCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100, json_schema_extra={"pattern": ops.NAME_PATTERN})
    roles: list[ops.Role] = Field(min_length=1)


class OperatorCreated(BaseModel):
    operator: ops.OperatorView
    api_key: str = Field(description="Shown once: only its hash is stored.")


@router.get("/operators", response_model=list[ops.OperatorView], summary="List operators (admin)")
def list_operators(engine: EngineDep, actor: Admin) -> list[ops.OperatorView]:
    with Session(engine) as session:
        return ops.list_operators(session)


@router.post(
    "/operators",
    response_model=OperatorCreated,
    status_code=201,
    responses=responses(409),
    summary="Create an operator and their key (admin)",
)
def create_operator(engine: EngineDep, body: OperatorCreate, actor: Admin) -> OperatorCreated:
    try:
        with session_scope(engine) as session:
            view, key = ops.create_operator(session, actor, body.name, [r.value for r in body.roles])
    except IntegrityError:
        raise ApiError(409, "operator_exists", f"an operator named {body.name!r} exists") from None
    return OperatorCreated(operator=view, api_key=key)


def _set_active(engine, actor: Actor, operator_id: int, active: bool) -> ops.OperatorView:
    with session_scope(engine) as session:
        return ops.set_active(session, actor, operator_id, active)


@router.post(
    "/operators/{operator_id}/disable",
    response_model=ops.OperatorView,
    responses=responses(404, 409),
    summary="Disable an operator's key (admin)",
)
def disable_operator(engine: EngineDep, operator_id: RowId, actor: Admin) -> ops.OperatorView:
    if operator_id == actor.operator_id:
        raise ApiError(409, "cannot_disable_self", "an admin cannot disable their own key (ask another admin)")
    return _set_active(engine, actor, operator_id, False)


@router.post(
    "/operators/{operator_id}/enable",
    response_model=ops.OperatorView,
    responses=responses(404, 409),
    summary="Re-enable an operator (admin)",
)
def enable_operator(engine: EngineDep, operator_id: RowId, actor: Admin) -> ops.OperatorView:
    return _set_active(engine, actor, operator_id, True)


# --- programs ----------------------------------------------------------------------------------


@router.get("/programs", response_model=list[prg.ProgramView], summary="List programs")
def list_programs(engine: EngineDep, actor: Viewer) -> list[prg.ProgramView]:
    with Session(engine) as session:
        return [prg.program_view(p) for p in prg.list_programs(session)]


@router.get("/programs/{slug}", response_model=prg.ProgramView, responses=responses(404), summary="One program")
def get_program(engine: EngineDep, slug: str, actor: Viewer) -> prg.ProgramView:
    with Session(engine) as session:
        return prg.program_view(prg.require_program(session, slug))


@router.post(
    "/programs",
    response_model=prg.ProgramView,
    status_code=201,
    responses=responses(409),
    summary="Create a program (admin)",
)
def create_program(engine: EngineDep, body: prg.ProgramCreate, actor: Admin) -> prg.ProgramView:
    try:
        with session_scope(engine) as session:
            return prg.program_view(prg.create_program(session, actor, body))
    except IntegrityError:  # a concurrent create of the same slug
        raise ApiError(409, "program_exists", f"program {body.slug!r} exists") from None


@router.patch(
    "/programs/{slug}",
    response_model=prg.ProgramView,
    responses=responses(404, 409),
    summary="Change a program (admin)",
)
def update_program(engine: EngineDep, slug: str, body: prg.ProgramUpdate, actor: Admin) -> prg.ProgramView:
    with session_scope(engine) as session:
        return prg.program_view(prg.update_program(session, actor, slug, body))


@router.delete(
    "/programs/{slug}",
    response_model=prg.ProgramView,
    responses=responses(404, 409),
    summary="Deactivate a program; its history stays (admin)",
)
def deactivate_program(engine: EngineDep, slug: str, actor: Admin) -> prg.ProgramView:
    with session_scope(engine) as session:
        return prg.program_view(prg.deactivate_program(session, actor, slug))


# --- affiliates --------------------------------------------------------------------------------


class AffiliatePage(BaseModel):
    affiliates: list[aff.AffiliateView]
    next_cursor: int | None


class AffiliateDetail(BaseModel):
    affiliate: aff.AffiliateView
    stats: com.AffiliateStats


class StatusChange(BaseModel):
    reason: str = Field("", max_length=500)


@router.get(
    "/programs/{slug}/affiliates",
    response_model=AffiliatePage,
    responses=responses(404),
    summary="A program's affiliates, paged",
)
def list_affiliates(
    engine: EngineDep, slug: str, actor: Viewer, after: Cursor = 0, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> AffiliatePage:
    with Session(engine) as session:
        program = prg.require_program(session, slug)
        rows = session.exec(
            select(aff.Affiliate)
            .where(col(aff.Affiliate.program_id) == program.id, col(aff.Affiliate.id) > after)
            .order_by(col(aff.Affiliate.id))
            .limit(limit + 1)
        ).all()
        views = [aff.affiliate_view(session, a, program.slug) for a in rows[:limit]]
    return AffiliatePage(affiliates=views, next_cursor=views[-1].id if len(rows) > limit else None)


def _affiliate(session: Session, affiliate_id: int) -> aff.Affiliate:
    a = session.get(aff.Affiliate, affiliate_id)
    if a is None:
        raise ApiError(404, "affiliate_not_found", f"no affiliate {affiliate_id}")
    return a


@router.get(
    "/affiliates/{affiliate_id}",
    response_model=AffiliateDetail,
    responses=responses(404),
    summary="An affiliate with stats",
)
def get_affiliate(engine: EngineDep, affiliate_id: RowId, actor: Viewer) -> AffiliateDetail:
    with Session(engine) as session:
        a = _affiliate(session, affiliate_id)
        return AffiliateDetail(affiliate=aff.affiliate_view(session, a), stats=com.affiliate_stats(session, row_id(a)))


@router.get(
    "/affiliates/{affiliate_id}/tree",
    response_model=aff.Tree,
    responses=responses(404),
    summary="An affiliate's downline (bounded)",
)
def affiliate_tree(
    engine: EngineDep,
    affiliate_id: RowId,
    actor: Viewer,
    depth: Annotated[int, Query(ge=0, le=aff.MAX_TREE_DEPTH)] = 2,
    limit: Annotated[int, Query(ge=1, le=aff.MAX_TREE_NODES)] = 100,
) -> aff.Tree:
    with Session(engine) as session:
        return aff.tree(session, _affiliate(session, affiliate_id), depth=depth, limit=limit, with_wallets=True)


@router.get(
    "/affiliates/{affiliate_id}/commissions",
    response_model=com.CommissionPage,
    responses=responses(404),
    summary="An affiliate's commission statement",
)
def affiliate_commissions(
    engine: EngineDep,
    affiliate_id: RowId,
    actor: Viewer,
    after: Cursor = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> com.CommissionPage:
    with Session(engine) as session:
        _affiliate(session, affiliate_id)
        return com.commission_statement(session, affiliate_id, after=after, limit=limit)


def _set_affiliate_status(
    engine, actor: Actor, affiliate_id: int, status: aff.AffiliateStatus, reason: str
) -> aff.AffiliateView:
    with session_scope(engine) as session:
        a = aff.set_status(session, actor, affiliate_id, status, reason)
        return aff.affiliate_view(session, a)


@router.post(
    "/affiliates/{affiliate_id}/suspend",
    response_model=aff.AffiliateView,
    responses=responses(404, 409),
    summary="Suspend: earns nothing (admin)",
)
def suspend_affiliate(engine: EngineDep, affiliate_id: RowId, body: StatusChange, actor: Admin) -> aff.AffiliateView:
    return _set_affiliate_status(engine, actor, affiliate_id, aff.AffiliateStatus.SUSPENDED, body.reason)


@router.post(
    "/affiliates/{affiliate_id}/reinstate",
    response_model=aff.AffiliateView,
    responses=responses(404, 409),
    summary="Reinstate (admin)",
)
def reinstate_affiliate(engine: EngineDep, affiliate_id: RowId, body: StatusChange, actor: Admin) -> aff.AffiliateView:
    return _set_affiliate_status(engine, actor, affiliate_id, aff.AffiliateStatus.ACTIVE, body.reason)


# --- commissions and audit ---------------------------------------------------------------------


@router.get("/commissions", response_model=list[com.CommissionLine], summary="The commissions of one payment")
def payment_commissions(engine: EngineDep, payment_ref: str, actor: Viewer) -> list[com.CommissionLine]:
    with Session(engine) as session:
        return com.payment_commissions(session, payment_ref)


@router.get("/audit", response_model=list[ops.AuditEntry], summary="The audit log, newest first (admin)")
def audit_log(
    engine: EngineDep,
    actor: Admin,
    before: OptionalCursor = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    target_type: str | None = None,
    target_id: str | None = None,
) -> list[ops.AuditEntry]:
    with Session(engine) as session:
        return ops.audit_entries(session, before_id=before, limit=limit, target_type=target_type, target_id=target_id)
