"""Starting an OperatorReport run on demand (`sge reports run`, tests); the periodic ones are Schedules."""

from __future__ import annotations

import uuid
from datetime import date

from temporalio.client import Client

from core.columns import utcnow
from models.reports.store import ReportRef, ReportRequest


async def run_report(client: Client, task_queue: str, kind: str, day: date | None) -> ReportRef:
    req = ReportRequest.model_validate({"kind": kind, "day": day or utcnow().date(), "trigger": "manual"})
    return await client.execute_workflow(
        "OperatorReport",
        req,
        id=f"operator-report-{kind}-{uuid.uuid4().hex[:12]}",
        task_queue=task_queue,
        result_type=ReportRef,
    )
