"""WeeklyPayouts: one payout batch per active program for the previous ISO week.

Started by the Temporal Schedule `sge-weekly-payouts` (temporal/schedules.py). Each batch is its own
`PayoutBatch` workflow (id `payout:<program>:<YYYY-Www>`, started once: a repeated run finds it and
moves on), left running when this workflow ends (it waits a day or more for approvers)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from models.payouts import io


@workflow.defn(name=io.WEEKLY_WORKFLOW)
class WeeklyPayoutsWorkflow:
    @workflow.run
    async def run(self) -> list[str]:
        last_week = (workflow.now() - timedelta(days=7)).isocalendar()
        period = f"{last_week.year}-W{last_week.week:02d}"
        programs: list[str] = await workflow.execute_activity(
            io.ACTIVE_PROGRAMS,
            result_type=list[str],
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
        )
        started: list[str] = []
        for program in sorted(programs):
            bid = io.batch_id(program, period)
            try:
                await workflow.start_child_workflow(
                    io.WORKFLOW_NAME,
                    io.PayoutInput(program=program, period=period, created_by=None),
                    id=bid,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    parent_close_policy=ParentClosePolicy.ABANDON,
                )
                started.append(bid)
            except WorkflowAlreadyStartedError:
                continue  # this week's batch exists (an earlier run, or an operator made it)
        return started
