"""Operator reports' tables: the persisted report and the per-day counters of refusals."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Date, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.columns import UtcDateTime, utcnow


class OperatorReport(SQLModel, table=True):
    """One report of a period (`kind` daily: one UTC day; weekly: an ISO week from Monday). A later run of
    the same period replaces the body (a report of a day so far is completed by the scheduled run)."""

    __tablename__ = "operator_report"
    __table_args__ = (UniqueConstraint("kind", "period_start", name="uq_operator_report_kind_period"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)  # daily | weekly
    period_start: date = Field(sa_column=Column(Date, nullable=False, index=True))
    period_end: date = Field(sa_column=Column(Date, nullable=False))  # exclusive
    body: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    trigger: str = Field(default="manual", max_length=32)  # schedule | manual
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class SecurityEventCount(SQLModel, table=True):
    """How many refusals of one kind and code happened on a UTC day. Counters, not rows per event: a
    flood of bad requests cannot grow the table beyond (days × codes), and nothing personal is kept."""

    __tablename__ = "security_event_count"

    day: date = Field(sa_column=Column(Date, primary_key=True))
    kind: str = Field(primary_key=True, max_length=32)  # operator_auth | siwe | attribution
    code: str = Field(primary_key=True, max_length=64)
    count: int = 0
