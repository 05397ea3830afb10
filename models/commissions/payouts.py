"""Commissions on their way out: release after the hold (ACCRUED → PAYABLE), then payout
reservations (two-phase ledger entries) that are completed (PAID) or voided (back to PAYABLE)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import select, update
from sqlmodel import Session, col

from core.columns import utcnow
from core.db import table_of
from models import ledger
from models.affiliates import Affiliate, AffiliateStatus
from models.commissions.records import Commission, CommissionStatus, SettlementError
from models.ledger import Accounts, Posting, credit, debit
from models.ledger.journal import is_pg
from models.money import Asset
from models.platform import Program

_C = table_of(Commission)
_A = table_of(Affiliate)


class ReleaseResult(BaseModel):
    released: int
    more: bool  # more commissions were due than `limit`: call again


class ReleaseSummary(BaseModel):
    """Result of the ReleaseCommissions workflow."""

    released: int
    halted: bool = False  # skipped: the platform is halted
    more: bool = False  # stopped after its batch budget with more due (the next run continues)


# --- release ------------------------------------------------------------------------------------


def release_due(session: Session, *, now: datetime | None = None, limit: int = 200) -> ReleaseResult:
    """ACCRUED → PAYABLE for commissions whose hold has passed (suspended affiliates' stay accrued)."""
    now = now or utcnow()
    stmt = (
        select(_C.c.id, _C.c.affiliate_id, _C.c.amount, _C.c.asset, _C.c.payment_ref)
        .join(_A, _A.c.id == _C.c.affiliate_id)
        .where(
            _C.c.status == CommissionStatus.ACCRUED.value,
            _C.c.payable_at <= now,
            _A.c.status == AffiliateStatus.ACTIVE.value,
        )
        .order_by(_C.c.id)
        .limit(limit + 1)
    )
    if is_pg(session):
        stmt = stmt.with_for_update(of=_C, skip_locked=True)  # parallel runs take disjoint rows
    rows = session.connection().execute(stmt).all()
    more = len(rows) > limit
    released = 0
    for row in rows[:limit]:
        done = session.connection().execute(
            update(_C)
            .where(_C.c.id == row.id, _C.c.status == CommissionStatus.ACCRUED.value)
            .values(
                status=CommissionStatus.PAYABLE.value,
                release_tx_id=f"commission:{row.id}:release",
                released_at=now,
                updated_at=now,
            )
        )
        if done.rowcount != 1:
            continue  # cancelled or released meanwhile
        asset = Asset(row.asset)
        amount = int(row.amount)
        ledger.post_transaction(
            session,
            f"commission:{row.id}:release",
            "commission.release",
            {"commission_id": row.id, "payment_ref": row.payment_ref},
            [
                debit(Accounts.affiliate_accrued(row.affiliate_id), asset, amount),
                credit(Accounts.affiliate_payable(row.affiliate_id), asset, amount),
            ],
        )
        released += 1
    return ReleaseResult(released=released, more=more)


# --- payouts (two-phase): building blocks for the payout batch workflow ------------------------


def reserve_payout(session: Session, key: str, program_slug: str, commission_ids: list[int]) -> ledger.PendingEntry:
    """Reserve PAYABLE commissions for a payout: PAYABLE → RESERVED and a pending ledger entry
    (payable → payouts_in_flight). Idempotent on `key`; any commission not PAYABLE refuses the lot."""
    ids = sorted(set(commission_ids))
    if not ids:
        raise SettlementError("a payout needs at least one commission", code="empty_payout")
    program = session.execute(select(Program).where(col(Program.slug) == program_slug)).scalars().first()
    if program is None:
        raise SettlementError(f"no program {program_slug!r}", code="program_not_found", status=404)
    rows = (
        session.connection()
        .execute(
            select(
                _C.c.id, _C.c.program_id, _C.c.affiliate_id, _C.c.amount, _C.c.asset, _C.c.status, _C.c.payout_key
            ).where(_C.c.id.in_(ids))
        )
        .all()
    )
    if len(rows) != len(ids) or any(r.program_id != program.id for r in rows):
        raise SettlementError("unknown commission, or one of another program", code="invalid_commissions")
    # A clear refusal up front (the conditional update below is what makes it atomic).
    if any(r.status != CommissionStatus.PAYABLE.value and r.payout_key != key for r in rows):
        raise SettlementError(
            "some commissions are not payable (held, reserved, paid or cancelled)",
            code="commissions_not_payable",
            status=409,
        )
    per: dict[tuple[int, str], int] = defaultdict(int)
    for r in rows:
        per[(r.affiliate_id, r.asset)] += int(r.amount)
    legs: list[Posting] = []
    for (aff, asset), amount in sorted(per.items()):
        legs += [
            debit(Accounts.affiliate_payable(aff), asset, amount),
            credit(Accounts.payouts_in_flight(program.slug), asset, amount),
        ]
    refs = {"program": program.slug, "commissions": ",".join(map(str, ids))}
    before = ledger.pending_row(session, key)
    entry = ledger.create_pending(session, key, "payout.reserve", refs, legs)
    if before is not None:
        return entry  # a replay with the same content (create_pending checked it)
    done = session.connection().execute(
        update(_C)
        .where(_C.c.id.in_(ids), _C.c.status == CommissionStatus.PAYABLE.value)
        .values(status=CommissionStatus.RESERVED.value, payout_key=key, updated_at=utcnow())
    )
    if done.rowcount != len(ids):
        raise SettlementError("some commissions are no longer payable", code="commissions_not_payable", status=409)
    return entry


def complete_payout(
    session: Session,
    key: str,
    *,
    payout_asset: Asset = Asset.USDC,
    chain_ref: str = "",
    netted: Mapping[str, int] | None = None,
    affiliate_id: int | None = None,
) -> ledger.PendingEntry:
    """The payout went out: RESERVED → PAID (clawed-back ones → CLAWED_BACK) and the pending entry
    posted (payouts_in_flight → payout_contract in `payout_asset`, via equity:conversion when the
    commissions are in another USD unit). `netted` (per asset, with `affiliate_id`): what the
    affiliate owed back and was kept from this payout — it settles their clawback account instead of
    leaving the contract, so the contract's outflow is exactly what was paid on chain."""
    pending = ledger.pending_row(session, key)
    if pending is None:
        raise ledger.PendingNotFound(f"no payout reservation {key!r}")
    holds = ledger.held_amounts(session, pending.reserve_tx_id)
    netted = {a: n for a, n in (netted or {}).items() if n}
    if netted and affiliate_id is None:
        raise SettlementError("netting a clawback needs the affiliate", code="netting_without_affiliate")
    legs: list[Posting] = []
    for (account, asset), held in sorted(holds.items()):
        legs.append(debit(account, asset, -held))
        net = netted.get(asset, 0)
        if not 0 <= net <= -held:
            raise SettlementError(f"netted {net} outside 0..{-held} {asset}", code="netting_out_of_range")
        if net and affiliate_id is not None:
            legs.append(credit(Accounts.affiliate_clawback(affiliate_id), asset, net))
        amount = -held - net
        if not amount:
            continue
        if Asset(asset) == payout_asset:
            legs.append(credit(Accounts.payout_contract, payout_asset, amount))
        else:  # 1:1 USD-unit conversion (same 6-decimal scale)
            legs += [
                credit(Accounts.conversion, asset, amount),
                debit(Accounts.conversion, payout_asset, amount),
                credit(Accounts.payout_contract, payout_asset, amount),
            ]
    entry = ledger.post_pending(session, key, legs, {"chain_tx": chain_ref} if chain_ref else None)
    now = utcnow()
    conn = session.connection()
    conn.execute(
        update(_C)
        .where(_C.c.payout_key == key, _C.c.status == CommissionStatus.RESERVED.value, _C.c.clawback_tx_id.is_(None))
        .values(status=CommissionStatus.PAID.value, paid_at=now, updated_at=now)
    )
    conn.execute(
        update(_C)
        .where(_C.c.payout_key == key, _C.c.status == CommissionStatus.RESERVED.value, _C.c.clawback_tx_id.is_not(None))
        .values(status=CommissionStatus.CLAWED_BACK.value, paid_at=now, updated_at=now)
    )
    return entry


def void_payout(session: Session, key: str) -> ledger.PendingEntry:
    """The payout will not happen: the reservation is reversed, RESERVED → PAYABLE; a commission
    clawed back while reserved is cancelled instead (its clawback settled against the payable)."""
    pending = ledger.pending_row(session, key)
    if pending is None:
        raise ledger.PendingNotFound(f"no payout reservation {key!r}")
    already = pending.status == ledger.PendingStatus.VOIDED.value
    entry = ledger.void_pending(session, key)
    if already:
        return entry
    now = utcnow()
    rows = (
        session.execute(
            select(Commission).where(
                col(Commission.payout_key) == key, col(Commission.status) == CommissionStatus.RESERVED.value
            )
        )
        .scalars()
        .all()
    )
    settle_legs: list[Posting] = []
    for c in rows:
        if c.clawback_tx_id is not None:
            amount = int(c.amount)
            settle_legs += [
                debit(Accounts.affiliate_payable(c.affiliate_id), c.asset, amount),
                credit(Accounts.affiliate_clawback(c.affiliate_id), c.asset, amount),
            ]
            c.status, c.cancel_tx_id, c.cancelled_at = CommissionStatus.CANCELLED.value, f"{key}:void:clawbacks", now
        else:
            c.status = CommissionStatus.PAYABLE.value
        c.payout_key = None
        c.updated_at = now
        session.add(c)
    if settle_legs:
        ledger.post_transaction(session, f"{key}:void:clawbacks", "payout.void.clawbacks", {"payout": key}, settle_legs)
    session.flush()
    return entry
