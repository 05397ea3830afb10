"""`sge dev`: the embedded local stack in one command (Temporal + Web UI, anvil, worker, API)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import typer
from eth_account import Account
from rich.table import Table
from web3 import Web3

from cli import devstack
from cli.common import console, fail, hard_exit, out, settings_and_logs
from cli.contracts import deployer_key, dev_deploy_step
from cli.sandbox import start_payments_sandbox
from contracts.deploy import sync_program
from contracts.manifest import load_manifest
from contracts.rpc import connect as connect_rpc
from core import migrate
from models import ledger
from core.db import get_engine, session_scope
from core.devchain import anvil_accounts
from core.logs import get_logger
from core.settings import ConfigError, Settings
from models.programs import list_programs
from temporal.client import connect
from temporal.devserver import dev_server_command
from temporal.search_attributes import missing_search_attributes

app = typer.Typer(help="The embedded local stack.", no_args_is_help=True)
log = get_logger(__name__)

DEV_RELAYER_FUNDING_WEI = 10 * 10**18
HEALTH_TIMEOUT_S = 60.0
LOCAL_REGISTER_IP_LIMIT = "10000/hour"


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
    t_host, _, t_port = settings.temporal_address.rpartition(":")
    rpc_host, rpc_port = _rpc_port(settings)
    wanted = [
        ("SGE_TEMPORAL_ADDRESS", "127.0.0.1", int(t_port)),
        ("SGE_TEMPORAL_UI_PORT", "127.0.0.1", settings.temporal_ui_port),
        ("SGE_ETH_RPC_URLS", rpc_host, rpc_port),
        ("SGE_API_PORT", settings.api_host, settings.api_port),
        ("SGE_SANDBOX_PORT", settings.sandbox_host, settings.sandbox_port),
    ]
    for setting, host, port in wanted:
        if devstack.port_in_use(host, port):
            raise ConfigError(setting, f"port {port} is already in use (another stack? run `sge dev down`)")


def _dev_relayer_key(settings: Settings) -> Path:
    """A relayer key generated once per app home (0600), so dev never runs on a shared dev key."""
    path = settings.home / "dev" / "relayer.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(Account.create().key.hex())
    return path


async def _start_temporal(sup: devstack.Supervisor, settings: Settings, info: StackInfo) -> None:
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


async def _start_anvil(sup: devstack.Supervisor, settings: Settings, info: StackInfo) -> None:
    _step("starting anvil")
    host, port = _rpc_port(settings)
    state = settings.home / "anvil" / "state.json"
    state.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        devstack.anvil_binary(),
        "--host", host, "--port", str(port),
        "--chain-id", str(settings.chain_id),
        "--state", str(state), "--state-interval", "5",
    ]
    child = sup.start("anvil", cmd)
    url = settings.eth_rpc_urls[0]

    async def ready() -> bool:
        return int(await devstack.rpc_call(url, "eth_chainId"), 16) == settings.chain_id

    took = await sup.wait_healthy(child, ready, HEALTH_TIMEOUT_S)
    info.add("anvil (RPC)", url, f"chain {settings.chain_id}, {took:.1f}s")


def post_funding(settings: Settings, key: str, account: str, asset: str, amount: int, chain_tx: str) -> None:
    """Value put into the platform from outside (capital) enters the books, so the ledger's relayer
    ETH, SGE inventory and payout-contract balances can be reconciled with the chain."""
    with session_scope(get_engine(settings.db_url)) as session:
        ledger.post_transaction(session, key, "funding", {"chain_tx": chain_tx},
                                [ledger.debit(account, asset, amount), ledger.credit(ledger.Accounts.capital, asset, amount)])


async def _opening_balances(_sup: devstack.Supervisor, settings: Settings, info: StackInfo) -> None:
    """The deployment's funding transfers, posted once per transaction (a re-used deployment replays)."""
    manifest = load_manifest(settings.deployments_dir, settings.chain_id)
    funded = [
        ("fund SGEClaim inventory", ledger.Accounts.sge_inventory, "SGE", int(manifest.params["claim_inventory"])),
        ("fund AffiliatePayout TestUSDC", ledger.Accounts.payout_contract, "USDC", int(manifest.params.get("payout_funding", 0))),
    ]
    for step, account, asset, amount in funded:
        tx = manifest.role_grants.get(step)
        if tx and tx.startswith("0x") and amount:
            post_funding(settings, f"funding:{account}:{tx}", account, asset, amount, tx)
    info.add("ledger", "opening balances", "deployment funding posted (equity:capital)")


