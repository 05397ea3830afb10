"""End to end on the real parts: Temporal dev server, anvil with the contracts, the payment sandbox,
the worker and the API as processes (started by the same code as `sge dev up`), through HTTP.

20 flows complete; then 20 more with the worker SIGKILLed mid-run and restarted: every flow still
completes, each wallet holds exactly one SGE-ID and one claim's SGE, the ledger verifies, and no
transaction was sent twice.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter

import pytest
from sqlmodel import Session, select

from contracts.manifest import load_manifest
from core.db import make_engine
from core.settings import Settings
from models.chain import ChainTx
from models.onboarding import Onboarding
from ops.devstack import processes
from ops.devstack.demo import DemoClient, run_flows
from ops.devstack.stack import LOCAL_IP_LIMITS, bring_up

pytestmark = pytest.mark.integration  # the `stack` fixture starts the whole platform as processes

SGE_PER_CLAIM = 1000 * 10**18


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
        **{**LOCAL_IP_LIMITS, "rate_limit_register_ip": "100000/hour"},  # every client here is 127.0.0.1
    )
    sup = processes.Supervisor(home)
    try:
        await bring_up(settings, sup)
        yield settings, sup
    finally:
        sup.stop_all()


def _check_books(settings: Settings, report) -> None:
    """Every flow completed exactly once, on chain and in the books."""
    assert report.ok, [(f.wallet, f.state, f.reason) for f in report.flows if f.state != "completed"]
    assert report.ledger["ok"] and set(report.ledger["asset_totals"].values()) == {"0"}
    manifest = load_manifest(settings.deployments_dir, settings.chain_id)
    client = DemoClient.__new__(DemoClient)  # only its chain reads are used here
    client.settings, client.manifest = settings, manifest
    from contracts.rpc import connect

    client.w3 = connect(settings.eth_rpc_urls, expected_chain_id=settings.chain_id)
    token_ids = set()
    for flow in report.flows:
        assert client.token_of(flow.wallet) == flow.token_id  # one SGE-ID, the one the flow reported
        assert client.sge_balance(flow.wallet) == SGE_PER_CLAIM  # exactly one claim's SGE
        token_ids.add(flow.token_id)
    assert len(token_ids) == len(report.flows)
    engine = make_engine(settings.db_url)
    with Session(engine) as session:
        txs = session.exec(select(ChainTx)).all()
        rows = session.exec(select(Onboarding)).all()
    engine.dispose()
    nonces = Counter(tx.nonce for tx in txs)
    assert all(count == 1 for count in nonces.values()), "a nonce was used by two requests"
    assert all(tx.status == "confirmed" for tx in txs), [(tx.key, tx.status) for tx in txs if tx.status != "confirmed"]
    # One mint per wallet and one delivery per Coinbase-paid wallet, across every flow this stack ran.
    # Keys: `<flow>:mint`, `<flow>:referral`, `<flow>:claim:<payment ref>` (one delivery per payment).
    purposes = Counter(tx.key.split(":")[3] for tx in txs)
    assert all(r.state == "completed" for r in rows)
    assert purposes["mint"] == len(rows)
    assert purposes["claim"] == sum(1 for r in rows if r.rail != "onchain")


async def test_twenty_flows(stack):
    settings, _sup = stack
    report = await run_flows(settings, 20, lambda _msg: None)
    assert len(report.flows) == 20
    _check_books(settings, report)


async def test_worker_killed_mid_run(stack):
    settings, sup = stack
    worker = next(c for c in sup.children if c.name == "worker")
    flows = asyncio.create_task(run_flows(settings, 20, lambda _msg: None))
    await asyncio.sleep(2.0)  # flows are minting, waiting for payment and claiming
    os.killpg(worker.proc.pid, signal.SIGKILL)
    worker.proc.wait()
    await asyncio.sleep(1.0)
    sup.children.remove(worker)
    restarted = sup.start("worker", worker.cmd, worker.env)
    report = await asyncio.wait_for(flows, timeout=240)
    assert restarted.alive()
    _check_books(settings, report)
