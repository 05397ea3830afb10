"""Payouts end to end on the real stack as processes (`sge dev up`'s code: Temporal dev server, anvil
with the contracts, the sandbox, the worker, the API): flows earn commissions, a batch is approved by
two approvers and paid; the chain's balances equal the ledger's; a worker SIGKILLed while a batch pays
is restarted and every line is paid exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter

import pytest
from sqlmodel import Session, select

from contracts.manifest import load_manifest
from contracts.reads import call_view
from contracts.rpc import connect
from core.db import make_engine
from core.settings import Settings
from models import ledger
from models.chain import ChainTx
from models.ledger import Accounts
from models.payouts import selection as sel
from ops.devstack import processes
from ops.devstack.demo import DEMO_PROGRAM, run_flows
from ops.devstack.demo_payouts import run_payout
from ops.devstack.stack import LOCAL_IP_LIMITS, bring_up

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def stack(tmp_path_factory, test_database):
    home = tmp_path_factory.mktemp("stack") / "var"
    free = processes.free_port
    settings = Settings(
        _env_file=None,
        home=home,
        environment="test",
        database_url=test_database.fresh_url(),
        temporal_address=f"127.0.0.1:{free()}",
        temporal_ui_port=free(),
        eth_rpc_urls=[f"http://127.0.0.1:{free()}"],
        api_port=free(),
        operator_port=free(),
        sandbox_port=free(),
        log_format="json",
        **{**LOCAL_IP_LIMITS, "rate_limit_register_ip": "100000/hour"},
    )
    sup = processes.Supervisor(home)
    try:
        await bring_up(settings, sup)
        yield settings, sup
    finally:
        sup.stop_all()


def _chain(settings: Settings):
    manifest = load_manifest(settings.deployments_dir, settings.chain_id)
    return manifest, connect(settings.eth_rpc_urls, expected_chain_id=settings.chain_id)


def _usdc(settings: Settings, holder: str) -> int:
    manifest, w3 = _chain(settings)
    return int(call_view(w3, "TestUSDC", manifest.address("TestUSDC"), "balanceOf", holder)[0])


def _check_books_against_chain(settings: Settings) -> None:
    """The payout contract's USDC on chain equals `asset:payout_contract` in the ledger; the books verify."""
    manifest, _w3 = _chain(settings)
    engine = make_engine(settings.db_url)
    with Session(engine) as session:
        book = sum(
            b.balance
            for b in ledger.balances(session, prefix=Accounts.payout_contract, asset="USDC")
            if b.account == Accounts.payout_contract
        )
        assert ledger.verify(session).ok
        txs = session.exec(select(ChainTx)).all()
    engine.dispose()
    assert book == _usdc(settings, manifest.address("AffiliatePayout"))
    assert all(n == 1 for n in Counter(tx.nonce for tx in txs).values()), "a nonce was used twice"
    pays = [tx.key for tx in txs if ":pay:" in tx.key and tx.status == "confirmed"]
    assert len(pays) == len(set(pays))


async def test_a_batch_approved_by_two_is_paid_and_the_chain_equals_the_ledger(stack):
    settings, _sup = stack
    flows = await run_flows(settings, 2, lambda _m: None)
    assert flows.ok, [(f.state, f.reason) for f in flows.flows]
    report = await run_payout(settings, DEMO_PROGRAM, lambda _m: None)
    assert (report.state, report.reason) == ("paid", "")
    assert len(report.approvers) == 2 and all("accepted" in a for a in report.approvers)
    for line in report.lines:  # fresh affiliate wallets: their balance is what the batch paid them
        assert line["state"] == "paid" and line["usdc_balance"] == line["amount"]
    _check_books_against_chain(settings)


async def test_worker_killed_while_a_batch_pays_pays_each_line_once(stack):
    settings, sup = stack
    flows = await run_flows(settings, 2, lambda _m: None)
    assert flows.ok
    payout = asyncio.create_task(run_payout(settings, DEMO_PROGRAM, lambda _m: None))
    engine = make_engine(settings.db_url)
    killed = False
    for _ in range(600):  # kill the worker as soon as the batch is approved (paying)
        await asyncio.sleep(0.05)
        with Session(engine) as session:
            rows = session.exec(select(sel.PayoutBatchRow).where(sel.PayoutBatchRow.period.like("demo-%"))).all()
        paying = [r for r in rows if r.state in ("approved", "paying")]
        if paying:
            worker = next(c for c in sup.children if c.name == "worker")
            os.killpg(worker.proc.pid, signal.SIGKILL)
            worker.proc.wait()
            sup.children.remove(worker)
            await asyncio.sleep(1.0)
            sup.start("worker", worker.cmd, worker.env)
            killed = True
            break
    report = await asyncio.wait_for(payout, timeout=240)
    engine.dispose()
    assert killed, "the batch was never seen paying"
    assert report.state == "paid"
    for line in report.lines:  # new affiliates, balance 0 before: paid twice would show double
        assert line["state"] == "paid" and line["usdc_balance"] == line["amount"]
    _check_books_against_chain(settings)
