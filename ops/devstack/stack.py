"""The embedded local stack: Temporal dev server (+ Web UI), anvil with the contracts, the payment
sandbox, the worker and the API, each started, health-checked and supervised (`sge dev up`, the demo,
the benchmarks and the end-to-end tests all use `bring_up`)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from eth_account import Account

from core import migrate
from core.db import get_engine
from core.logs import get_logger
from core.redact import redact_url
from core.settings import ConfigError, Settings
from ops.devstack import processes
from ops.devstack.chain import dev_deploy_step, fund_relayer, opening_balances, sync_programs_step
from ops.devstack.console import console
from ops.devstack.kyc import start_kyc_sandbox
from ops.devstack.payments import dev_secret, start_payments_sandbox
from temporal.client import connect
from temporal.devserver import dev_server_command
from temporal.search_attributes import missing_search_attributes

log = get_logger(__name__)

HEALTH_TIMEOUT_S = 60.0
LOCAL_REGISTER_IP_LIMIT = "10000/hour"
# Every local client (demo, bench, browser) is 127.0.0.1: its per-IP limits are relaxed, per-wallet ones kept.
LOCAL_IP_LIMITS: dict[str, object] = {
    "rate_limit_register_ip": LOCAL_REGISTER_IP_LIMIT,
    "rate_limit_nonce_ip": "100000/hour",
    "rate_limit_payments_ip": "100000/hour",
    "rate_limit_status_ip": "1000000/hour",
    "siwe_max_nonces_per_ip": 100_000,
}


@dataclass
class StackInfo:
    """What the running stack exposes, printed for the user (and returned in smoke mode)."""

    rows: list[tuple[str, str, str]] = field(default_factory=list)  # (component, where, detail)
    env: dict[str, str] = field(default_factory=dict)  # extra env for later children

    def add(self, component: str, where: str, detail: str = "") -> None:
        self.rows.append((component, where, detail))
        console.print(f"[green]✓[/] {component:<16} {where}  [dim]{detail}[/]")


def _step(message: str) -> None:
    console.print(f"[cyan]…[/] {message}")


def _rpc_port(settings: Settings) -> tuple[str, int]:
    url = urlparse(settings.eth_rpc_urls[0])
    return url.hostname or "127.0.0.1", url.port or 8545


def _check_ports(settings: Settings) -> None:
    _t_host, _, t_port = settings.temporal_address.rpartition(":")
    rpc_host, rpc_port = _rpc_port(settings)
    wanted = [
        ("SGE_TEMPORAL_ADDRESS", "127.0.0.1", int(t_port)),
        ("SGE_TEMPORAL_UI_PORT", "127.0.0.1", settings.temporal_ui_port),
        ("SGE_ETH_RPC_URLS", rpc_host, rpc_port),
        ("SGE_API_PORT", settings.api_host, settings.api_port),
        ("SGE_OPERATOR_PORT", settings.operator_host, settings.operator_port),
        ("SGE_SANDBOX_PORT", settings.sandbox_host, settings.sandbox_port),
        ("SGE_KYC_SANDBOX_PORT", settings.kyc_sandbox_host, settings.kyc_sandbox_port),
    ]
    for setting, host, port in wanted:
        if processes.port_in_use(host, port):
            raise ConfigError(setting, f"port {port} is already in use (another stack? run `sge dev down`)")


async def _start_temporal(sup: processes.Supervisor, settings: Settings, info: StackInfo) -> None:
    _step("starting Temporal dev server")
    child = sup.start("temporal", dev_server_command(settings))
    client_box = {}

    async def ready() -> bool:
        client = await connect(settings)
        client_box["client"] = client
        return not await missing_search_attributes(client)

    took = await sup.wait_healthy(child, ready, HEALTH_TIMEOUT_S)
    info.add("Temporal", settings.temporal_address, f"namespace {settings.temporal_namespace}, {took:.1f}s")
    info.add("Temporal Web UI", f"http://127.0.0.1:{settings.temporal_ui_port}", "")


async def _start_anvil(sup: processes.Supervisor, settings: Settings, info: StackInfo) -> None:
    _step("starting anvil")
    host, port = _rpc_port(settings)
    state = settings.home / "anvil" / "state.json"
    state.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        processes.anvil_binary(),
        "--host",
        host,
        "--port",
        str(port),
        "--chain-id",
        str(settings.chain_id),
        "--state",
        str(state),
        "--state-interval",
        "5",
    ]
    child = sup.start("anvil", cmd)
    url = settings.eth_rpc_urls[0]

    async def ready() -> bool:
        return int(await processes.rpc_call(url, "eth_chainId"), 16) == settings.chain_id

    took = await sup.wait_healthy(child, ready, HEALTH_TIMEOUT_S)
    info.add("anvil (RPC)", redact_url(url), f"chain {settings.chain_id}, {took:.1f}s")


async def _start_worker(sup: processes.Supervisor, settings: Settings, info: StackInfo) -> None:
    _step("starting worker")
    child = sup.start("worker", processes.python_module_cmd("cli", "worker"), processes.child_env(settings, info.env))
    client = await connect(settings)

    async def ready() -> bool:
        # A probe workflow completing proves the worker polls and runs activities.
        result = await asyncio.wait_for(
            client.execute_workflow(
                "Probe", "ok", id=processes.probe_workflow_id(), task_queue=settings.temporal_task_queue
            ),
            timeout=5,
        )
        return result == "ok"

    took = await sup.wait_healthy(child, ready, HEALTH_TIMEOUT_S)
    info.add("worker", f"task queue {settings.temporal_task_queue}", f"{took:.1f}s, log {child.log_path}")


async def _start_api(sup: processes.Supervisor, settings: Settings, info: StackInfo) -> None:
    _step("starting API")
    # Only the worker holds the relayer and deployer keys; the API knows the relayer's address.
    env = {k: v for k, v in info.env.items() if k not in ("SGE_RELAYER_PRIVATE_KEY_FILE", "SGE_DEPLOYER_PRIVATE_KEY")}
    key_file = info.env.get("SGE_RELAYER_PRIVATE_KEY_FILE")
    if key_file:
        env["SGE_RELAYER_ADDRESS"] = Account.from_key(Path(key_file).read_text().strip()).address
    if settings.session_secret is None:  # wallet sessions: a secret generated once per app home
        env["SGE_SESSION_SECRET_FILE"] = str(dev_session_secret(settings))
    child = sup.start("api", processes.python_module_cmd("cli", "api"), processes.child_env(settings, env))
    public = f"http://{settings.api_host}:{settings.api_port}"
    operator = f"http://{settings.operator_host}:{settings.operator_port}"

    async def ready() -> bool:  # both ports answer, and every dependency is up
        return await processes.http_ok(f"{public}/readyz") and await processes.http_ok(f"{operator}/readyz")

    took = await sup.wait_healthy(child, ready, HEALTH_TIMEOUT_S)
    info.add("API", public, f"public port, {took:.1f}s")
    info.add("API (operator)", operator, "/v1/ops, /readyz details, /metrics")
    info.add("API docs", f"{operator}/docs", f"OpenAPI (public API: {operator}/docs/public)")
    info.add("operator pages", f"{operator}/ops/login", "sign in with an operator API key")
    info.add("the app", f"{settings.app_url}/<program>", "the user's page (e.g. /app/demo after `sge demo`)")


# The stack, in start order. Later capabilities insert their steps (contracts, payment sandbox).
STEPS = [
    _start_temporal,
    _start_anvil,
    fund_relayer,
    dev_deploy_step,
    sync_programs_step,
    opening_balances,
    start_payments_sandbox,
    start_kyc_sandbox,
    _start_worker,
    _start_api,
]


def dev_session_secret(settings: Settings) -> Path:
    return dev_secret(settings.home.resolve() / "dev" / "session_secret", lambda: secrets.token_urlsafe(48))


def local_stack_settings(settings: Settings) -> Settings:
    """The embedded stack serves every client (demo, bench, browser) from 127.0.0.1, so the per-IP
    limits would throttle the demo itself; unless set explicitly they are relaxed locally.
    Per-wallet limits stay as in production."""
    relaxed = {name: value for name, value in LOCAL_IP_LIMITS.items() if f"SGE_{name.upper()}" not in os.environ}
    return settings.model_copy(update=relaxed)


async def bring_up(settings: Settings, sup: processes.Supervisor) -> StackInfo:
    _check_ports(settings)
    engine = get_engine(settings.db_url)
    migrate.upgrade(engine)
    info = StackInfo()
    info.add("database", redact_url(settings.db_url), f"schema {migrate.current(engine)}")
    for step in STEPS:
        await step(sup, settings, info)
    return info


async def wait_for_stop(sup: processes.Supervisor) -> int:
    """Until Ctrl-C / SIGTERM. A child that dies is reported (once), and the rest keep running."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    reported: set[str] = set()
    while not stop.is_set():
        for child in sup.children:
            if not child.alive() and child.name not in reported:
                reported.add(child.name)
                code = child.proc.returncode if child.proc else None
                console.print(
                    f"[bold red]{child.name} exited[/] (code {code}); last lines of {child.log_path}:\n{child.tail()}"
                )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)
    return 1 if reported else 0
