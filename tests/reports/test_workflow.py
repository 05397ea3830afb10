"""The OperatorReport workflow on the Temporal dev server with its real activity (SQLite database): run
on demand, started by its Schedule, and driven from the command line as an operator would."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.client import Client
from temporalio.worker import Worker

from activities.reports import ReportActivities
from core.columns import utcnow
from core.settings import Settings
from models.reports.store import last_complete_period
from models.reports.tables import OperatorReport
from temporal.interceptors import DomainErrorInterceptor
from temporal.reports import run_report
from tests.helpers.stack import HISTORIES
from tests.helpers.temporal import temporal_address
from tests.reports.seed import DAY, seed
from workflows.reports import OperatorReportWorkflow


@dataclass
class ReportWorld:
    settings: Settings
    engine: Engine
    client: Client
    queue: str


@pytest.fixture
async def report_world(tmp_path, db_url, db_engine, temporal_dev) -> AsyncIterator[ReportWorld]:
    queue = f"reports-{uuid.uuid4().hex[:10]}"
    settings = Settings(
        _env_file=None,
        home=tmp_path / "home",
        environment="test",
        database_url=db_url,
        temporal_task_queue=queue,
        report_burst_per_network=3,
        report_burst_per_referrer=3,
        log_format="console",
    )
    with ThreadPoolExecutor(2) as pool:
        async with Worker(
            temporal_dev.client,
            task_queue=queue,
            workflows=[OperatorReportWorkflow],
            activities=ReportActivities(settings, db_engine).all(),
            activity_executor=pool,
            interceptors=[DomainErrorInterceptor()],
        ):
            yield ReportWorld(settings, db_engine, temporal_dev.client, queue)


async def test_an_on_demand_run_persists_the_report(report_world):
    w = report_world
    seed(w.engine)
    ref = await run_report(w.client, w.queue, "daily", DAY)
    with Session(w.engine) as s:
        row = s.get(OperatorReport, ref.id)
        assert row is not None and (row.kind, row.period_start, row.trigger) == ("daily", DAY, "manual")
        assert row.body["intents"]["success_rate"] == 0.5
    if os.environ.get("SGE_RECORD_HISTORIES"):  # replayed by tests/onboarding/test_replay.py
        handles = [h async for h in w.client.list_workflows(f"TaskQueue = '{w.queue}'")]
        history = await w.client.get_workflow_handle(handles[0].id).fetch_history()
        (HISTORIES / "operator-report.json").write_text(history.to_json())


async def test_the_daily_schedule_reports_on_the_previous_day(report_world):
    from temporal.schedules import DAILY_REPORT_SCHEDULE, WEEKLY_REPORT_SCHEDULE, ensure_schedules, schedules

    w = report_world
    specs = schedules(w.settings)
    assert [r.start for r in specs[DAILY_REPORT_SCHEDULE].spec.calendars[0].hour] == [1]
    assert [r.start for r in specs[WEEKLY_REPORT_SCHEDULE].spec.calendars[0].day_of_week] == [1]  # Monday
    await ensure_schedules(w.client, w.settings)
    expected = last_complete_period("daily", utcnow())[0]
    try:
        await w.client.get_schedule_handle(DAILY_REPORT_SCHEDULE).trigger()
        found = None
        for _ in range(300):
            with Session(w.engine) as s:
                found = s.exec(select(OperatorReport).where(OperatorReport.trigger == "schedule")).first()
            if found is not None:
                break
            await asyncio.sleep(0.1)
        assert found is not None and (found.kind, found.period_start) == ("daily", expected)
        assert found.body["period"]["complete"] is True
    finally:
        for schedule_id in schedules(w.settings):
            await w.client.get_schedule_handle(schedule_id).delete()


async def _sge(w: ReportWorld, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "SGE_HOME": str(w.settings.home),
        "SGE_DATABASE_URL": w.settings.db_url,
        "SGE_TEMPORAL_ADDRESS": temporal_address(w.client),
        "SGE_TEMPORAL_TASK_QUEUE": w.queue,
        "SGE_LOG_FORMAT": "console",
        "COLUMNS": "200",
    }
    cmd = [sys.executable, "-m", "cli", "reports", *args]
    return await asyncio.to_thread(subprocess.run, cmd, env=env, capture_output=True, text=True, timeout=180)


async def test_sge_reports_run_and_show(report_world):
    w = report_world
    seed(w.engine)
    missing = await _sge(w, "show", "weekly", "2026-11-25")
    assert missing.returncode == 1 and "no weekly report for 2026-11-25" in missing.stderr
    assert (await _sge(w, "show", "monthly")).returncode == 2

    ran = await _sge(w, "run", "weekly", "2026-11-25")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "weekly report" in ran.stdout and "2026-11-23 .. 2026-11-30" in ran.stdout

    shown = await _sge(w, "show", "weekly", "2026-11-27")
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert "registrations 6" in out and "alpha" in out and "beta" in out
    assert "success rate 40.00%" in out and "self-referral attempts 1" in out
    slow = "not available on SQLite" if w.engine.dialect.name == "sqlite" else "pg_stat_statements"
    assert "failed authentications 6" in out and slow in out

    as_json = await _sge(w, "show", "weekly", "--json")  # the newest weekly
    body = json.loads(as_json.stdout)
    assert body["period_start"] == "2026-11-23" and body["body"]["gas"]["transactions"] == 3
