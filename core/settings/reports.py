"""Settings of the operator reports (daily and weekly summaries, their fraud thresholds)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ReportFields(BaseModel):
    report_daily_hour_utc: int = Field(
        1, ge=0, le=23, description="Hour (UTC) the daily operator report of the previous day is built."
    )
    report_weekly_weekday: int = Field(
        0, ge=0, le=6, description="Day of the week (0 = Monday, UTC) the weekly report of the previous week is built."
    )
    report_burst_per_network: int = Field(
        20,
        ge=1,
        le=1_000_000,
        description="Registration messages from one client IP (IPv6: one /64) in a report's period that the report "
        "lists as a burst.",
    )
    report_burst_per_referrer: int = Field(
        50,
        ge=1,
        le=1_000_000,
        description="Registrations referred by one affiliate in a report's period that the report lists as a burst.",
    )
