"""Run a worker until stopped, honouring the drain switch (models/drain.py).

While the switch is off the worker polls. When it turns on, the worker is shut down gracefully: it
stops polling at once, running activities get `SGE_WORKER_GRACEFUL_SHUTDOWN_SECONDS` to finish (then
are cancelled, and Temporal retries them elsewhere). The process stays up and waits for the switch to
turn off, then builds a fresh worker (a shut-down Worker cannot be restarted). A process that starts
while drained waits before its first poll.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.worker import Worker

from core.logs import get_logger
from models.drain import drain_state

log = get_logger(__name__)


def drained(engine: Engine) -> bool:
    with Session(engine) as session:
        return drain_state(session).on


async def _until(engine: Engine, want: bool, stop: asyncio.Event, poll_seconds: float) -> bool:
    """Wait until the switch reads `want` (True) or `stop` is set (False)."""
    while not stop.is_set():
        try:
            if await asyncio.to_thread(drained, engine) == want:
                return True
        except Exception as exc:  # noqa: BLE001 - a database blip must not stop a polling worker
            log.warning("drain_switch_unreadable", error=str(exc)[:200])
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), poll_seconds)
    return False


async def serve(
    build: Callable[[], Worker],
    engine: Engine,
    stop: asyncio.Event,
    poll_seconds: float,
    on_state: Callable[[str], None] = lambda state: None,
) -> None:
    """Poll with a worker from `build()` while undrained, until `stop` is set.

    `on_state` hears `polling`, `draining`, `drained` (stopped polling, waiting for undrain), `stopped`.
    """
    while await _until(engine, False, stop, poll_seconds):
        worker = build()
        async with worker:
            on_state("polling")
            log.info("worker_polling")
            drain = await _until(engine, True, stop, poll_seconds)
            on_state("draining" if drain else "stopping")
            log.info("worker_draining" if drain else "worker_stopping")
        if drain:  # leaving `async with` waited for the running activities (Worker.shutdown)
            on_state("drained")
            log.info("worker_drained")
    on_state("stopped")


async def task_queue_pollers(client: Client, task_queue: str) -> dict[str, list[str]]:
    """Identities polling `task_queue` recently, per task type (DescribeTaskQueue; the server keeps a
    poller listed for about a minute after its last poll)."""
    found: dict[str, list[str]] = {}
    for kind, name in (
        (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, "workflow"),
        (TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY, "activity"),
    ):
        response = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace, task_queue=TaskQueue(name=task_queue), task_queue_type=kind
            ),
            timeout=timedelta(seconds=5),
        )
        found[name] = sorted(poller.identity for poller in response.pollers)
    return found
