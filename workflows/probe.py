"""A no-op one-activity workflow: proves a worker is polling, and measures the orchestration ceiling."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models import io


@workflow.defn(name="Probe")
class ProbeWorkflow:
    @workflow.run
    async def run(self, payload: str) -> str:
        return await workflow.execute_activity(
            io.NOOP, payload, result_type=str, start_to_close_timeout=timedelta(seconds=10)
        )
