"""Periods, building a report from the sections, persisting it and reading it back."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from core.columns import utcnow
from core.errors import DomainError
from models.reports import content
from models.reports.tables import OperatorReport

Kind = Literal["daily", "weekly"]
KINDS: tuple[str, ...] = ("daily", "weekly")


class ReportRequest(BaseModel):
    kind: Kind
    day: date | None = None  # a day inside the period; None: the last complete period before `now`
    trigger: str = "manual"


class ReportRef(BaseModel):
    id: int
    kind: str
    period_start: date
    period_end: date


class UnknownReportKind(DomainError):
    code = "unknown_report_kind"
    status = 422


def period_of(kind: str, day: date) -> tuple[date, date]:
    """The period containing `day`: that UTC day, or its ISO week (Monday to Monday)."""
    if kind == "daily":
        return day, day + timedelta(days=1)
    if kind == "weekly":
        monday = day - timedelta(days=day.weekday())
        return monday, monday + timedelta(days=7)
    raise UnknownReportKind(f"a report is daily or weekly, not {kind!r}")


def last_complete_period(kind: str, now: datetime) -> tuple[date, date]:
    """The newest period that has ended by `now` (what the schedule reports on)."""
    start, _ = period_of(kind, now.astimezone(UTC).date())
    return period_of(kind, start - timedelta(days=1))


def _at(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def build_body(
    session: Session,
    engine: Engine,
    kind: str,
    first: date,
    end: date,
    *,
    network_threshold: int,
    referrer_threshold: int,
    now: datetime | None = None,
) -> dict[str, Any]:
    start, stop = _at(first), _at(end)
    now = now or utcnow()
    return {
        "kind": kind,
        "period": {"start": first.isoformat(), "end": end.isoformat(), "complete": now >= stop},
        "generated_at": now.isoformat(timespec="seconds"),
        "activity": content.activity_section(session, start, stop),
        "intents": content.intents_section(session, start, stop),
        "settlement_latency": content.latency_section(session, start, stop),
        "fraud": content.fraud_section(
            session, start, stop, network_threshold=network_threshold, referrer_threshold=referrer_threshold
        ),
        "auth": content.auth_section(session, start, stop),
        "gas": content.gas_section(session, start, stop),
        "slow_queries": content.slow_queries_section(engine),
    }


def save_report(session: Session, kind: str, first: date, end: date, body: dict[str, Any], trigger: str) -> ReportRef:
    """Insert the period's report, or replace its body when the period was reported before."""
    row = session.exec(
        select(OperatorReport).where(OperatorReport.kind == kind, col(OperatorReport.period_start) == first)
    ).first()
    if row is None:
        row = OperatorReport(kind=kind, period_start=first, period_end=end, body=body, trigger=trigger)
    else:
        row.body, row.trigger, row.created_at = body, trigger, utcnow()
    session.add(row)
    session.flush()
    assert row.id is not None
    return ReportRef(id=row.id, kind=kind, period_start=first, period_end=end)


def find_report(session: Session, kind: str, day: date | None = None) -> OperatorReport | None:
    """The report of the period containing `day`, or the newest of that kind."""
    period_of(kind, day or utcnow().date())  # refuses an unknown kind
    query = select(OperatorReport).where(OperatorReport.kind == kind)
    if day is not None:
        query = query.where(col(OperatorReport.period_start) == period_of(kind, day)[0])
    return session.exec(query.order_by(col(OperatorReport.period_start).desc())).first()


def list_reports(session: Session, kind: str, limit: int = 30) -> list[OperatorReport]:
    query = select(OperatorReport).where(OperatorReport.kind == kind)
    return list(session.exec(query.order_by(col(OperatorReport.period_start).desc()).limit(limit)).all())


def report_json(row: OperatorReport) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "period_start": row.period_start.isoformat(),
        "period_end": row.period_end.isoformat(),
        "trigger": row.trigger,
        "created_at": row.created_at.isoformat(timespec="seconds"),
        "body": row.body,
    }
