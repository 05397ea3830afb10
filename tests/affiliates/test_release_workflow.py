import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from eth_account import Account
from sqlmodel import Session
from temporalio.client import ScheduleActionStartWorkflow
from temporalio.worker import Worker

from activities.ledger import LedgerActivities
from activities.platform import PlatformActivities
from core.columns import utcnow
from core.db import session_scope
from core.settings import Settings
from models import affiliates as aff
from models import commissions as com
from models.platform import HALT_FLAG, PlatformFlag
from temporal.schedules import RELEASE_COMMISSIONS_SCHEDULE, ensure_schedules, schedules
from tests.helpers.ledger import check_ledger_invariants, make_program, register
from workflows.commissions import ReleaseCommissionsWorkflow


def due_commissions(engine) -> str:
    """A program without hold period, a two-level tree and one settled payment (two commissions due)."""
    make_program(engine, hold_days=0)
    root = register(engine)
    child = register(engine, parent_code=root.code)
    user = Account.create().address
    ref = f"coinbase_commerce:{uuid.uuid4().hex[:8]}"
    with session_scope(engine) as s:
        aff.attribute(s, "demo", user, child.code, "test")
        com.settle_payment(s, ref, "demo", user, 100_000_000, "USD", now=utcnow() - timedelta(seconds=1))
    return ref


def statuses(engine, ref):
    with Session(engine) as s:
        return [c.status for c in com.payment_commissions(s, ref)]


def worker(client, queue, engine, pool):
    return Worker(
        client,
        task_queue=queue,
        workflows=[ReleaseCommissionsWorkflow],
        activities=LedgerActivities(engine).all() + PlatformActivities(engine, Settings()).all(),
        activity_executor=pool,
    )


async def test_release_workflow_makes_due_commissions_payable(temporal_ts, db_engine):
    ref = due_commissions(db_engine)
    queue = f"release-{uuid.uuid4().hex[:8]}"
    with ThreadPoolExecutor(4) as pool:
        async with worker(temporal_ts.client, queue, db_engine, pool):
            summary = await temporal_ts.client.execute_workflow(
                "ReleaseCommissions", id=f"rc-{queue}", task_queue=queue, result_type=com.ReleaseSummary
            )
            assert summary.released == 2 and not summary.halted
            assert statuses(db_engine, ref) == ["payable", "payable"]
            again = await temporal_ts.client.execute_workflow(
                "ReleaseCommissions", id=f"rc2-{queue}", task_queue=queue, result_type=com.ReleaseSummary
            )
            assert again.released == 0
    check_ledger_invariants(db_engine)


async def test_release_workflow_does_nothing_while_halted(temporal_ts, db_engine):
    ref = due_commissions(db_engine)
    with session_scope(db_engine) as s:
        s.add(PlatformFlag(key=HALT_FLAG, value=True, reason="reconciliation difference", updated_by="ops"))
    queue = f"release-{uuid.uuid4().hex[:8]}"
    with ThreadPoolExecutor(4) as pool:
        async with worker(temporal_ts.client, queue, db_engine, pool):
            summary = await temporal_ts.client.execute_workflow(
                "ReleaseCommissions", id=f"rc-{queue}", task_queue=queue, result_type=com.ReleaseSummary
            )
    assert summary.halted and summary.released == 0
    assert statuses(db_engine, ref) == ["accrued", "accrued"]


async def test_schedule_is_created_once_updated_after_and_runs_the_release(temporal_dev, settings, db_engine):
    ref = due_commissions(db_engine)
    client = temporal_dev.client
    queue = f"sched-{uuid.uuid4().hex[:8]}"
    settings = settings.model_copy(update={"temporal_task_queue": queue, "commission_release_interval_minutes": 15})
    try:
        assert await ensure_schedules(client, settings) == list(schedules(settings))
        settings = settings.model_copy(update={"commission_release_interval_minutes": 30})
        assert await ensure_schedules(client, settings) == []  # exists: updated, not an error
        handle = client.get_schedule_handle(RELEASE_COMMISSIONS_SCHEDULE)
        desc = await handle.describe()
        action = desc.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow) and action.workflow == "ReleaseCommissions"
        assert action.task_queue == queue
        assert desc.schedule.spec.intervals[0].every == timedelta(minutes=30)
        with ThreadPoolExecutor(4) as pool:
            async with worker(client, queue, db_engine, pool):
                await handle.trigger()
                for _ in range(100):
                    if statuses(db_engine, ref) == ["payable", "payable"]:
                        break
                    await asyncio.sleep(0.1)
        assert statuses(db_engine, ref) == ["payable", "payable"]
    finally:
        for schedule_id in schedules(settings):
            await client.get_schedule_handle(schedule_id).delete()
