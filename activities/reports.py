"""The operator report activity: compute a period's report from the DB and persist it (replacing an
earlier report of the same period, so a retry or a re-run is harmless)."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from temporalio import activity

from core.db import session_scope
from core.settings import Settings
from models.reports import BUILD_OPERATOR_REPORT
from models.reports.store import ReportRef, ReportRequest, build_body, period_of, save_report


def build_report(engine: Engine, settings: Settings, req: ReportRequest) -> ReportRef:
    """Also used directly by tests and `sge reports run --here`-free paths: one transaction, one report."""
    if req.day is None:
        raise ValueError("the workflow names the day before the activity runs")
    first, end = period_of(req.kind, req.day)
    with session_scope(engine) as session:
        body = build_body(
            session,
            engine,
            req.kind,
            first,
            end,
            network_threshold=settings.report_burst_per_network,
            referrer_threshold=settings.report_burst_per_referrer,
        )
        return save_report(session, req.kind, first, end, body, req.trigger)


class ReportActivities:
    def __init__(self, settings: Settings, engine: Engine):
        self.settings = settings
        self.engine = engine

    @activity.defn(name=BUILD_OPERATOR_REPORT)
    def build(self, req: ReportRequest) -> ReportRef:
        return build_report(self.engine, self.settings, req)

    def all(self) -> list:
        return [self.build]
