"""Temporal Schedules (not cron) for the platform's periodic workflows; created or updated at worker start.

`ensure_schedules` is idempotent: a schedule that exists is updated to the current definition, so a
redeploy that changes an interval takes effect, and "already exists" is never an error.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from core.settings import Settings
from models.reports.store import ReportRequest

RELEASE_COMMISSIONS_SCHEDULE = "sge-release-commissions"
HOUSEKEEPING_SCHEDULE = "sge-housekeeping"
RECONCILIATION_SCHEDULE = "sge-reconciliation"
DAILY_REPORT_SCHEDULE = "sge-report-daily"
WEEKLY_REPORT_SCHEDULE = "sge-report-weekly"
RELAYER_MONITOR_SCHEDULE = "sge-relayer-monitor"
STUCK_CHECK_SCHEDULE = "sge-stuck-check"
DAILY_BACKUP_SCHEDULE = "sge-daily-backup"
MONTHLY_ARCHIVE_SCHEDULE = "sge-monthly-archive"
WEEKLY_PAYOUTS_SCHEDULE = "sge-weekly-payouts"


def _every(settings: Settings, workflow_type: str, workflow_id: str, seconds: int) -> Schedule:
    """A short check every `seconds`: one run at a time, a missed run is skipped, not caught up."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            workflow_type,
            id=workflow_id,
            task_queue=settings.temporal_task_queue,
            execution_timeout=timedelta(minutes=5),
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=seconds))]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(minutes=1)),
    )


def schedules(settings: Settings) -> dict[str, Schedule]:
    return {
        RELEASE_COMMISSIONS_SCHEDULE: Schedule(
            action=ScheduleActionStartWorkflow(
                "ReleaseCommissions",
                id="release-commissions",
                task_queue=settings.temporal_task_queue,
                execution_timeout=timedelta(hours=1),
            ),
            spec=ScheduleSpec(
                intervals=[ScheduleIntervalSpec(every=timedelta(minutes=settings.commission_release_interval_minutes))]
            ),
            # One release at a time; a missed run (worker down) is caught up once, not many times.
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(hours=1)),
        ),
        # Deletes expired idempotency records and old nonces: public requests leave nothing unbounded.
        HOUSEKEEPING_SCHEDULE: Schedule(
            action=ScheduleActionStartWorkflow(
                "Housekeeping",
                id="housekeeping",
                task_queue=settings.temporal_task_queue,
                execution_timeout=timedelta(minutes=30),
            ),
            spec=ScheduleSpec(
                intervals=[ScheduleIntervalSpec(every=timedelta(minutes=settings.housekeeping_interval_minutes))]
            ),
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(hours=1)),
        ),
        # Daily (02:00 UTC by default): the books vs the chain, the processors and themselves (ops/reconciliation.md).
        RECONCILIATION_SCHEDULE: Schedule(
            action=ScheduleActionStartWorkflow(
                "Reconciliation",
                id="reconciliation",
                task_queue=settings.temporal_task_queue,
                execution_timeout=timedelta(hours=2),
            ),
            spec=ScheduleSpec(
                calendars=[ScheduleCalendarSpec(hour=[ScheduleRange(settings.reconciliation_hour_utc)])],
                time_zone_name="UTC",
            ),
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(hours=6)),
        ),
        RELAYER_MONITOR_SCHEDULE: _every(
            settings, "RelayerMonitor", "relayer-monitor", settings.relayer_monitor_interval_seconds
        ),
        STUCK_CHECK_SCHEDULE: _every(settings, "StuckCheck", "stuck-check", settings.stuck_check_interval_seconds),
        # The platform database (and the dev server's, contract manifests) into SGE_BACKUP_DIR, daily.
        DAILY_BACKUP_SCHEDULE: Schedule(
            action=ScheduleActionStartWorkflow(
                "DailyBackup",
                id="daily-backup",
                task_queue=settings.temporal_task_queue,
                execution_timeout=timedelta(hours=3),
            ),
            spec=ScheduleSpec(
                calendars=[
                    ScheduleCalendarSpec(
                        hour=[ScheduleRange(settings.backup_hour_utc)],
                        minute=[ScheduleRange(0)],
                        second=[ScheduleRange(0)],
                    )
                ]
            ),
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(hours=6)),
        ),
        # Ended flows older than SGE_ARCHIVE_OLDER_THAN_DAYS out of the hot tables: the 1st of each month, 04:00 UTC.
        MONTHLY_ARCHIVE_SCHEDULE: Schedule(
            action=ScheduleActionStartWorkflow(
                "MonthlyArchive",
                id="monthly-archive",
                task_queue=settings.temporal_task_queue,
                execution_timeout=timedelta(hours=3),
            ),
            spec=ScheduleSpec(
                calendars=[
                    ScheduleCalendarSpec(
                        day_of_month=[ScheduleRange(1)],
                        hour=[ScheduleRange(4)],
                        minute=[ScheduleRange(0)],
                        second=[ScheduleRange(0)],
                    )
                ]
            ),
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(days=1)),
        ),
        # Operator reports of the previous day / ISO week (models/reports; `sge reports show`).
        DAILY_REPORT_SCHEDULE: _report_schedule(
            settings, "daily", ScheduleCalendarSpec(hour=[ScheduleRange(settings.report_daily_hour_utc)])
        ),
        WEEKLY_REPORT_SCHEDULE: _report_schedule(
            settings,
            "weekly",
            ScheduleCalendarSpec(
                # Temporal counts days of the week from Sunday = 0; the setting from Monday = 0.
                day_of_week=[ScheduleRange((settings.report_weekly_weekday + 1) % 7)],
                hour=[ScheduleRange(settings.report_daily_hour_utc)],
            ),
        ),
        # Mondays 06:00 UTC (Temporal: Sunday = 0): a payout batch per active program for the ISO week
        # that just ended (workflows/payout_schedule.py).
        WEEKLY_PAYOUTS_SCHEDULE: Schedule(
            action=ScheduleActionStartWorkflow(
                "WeeklyPayouts",
                id="weekly-payouts",
                task_queue=settings.temporal_task_queue,
                execution_timeout=timedelta(hours=1),
            ),
            spec=ScheduleSpec(
                calendars=[ScheduleCalendarSpec(day_of_week=[ScheduleRange(1)], hour=[ScheduleRange(6)])],
                time_zone_name="UTC",
            ),
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(days=1)),
        ),
    }


def _report_schedule(settings: Settings, kind: str, calendar: ScheduleCalendarSpec) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            "OperatorReport",
            ReportRequest.model_validate({"kind": kind, "trigger": "schedule"}),
            id=f"operator-report-{kind}",
            task_queue=settings.temporal_task_queue,
            execution_timeout=timedelta(hours=1),
        ),
        spec=ScheduleSpec(calendars=[calendar], time_zone_name="UTC"),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(hours=6)),
    )


def _replace_with(schedule: Schedule) -> Callable[[ScheduleUpdateInput], ScheduleUpdate]:
    """An updater that puts `schedule` in place of whatever the server holds."""
    return lambda _input: ScheduleUpdate(schedule=schedule)


async def ensure_schedules(client: Client, settings: Settings) -> list[str]:
    """Create each schedule, or update it when it exists. Returns the ids created now."""
    created: list[str] = []
    for schedule_id, schedule in schedules(settings).items():
        try:
            await client.create_schedule(schedule_id, schedule)
            created.append(schedule_id)
        except ScheduleAlreadyRunningError:
            await client.get_schedule_handle(schedule_id).update(_replace_with(schedule))
    return created
