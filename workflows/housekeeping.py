"""Housekeeping: delete the records public requests leave behind once they are of no more use
(expired idempotency records, old registration messages, old affiliate nonces), so they stay bounded.

Started by the Temporal Schedule `sge-housekeeping` (temporal/schedules.py), hourly by default. Not a
money-moving step, so it runs while the platform is halted.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from models.housekeeping import PRUNE, PruneCounts


@workflow.defn(name="Housekeeping")
class HousekeepingWorkflow:
    @workflow.run
    async def run(self) -> PruneCounts:
        counts = await workflow.execute_activity(
            PRUNE,
            result_type=PruneCounts,
            start_to_close_timeout=timedelta(minutes=5),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1), maximum_attempts=5),
        )
        workflow.logger.info("housekeeping done: %s", counts.model_dump())
        return counts
