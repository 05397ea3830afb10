"""`sge workers drain` on the dev server: a running activity finishes, no new task starts while
drained, and undrain resumes polling with a fresh worker."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from sqlmodel import select
from temporalio import activity, workflow
from temporalio.client import WorkflowExecutionStatus
from temporalio.worker import Worker

from core.db import session_scope
from models.audit import AuditLog
from models.drain import drain_state, set_drain
from models.operators import Actor
from temporal.drain import serve

RELEASE = asyncio.Event()
STARTED = asyncio.Event()
RUNS: list[str] = []


@activity.defn(name="levers_slow_step")
async def slow_step(name: str) -> str:
    RUNS.append(name)
    STARTED.set()
    await RELEASE.wait()
    return f"done {name}"


@workflow.defn(name="LeversDrainProbe", sandboxed=False)
class DrainProbe:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity("levers_slow_step", name, start_to_close_timeout=timedelta(seconds=60))


async def _state(states: list[str], want: str) -> None:
    while not states or states[-1] != want:
        await asyncio.sleep(0.05)


async def _history_has(handle, event: str) -> bool:
    return event in [e.WhichOneof("attributes") async for e in handle.fetch_history_events()]


async def test_drain_lets_the_running_activity_finish_and_takes_no_new_task(temporal_dev, db_engine):
    client, queue, states = temporal_dev.client, f"drain-{uuid.uuid4().hex[:8]}", []
    actor = Actor(name="test:drain")
    RELEASE.clear(), STARTED.clear(), RUNS.clear()

    def build() -> Worker:
        return Worker(
            client,
            task_queue=queue,
            workflows=[DrainProbe],
            activities=[slow_step],
            graceful_shutdown_timeout=timedelta(seconds=30),
        )

    stop = asyncio.Event()
    serving = asyncio.create_task(serve(build, db_engine, stop, 0.1, states.append))
    try:
        first = await client.start_workflow(DrainProbe.run, "first", id=f"{queue}-1", task_queue=queue)
        await asyncio.wait_for(STARTED.wait(), 30)
        with session_scope(db_engine) as session:
            set_drain(session, actor, True, "incident drill")
        await asyncio.wait_for(_state(states, "draining"), 30)
        # The worker no longer polls; its running activity is still running and is let finish.
        second = await client.start_workflow(DrainProbe.run, "second", id=f"{queue}-2", task_queue=queue)
        RELEASE.set()
        await asyncio.wait_for(_state(states, "drained"), 30)
        assert await _history_has(first, "activity_task_completed_event_attributes")
        # Drained: the new flow's first task was never taken, the first flow's next one neither.
        assert not await _history_has(second, "workflow_task_started_event_attributes")
        assert (await first.describe()).status == WorkflowExecutionStatus.RUNNING
        assert RUNS == ["first"]

        with session_scope(db_engine) as session:
            set_drain(session, actor, False, "drill over")
        assert await asyncio.wait_for(first.result(), 60) == "done first"
        assert await asyncio.wait_for(second.result(), 60) == "done second"
        assert sorted(RUNS) == ["first", "second"]
    finally:
        stop.set()
        await asyncio.wait_for(serving, 60)
    assert states[-1] == "stopped" and states.count("polling") == 2
    with session_scope(db_engine) as session:
        assert not drain_state(session).on
        rows = session.exec(select(AuditLog).where(AuditLog.target_id == "workers_drain")).all()
        actions = sorted(row.action for row in rows)
    assert actions == ["workers.drain.off", "workers.drain.on"]


async def test_a_worker_started_while_drained_waits(temporal_dev, db_engine):
    with session_scope(db_engine) as session:
        set_drain(session, Actor(name="test:drain"), True, "maintenance")
    states: list[str] = []
    stop = asyncio.Event()
    built: list[int] = []

    def build() -> Worker:
        built.append(1)
        raise AssertionError("a drained process must not build a worker")

    serving = asyncio.create_task(serve(build, db_engine, stop, 0.05, states.append))
    await asyncio.sleep(0.3)  # several switch reads
    stop.set()
    await asyncio.wait_for(serving, 10)
    assert built == [] and states == ["stopped"]


def test_the_cli_flips_the_switch_and_reports_pollers(temporal_dev, anvil, tmp_path):
    import json

    from eth_account import Account

    from core import migrate
    from core.db import make_engine
    from tests.helpers.temporal import temporal_address
    from tests.monitoring.test_relayer_cli import _env, sge

    env = _env(tmp_path, anvil, Account.create())
    env["SGE_TEMPORAL_ADDRESS"] = temporal_address(temporal_dev.client)
    engine = make_engine(env["SGE_DATABASE_URL"])
    migrate.upgrade(engine)
    drained = sge("workers", "drain", "--reason", "drill", env=env)
    assert drained.returncode == 0, drained.stderr
    status = sge("workers", "status", env=env)
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["drained"]["on"] and report["drained"]["reason"] == "drill"
    assert set(report["pollers"]) == {"workflow", "activity"}
    assert sge("workers", "undrain", "--reason", "drill over", env=env).returncode == 0
    with session_scope(engine) as session:
        assert not drain_state(session).on
