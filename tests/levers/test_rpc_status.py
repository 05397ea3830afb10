"""`sge rpc status`: each configured endpoint's chain id and block, and which one serves."""

from __future__ import annotations

import json

from eth_account import Account

from ops.devstack.processes import free_port
from tests.monitoring.test_relayer_cli import _env, sge


def test_the_first_endpoint_on_the_right_chain_serves_and_a_wrong_chain_fails(anvil, anvil_factory, tmp_path):
    other_chain = anvil_factory(chain_id=5)
    dead = f"http://127.0.0.1:{free_port()}/v3/0123456789abcdef0123456789abcdef"  # a key in the path
    env = _env(tmp_path, anvil, Account.create())

    env["SGE_ETH_RPC_URLS"] = f"{dead},{anvil.rpc_url}"
    good = sge("rpc", "status", "--json", env=env)
    assert good.returncode == 0, good.stderr
    endpoints = json.loads(good.stdout)["endpoints"]
    assert [(e["ok"], e["serves"]) for e in endpoints] == [(False, False), (True, True)]
    assert endpoints[1]["chain_id"] == anvil.chain_id and endpoints[1]["block"] >= 0
    assert "0123456789abcdef0123456789abcdef" not in good.stdout  # redacted

    env["SGE_ETH_RPC_URLS"] = f"{anvil.rpc_url},{other_chain.rpc_url}"
    wrong = sge("rpc", "status", env=env)
    assert wrong.returncode == 1
    assert "serves" in wrong.stdout and f"serves chain id 5, expected {anvil.chain_id}" in wrong.stdout
