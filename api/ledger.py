"""Operator ledger endpoints under /v1/ops/ledger: balances, account statements, transactions, verify.

Amounts are strings of integer minor units (18-decimal SGE/ETH amounts do not fit a JSON number
safely), each with its exact decimal form next to it.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from sqlmodel import Session

from api.deps import OPERATOR_API, EngineDep, OptionalCursor, SettingsDep, Viewer, auth_failed
from api.errors import ApiError, responses
from models import ledger
from models.books import verify_books
from models.money import Asset, format_amount
from models.operators import Role

router = APIRouter(prefix="/v1/ops/ledger", tags=["ledger"], responses=responses(401, 403, 422))


class BalanceOut(BaseModel):
    account: str
    type: ledger.AccountType
    asset: Asset
    balance_minor: str  # signed: debit > 0
    normal_balance_minor: str  # on the account's normal side
    normal_balance: str  # exact decimal


class StatementLineOut(BaseModel):
    posting_id: int
    tx_id: str
    kind: str
    refs: dict[str, Any]
    amount_minor: str
    balance_after_minor: str
    created_at: datetime


class StatementOut(BaseModel):
    account: str
    asset: Asset
    opening_balance_minor: str
    closing_balance_minor: str
    lines: list[StatementLineOut]
    next_cursor: int | None


class PostingOut(BaseModel):
    account: str
    asset: Asset
    amount_minor: str
    amount: str


class TransactionOut(BaseModel):
    id: str
    kind: str
    refs: dict[str, Any]
    content_hash: str
    created_at: datetime
    postings: list[PostingOut]


# Stated in the schema; `_asset` also takes lower case.
AssetQuery = Annotated[str, Query(json_schema_extra={"enum": [a.value for a in Asset]})]


def _asset(value: str) -> Asset:
    try:
        return Asset(value.upper())
    except ValueError:
        raise ApiError(422, "invalid_asset", f"unknown asset {value!r} ({', '.join(a.value for a in Asset)})") from None


@router.get("/balances", response_model=list[BalanceOut], summary="Balance per account and asset")
def balances(
    engine: EngineDep,
    actor: Viewer,
    # Account names are lowercase words, ids and slugs joined by ':' (models/ledger/chart.py); anything
    # else (a NUL byte, which PostgreSQL text cannot hold) is a 422, not a driver error.
    prefix: Annotated[str | None, Query(max_length=200, pattern=r"^[A-Za-z0-9_:.\-]*$")] = None,
    asset: AssetQuery | None = None,
) -> list[BalanceOut]:
    with Session(engine) as session:
        rows = ledger.balances(session, prefix, None if asset is None else _asset(asset))
    return [
        BalanceOut(
            account=b.account,
            type=b.type,
            asset=b.asset,
            balance_minor=str(b.balance),
            normal_balance_minor=str(b.normal_balance),
            normal_balance=format_amount(b.normal_balance, b.asset.scale),
        )
        for b in rows
    ]


@router.get(
    "/accounts/{account}/statement",
    response_model=StatementOut,
    responses=responses(404),
    summary="An account's postings, paged",
)
def account_statement(
    engine: EngineDep,
    account: str,
    actor: Viewer,
    asset: AssetQuery,
    after: OptionalCursor = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> StatementOut:
    with Session(engine) as session:
        st = ledger.statement(session, account, _asset(asset), after=after, limit=limit)
    return StatementOut(
        account=st.account,
        asset=st.asset,
        opening_balance_minor=str(st.opening_balance),
        closing_balance_minor=str(st.closing_balance),
        lines=[
            StatementLineOut(
                posting_id=line.posting_id,
                tx_id=line.tx_id,
                kind=line.kind,
                refs=line.refs,
                amount_minor=str(line.amount),
                balance_after_minor=str(line.balance_after),
                created_at=line.created_at,
            )
            for line in st.lines
        ],
        next_cursor=st.next_cursor,
    )


@router.get(
    "/transactions/{tx_id:path}",
    response_model=TransactionOut,
    responses=responses(404),
    summary="One ledger transaction",
)
def transaction(engine: EngineDep, tx_id: str, actor: Viewer) -> TransactionOut:
    with Session(engine) as session:
        found = ledger.get_transaction(session, tx_id)
    if found is None:
        raise ApiError(404, "transaction_not_found", f"no ledger transaction {tx_id!r}")
    tx, postings = found
    return TransactionOut(
        id=tx.id,
        kind=tx.kind,
        refs=tx.refs,
        content_hash=tx.content_hash,
        created_at=tx.created_at,
        postings=[
            PostingOut(
                account=p.account,
                asset=p.asset,
                amount_minor=str(p.amount),
                amount=format_amount(p.amount, p.asset.scale),
            )
            for p in postings
        ],
    )


class VerifyOut(ledger.VerifyReport):
    """The report, and whether it came from the cache (`checked_at` is when it was computed)."""

    cached: bool
    max_age_seconds: int


class _VerifyCache:
    """The last report, per API process. The lock makes concurrent askers wait for one scan."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.report: ledger.VerifyReport | None = None
        self.at = 0.0


def _verify_cache(request: Request) -> _VerifyCache:
    state = request.app.state
    if getattr(state, "ledger_verify_cache", None) is None:
        state.ledger_verify_cache = _VerifyCache()
    return state.ledger_verify_cache


@router.get(
    "/verify",
    response_model=VerifyOut,
    summary="Check every transaction balances and each asset sums to zero (cached; `fresh=true`: admin)",
)
async def verify(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    actor: Viewer,
    fresh: Annotated[bool, Query(description="Scan now instead of serving a recent report (admin).")] = False,
) -> VerifyOut:
    # A full scan of the journal: any viewer gets a report at most SGE_LEDGER_VERIFY_CACHE_SECONDS old;
    # only an admin can make it scan on demand.
    if fresh and not actor.has_any(Role.ADMIN):
        auth_failed(request, OPERATOR_API, "insufficient_role", operator=actor.name)  # counted like any 403
        raise ApiError(403, "insufficient_role", "fresh=true needs the role admin")
    max_age = settings.ledger_verify_cache_seconds

    def run() -> ledger.VerifyReport:
        with Session(engine) as session:
            return verify_books(session)

    cache = _verify_cache(request)
    async with cache.lock:
        cached = not fresh and cache.report is not None and time.monotonic() - cache.at < max_age
        if not cached or cache.report is None:
            cache.report = await run_in_threadpool(run)
            cache.at = time.monotonic()
        report = cache.report
    return VerifyOut(**report.model_dump(), cached=cached, max_age_seconds=max_age)
