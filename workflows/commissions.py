"""ReleaseCommissions: ACCRUED → PAYABLE for every commission past its hold period.

Started by the Temporal Schedule `sge-release-commissions` (temporal/schedules.py), never by cron.
It does nothing while the platform is halted (a reconciliation difference trips the halt switch:
no commission becomes payable until an operator has looked). Each activity call releases a bounded
batch in one DB transaction; the run stops after MAX_BATCHES so its history stays small — the next
scheduled run picks up the rest.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from models import io, ledger
    from models.commissions import ReleaseResult, ReleaseSummary

BATCH = 200
MAX_BATCHES = 50


@workflow.defn(name="ReleaseCommissions")
class ReleaseCommissionsWorkflow:
    @workflow.run
    async def run(self) -> ReleaseSummary:
        released = 0
        for _ in range(MAX_BATCHES):
            # Checked before every batch: a halt switched on mid-run stops the next batch, not the next run.
            halt = await workflow.execute_activity(
                io.HALT_STATUS, result_type=io.HaltStatus, start_to_close_timeout=timedelta(seconds=30)
            )
            if halt.halted:
                workflow.logger.warning("commission release stopped: platform halted (%s)", halt.reason)
                return ReleaseSummary(released=released, halted=True)
            result = await workflow.execute_activity(
                ledger.RELEASE_DUE,
                BATCH,
                result_type=ReleaseResult,
                start_to_close_timeout=timedelta(minutes=2),
                retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
            )
            released += result.released
            if not result.more:
                return ReleaseSummary(released=released)
        return ReleaseSummary(released=released, more=True)
