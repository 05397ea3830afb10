"""Operator report pages on the operator port, behind the operator browser login (api/pages.py):

    GET /ops/reports                      the newest daily and weekly reports
    GET /ops/reports/{kind}               the newest report of a kind (daily | weekly)
    GET /ops/reports/{kind}/{YYYY-MM-DD}  the report of the period containing that day

    GET /v1/ops/reports/{kind}[/{YYYY-MM-DD}]   the same as JSON (bearer key)

Charts are inline SVG drawn here (api/report_charts.py).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from api.deps import EngineDep, PageViewer, Viewer
from api.errors import ApiError, responses
from api.pages import _render
from api.report_charts import bar_chart, sparkline
from models.reports.store import KINDS, find_report, list_reports, report_json

router = APIRouter(prefix="/ops/reports", include_in_schema=False)


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise ApiError(404, "unknown_report_kind", f"a report is daily or weekly, not {kind[:20]!r}")
    return kind


def _labels(report: dict[str, Any], n: int) -> list[str]:
    start = date.fromisoformat(report["period_start"])
    if report["kind"] == "daily":
        return [f"{h:02d}:00" for h in range(n)]
    return [(start + timedelta(days=i)).isoformat() for i in range(n)]


def _charts(report: dict[str, Any], history: list[dict[str, Any]]) -> dict[str, Any]:
    series = report["body"]["activity"]["series"]
    labels = _labels(report, len(series["registrations"]))
    rates = [r["body"]["intents"]["success_rate"] for r in reversed(history)]
    return {
        "registrations": bar_chart(series["registrations"], labels, title="Registrations"),
        "payments": bar_chart(series["payments"], labels, title="Settled payments"),
        "success_trend": sparkline([r for r in rates if r is not None], title="Intent success rate, recent reports"),
    }


@router.get("")
async def index(request: Request, page: PageViewer, engine: EngineDep) -> HTMLResponse:
    def read() -> dict[str, list[dict[str, Any]]]:
        with Session(engine) as session:
            return {kind: [report_json(r) for r in list_reports(session, kind, 14)] for kind in KINDS}

    listed = await run_in_threadpool(read)
    context = {"operator": page.actor, "csrf_token": page.csrf_token, "listed": listed}
    return _render(request, "reports.html", context)


@router.get("/{kind}")
async def newest(request: Request, kind: str, page: PageViewer, engine: EngineDep) -> HTMLResponse:
    return await _one(request, _kind(kind), None, page, engine)


@router.get("/{kind}/{day}")
async def of_day(request: Request, kind: str, day: str, page: PageViewer, engine: EngineDep) -> HTMLResponse:
    try:
        wanted = date.fromisoformat(day)
    except ValueError:
        raise ApiError(422, "invalid_date", "the day is YYYY-MM-DD") from None
    return await _one(request, _kind(kind), wanted, page, engine)


async def _one(request: Request, kind: str, day: date | None, page: Any, engine: Any) -> HTMLResponse:
    def read() -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        with Session(engine) as session:
            found = find_report(session, kind, day)
            return (report_json(found) if found else None), [report_json(r) for r in list_reports(session, kind, 14)]

    report, history = await run_in_threadpool(read)
    if report is None:
        raise ApiError(404, "operator_report_not_found", f"no {kind} report" + (f" for {day}" if day else " yet"))
    context = {
        "operator": page.actor,
        "csrf_token": page.csrf_token,
        "report": report,
        "b": report["body"],
        "charts": _charts(report, history),
    }
    return _render(request, "report.html", context)


# The same reports as JSON for scripts (a bearer key of any operator role), next to /v1/ops/reconciliation.
api_router = APIRouter(prefix="/v1/ops/reports", tags=["reports"], responses=responses(401, 403, 422))
ReportKind = Literal["daily", "weekly"]  # the schema states it; anything else is a 422


@api_router.get("/{kind}", summary="Operator reports of a kind (daily | weekly), newest first")
async def list_json(
    kind: ReportKind, engine: EngineDep, _actor: Viewer, limit: Annotated[int, Query(ge=1, le=200)] = 30
) -> list[dict[str, Any]]:
    def read() -> list[dict[str, Any]]:
        with Session(engine) as session:
            return [report_json(r) for r in list_reports(session, _kind(kind), limit)]

    return await run_in_threadpool(read)


@api_router.get(
    "/{kind}/{day}",
    summary="The operator report of the period containing a day (YYYY-MM-DD)",
    responses=responses(404),
)
async def one_json(kind: ReportKind, day: date, engine: EngineDep, _actor: Viewer) -> dict[str, Any]:
    def read() -> dict[str, Any]:
        with Session(engine) as session:
            found = find_report(session, _kind(kind), day)
            if found is None:
                raise ApiError(404, "operator_report_not_found", f"no {kind} report for {day}")
            return report_json(found)

    return await run_in_threadpool(read)
