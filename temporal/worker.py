"""The worker entrypoint (`sge worker`): polls the task queue with every workflow and activity."""

from __future__ import annotations

import asyncio
import signal
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from prometheus_client import start_http_server
from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Worker

from core import migrate
from core.db import get_engine
from core.db_roles import runtime_role_problems
from core.logs import get_logger
from core.settings import ConfigError, Settings
from core.tracing import configure_tracing
from temporal import registry
from temporal.client import connect
from temporal.drain import serve
from temporal.interceptors import DomainErrorInterceptor
from temporal.schedules import ensure_schedules
from temporal.search_attributes import ensure_search_attributes

log = get_logger(__name__)


def check_database(settings: Settings):
    """The engine, after checking the DB is reachable and migrated to head."""
    engine = get_engine(settings.db_url, pool_size=settings.database_pool_size)
    try:
        current = migrate.current(engine)
    except Exception as exc:  # noqa: BLE001 - any driver error means "cannot use this database"
        raise ConfigError("DATABASE_URL", f"cannot connect: {str(exc).splitlines()[0][:200]}") from None
    if current != migrate.head():
        raise ConfigError(
            "DATABASE_URL", f"schema at {current or 'empty'}, code needs {migrate.head()}: run `sge db upgrade`"
        )
    if settings.environment == "production":
        problems = runtime_role_problems(engine)
        if problems:
            raise ConfigError("DATABASE_URL", "; ".join(problems))
    return engine


def build_worker(client: Client, settings: Settings, engine, executor: ThreadPoolExecutor) -> Worker:
    return Worker(
        client,
        task_queue=settings.temporal_task_queue,
        workflows=registry.WORKFLOWS,
        activities=registry.build_activities(settings, engine),
        activity_executor=executor,
        interceptors=[DomainErrorInterceptor()],
        max_concurrent_activities=settings.worker_max_concurrent_activities,
        graceful_shutdown_timeout=timedelta(seconds=settings.worker_graceful_shutdown_seconds),
    )


async def run_worker(settings: Settings) -> None:
    settings.require_relayer_key()  # the chain activities cannot run without it: fail before polling
    engine = check_database(settings)
    configure_tracing(settings.otel_exporter, "worker")
    runtime = None
    host = settings.worker_metrics_host
    if settings.worker_metrics_port:  # the SDK's own metrics (task slots, polls, latencies)
        runtime = Runtime(
            telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=f"{host}:{settings.worker_metrics_port}"))
        )
    if settings.worker_app_metrics_port:  # ours (settlement latency, RPC calls), on a port of their own
        start_http_server(settings.worker_app_metrics_port, addr=host)
        log.info("worker_metrics_serving", host=host, port=settings.worker_app_metrics_port)
    client = await connect(settings, runtime=runtime)
    added = await ensure_search_attributes(client)
    if added:
        log.info("search_attributes_registered", names=added)
    log.info("schedules_ensured", created=await ensure_schedules(client, settings))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    with ThreadPoolExecutor(
        max_workers=settings.worker_max_concurrent_activities, thread_name_prefix="activity"
    ) as executor:
        log.info("worker_started", task_queue=settings.temporal_task_queue, namespace=settings.temporal_namespace)
        await serve(
            lambda: build_worker(client, settings, engine, executor), engine, stop, settings.worker_drain_poll_seconds
        )
    log.info("worker_stopped")
