"""The demo's second half: pay the affiliates. Two demo approvers (fixed local keys, registered to
operators with the approver role and in the payout contract's approver set) approve a payout batch of
the demo program; the relayer pays it on chain; the affiliates' stablecoin balances are read back.

Local chain only. The demo program holds commissions for its hold period; the demo releases them as of
the end of that period (a clock jump for the demo's sake), so there is something to pay today."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from sqlmodel import Session, select

from contracts import payouts as onchain
from contracts.manifest import load_manifest
from contracts.reads import call_view
from contracts.rpc import connect
from core.columns import utcnow
from core.db import get_engine, session_scope
from core.devchain import anvil_accounts
from core.settings import Settings
from models import approval_policy as policy
from models import commissions as com
from models.money import format_amount
from models.operators import Actor, Operator, create_operator
from models.payouts import PayoutBatchRow
from models.payouts import selection as sel
from models.payouts.approvers import register_address
from models.programs import get_program
from ops.devstack import processes
from temporal import payouts as batches
from temporal.client import connect as temporal

DEMO_APPROVERS = ("demo-approver-1", "demo-approver-2")
ACTOR = Actor(name="sge demo")
BATCH_TIMEOUT_S = 120.0


@dataclass
class PayoutReport:
    batch_id: str = ""
    state: str = "not started"
    reason: str = ""
    total: str = ""
    approvers: list[str] = field(default_factory=list)
    lines: list[dict[str, Any]] = field(default_factory=list)


def demo_approver(name: str) -> LocalAccount:
    """A fixed key per demo approver (local chain only): the same address on every run."""
    return Account.from_key(keccak(text=f"sge local demo approver {name}"))


def _setup(settings: Settings, program: str) -> None:
    """Approver operators and addresses (DB and contract), and the hold period jumped over."""
    engine = get_engine(settings.db_url)
    manifest = load_manifest(settings.deployments_dir, settings.chain_id)
    w3 = connect(settings.eth_rpc_urls, expected_chain_id=settings.chain_id)
    contract = manifest.address("AffiliatePayout")
    admin = anvil_accounts()[0]  # the local deployment's admin
    for name in DEMO_APPROVERS:
        account = demo_approver(name)
        with session_scope(engine) as session:
            if session.exec(select(Operator).where(Operator.name == name)).first() is None:
                create_operator(session, ACTOR, name, ["approver"])
            register_address(session, ACTOR, name, account.address)
        if not call_view(w3, "AffiliatePayout", contract, "isApprover", account.address)[0]:
            processes.send_signed(w3, admin, contract, "0x" + onchain.set_approver(account.address, True).hex())
    with session_scope(engine) as session:
        hold = get_program(session, program)
        days = hold.hold_days if hold else 30
    while True:
        with session_scope(engine) as session:
            if not com.release_due(session, now=utcnow() + timedelta(days=days, minutes=1)).more:
                break


async def run_payout(settings: Settings, program: str, say) -> PayoutReport:
    await asyncio.to_thread(_setup, settings, program)
    engine = get_engine(settings.db_url)
    client = await temporal(settings)
    period = f"demo-{uuid.uuid4().hex[:6]}"
    bid = await batches.start_batch(client, settings.temporal_task_queue, program, period, None)
    report = PayoutReport(batch_id=bid)
    say(f"payout batch {bid} created; waiting for its lines to be reserved")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + BATCH_TIMEOUT_S
    while True:  # the workflow's own state: it takes approvals once it has entered awaiting_approval
        state = (await batches.status(client, bid)).state
        if state != "created":
            break
        if loop.time() > deadline:
            raise TimeoutError(f"batch {bid} was not created in {BATCH_TIMEOUT_S}s")
        await asyncio.sleep(0.2)
    with Session(engine) as session:
        row = session.get(PayoutBatchRow, bid)
    assert row is not None
    if row.state == "awaiting_approval":
        for name in DEMO_APPROVERS:
            signature = policy.sign_typed(demo_approver(name).key, row.typed_data)
            decision = await batches.approve(client, bid, signature, name)
            report.approvers.append(f"{name} {decision.signer}: {decision.outcome}")
            say(f"approved by {name} ({decision.signer})")
    result = await asyncio.wait_for(client.get_workflow_handle(bid).result(), BATCH_TIMEOUT_S)
    report.state, report.reason = result["state"], result["reason"]
    report.total = f"{format_amount(int(result['total']), 6)} USDC"
    manifest = load_manifest(settings.deployments_dir, settings.chain_id)
    w3 = connect(settings.eth_rpc_urls, expected_chain_id=settings.chain_id)
    with Session(engine) as session:
        lines = sel.batch_lines(session, bid)
    token = manifest.address("TestUSDC")
    for ln in lines:
        balance = int(call_view(w3, "TestUSDC", token, "balanceOf", ln.wallet)[0])
        report.lines.append(
            {
                "wallet": ln.wallet,
                "amount": format_amount(ln.amount, 6),
                "state": ln.state,
                "tx": ln.chain_tx,
                "usdc_balance": format_amount(balance, 6),
            }
        )
    return report
