"""`sge dev`: the embedded local stack in one command (Temporal + Web UI, anvil, worker, API)."""

from __future__ import annotations

import asyncio
import json
import shutil
import time

import typer
from rich.table import Table

from cli.common import console, fail, hard_exit, out, settings_and_logs
from core.logs import get_logger
from core.settings import ConfigError
from ops.devstack import processes
from ops.devstack.chain import dev_handover
from ops.devstack.stack import StackInfo, bring_up, local_stack_settings, wait_for_stop

app = typer.Typer(help="The embedded local stack.", no_args_is_help=True)
log = get_logger(__name__)

DEV_RELAYER_FUNDING_WEI = 10 * 10**18
HEALTH_TIMEOUT_S = 60.0
LOCAL_REGISTER_IP_LIMIT = "10000/hour"


def _print_summary(info: StackInfo) -> None:
    table = Table(title="SGE local stack", show_lines=False)
    table.add_column("component", style="bold")
    table.add_column("where")
    table.add_column("detail", style="dim")
    for row in info.rows:
        table.add_row(*row)
    out.print(table)


@app.command()
def up(
    smoke: bool = typer.Option(False, "--smoke", help="Exit (and stop everything) once every component is ready."),
    fresh: bool = typer.Option(False, "--fresh", help="Delete the app home's databases and chain state first."),
    handover: bool = typer.Option(
        True,
        "--handover/--no-handover",
        help="Hand every contract admin role to the treasury Safe once up, as in production "
        "(--no-handover: the deployer stays admin, for contract development).",
    ),
) -> None:
    """Start Temporal (+ Web UI), anvil, the worker and the API; Ctrl-C stops them all."""
    settings = local_stack_settings(settings_and_logs("dev", fmt="console"))
    if fresh:
        for name in ("sge.db", "sge.db-wal", "sge.db-shm", "temporal.db", "temporal.db-wal", "temporal.db-shm"):
            (settings.home / name).unlink(missing_ok=True)
        for folder in ("anvil", "deployments"):
            shutil.rmtree(settings.home / folder, ignore_errors=True)
    sup = processes.Supervisor(settings.home)
    code = 0
    started = time.monotonic()

    async def main() -> int:
        info = await bring_up(settings, sup)
        if handover:
            sent = await asyncio.to_thread(dev_handover, settings)
            info.add("treasury Safe", "admin roles", f"handed over ({len(sent)} transactions; dev owners sign)")
        _print_summary(info)
        console.print(f"[bold green]stack ready[/] in {time.monotonic() - started:.1f}s")
        if smoke:
            return 0
        console.print("[dim]Ctrl-C (or `sge dev down`) stops everything.[/]")
        return await wait_for_stop(sup)

    try:
        code = asyncio.run(main())
    except (ConfigError, processes.ChildExited, TimeoutError) as exc:
        console.print(f"[bold red]error:[/] {exc}")
        code = 1
    except KeyboardInterrupt:
        code = 130
    except Exception as exc:
        log.exception("dev_up_failed")
        console.print(f"[bold red]error:[/] {type(exc).__name__}: {exc}")
        code = 1
    finally:
        stopped = sup.stop_all()
        if stopped:
            console.print(f"[yellow]stopped[/] {', '.join(stopped)}")
    hard_exit(code)


@app.command()
def fund(
    address: str = typer.Argument(..., help="The wallet to fund (e.g. one imported into a wallet extension)."),
    eth: float = typer.Option(1.0, "--eth", min=0, help="ETH for gas."),
    usd: int = typer.Option(100, "--usd", min=0, help="Whole TestUSDC and TestUSDT to mint."),
) -> None:
    """Local chain only: give a wallet ETH, TestUSDC and TestUSDT to try the app (/app/<program>)."""
    from ops.devstack.demo import fund_wallet

    settings = local_stack_settings(settings_and_logs("dev", fmt="console"))
    if not settings.is_local_chain:
        raise ConfigError("SGE_CHAIN_ID", "funding test wallets works on a local chain only")
    try:
        sent = fund_wallet(settings, address, eth_wei=int(eth * 10**18), usd_minor=usd * 10**6)
    except Exception as exc:  # noqa: BLE001 - one line for the user (is the stack up?)
        fail(f"{type(exc).__name__}: {exc} (is `make dev` running?)")
    for asset, tx in sent.items():
        out.print(f"{asset:<9} {tx}")


@app.command()
def down() -> None:
    """Stop a stack started by `sge dev up` (from another terminal)."""
    settings = settings_and_logs("dev", fmt="console")
    names = processes.stop_recorded_stack(settings.home)
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
        alive = processes.pid_alive(child["pid"])
        out.print(f"{child['name']:<10} pid {child['pid']:<8} {'running' if alive else 'gone'}")