def sync_programs(settings: Settings, slugs: list[str] | None = None) -> dict[str, str]:
    """Local chain: write each program's claim amount, fee (USD = 6-decimal stablecoin units) and
    active flag into the claim contract, as the contracts' admin (the deployer). Only differences are
    sent; returns {step: tx hash}. `slugs` None = every program in the database."""
    manifest = load_manifest(settings.deployments_dir, settings.chain_id)
    w3 = connect_rpc(settings.eth_rpc_urls, expected_chain_id=settings.chain_id)
    admin = Account.from_key(deployer_key(settings))
    with session_scope(get_engine(settings.db_url)) as session:
        programs = [(p.slug, p.claim_amount_minor, p.fee_usd_minor, p.active) for p in list_programs(session)
                    if slugs is None or p.slug in slugs]
    sent: dict[str, str] = {}
    for slug, claim_amount, fee, active in programs:
        sent.update(sync_program(w3, admin, manifest, slug, claim_amount, fee, active=active))
    return sent


async def _sync_programs(_sup: devstack.Supervisor, settings: Settings, info: StackInfo) -> None:
    """Programs already in the database get their on-chain claim config (a fresh chain has none)."""
    sent = await asyncio.to_thread(sync_programs, settings)
    info.add("programs", "claim contract", f"on-chain config synced ({len(sent)} transactions)")


async def _fund_relayer(_sup: devstack.Supervisor, settings: Settings, info: StackInfo) -> None:
    """Dev only: the deployer (anvil's funded account) tops the relayer up with a real transfer."""
    key_file = _dev_relayer_key(settings)
    info.env["SGE_RELAYER_PRIVATE_KEY_FILE"] = str(key_file.resolve())
    # anvil's first dev account deploys and funds; it is refused on any non-local chain.
    deployer_key = anvil_accounts()[0].key.hex()
    info.env.setdefault("SGE_DEPLOYER_PRIVATE_KEY", deployer_key)
    relayer = Account.from_key(key_file.read_text().strip()).address
    url = settings.eth_rpc_urls[0]
    balance = int(await devstack.rpc_call(url, "eth_getBalance", [relayer, "latest"]), 16)
    if balance < DEV_RELAYER_FUNDING_WEI // 2:
        top_up = DEV_RELAYER_FUNDING_WEI - balance
        w3 = Web3(Web3.HTTPProvider(url))
        tx = await asyncio.to_thread(devstack.send_signed, w3, Account.from_key(deployer_key), relayer, "0x", top_up)
        post_funding(settings, f"funding:{ledger.Accounts.relayer_eth}:{tx}", ledger.Accounts.relayer_eth, "ETH", top_up, tx)
        balance = DEV_RELAYER_FUNDING_WEI
    info.add("relayer", relayer, f"{balance // 10**18} ETH, dev key {key_file}")


async def _start_worker(sup: devstack.Supervisor, settings: Settings, info: StackInfo) -> None:
    _step("starting worker")
    child = sup.start("worker", devstack.python_module_cmd("cli", "worker"), devstack.child_env(settings, info.env))
    client = await connect(settings)

    async def ready() -> bool:
        # A probe workflow completing proves the worker polls and runs activities.
        result = await asyncio.wait_for(
            client.execute_workflow(
                "Probe", "ok", id=devstack.probe_workflow_id(), task_queue=settings.temporal_task_queue
            ),
            timeout=5,
        )
        return result == "ok"

    took = await sup.wait_healthy(child, ready, HEALTH_TIMEOUT_S)
    info.add("worker", f"task queue {settings.temporal_task_queue}", f"{took:.1f}s, log {child.log_path}")


async def _start_api(sup: devstack.Supervisor, settings: Settings, info: StackInfo) -> None:
    _step("starting API")
    # Only the worker holds the relayer and deployer keys; the API knows the relayer's address.
    env = {k: v for k, v in info.env.items() if k not in ("SGE_RELAYER_PRIVATE_KEY_FILE", "SGE_DEPLOYER_PRIVATE_KEY")}
    key_file = info.env.get("SGE_RELAYER_PRIVATE_KEY_FILE")
    if key_file:
        env["SGE_RELAYER_ADDRESS"] = Account.from_key(Path(key_file).read_text().strip()).address
    child = sup.start("api", devstack.python_module_cmd("cli", "api"), devstack.child_env(settings, env))
    base = f"http://{settings.api_host}:{settings.api_port}"
    took = await sup.wait_healthy(child, lambda: devstack.http_ok(f"{base}/readyz"), HEALTH_TIMEOUT_S)
    info.add("API", base, f"{took:.1f}s")
    info.add("API docs", f"{base}/docs", "OpenAPI")


