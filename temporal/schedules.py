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

RELEASE_COMMISSIONS_SCHEDULE = "sge-release-commissions"
HOUSEKEEPING_SCHEDULE = "sge-housekeeping"
WEEKLY_PAYOUTS_SCHEDULE = "sge-weekly-payouts"


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
        # Mondays 06:00 UTC: a payout batch per active program for the ISO week that just ended.
        WEEKLY_PAYOUTS_SCHEDULE: Schedule(
            action=ScheduleActionStartWorkflow(
                "WeeklyPayouts",
                id="weekly-payouts",
                task_queue=settings.temporal_task_queue,
                execution_timeout=timedelta(hours=1),
            ),
            spec=ScheduleSpec(
                calendars=[
                    ScheduleCalendarSpec(day_of_week=(ScheduleRange(1),), hour=(ScheduleRange(6),), comment="weekly")
                ]
            ),
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(days=1)),
        ),
    }


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
