"""Building a payout batch in the DB: which commissions each affiliate's line pays (clawbacks netted,
suspended affiliates and small lines skipped), the batch and its lines persisted with one ledger
reservation per line, and each line's end (paid: reservation posted; voided: back to PAYABLE).

Every function runs in the caller's transaction and is idempotent: a batch is created once under its
id, a line is paid or voided once (its state and the ledger's pending entry both say so)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from eth_utils import keccak
from pydantic import BaseModel
from sqlalchemy import select
from sqlmodel import Session, col

from core.columns import utcnow
from core.db import table_of
from models import ledger
from models.affiliates import Affiliate, AffiliateStatus
from models.commissions import CommissionStatus, complete_payout, reserve_payout, void_payout
from models.commissions.records import Commission
from models.ledger import Accounts
from models.money import Asset
from models.payouts.records import BatchState, LineState, PayoutBatchRow, PayoutError, PayoutLineRow
from models.platform import Program

_C = table_of(Commission)
_A = table_of(Affiliate)


class LineDraft(BaseModel):
    """One affiliate's line before it is reserved."""

    affiliate_id: int
    wallet: str
    gross: int  # PAYABLE commissions' sum
    netted: dict[str, int]  # open clawback kept back, per commission asset
    amount: int  # what the line pays: gross - netted
    commission_ids: list[int]


class Skipped(BaseModel):
    affiliate_id: int
    reason: str  # "suspended" | "below_minimum" | "nothing_after_clawbacks"
    gross: int
    owed: int


def payout_id_of(batch_id: str, affiliate_id: int) -> str:
    """The line's on-chain payout id: derived from the batch and the affiliate, so it is the same on
    every retry and unique across batches."""
    return "0x" + keccak(text=f"{batch_id}:affiliate:{affiliate_id}").hex()


def reservation_key(batch_id: str, payout_id: str) -> str:
    return f"{batch_id}:{payout_id}"


def open_clawbacks(session: Session, affiliate_id: int) -> dict[str, int]:
    """What an affiliate owes back (refunded, already paid commissions), per asset."""
    account = Accounts.affiliate_clawback(affiliate_id)
    return {
        b.asset.value: b.balance for b in ledger.balances(session, prefix=account) if b.account == account and b.balance
    }


def draft_lines(session: Session, program: Program, *, min_amount: int) -> tuple[list[LineDraft], list[Skipped]]:
    """Per affiliate of `program`: its PAYABLE commissions minus what it owes back. Suspended
    affiliates, and lines of nothing or under `min_amount`, are skipped (their commissions stay PAYABLE)."""
    rows = (
        session.connection()
        .execute(
            select(_C.c.id, _C.c.affiliate_id, _C.c.amount, _C.c.asset, _A.c.wallet, _A.c.status)
            .join(_A, _A.c.id == _C.c.affiliate_id)
            .where(_C.c.program_id == program.id, _C.c.status == CommissionStatus.PAYABLE.value)
            .order_by(_C.c.affiliate_id, _C.c.id)
        )
        .all()
    )
    per: dict[int, list] = defaultdict(list)
    for r in rows:
        per[r.affiliate_id].append(r)
    drafts: list[LineDraft] = []
    skipped: list[Skipped] = []
    for aff, commissions in sorted(per.items()):
        payable: dict[str, int] = defaultdict(int)
        for c in commissions:
            payable[c.asset] += int(c.amount)
        gross = sum(payable.values())
        owed = open_clawbacks(session, aff)
        if commissions[0].status != AffiliateStatus.ACTIVE.value:
            skipped.append(Skipped(affiliate_id=aff, reason="suspended", gross=gross, owed=sum(owed.values())))
            continue
        netted = {a: min(owed.get(a, 0), n) for a, n in payable.items() if owed.get(a, 0) > 0}
        amount = gross - sum(netted.values())
        if amount <= 0 or amount < min_amount:
            reason = "nothing_after_clawbacks" if amount <= 0 else "below_minimum"
            skipped.append(Skipped(affiliate_id=aff, reason=reason, gross=gross, owed=sum(owed.values())))
            continue
        drafts.append(
            LineDraft(
                affiliate_id=aff,
                wallet=commissions[0].wallet,
                gross=gross,
                netted=netted,
                amount=amount,
                commission_ids=[c.id for c in commissions],
            )
        )
    return drafts, skipped


