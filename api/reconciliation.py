"""Reconciliation reports for operators (`/v1/ops/reconciliation`), an admin's on-demand run, and the
gauges Prometheus reads at scrape time from the newest report (so every API process answers the same).

Amounts are strings of integer minor units (18-decimal SGE/ETH amounts do not fit a JSON number)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from prometheus_client import Gauge
from sqlmodel import Session, col, select
from temporalio.service import RPCError

from api.deps import Admin, EngineDep, RowId, SettingsDep, TemporalDep, Viewer
from api.errors import ApiError, responses
from models.recon import ReconciliationCheck
from models.recon.report import RunRequest, get_report, latest_report, list_reports, report_view

router = APIRouter(prefix="/v1/ops/reconciliation", tags=["reconciliation"], responses=responses(401, 403, 422))

DIFFERENCE = Gauge(
    "sge_reconciliation_difference",
    "Unexplained difference of each check in the newest reconciliation report (asset minor units, or records); "
    "anything but 0 is P0",
    ["check"],
)
LAST_RUN = Gauge("sge_reconciliation_last_run_timestamp_seconds", "When the newest reconciliation report finished")


def refresh_metrics(state: Any) -> None:
    """Set the gauges from the newest report (run in a thread by /metrics)."""
    with Session(state.engine) as session:
        report = latest_report(session)
        if report is None:
            return
        checks = session.exec(select(ReconciliationCheck).where(col(ReconciliationCheck.report_id) == report.id)).all()
    LAST_RUN.set(report.finished_at.timestamp())
    DIFFERENCE.clear()  # a check that left the report must not keep its old value
    for c in checks:
        DIFFERENCE.labels(c.name).set(float(c.unexplained))


def _summary(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "checks"}


@router.get("", summary="Reconciliation reports, newest first (each: ok, unexplained checks, first items)")
async def reports(
    engine: EngineDep, _actor: Viewer, limit: Annotated[int, Query(ge=1, le=200)] = 30
) -> list[dict[str, Any]]:
    def read() -> list[dict[str, Any]]:
        with Session(engine) as session:
            return [r.model_dump(mode="json") for r in list_reports(session, limit)]

    return await run_in_threadpool(read)


@router.get(
    "/{report_id}",
    responses=responses(404),
    summary="One report: every check with expected, actual, difference and its items",
)
async def report(report_id: RowId, engine: EngineDep, _actor: Viewer) -> dict[str, Any]:
    def read() -> dict[str, Any]:
        with Session(engine) as session:
            return report_view(session, get_report(session, report_id))

    return await run_in_threadpool(read)


@router.post(
    "/run",
    status_code=202,
    responses=responses(503),
    summary="Start a reconciliation run now (admin); its report follows",
)
async def run(temporal: TemporalDep, settings: SettingsDep, _actor: Admin) -> dict[str, str]:
    key = f"manual:{uuid.uuid4().hex}"
    try:
        handle = await temporal.start_workflow(
            "Reconciliation",
            RunRequest(run_key=key, trigger="manual"),
            id=f"reconciliation-{key.replace(':', '-')}",
            task_queue=settings.temporal_task_queue,
        )
    except RPCError:  # Temporal refused or timed out: a precise, retryable answer rather than a 500
        raise ApiError(
            503,
            "orchestrator_unavailable",
            "the workflow service is unavailable; retry shortly",
            headers={"Retry-After": "5"},
        ) from None
    return {"workflow_id": handle.id, "run_key": key}
