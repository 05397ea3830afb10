"""Incident levers (`sge workers drain|undrain|status`, `sge relayer freeze`, `sge rpc status`): each
one command, audited under the local user's name where it changes anything."""

from __future__ import annotations

import getpass
import json

import typer
from sqlmodel import Session

from cli.common import run_async, settings_and_logs
from core.db import get_engine, session_scope
from models.drain import drain_state, set_drain
from models.operators import Actor
from temporal.client import connect
from temporal.drain import task_queue_pollers

workers_app = typer.Typer(
    help="The workers' drain switch: stop taking new tasks without killing running activities.", no_args_is_help=True
)


def _actor() -> Actor:
    return Actor(name=f"cli:{getpass.getuser()}")


def _settings_engine():
    settings = settings_and_logs("cli", fmt="console")
    return settings, get_engine(settings.db_url)


@workers_app.command("drain")
def workers_drain(reason: str = typer.Option(..., help="Why (audited).")) -> None:
    """Every worker stops polling within SGE_WORKER_DRAIN_POLL_SECONDS; running activities finish
    (up to SGE_WORKER_GRACEFUL_SHUTDOWN_SECONDS); the processes stay up, waiting for `undrain`."""
    _, engine = _settings_engine()
    with session_scope(engine) as session:
        print(set_drain(session, _actor(), True, reason).model_dump_json(indent=2))


@workers_app.command("undrain")
def workers_undrain(reason: str = typer.Option(..., help="Why (audited).")) -> None:
    """Workers poll again within SGE_WORKER_DRAIN_POLL_SECONDS."""
    _, engine = _settings_engine()
    with session_scope(engine) as session:
        print(set_drain(session, _actor(), False, reason).model_dump_json(indent=2))


@workers_app.command("status")
def workers_status() -> None:
    """The drain switch and who polls the task queue (a stopped poller stays listed about a minute)."""
    settings, engine = _settings_engine()
    with Session(engine) as session:
        switch = drain_state(session)

    async def pollers() -> dict[str, list[str]]:
        return await task_queue_pollers(await connect(settings), settings.temporal_task_queue)

    report = {"drained": switch.model_dump(mode="json"), "pollers": run_async(pollers())}
    print(json.dumps(report, indent=2))


def relayer_freeze(
    reason: str = typer.Option(..., help="Why (audited; shown on halted and gated flows)."),
    limit: int = typer.Option(20, min=1, max=1000, help="Recent transactions to list."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Suspected relayer compromise: halt on, chain gate closed (audited), the relayer's recent
    transactions and the flows mid-transaction, and the Safe command that revokes its roles."""
    from models.relayer_freeze import freeze_relayer

    settings, engine = _settings_engine()
    with session_scope(engine) as session:
        report = freeze_relayer(session, settings, _actor(), reason, limit)
    if as_json:
        print(json.dumps(report, indent=2))
        return
    print(f"relayer {report['relayer'] or '(address unknown)'}: halted, chain gate closed")
    print(f"recent transactions ({len(report['recent_transactions'])}):")
    for tx in report["recent_transactions"]:
        print(f"  {tx['status']:<9} nonce {tx['nonce']!s:<6} {tx['hash'] or '-'}  {tx['key']}")
    print(f"flows mid-transaction ({len(report['flows_mid_transaction'])}):")
    for flow in report["flows_mid_transaction"]:
        print(f"  {flow['flow_id']}  {flow['state']}  tx {flow['tx_status']} {flow['tx_hash'] or '-'}")
    for tx in report["other_open_transactions"]:
        print(f"  (not a flow) {tx['status']} {tx['key']}")
    print("next:")
    for step in report["next_steps"]:
        print(f"  {step}")


rpc_app = typer.Typer(help="The Ethereum RPC endpoints (SGE_ETH_RPC_URLS).", no_args_is_help=True)


@rpc_app.command("status")
def rpc_status(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Each endpoint: answers, chain id against SGE_CHAIN_ID, head block, and the one that serves (every
    chain access — relayer, chain reads, monitor — connects to the first that answers on the right
    chain). Exit 1 when an endpoint is on the wrong chain or none serves."""
    from contracts.rpc import probe_endpoints
    from core.redact import redact, redact_url

    settings = settings_and_logs("cli", fmt="console")
    report = probe_endpoints(settings.eth_rpc_urls, settings.chain_id)
    for entry in report:
        entry["url"] = redact_url(entry["url"])
        if "error" in entry:
            entry["error"] = redact(entry["error"])
    if as_json:
        print(json.dumps({"chain_id": settings.chain_id, "endpoints": report}, indent=2))
    else:
        for entry in report:
            mark = "serves" if entry["serves"] else ("ok" if entry["ok"] else "FAIL")
            detail = f"chain {entry['chain_id']} block {entry['block']}" if entry["ok"] else entry.get("error", "")
            print(f"{mark:<7} {entry['url']}  {detail}")
    wrong_chain = any(e["chain_id"] is not None and e["chain_id"] != settings.chain_id for e in report)
    if wrong_chain or not any(e["serves"] for e in report):
        raise typer.Exit(1)
