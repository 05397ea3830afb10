"""Checking the whole journal: balance, content hashes, asset totals, resolved pending entries, every
account in the chart and no never-negative account below zero. (The cross-checks against the tables
that posted — settlements, commissions, reservations, suspense — are in models/books.py.)"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlmodel import Session

from core.columns import utcnow
from core.db import table_of
from models.ledger.chart import account_spec
from models.ledger.errors import UnknownAccount
from models.ledger.journal import LedgerPosting, LedgerTx, content_hash
from models.ledger.pending import LedgerPending, PendingStatus

_TX = table_of(LedgerTx)
_POSTING = table_of(LedgerPosting)
_PENDING = table_of(LedgerPending)


class VerifyProblem(BaseModel):
    check: str
    detail: str
    tx_id: str | None = None


class VerifyReport(BaseModel):
    ok: bool
    transactions: int
    postings: int
    asset_totals: dict[str, str]  # per asset, must be "0"
    problems: list[VerifyProblem]
    checked_at: datetime
    balances: dict[tuple[str, str], int] = Field(default_factory=dict, exclude=True)  # for the cross-checks


def verify(session: Session, *, max_problems: int = 100) -> VerifyReport:
    """Check the whole journal: every transaction balances per asset and has ≥ 2 non-zero postings,
    its content hash matches its postings (nothing altered), each asset sums to zero, and every
    resolved pending entry has its resolving transaction."""
    conn = session.connection()
    problems: list[VerifyProblem] = []

    def problem(check: str, detail: str, tx_id: str | None = None) -> None:
        if len(problems) < max_problems:
            problems.append(VerifyProblem(check=check, detail=detail, tx_id=tx_id))

    asset_totals: dict[str, int] = defaultdict(int)
    account_totals: dict[tuple[str, str], int] = defaultdict(int)
    n_tx = n_postings = 0
    stmt = (
        select(
            _TX.c.id,
            _TX.c.kind,
            _TX.c.refs,
            _TX.c.content_hash,
            _POSTING.c.account,
            _POSTING.c.asset,
            _POSTING.c.amount,
        )
        .select_from(_TX.outerjoin(_POSTING, _POSTING.c.tx_id == _TX.c.id))
        .order_by(_TX.c.id, _POSTING.c.id)
        .execution_options(yield_per=5000)
    )

    def check_tx(tx_id, kind, refs, digest, legs) -> None:
        if len(legs) < 2:
            problem("postings", f"has {len(legs)} posting(s)", tx_id)
        sums: dict[str, int] = defaultdict(int)
        for _a, s, n in legs:
            sums[s] += n
            if n == 0:
                problem("zero_posting", "has a zero posting", tx_id)
        for s, total in sums.items():
            if total:
                problem("unbalanced", f"{s} sums to {total:+d}", tx_id)
        if legs and content_hash(kind, refs or {}, legs) != digest:
            problem("content_hash", "postings do not match the recorded content hash", tx_id)

    current = None
    legs: list[tuple[str, str, int]] = []
    for row in conn.execute(stmt):
        if current is None or row.id != current[0]:
            if current is not None:
                check_tx(*current, legs)
            current = (row.id, row.kind, row.refs, row.content_hash)
            legs = []
            n_tx += 1
        if row.account is not None:
            amount = int(row.amount)
            legs.append((row.account, row.asset, amount))
            asset_totals[row.asset] += amount
            account_totals[(row.account, row.asset)] += amount
            n_postings += 1
    if current is not None:
        check_tx(*current, legs)
    for s, total in sorted(asset_totals.items()):
        if total:
            problem("asset_total", f"{s} sums to {total:+d} across the ledger")
    for (account, asset), total in sorted(account_totals.items()):
        try:
            spec = account_spec(account)
        except UnknownAccount:
            problem("chart", f"{account} is not in the chart of accounts")
            continue
        normal = total if spec.type.debit_normal else -total
        if spec.non_negative and normal < 0:
            problem("negative_balance", f"{account} holds {normal} {asset}: it may never go below zero")
    dangling = conn.execute(
        select(_PENDING.c.key, _PENDING.c.status).where(
            _PENDING.c.status != PendingStatus.PENDING.value, _PENDING.c.resolve_tx_id.is_(None)
        )
    ).all()
    for key, status in dangling:
        problem("pending", f"pending entry {key} is {status} without a resolving transaction")
    report = VerifyReport(
        ok=not problems,
        transactions=n_tx,
        postings=n_postings,
        asset_totals={s: str(t) for s, t in sorted(asset_totals.items())},
        problems=problems,
        checked_at=utcnow(),
    )
    report.balances = {k: v for k, v in account_totals.items() if v}
    return report
