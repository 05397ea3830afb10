"""`sge payouts`: create, list, show, approve, reject and cancel payout batches; register approvers'
addresses. The same actions as /v1/ops/payouts, audited under the local user's name.

`approve` signs the batch's EIP-712 message with the approver's key file (a 0x-hex private key), or
takes a signature made elsewhere (`--signature`); `--print` shows the message to sign instead."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table
from sqlmodel import Session, select

from cli.common import fail, hard_exit, out, run_async, settings_and_logs
from core.db import get_engine, session_scope
from models import approval_policy as policy
from models.affiliates import program_by_slug
from models.audit import audited_call
from models.operators import Actor, Operator
from models.payouts import io
from models.payouts.approvers import register_address
from models.payouts.views import batch_detail, list_batches, next_manual_period
from temporal import payouts as batches
from temporal.client import connect

app = typer.Typer(help="Payout batches: create, list, show, approve, reject, cancel.", no_args_is_help=True)


def _actor(name: str = "") -> Actor:
    return Actor(name=name or f"cli:{getpass.getuser()}")


def _settings_engine():
    settings = settings_and_logs("cli", fmt="console")
    return settings, get_engine(settings.db_url)


def _act(batch_id: str, action: str, details: dict[str, Any], run) -> Any:
    settings, engine = _settings_engine()

    async def go():
        client = await connect(settings)
        return await audited_call(
            engine, _actor(), f"payout.{action}", "payout_batch", batch_id, None, details, lambda: run(client)
        )

    return run_async(go())


@app.command()
def create(
    program: str = typer.Option(..., help="Program slug."),
    period: str = typer.Option(None, help="e.g. 2026-W48 (default: batch-N)."),
    created_by: str = typer.Option(None, help="Operator creating it (excluded from approving it)."),
) -> None:
    """Start a batch: its workflow selects PAYABLE commissions, nets clawbacks and reserves the lines."""
    settings, engine = _settings_engine()
    with Session(engine) as session:
        prog = program_by_slug(session, program, active=False)
        assert prog.id is not None
        chosen = period or next_manual_period(session, prog.id)
        creator = None
        if created_by:
            row = session.exec(select(Operator).where(Operator.name == created_by)).first()
            if row is None:
                fail(f"no operator {created_by!r}", code=1)
            creator = row.id
    queue = settings.temporal_task_queue
    bid = _act(
        io.batch_id(program, chosen),
        "create",
        {"program": program, "period": chosen},
        lambda client: batches.start_batch(client, queue, program, chosen, creator),
    )
    out.print(bid)
    hard_exit(0)


@app.command("list")
def list_command(
    program: str = typer.Option(None),
    state: str = typer.Option(None),
    limit: int = typer.Option(50, min=1, max=500),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Batches from the database, newest first."""
    _settings, engine = _settings_engine()
    with Session(engine) as session:
        rows = list_batches(session, program=program, state=state, limit=limit)
    if as_json:
        print(json.dumps([r.model_dump(mode="json") for r in rows]))
        hard_exit(0)
    table = Table()
    for column in ("batch", "state", "total", "lines", "approvals", "created by", "reason"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            r.batch_id,
            r.state,
            f"{r.total / 10**6:.2f}",
            str(r.line_count),
            f"{r.approvals}/{r.required_approvals}",
            r.created_by,
            r.reason,
        )
    out.print(table)
    hard_exit(0)


