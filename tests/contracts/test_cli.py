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
    first = sge("contracts", "deploy", env=env)
    assert first.returncode == 0, first.stderr
    assert "chain 31337: deployed" in first.stdout and "SGEClaim" in first.stdout
    second = sge("contracts", "deploy", env=env)
    assert second.returncode == 0 and "already deployed (nothing sent)" in second.stdout
    shown = load_manifest(tmp_path / "home" / "deployments", node.chain_id)
    assert shown.relayer == relayer.address and {"SGEID", "SGEClaim"} <= set(shown.contracts)

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
