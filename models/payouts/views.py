"""Payout batches as operators read them (from the DB: consistent, even after the workflow ended)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlmodel import Session, col, select

from models.operators import Operator
from models.payouts import selection as sel
from models.payouts.records import PayoutBatchRow
from models.platform import Program


class BatchSummary(BaseModel):
    batch_id: str
    program: str
    period: str
    state: str
    reason: str
    total: int
    line_count: int
    required_approvals: int
    approvals: int  # accepted so far
    created_by: str
    deadline: datetime | None
    created_at: datetime
    updated_at: datetime


class LineView(BaseModel):
    payout_id: str
    affiliate_id: int
    wallet: str
    amount: int
    gross: int
    netted: dict[str, int]
    state: str
    reason: str
    chain_tx: str | None


class BatchDetail(BatchSummary):
    token: str
    chain_id: int
    payout_contract: str
    lines_root: str
    digest: str
    approve_tx: str | None
    decisions: list[dict[str, Any]]
    typed_data: dict[str, Any]
    lines: list[LineView]


def _summary(row: PayoutBatchRow, program: str, creator: str) -> dict[str, Any]:
    accepted = {d.get("signer") for d in row.approvals if d.get("kind") == "approve" and d.get("outcome") == "accepted"}
    return dict(
        batch_id=row.id,
        program=program,
        period=row.period,
        state=row.state,
        reason=row.reason,
        total=row.total,
        line_count=row.line_count,
        required_approvals=row.required_approvals,
        approvals=len(accepted),
        created_by=creator or "schedule",
        deadline=row.deadline,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def list_batches(
    session: Session, *, program: str | None = None, state: str | None = None, limit: int = 100
) -> list[BatchSummary]:
    stmt = (
        select(PayoutBatchRow, Program.slug, Operator.name)
        .join(Program, col(Program.id) == col(PayoutBatchRow.program_id))
        .join(Operator, col(Operator.id) == col(PayoutBatchRow.created_by), isouter=True)
        .order_by(col(PayoutBatchRow.created_at).desc(), col(PayoutBatchRow.id))
        .limit(max(1, min(limit, 500)))
    )
    if program:
        stmt = stmt.where(Program.slug == program)
    if state:
        stmt = stmt.where(PayoutBatchRow.state == state)
    return [BatchSummary(**_summary(row, slug, name or "")) for row, slug, name in session.exec(stmt).all()]


def batch_detail(session: Session, batch_id: str) -> BatchDetail:
    row = sel.batch_row(session, batch_id)
    program = session.get(Program, row.program_id)
    creator = session.get(Operator, row.created_by) if row.created_by else None
    lines = [
        LineView(
            payout_id=ln.payout_id,
            affiliate_id=ln.affiliate_id,
            wallet=ln.wallet,
            amount=ln.amount,
            gross=ln.gross,
            netted=ln.netted,
            state=ln.state,
            reason=ln.reason,
            chain_tx=ln.chain_tx,
        )
        for ln in sel.batch_lines(session, batch_id)
    ]
    return BatchDetail(
        **_summary(row, program.slug if program else "", creator.name if creator else ""),
        token=row.token,
        chain_id=row.chain_id,
        payout_contract=row.payout_contract,
        lines_root=row.lines_root,
        digest=row.digest,
        approve_tx=row.approve_tx,
        decisions=list(row.approvals),
        typed_data=row.typed_data,
        lines=lines,
    )


def next_manual_period(session: Session, program_id: int) -> str:
    """`batch-N` for a batch an operator creates without a period."""
    count = len(session.exec(select(PayoutBatchRow.id).where(PayoutBatchRow.program_id == program_id)).all())
    return f"batch-{count + 1}"
