"""The periodic checks, each started every minute by a Temporal Schedule (temporal/schedules.py):

- RelayerMonitor reads the relayer's balance; at the floor the activity closes the pre-payment chain
  gate (audited, actor "relayer-monitor") and reopens it once the balance is back above the floor.
- StuckCheck counts flows working for more than 10 minutes and relayer transactions pending past the
  replacement window, and logs the first ones (operators list them with `sge flows list --stuck` and
  `sge relayer txs --stuck`; /metrics exports the counts).

Neither moves money, so both run while the platform is halted.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from models.monitoring import RELAYER_CHECK, STUCK_CHECK, RelayerReading, StuckReport

# A check that cannot run now is tried a few times; the next scheduled run takes over after that.
_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=10), maximum_attempts=3)


@workflow.defn(name="RelayerMonitor")
class RelayerMonitorWorkflow:
    @workflow.run
    async def run(self) -> RelayerReading:
        return await workflow.execute_activity(
            RELAYER_CHECK, result_type=RelayerReading, start_to_close_timeout=timedelta(seconds=30), retry_policy=_RETRY
        )


@workflow.defn(name="StuckCheck")
class StuckCheckWorkflow:
    @workflow.run
    async def run(self) -> StuckReport:
        return await workflow.execute_activity(
            STUCK_CHECK, result_type=StuckReport, start_to_close_timeout=timedelta(seconds=30), retry_policy=_RETRY
        )