# The stack, in start order. Later capabilities insert their steps (contracts, payment sandbox).
STEPS = [_start_temporal, _start_anvil, _fund_relayer, dev_deploy_step, _sync_programs, _opening_balances,
         start_payments_sandbox, _start_worker, _start_api]


def _print_summary(info: StackInfo) -> None:
    table = Table(title="SGE local stack", show_lines=False)
    table.add_column("component", style="bold")
    table.add_column("where")
    table.add_column("detail", style="dim")
    for row in info.rows:
        table.add_row(*row)
    out.print(table)


def local_stack_settings(settings: Settings) -> Settings:
    """The embedded stack serves every client (demo, bench, browser) from 127.0.0.1, so the per-IP
    registration limit would throttle the demo itself; unless set explicitly it is relaxed locally.
    Per-wallet limits stay as in production."""
    if "SGE_RATE_LIMIT_REGISTER_IP" in os.environ:
        return settings
    return settings.model_copy(update={"rate_limit_register_ip": LOCAL_REGISTER_IP_LIMIT})


async def bring_up(settings: Settings, sup: devstack.Supervisor) -> StackInfo:
    _check_ports(settings)
    engine = get_engine(settings.db_url)
    migrate.upgrade(engine)
    info = StackInfo()
    info.add("database", settings.db_url.split("@")[-1], f"schema {migrate.current(engine)}")
    for step in STEPS:
        await step(sup, settings, info)
    return info


async def wait_for_stop(sup: devstack.Supervisor) -> int:
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
                console.print(f"[bold red]{child.name} exited[/] (code {child.proc.returncode}); last lines of {child.log_path}:\n{child.tail()}")
        try:
            await asyncio.wait_for(stop.wait(), timeout=1.0)
        except TimeoutError:
            pass
    return 1 if reported else 0


@app.command()
def up(
    smoke: bool = typer.Option(False, "--smoke", help="Exit (and stop everything) once every component is ready."),
    fresh: bool = typer.Option(False, "--fresh", help="Delete the app home's databases and chain state first."),
) -> None:
    """Start Temporal (+ Web UI), anvil, the worker and the API; Ctrl-C stops them all."""
    settings = local_stack_settings(settings_and_logs("dev", fmt="console"))
    if fresh:
        for name in ("sge.db", "sge.db-wal", "sge.db-shm", "temporal.db", "temporal.db-wal", "temporal.db-shm"):
            (settings.home / name).unlink(missing_ok=True)
        for folder in ("anvil", "deployments"):
            shutil.rmtree(settings.home / folder, ignore_errors=True)
    sup = devstack.Supervisor(settings.home)
    code = 0
    started = time.monotonic()

    async def main() -> int:
        info = await bring_up(settings, sup)
        _print_summary(info)
        console.print(f"[bold green]stack ready[/] in {time.monotonic() - started:.1f}s")
        if smoke:
            return 0
        console.print("[dim]Ctrl-C (or `sge dev down`) stops everything.[/]")
        return await wait_for_stop(sup)

    try:
        code = asyncio.run(main())
    except (ConfigError, devstack.ChildExited, TimeoutError) as exc:
        console.print(f"[bold red]error:[/] {exc}")
        code = 1
    except KeyboardInterrupt:
        code = 130
    except Exception as exc:  # noqa: BLE001 - report in one line, never leave children behind
        log.exception("dev_up_failed")
        console.print(f"[bold red]error:[/] {type(exc).__name__}: {exc}")
        code = 1
    finally:
        stopped = sup.stop_all()
        if stopped:
            console.print(f"[yellow]stopped[/] {', '.join(stopped)}")
    hard_exit(code)


@app.command()
def down() -> None:
    """Stop a stack started by `sge dev up` (from another terminal)."""
    settings = settings_and_logs("dev", fmt="console")
    names = devstack.stop_recorded_stack(settings.home)
    out.print(f"stopped {', '.join(names)}" if names else "no stack recorded under " + str(settings.home))


@app.command()
def status() -> None:
    """Show which recorded stack processes are running."""
    settings = settings_and_logs("dev", fmt="console")
    state_file = settings.home / "dev" / "stack.json"
    if not state_file.exists():
        fail(f"no stack running under {settings.home}", code=1)
    state = json.loads(state_file.read_text())
    for child in state["children"]:
        alive = devstack.pid_alive(child["pid"])
        out.print(f"{child['name']:<10} pid {child['pid']:<8} {'running' if alive else 'gone'}")
