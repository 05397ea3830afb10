"""Reading the journal: balances, account statements and single transactions."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import ColumnElement, func, select
from sqlmodel import Session

from core.db import table_of
from models.ledger.chart import AccountType, account_spec
from models.ledger.errors import UnknownAccount
from models.ledger.journal import LedgerPosting, LedgerTx, Posting, is_pg
from models.money import Asset
from models.subjects import WALLET_RE, pseudonymize_text

_TX = table_of(LedgerTx)
_POSTING = table_of(LedgerPosting)


class AccountBalance(BaseModel):
    account: str
    asset: Asset
    balance: int  # signed: debit > 0
    normal_balance: int  # on the account's normal side (credit-normal accounts flipped)
    type: AccountType


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def balances(session: Session, prefix: str | None = None, asset: Asset | str | None = None) -> list[AccountBalance]:
    """Every (account, asset) with postings, optionally filtered by account prefix and asset."""
    conn = session.connection()
    conds: list[ColumnElement[bool]] = []
    if prefix:
        conds.append(_POSTING.c.account.like(_like_prefix(prefix), escape="\\"))
    if asset:
        conds.append(_POSTING.c.asset == Asset(asset).value)
    totals: dict[tuple[str, str], int] = defaultdict(int)
    if is_pg(session):
        stmt = (
            select(_POSTING.c.account, _POSTING.c.asset, func.sum(_POSTING.c.amount))
            .where(*conds)
            .group_by(_POSTING.c.account, _POSTING.c.asset)
        )
        for account, a, total in conn.execute(stmt):
            totals[(account, a)] = int(total)
    else:
        for account, a, amount in conn.execute(
            select(_POSTING.c.account, _POSTING.c.asset, _POSTING.c.amount).where(*conds)
        ):
            totals[(account, a)] += int(amount)
    out = []
    for (account, a), total in sorted(totals.items()):
        spec = account_spec(account)
        out.append(
            AccountBalance(
                account=account,
                asset=Asset(a),
                balance=total,
                type=spec.type,
                normal_balance=total if spec.type.debit_normal else -total,
            )
        )
    return out


class StatementLine(BaseModel):
    posting_id: int
    tx_id: str
    kind: str
    refs: dict[str, Any]
    amount: int
    balance_after: int
    created_at: datetime


class Statement(BaseModel):
    account: str
    asset: Asset
    opening_balance: int
    closing_balance: int
    lines: list[StatementLine]
    next_cursor: int | None  # pass as `after` for the next page


def statement(
    session: Session, account: str, asset: Asset | str, *, after: int | None = None, limit: int = 100
) -> Statement:
    """Postings of one account in one asset, oldest first, `limit` per page after posting id `after`."""
    try:
        account_spec(account)
    except UnknownAccount as exc:  # the account asked for does not exist (not a bad posting)
        raise UnknownAccount(exc.message, status=404) from None
    asset = Asset(asset)
    limit = max(1, min(limit, 1000))
    conn = session.connection()
    base = (_POSTING.c.account == account, _POSTING.c.asset == asset.value)
    opening = 0
    if after:
        if is_pg(session):
            opening = int(
                conn.execute(
                    select(func.coalesce(func.sum(_POSTING.c.amount), 0)).where(*base, _POSTING.c.id <= after)
                ).scalar_one()
            )
        else:
            opening = sum(
                int(v) for (v,) in conn.execute(select(_POSTING.c.amount).where(*base, _POSTING.c.id <= after))
            )
    stmt = (
        select(_POSTING.c.id, _POSTING.c.tx_id, _POSTING.c.amount, _POSTING.c.created_at, _TX.c.kind, _TX.c.refs)
        .join(_TX, _TX.c.id == _POSTING.c.tx_id)
        .where(*base, _POSTING.c.id > (after or 0))
        .order_by(_POSTING.c.id)
        .limit(limit + 1)
    )
    rows = conn.execute(stmt).all()
    more = len(rows) > limit
    rows = rows[:limit]
    running = opening
    lines = []
    for row in rows:
        running += int(row.amount)
        lines.append(
            StatementLine(
                posting_id=row.id,
                tx_id=row.tx_id,
                kind=row.kind,
                refs=row.refs or {},
                amount=int(row.amount),
                balance_after=running,
                created_at=row.created_at,
            )
        )
    return Statement(
        account=account,
        asset=asset,
        opening_balance=opening,
        closing_balance=running,
        lines=lines,
        next_cursor=lines[-1].posting_id if more and lines else None,
    )


def get_transaction(session: Session, tx_id: str) -> tuple[LedgerTx, list[Posting]] | None:
    """A transaction by its key; a key asked for with a wallet in it (a flow id) is found by its subject."""
    tx = session.get(LedgerTx, tx_id)
    if tx is None and WALLET_RE.search(tx_id):
        tx_id = pseudonymize_text(session, tx_id, create=False)
        tx = session.get(LedgerTx, tx_id)
    if tx is None:
        return None
    rows = session.connection().execute(
        select(_POSTING.c.account, _POSTING.c.asset, _POSTING.c.amount)
        .where(_POSTING.c.tx_id == tx_id)
        .order_by(_POSTING.c.id)
    )
    return tx, [Posting(account=a, asset=Asset(s), amount=int(n)) for a, s, n in rows]
