"""Reading commissions: per affiliate (stats, a paged statement) and per payment."""

from __future__ import annotations

from collections import defaultdict

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlmodel import Session, col

from core.db import table_of
from models.affiliates import Affiliate, Attribution
from models.commissions.records import Commission, CommissionLine, commission_lines, commissions_of

_C = table_of(Commission)


class AffiliateStats(BaseModel):
    affiliate_id: int
    direct_referrals: int  # affiliates directly below
    attributed_users: int  # users who registered with this affiliate's code
    totals: dict[str, dict[str, str]]  # asset → status → amount (minor units, as strings)


def affiliate_stats(session: Session, affiliate_id: int) -> AffiliateStats:

    direct = session.execute(
        select(func.count()).select_from(Affiliate).where(col(Affiliate.parent_id) == affiliate_id)
    ).scalar_one()
    users = session.execute(
        select(func.count()).select_from(Attribution).where(col(Attribution.referrer_id) == affiliate_id)
    ).scalar_one()
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for asset, status, amount in session.connection().execute(
        select(_C.c.asset, _C.c.status, _C.c.amount).where(_C.c.affiliate_id == affiliate_id)
    ):
        totals[asset][status] += int(amount)  # summed in Python: exact on SQLite too
    return AffiliateStats(
        affiliate_id=affiliate_id,
        direct_referrals=direct,
        attributed_users=users,
        totals={a: {s: str(v) for s, v in sorted(by.items())} for a, by in sorted(totals.items())},
    )


def payment_commissions(session: Session, payment_ref: str) -> list[CommissionLine]:
    """The commissions of one payment, by level."""
    return commission_lines(session, commissions_of(session, payment_ref))


class CommissionPage(BaseModel):
    lines: list[CommissionLine]
    next_cursor: int | None


def commission_statement(
    session: Session, affiliate_id: int, *, after: int | None = None, limit: int = 100
) -> CommissionPage:
    """An affiliate's commissions, oldest first, paged by commission id."""
    limit = max(1, min(limit, 500))
    rows = list(
        session.execute(
            select(Commission)
            .where(col(Commission.affiliate_id) == affiliate_id, col(Commission.id) > (after or 0))
            .order_by(col(Commission.id))
            .limit(limit + 1)
        ).scalars()
    )
    more = len(rows) > limit
    lines = commission_lines(session, rows[:limit])
    return CommissionPage(lines=lines, next_cursor=lines[-1].id if more and lines else None)
