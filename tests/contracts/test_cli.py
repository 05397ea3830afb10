"""`sge contracts deploy|show` and `sge relayer status` as an operator runs them (subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from eth_account import Account

from contracts.manifest import load_manifest
from core import migrate
from core.db import make_engine
from tests.helpers.chain import ETH


def sge(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli", *args], env=env, capture_output=True, text=True, timeout=120)


def test_deploy_twice_show_and_relayer_status(anvil_factory, tmp_path):
    node = anvil_factory()
    relayer = Account.create()
    env = {
        **os.environ,
        "SGE_HOME": str(tmp_path / "home"),
        "SGE_ETH_RPC_URLS": node.rpc_url,
        "SGE_CHAIN_ID": str(node.chain_id),
        "SGE_RELAYER_PRIVATE_KEY": relayer.key.hex(),
        "SGE_DATABASE_URL": f"sqlite:///{tmp_path / 'sge.db'}",
        "SGE_LOG_FORMAT": "console",
    }
    approvers = [Account.create().address for _ in range(2)]
    first = sge("contracts", "deploy", "--approver", approvers[0], "--approver", approvers[1], env=env)
    assert first.returncode == 0, first.stderr
    assert "chain 31337: deployed" in first.stdout and "SGEClaim" in first.stdout
    second = sge("contracts", "deploy", env=env)
    assert second.returncode == 0 and "already deployed (nothing sent)" in second.stdout
    shown = load_manifest(tmp_path / "home" / "deployments", node.chain_id)
    assert shown.relayer == relayer.address and {"SGEID", "SGEClaim"} <= set(shown.contracts)
    assert shown.params["payout_approvers"] == ",".join(approvers)

    migrate.upgrade(make_engine(env["SGE_DATABASE_URL"]))  # in-process: saves a CLI start-up
    poor = sge("relayer", "status", "--json", env=env)
    assert poor.returncode == 1 and json.loads(poor.stdout)["balance_ok"] is False  # unfunded: not ready
    node.rpc("anvil_setBalance", [relayer.address, hex(ETH)])
    ready = sge("relayer", "status", "--json", env=env)
    assert ready.returncode == 0, ready.stdout
    assert json.loads(ready.stdout) | {"ok": True, "pending": 0, "address": relayer.address} == json.loads(ready.stdout)


def test_deploy_refuses_mainnet_without_the_flag(anvil_factory, tmp_path):
    node = anvil_factory(chain_id=1)
    env = {
        **os.environ,
        "SGE_HOME": str(tmp_path / "home"),
        "SGE_ETH_RPC_URLS": node.rpc_url,
        "SGE_CHAIN_ID": "1",
        "SGE_RELAYER_PRIVATE_KEY": Account.create().key.hex(),
        "SGE_DEPLOYER_PRIVATE_KEY": Account.create().key.hex(),
    }
    result = sge("contracts", "deploy", env=env)
    assert result.returncode != 0 and "chain id 1" in result.stderr


def test_dev_stack_syncs_the_database_programs_on_chain(anvil, settings, db_engine):
    """The `sge dev up` step: every program in the database gets its claim config on chain, once."""
    from contracts.abi import program_id
    from core.db import session_scope
    from models.operators import Actor
    from models.programs import ProgramCreate, create_program
    from ops.devstack.chain import sync_programs
    from tests.helpers.chain import deploy_chain

    migrate.upgrade(db_engine)
    chain = deploy_chain(anvil, settings.deployments_dir)
    with session_scope(db_engine) as session:
        for slug, fee, claim, active in (("alpha", "100", "1000", True), ("beta", "12.5", "250", False)):
            create_program(
                session,
                Actor(name="test"),
                ProgramCreate(
                    slug=slug,
                    name=slug,
                    treasury_address=chain.manifest.treasury,
                    fee_usd=fee,
                    claim_amount_sge=claim,
                    active=active,
                ),
            )
    sent = sync_programs(settings)
    assert len(sent) == 6  # per program: setProgram + a fee per stablecoin
    alpha, beta = program_id("alpha"), program_id("beta")
    assert chain.view("SGEClaim", "programs", alpha) == [1000 * ETH, True]
    assert chain.view("SGEClaim", "programs", beta) == [250 * ETH, False]
    for token in (chain.addr("TestUSDC"), chain.addr("TestUSDT")):
        assert chain.view("SGEClaim", "feeOf", alpha, token) == 100 * 10**6
        assert chain.view("SGEClaim", "feeOf", beta, token) == 12_500_000
    assert sync_programs(settings) == {}  # already in sync: nothing sent
