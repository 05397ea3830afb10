"""Reconciliation: compare the books with the chain, the processors and themselves; persist the report;
on an unexplained difference turn the halt switch on (reason: the report's id) so no money moves until
an admin has looked. Started daily by the `sge-reconciliation` Schedule and by `sge reconcile run`.

Not a money-moving step: it runs while the platform is halted (a halted platform must still be checked).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from models.recon import HALT_FOR_REPORT, RUN_RECONCILIATION
    from models.recon.report import ReportSummary, RunRequest


@workflow.defn(name="Reconciliation")
class ReconciliationWorkflow:
    @workflow.run
    async def run(self, req: RunRequest | None = None) -> ReportSummary:
        if req is None:  # the Schedule starts it without arguments: one report per scheduled run
            info = workflow.info()
            req = RunRequest(run_key=f"schedule:{info.workflow_id}:{info.run_id}", trigger="schedule")
        retry = RetryPolicy(maximum_interval=timedelta(minutes=1), maximum_attempts=10)
        summary = await workflow.execute_activity(
            RUN_RECONCILIATION,
            req,
            result_type=ReportSummary,
            start_to_close_timeout=timedelta(minutes=30),
            heartbeat_timeout=timedelta(minutes=2),
            retry_policy=retry,
        )
        if not summary.ok:
            workflow.logger.error("reconciliation report %s: %s", summary.id, summary.first_items[:3])
            summary = await workflow.execute_activity(
                HALT_FOR_REPORT,
                summary.id,
                result_type=ReportSummary,
                start_to_close_timeout=timedelta(minutes=1),
                retry_policy=retry,
            )
        return summary
