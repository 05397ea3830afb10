"""One reconciliation run persisted: the report, its checks, the chain cursor advanced in the same
transaction (a run that fails to save re-reads the same blocks), and reading reports back."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pydantic import BaseModel
from sqlmodel import Session, col, select

from core.columns import utcnow
from core.errors import NotFound
from models.operators import Actor
from models.recon.checks import CheckResult
from models.recon.snapshot import ChainSnapshot
from models.recon.tables import ReconciliationCheck, ReconciliationCursor, ReconciliationReport

CHAIN_CURSOR = "chain_logs"
FIRST_ITEMS = 10


class RunRequest(BaseModel):
    run_key: str  # the schedule's run (its start time) or a manual run's id: a retry finds the same report
    trigger: str = "manual"


class ReportSummary(BaseModel):
    id: int
    run_key: str
    ok: bool
    unexplained_checks: int
    first_items: list[str]
    halted: bool = False


class ReportNotFound(NotFound):
    code = "reconciliation_report_not_found"


def chain_cursor(session: Session) -> int | None:
    """The last block the chain-log checks covered, or None before the first run."""
    row = session.get(ReconciliationCursor, CHAIN_CURSOR)
    return None if row is None else int(row.block)


def find_report(session: Session, run_key: str) -> ReconciliationReport | None:
    return session.exec(select(ReconciliationReport).where(col(ReconciliationReport.run_key) == run_key)).first()


def first_items(checks: list[CheckResult], n: int = FIRST_ITEMS) -> list[str]:
    """Where to look first: the unexplained items of the failing checks, chain and money before counts."""
    found: list[str] = []
    for c in sorted((c for c in checks if not c.ok), key=lambda c: (c.asset == "", c.family != "chain", c.name)):
        for i in c.items:
            if not i.benign:
                found.append(f"{c.name}: {i.ref} — {i.what}")
        if not [i for i in c.items if not i.benign]:
            found.append(f"{c.name}: difference {c.unexplained} {c.asset} with no item found")
    return found[:n]


def save_report(
    session: Session,
    req: RunRequest,
    checks: list[CheckResult],
    snap: ChainSnapshot | None,
    started_at: datetime,
) -> ReportSummary:
    existing = find_report(session, req.run_key)
    if existing is not None:
        return summary(existing)
    failing = [c for c in checks if not c.ok]
    report = ReconciliationReport(
        run_key=req.run_key,
        trigger=req.trigger,
        started_at=started_at,
        finished_at=utcnow(),
        ok=not failing,
        unexplained_checks=len(failing),
        from_block=snap.from_block if snap else None,
        to_block=snap.to_block if snap else None,
        first_items=first_items(checks),
    )
    session.add(report)
    session.flush()
    assert report.id is not None
    for c in checks:
        session.add(
            ReconciliationCheck(
                report_id=report.id,
                name=c.name,
                family=c.family,
                asset=c.asset,
                expected=c.expected,
                actual=c.actual,
                difference=c.difference,
                explained=c.explained,
                unexplained=c.unexplained,
                ok=c.ok,
                items=[i.model_dump() for i in c.items[:200]],
            )
        )
    if snap is not None and snap.to_block >= snap.from_block:
        cursor = session.get(ReconciliationCursor, CHAIN_CURSOR) or ReconciliationCursor(name=CHAIN_CURSOR, block=0)
        cursor.block = snap.to_block
        cursor.updated_at = utcnow()
        session.add(cursor)
    session.flush()
    return summary(report)


def summary(report: ReconciliationReport) -> ReportSummary:
    assert report.id is not None
    return ReportSummary(
        id=report.id,
        run_key=report.run_key,
        ok=report.ok,
        unexplained_checks=report.unexplained_checks,
        first_items=list(report.first_items),
        halted=report.halted,
    )


def halt_for(session: Session, report_id: int) -> ReportSummary:
    """Turn the halt switch on with the report's id as the reason (audited), once."""
    from models.halt import halt_state, set_halt

    report = session.get(ReconciliationReport, report_id, with_for_update=True)
    if report is None:
        raise ReportNotFound(f"no reconciliation report {report_id}")
    if not halt_state(session).halted:
        reason = (
            f"reconciliation report {report_id}: {report.unexplained_checks} check(s) with an unexplained difference"
        )
        set_halt(session, Actor(name="reconciliation"), True, reason)
    report.halted = True
    session.add(report)
    session.flush()
    return summary(report)


_NEWEST = (col(ReconciliationReport.started_at).desc(), col(ReconciliationReport.id).desc())


# --- reading -------------------------------------------------------------------------------------------


def report_view(session: Session, report: ReconciliationReport) -> dict[str, Any]:
    checks = session.exec(
        select(ReconciliationCheck)
        .where(col(ReconciliationCheck.report_id) == report.id)
        .order_by(col(ReconciliationCheck.id))
    ).all()
    body = report.model_dump(mode="json")
    body["checks"] = [
        {
            **c.model_dump(mode="json", exclude={"report_id"}),
            **{k: str(getattr(c, k)) for k in ("expected", "actual", "difference", "explained", "unexplained")},
        }
        for c in checks
    ]
    return body


def get_report(session: Session, report_id: int) -> ReconciliationReport:
    report = session.get(ReconciliationReport, report_id)
    if report is None:
        raise ReportNotFound(f"no reconciliation report {report_id}")
    return report


def latest_report(session: Session, day: date | None = None) -> ReconciliationReport | None:
    """The newest report, or the newest one started on `day` (UTC)."""
    query = select(ReconciliationReport).order_by(
        col(ReconciliationReport.started_at).desc(), col(ReconciliationReport.id).desc()
    )
    if day is not None:
        start = datetime.combine(day, time(), tzinfo=UTC)
        query = query.where(
            col(ReconciliationReport.started_at) >= start,
            col(ReconciliationReport.started_at) < start + timedelta(days=1),
        )
    return session.exec(query.limit(1)).first()


def list_reports(session: Session, limit: int = 30) -> list[ReconciliationReport]:
    query = select(ReconciliationReport).order_by(
        col(ReconciliationReport.started_at).desc(), col(ReconciliationReport.id).desc()
    )
    return list(session.exec(query.limit(limit)))
