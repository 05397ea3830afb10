"""OperatorReport: build and persist the daily or weekly operator report (models/reports).

Started by the `sge-report-daily` and `sge-report-weekly` Schedules (no day: the last complete period
before the workflow's start) and by `sge reports run` (the period containing today, so far). Reads only;
it runs while the platform is halted.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from models.reports import BUILD_OPERATOR_REPORT
    from models.reports.store import ReportRef, ReportRequest, last_complete_period


@workflow.defn(name="OperatorReport")
class OperatorReportWorkflow:
    @workflow.run
    async def run(self, req: ReportRequest) -> ReportRef:
        if req.day is None:  # decided once, in history: a retried activity reports on the same period
            req = req.model_copy(update={"day": last_complete_period(req.kind, workflow.now())[0]})
        return await workflow.execute_activity(
            BUILD_OPERATOR_REPORT,
            req,
            result_type=ReportRef,
            start_to_close_timeout=timedelta(minutes=10),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1), maximum_attempts=5),
        )
