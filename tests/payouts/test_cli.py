"""`sge payouts` as an operator runs it (subprocesses) against the dev server, the worker's real
activities, anvil and the DB: create, approve with a key file and with a signature made elsewhere, list."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

from models import approval_policy as policy
from models.payouts import io
from tests.helpers.temporal import temporal_address
from tests.payouts.conftest import earn


def test_env(payouts) -> dict[str, str]:
    s = payouts.settings
    return {
        **os.environ,
        "SGE_HOME": str(s.home),
        "SGE_DATABASE_URL": s.database_url,
        "SGE_ETH_RPC_URLS": ",".join(s.eth_rpc_urls),
        "SGE_CHAIN_ID": str(s.chain_id),
        "SGE_TEMPORAL_ADDRESS": temporal_address(payouts.client),
        "SGE_TEMPORAL_TASK_QUEUE": payouts.queue,
        "SGE_LOG_FORMAT": "console",
    }


async def sge(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """In a thread: the worker shares this test's event loop and must keep answering meanwhile."""
    cmd = [sys.executable, "-m", "cli", *args]
    return await asyncio.to_thread(subprocess.run, cmd, env=env, capture_output=True, text=True, timeout=120)


test_env.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


async def test_create_approve_list_show(payouts, db_engine, tmp_path):
    earn(db_engine)
    env = test_env(payouts)
    created = await sge(env, "payouts", "create", "--program", "demo", "--period", "cli-1", "--created-by", "dave")
    assert created.returncode == 0, created.stderr
    bid = io.batch_id("demo", "cli-1")
    handle = payouts.client.get_workflow_handle(bid)
    await payouts.until(handle, "awaiting_approval")

    printed = await sge(env, "payouts", "approve", bid, "--print")
    typed = json.loads(printed.stdout)
    assert typed["primaryType"] == "PayoutBatch" and typed == payouts.typed(handle)
    key_file = tmp_path / "dave.key"
    key_file.write_text(payouts.signers["dave"].key.hex())
    own = await sge(env, "payouts", "approve", bid, "--key-file", str(key_file))
    assert own.returncode == 1 and "approval_refused" in own.stderr and policy.CREATOR in own.stderr
    key_file.write_text(payouts.signers["alice"].key.hex())
    ok = await sge(env, "payouts", "approve", bid, "--key-file", str(key_file))
    assert ok.returncode == 0 and "accepted" in ok.stdout, ok.stderr
    elsewhere = policy.sign_typed(payouts.signers["carol"].key, typed)
    ok = await sge(env, "payouts", "approve", bid, "--signature", elsewhere)
    assert ok.returncode == 0, ok.stderr
    assert (await handle.result())["state"] == "paid"

    listed = json.loads((await sge(env, "payouts", "list", "--json")).stdout)
    assert [(b["batch_id"], b["state"], b["approvals"], b["created_by"]) for b in listed] == [(bid, "paid", 2, "dave")]
    shown = json.loads((await sge(env, "payouts", "show", bid, "--json")).stdout)
    assert {ln["state"] for ln in shown["lines"]} == {"paid"}


async def test_add_address_registers_an_approver_in_the_db_and_on_chain(payouts, db_engine):
    from eth_account import Account
    from sqlmodel import Session

    from models.payouts.approvers import eligible_addresses
    from tests.helpers.ledger import make_operator

    make_operator(db_engine, "erin", "approver")
    make_operator(db_engine, "vic", "viewer")
    env = test_env(payouts)
    address = Account.create().address
    refused = await sge(env, "payouts", "add-address", "vic", address)
    assert refused.returncode == 1 and "not_an_approver" in refused.stderr
    added = await sge(env, "payouts", "add-address", "erin", address, "--on-chain")
    assert added.returncode == 0, added.stderr
    with Session(db_engine) as s:
        assert address in eligible_addresses(s)
    assert payouts.chain.view("AffiliatePayout", "isApprover", address) is True
