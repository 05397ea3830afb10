"""`sge worker` serves its own series (settlement latency, RPC calls) and the Temporal SDK's on two
ports of their own, bound to SGE_WORKER_METRICS_HOST."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid

import httpx

from ops.devstack.processes import free_port
from temporal.schedules import schedules
from temporal.worker import run_worker
from tests.helpers.temporal import temporal_address

WAIT_S = 30.0  # a liveness guard: the loop ends as soon as both ports answer


async def _scrape(url: str) -> str | None:
    try:
        async with httpx.AsyncClient(trust_env=False, timeout=2) as http:
            resp = await http.get(url)
    except httpx.HTTPError:
        return None
    return resp.text if resp.status_code == 200 else None


async def test_worker_serves_app_and_sdk_metrics_on_their_own_ports(temporal_dev, settings, db_engine):
    app_port, sdk_port = free_port(), free_port()
    settings = settings.model_copy(
        update={
            "temporal_address": temporal_address(temporal_dev.client),
            "temporal_task_queue": f"wm-{uuid.uuid4().hex[:8]}",
            "worker_metrics_host": "127.0.0.1",
            "worker_app_metrics_port": app_port,
            "worker_metrics_port": sdk_port,
        }
    )
    worker = asyncio.create_task(run_worker(settings))
    try:
        app_text = sdk_text = None
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline and not (app_text and sdk_text and "temporal_" in sdk_text):
            assert not worker.done(), worker.exception()
            app_text = await _scrape(f"http://127.0.0.1:{app_port}/metrics")
            sdk_text = await _scrape(f"http://127.0.0.1:{sdk_port}/metrics")
            await asyncio.sleep(0.2)
        assert app_text and "sge_settlement_latency_seconds_count" in app_text and "sge_rpc_calls_total" in app_text
        assert sdk_text and "temporal_" in sdk_text and "sge_settlement_latency" not in sdk_text
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
        for schedule_id in schedules(settings):
            with contextlib.suppress(Exception):
                await temporal_dev.client.get_schedule_handle(schedule_id).delete()
