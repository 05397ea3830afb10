"""Starting a Reconciliation run on demand (`sge reconcile run`, tests); the daily one is a Schedule."""

from __future__ import annotations

import uuid

from temporalio.client import Client

from models.recon.report import ReportSummary, RunRequest


async def run_reconciliation(client: Client, task_queue: str, run_key: str | None = None) -> ReportSummary:
    key = run_key or f"manual:{uuid.uuid4().hex}"
    return await client.execute_workflow(
        "Reconciliation",
        RunRequest(run_key=key, trigger="manual"),
        id=f"reconciliation-{key.replace(':', '-')}",
        task_queue=task_queue,
        result_type=ReportSummary,
    )