def reserve_lines(session: Session, batch: PayoutBatchRow, program: Program, drafts: list[LineDraft]) -> None:
    """Persist `batch` and one reserved line per draft (each its own ledger reservation)."""
    session.add(batch)
    session.flush()
    for d in drafts:
        pid = payout_id_of(batch.id, d.affiliate_id)
        key = reservation_key(batch.id, pid)
        reserve_payout(session, key, program.slug, d.commission_ids)
        session.add(
            PayoutLineRow(
                batch_id=batch.id,
                payout_id=pid,
                affiliate_id=d.affiliate_id,
                wallet=d.wallet,
                amount=d.amount,
                gross=d.gross,
                netted=d.netted,
                commission_ids=d.commission_ids,
                reservation_key=key,
            )
        )
    session.flush()


def batch_row(session: Session, batch_id: str) -> PayoutBatchRow:
    row = session.get(PayoutBatchRow, batch_id)
    if row is None:
        raise PayoutError(f"no payout batch {batch_id!r}", code="payout_not_found", status=404)
    return row


def batch_lines(session: Session, batch_id: str) -> list[PayoutLineRow]:
    rows = session.exec(select(PayoutLineRow).where(col(PayoutLineRow.batch_id) == batch_id)).scalars().all()  # type: ignore[call-overload]
    return sorted(rows, key=lambda r: r.payout_id)


def _line(session: Session, payout_id: str) -> PayoutLineRow:
    row = session.exec(select(PayoutLineRow).where(col(PayoutLineRow.payout_id) == payout_id)).scalars().first()  # type: ignore[call-overload]
    if row is None:
        raise PayoutError(f"no payout line {payout_id}", code="payout_line_not_found", status=404)
    return row


def mark_line_paid(session: Session, payout_id: str, chain_tx: str, *, asset: Asset = Asset.USDC) -> PayoutLineRow:
    """The line was paid on chain: post its reservation (commissions PAID, clawbacks netted)."""
    line = _line(session, payout_id)
    if line.state == LineState.PAID.value:
        return line
    if line.state != LineState.RESERVED.value:
        raise PayoutError(
            f"line {payout_id} is {line.state}, cannot be paid", code="payout_line_not_reserved", status=409
        )
    complete_payout(
        session,
        line.reservation_key,
        payout_asset=asset,
        chain_ref=chain_tx,
        netted=line.netted,
        affiliate_id=line.affiliate_id,
    )
    line.state, line.chain_tx, line.updated_at = LineState.PAID.value, chain_tx, utcnow()
    session.add(line)
    session.flush()
    return line


def void_line(session: Session, payout_id: str, reason: str) -> PayoutLineRow:
    """The line will not be paid: its commissions go back to PAYABLE, the reason stays on the line."""
    line = _line(session, payout_id)
    if line.state != LineState.RESERVED.value:
        return line  # voided before, or paid (never unpaid)
    void_payout(session, line.reservation_key)
    line.state, line.reason, line.updated_at = LineState.VOIDED.value, reason[:500], utcnow()
    session.add(line)
    session.flush()
    return line


def void_reserved_lines(session: Session, batch_id: str, reason: str) -> int:
    """Void every line of the batch still reserved; how many were."""
    voided = 0
    for line in batch_lines(session, batch_id):
        if line.state == LineState.RESERVED.value:
            void_line(session, line.payout_id, reason)
            voided += 1
    return voided


def set_state(
    session: Session,
    batch_id: str,
    state: BatchState,
    reason: str = "",
    *,
    approvals: list[dict] | None = None,
    approve_tx: str | None = None,
    now: datetime | None = None,
) -> PayoutBatchRow:
    row = batch_row(session, batch_id)
    row.state, row.reason, row.updated_at = state.value, reason[:500], now or utcnow()
    if approvals is not None:
        row.approvals = approvals
    if approve_tx is not None:
        row.approve_tx = approve_tx
    session.add(row)
    session.flush()
    return row