@app.command()
def show(batch_id: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """One batch: lines, decisions, the EIP-712 message approvers sign."""
    _settings, engine = _settings_engine()
    with Session(engine) as session:
        detail = batch_detail(session, batch_id)
    if as_json:
        print(json.dumps(detail.model_dump(mode="json")))
        hard_exit(0)
    out.print(f"{detail.batch_id}  {detail.state}  {detail.total / 10**6:.2f} USDC  {detail.line_count} lines")
    out.print(f"approvals {detail.approvals}/{detail.required_approvals}  deadline {detail.deadline}  {detail.reason}")
    for ln in detail.lines:
        out.print(f"  {ln.payout_id[:12]}…  {ln.wallet}  {ln.amount / 10**6:.2f}  {ln.state}  {ln.reason}")
    for d in detail.decisions:
        out.print(f"  {d.get('kind')} {d.get('outcome')} {d.get('signer')} {d.get('reason')}")
    hard_exit(0)


def _typed(batch_id: str) -> dict[str, Any]:
    _settings, engine = _settings_engine()
    with Session(engine) as session:
        typed = batch_detail(session, batch_id).typed_data
    if not typed:
        fail(f"batch {batch_id} has nothing to sign", code=1)
    return typed


def _signature(typed: dict[str, Any], key_file: Path | None, signature: str | None) -> str:
    if signature:
        return signature
    if key_file is None:
        fail("give --key-file F (the approver's private key) or --signature S (or --print to see the message)")
    return policy.sign_typed(key_file.read_text().strip(), typed)


@app.command()
def approve(
    batch_id: str,
    key_file: Path = typer.Option(None, exists=True, dir_okay=False, help="File holding the approver's private key."),
    signature: str = typer.Option(None, help="A signature of the typed data made elsewhere."),
    print_only: bool = typer.Option(False, "--print", help="Print the EIP-712 message to sign and stop."),
) -> None:
    """Approve: the signature decides who approves (creator, repeats and outsiders are refused)."""
    typed = _typed(batch_id)
    if print_only:
        print(json.dumps(typed, indent=2))
        hard_exit(0)
    sig = _signature(typed, key_file, signature)

    async def run(client) -> dict[str, Any]:
        return (await batches.approve(client, batch_id, sig, _actor().name)).model_dump(mode="json")

    decision = _act(batch_id, "approve", {}, run)
    out.print(f"{decision['outcome']}: {decision['signer']}")
    hard_exit(0)


@app.command()
def reject(
    batch_id: str,
    reason: str = typer.Option(..., help="Why (signed with the rejection)."),
    key_file: Path = typer.Option(None, exists=True, dir_okay=False),
    signature: str = typer.Option(None),
    print_only: bool = typer.Option(False, "--print"),
) -> None:
    """Reject with a signed reason: every line is voided, its commissions payable again."""
    typed = policy.rejection_typed_data(_typed(batch_id), reason)
    if print_only:
        print(json.dumps(typed, indent=2))
        hard_exit(0)
    sig = _signature(typed, key_file, signature)
    _act(batch_id, "reject", {"reason": reason}, lambda c: batches.reject(c, batch_id, sig, reason, _actor().name))
    out.print("sent")
    hard_exit(0)


@app.command()
def cancel(batch_id: str, reason: str = typer.Option(...)) -> None:
    """Cancel a batch still awaiting approval: every line is voided."""
    _act(batch_id, "cancel", {"reason": reason}, lambda c: batches.cancel(c, batch_id, _actor().name, reason))
    out.print("sent")
    hard_exit(0)


@app.command("add-address")
def add_address(
    operator: str,
    address: str,
    on_chain: bool = typer.Option(
        False, "--on-chain", help="Also add it to the payout contract's approver set (sent with the admin key)."
    ),
) -> None:
    """Register an approver's own Ethereum address. The contract's approver set is its admin's: with
    `--on-chain` this sends `setApprover(address, true)` with the configured admin key (the deployer key;
    anvil's on a local chain); in production the admin is a Safe, which sends it instead."""
    settings, engine = _settings_engine()
    with session_scope(engine) as session:
        view = register_address(session, _actor(), operator, address)
    out.print(f"{view.operator}: {view.address}")
    if on_chain:
        from eth_account import Account

        from contracts import payouts as onchain
        from contracts.admin import deployer_key
        from contracts.manifest import load_manifest
        from contracts.rpc import connect as rpc
        from ops.devstack.processes import send_signed

        manifest = load_manifest(settings.deployments_dir, settings.chain_id)
        w3 = rpc(settings.eth_rpc_urls, expected_chain_id=settings.chain_id)
        data = "0x" + onchain.set_approver(view.address, True).hex()
        tx = send_signed(w3, Account.from_key(deployer_key(settings)), manifest.address("AffiliatePayout"), data)
        out.print(f"setApprover sent: {tx}")
    hard_exit(0)
