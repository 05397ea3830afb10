"""Reconciliation's tables: the persisted report, its checks, and the chain-log cursors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Integer
from sqlmodel import Field, SQLModel

from core.columns import AmountType, UtcDateTime, utcnow


class ReconciliationReport(SQLModel, table=True):
    """One reconciliation run. `run_key` makes a retried run find its report instead of writing a second."""

    __tablename__ = "reconciliation_report"

    id: int | None = Field(default=None, primary_key=True)
    run_key: str = Field(max_length=200, unique=True)
    trigger: str = Field(default="manual", max_length=32)  # schedule | manual
    started_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime, index=True)
    finished_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    ok: bool
    unexplained_checks: int = 0
    halted: bool = False  # the platform was halted for this report (switched on now, or already on)
    from_block: int | None = None
    to_block: int | None = None
    first_items: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class ReconciliationCheck(SQLModel, table=True):
    """One check of a report: expected (the books) vs actual (the world), exact integers in `asset` units.

    `explained` is the part of the difference accounted for by benign items (in flight, not yet final);
    `unexplained` = difference − explained; a non-zero `unexplained` is P0. `items` name what explains
    or causes the difference (transaction hashes, payment refs, ledger keys), first ones first."""

    __tablename__ = "reconciliation_check"

    id: int | None = Field(default=None, primary_key=True)
    report_id: int = Field(
        sa_column=Column(Integer, ForeignKey("reconciliation_report.id"), nullable=False, index=True)
    )
    name: str = Field(max_length=64)
    family: str = Field(max_length=16)  # chain | processor | internal
    asset: str = Field(default="", max_length=8)
    expected: int = Field(default=0, sa_type=AmountType)
    actual: int = Field(default=0, sa_type=AmountType)
    difference: int = Field(default=0, sa_type=AmountType)
    explained: int = Field(default=0, sa_type=AmountType)
    unexplained: int = Field(default=0, sa_type=AmountType)
    ok: bool
    items: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class ReconciliationCursor(SQLModel, table=True):
    """How far a chain-log check has read (the last block it covered), so each run resumes there."""

    __tablename__ = "reconciliation_cursor"

    name: str = Field(primary_key=True, max_length=64)
    block: int
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
