"""Finding 7: unbounded writes. Expired idempotency records and old registration and affiliate nonces
are deleted by the hourly `sge-housekeeping` schedule (run here through a real worker on the dev server)."""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlmodel import Session, select
from temporalio.client import ScheduleActionStartWorkflow
from temporalio.worker import Worker

from activities.housekeeping import HousekeepingActivities
from core.columns import utcnow
from core.db import session_scope
from models.affiliates import AffiliateNonce
from models.auth_nonces import AuthNonce
from models.housekeeping import PruneCounts
from models.idempotency import IdempotencyRecord, IdempotencyState
from temporal.schedules import HOUSEKEEPING_SCHEDULE, ensure_schedules, schedules
from tests.helpers.ledger import make_program
from workflows.housekeeping import HousekeepingWorkflow

DAY = timedelta(days=1)


def _seed(engine) -> None:
    """Of each kind: rows past their use (to go) and rows still of use (to stay)."""
    program_id = make_program(engine, slug=f"hk-{uuid.uuid4().hex[:6]}")
    now = utcnow()

    def nonce(name: str, issued, used=None) -> AuthNonce:
        return AuthNonce(
            nonce=name,
            wallet="0x" + "ab" * 20,
            program_id=program_id,
            message=name,
            client_ip="203.0.113.9",
            issued_at=issued,
            expires_at=issued + timedelta(minutes=10),
            used_at=used,
        )

    def record(key: str, expires) -> IdempotencyRecord:
        return IdempotencyRecord(
            scope="op:1",
            key=key,
            request_hash="h",
            state=IdempotencyState.DONE,
            status_code=201,
            response_body=b"{}",
            locked_until=now,
            expires_at=expires,
        )

    def affiliate_nonce(name: str, created, used=None) -> AffiliateNonce:
        return AffiliateNonce(
            nonce=name,
            program_id=program_id,
            wallet="0x" + "cd" * 20,
            message=name,
            created_at=created,
            expires_at=created + timedelta(minutes=10),
            used_at=used,
        )

    with session_scope(engine) as s:
        s.add_all(
            [
                record("expired", now - timedelta(seconds=1)),
                record("live", now + DAY),
                nonce("expiredlongago", now - 3 * DAY),
                nonce("usedlongago", now - 3 * DAY, used=now - 3 * DAY),
                nonce("usedjustnow", now - timedelta(minutes=1), used=now),  # a retry is answered from it
                nonce("outstanding", now),
                affiliate_nonce("affexpired", now - 3 * DAY),
                affiliate_nonce("affused", now - 2 * DAY, used=now - 2 * DAY),
                affiliate_nonce("afffresh", now),
            ]
        )


def _left(engine) -> tuple[list[str], list[str], list[str]]:
    with Session(engine) as s:
        return (
            sorted(r.key for r in s.exec(select(IdempotencyRecord))),
            sorted(n.nonce for n in s.exec(select(AuthNonce))),
            sorted(n.nonce for n in s.exec(select(AffiliateNonce))),
        )


KEPT = (["live"], ["outstanding", "usedjustnow"], ["afffresh"])


async def test_finding_7_housekeeping_schedule_prunes_old_records_through_the_worker(temporal_dev, settings, db_engine):
    _seed(db_engine)
    client = temporal_dev.client
    queue = f"hk-{uuid.uuid4().hex[:8]}"
    settings = settings.model_copy(update={"temporal_task_queue": queue})
    try:
        assert HOUSEKEEPING_SCHEDULE in await ensure_schedules(client, settings)
        handle = client.get_schedule_handle(HOUSEKEEPING_SCHEDULE)
        desc = await handle.describe()
        action = desc.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow) and action.workflow == "Housekeeping"
        assert desc.schedule.spec.intervals[0].every == timedelta(hours=1)
        with ThreadPoolExecutor(4) as pool:
            worker = Worker(
                client,
                task_queue=queue,
                workflows=[HousekeepingWorkflow],
                activities=HousekeepingActivities(settings, db_engine).all(),
                activity_executor=pool,
            )
            async with worker:
                await handle.trigger()
                for _ in range(200):
                    if _left(db_engine) == KEPT:
                        break
                    await asyncio.sleep(0.1)
                assert _left(db_engine) == KEPT
                started = (await handle.describe()).info.recent_actions[-1].action
                counts = await client.get_workflow_handle(started.workflow_id, result_type=PruneCounts).result()
                assert counts == PruneCounts(idempotency_records=1, auth_nonces=2, affiliate_nonces=2)
                again = await client.execute_workflow(
                    "Housekeeping", id=f"hk-again-{queue}", task_queue=queue, result_type=PruneCounts
                )
                assert again == PruneCounts()  # nothing left to delete
    finally:
        for schedule_id in schedules(settings):
            await client.get_schedule_handle(schedule_id).delete()
