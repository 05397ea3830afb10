"""Deployment (manifest, idempotence, mainnet guard) and the committed artifacts."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from eth_account import Account

from contracts import ALL_CONTRACTS, ARTIFACTS_DIR, load_artifact
from contracts.build import REPO_ROOT, check, toolchain_available
from contracts.deploy import DeployError, DeployParams, deploy_all
from contracts.manifest import load_manifest, manifest_path
from contracts.rpc import connect
from tests.helpers.chain import deploy_chain, role


def test_deploy_writes_a_manifest_and_is_idempotent(anvil, tmp_path):
    chain = deploy_chain(anvil, tmp_path)
    manifest = load_manifest(tmp_path, anvil.chain_id)
    assert manifest_path(tmp_path, anvil.chain_id) == tmp_path / "31337.json"
    assert set(manifest.contracts) == set(ALL_CONTRACTS)
    assert manifest.chain_id == anvil.chain_id and manifest.relayer == chain.relayer.address
    assert manifest.deploy_block <= min(c.block_number for c in manifest.contracts.values())
    for c in manifest.contracts.values():
        assert chain.w3.eth.get_transaction_receipt(c.tx_hash)["contractAddress"] == c.address
    # relayer roles granted, inventory and payout funds in place
    assert chain.view("SGEClaim", "hasRole", role("RELAYER_ROLE"), chain.relayer.address) is True
    assert chain.view("AffiliatePayout", "hasRole", role("PAYER_ROLE"), chain.relayer.address) is True
    assert chain.view("AffiliateRegistry", "hasRole", role("RELAYER_ROLE"), chain.relayer.address) is True
    assert chain.view("SGEToken", "balanceOf", chain.addr("SGEClaim")) == 10_000_000 * 10**18
    assert chain.view("TestUSDC", "balanceOf", chain.addr("AffiliatePayout")) == 1_000_000 * 10**6
    # no approvers unless given; the approval policy starts at 2, or 3 from the high-value total
    assert chain.view("AffiliatePayout", "approverCount") == 0
    assert chain.view("AffiliatePayout", "requiredApprovals", 10_000 * 10**6 - 1) == 2
    assert chain.view("AffiliatePayout", "requiredApprovals", 10_000 * 10**6) == 3

    block = chain.w3.eth.block_number
    again = deploy_all(
        chain.w3, chain.deployer, chain.relayer.address, tmp_path, chain_id=anvil.chain_id, local_chain=True
    )
    assert again.deployed is False
    assert again.manifest.addresses == manifest.addresses
    assert chain.w3.eth.block_number == block  # nothing was sent


def test_deploy_again_when_the_chain_lost_the_contracts(anvil_factory, tmp_path):
    first = anvil_factory()
    old = deploy_chain(first, tmp_path).manifest
    first.stop()
    second = anvil_factory()  # a fresh chain with the same id: the manifest's addresses have no code
    w3 = connect([second.rpc_url])
    assert len(w3.eth.get_code(old.address("SGEID"))) == 0
    result = deploy_all(w3, second.accounts[0], old.relayer, tmp_path, chain_id=second.chain_id, local_chain=True)
    assert result.deployed is True
    assert len(w3.eth.get_code(result.manifest.address("SGEID"))) > 0
    assert load_manifest(tmp_path, second.chain_id).addresses == result.manifest.addresses


def test_deploy_registers_the_payout_approvers(anvil, tmp_path):
    approvers = [Account.create().address for _ in range(3)]
    params = DeployParams(payout_approvers=approvers, payout_high_value_total=5_000 * 10**6)
    chain = deploy_chain(anvil, tmp_path, params=params)
    assert chain.view("AffiliatePayout", "approverCount") == 3
    assert all(chain.view("AffiliatePayout", "isApprover", a) is True for a in approvers)
    assert chain.view("AffiliatePayout", "highValueTotal") == 5_000 * 10**6
    assert chain.manifest.params["payout_approvers"] == ",".join(approvers)
    assert sum(1 for step in chain.manifest.role_grants if step.startswith("payout approver ")) == 3


def test_mainnet_needs_the_confirmation_flag(anvil_factory, tmp_path):
    mainnet_like = anvil_factory(chain_id=1)
    w3 = connect([mainnet_like.rpc_url])
    deployer = mainnet_like.accounts[0]
    relayer = Account.create().address
    with pytest.raises(DeployError, match="chain id 1"):
        deploy_all(w3, deployer, relayer, tmp_path, chain_id=1, local_chain=False)
    assert w3.eth.block_number == 0 and not manifest_path(tmp_path, 1).exists()
    with pytest.raises(DeployError, match="serves chain id 1"):
        deploy_all(w3, deployer, relayer, tmp_path, chain_id=5, local_chain=False)
    result = deploy_all(w3, deployer, relayer, tmp_path, chain_id=1, local_chain=False, confirm_mainnet=True)
    # no test tokens on a non-local chain; the claim fee is set for mainnet USDC/USDT
    assert "TestUSDC" not in result.manifest.contracts
    assert result.manifest.params["stablecoin.USDT"] == "0xdAC17F958D2ee523a2206206994597C13D831ec7"


def test_artifacts_are_complete():
    for name in ALL_CONTRACTS:
        artifact = load_artifact(name)
        # solc creation code opens by storing the free memory pointer: PUSH1 0x80 (PUSH1 0xa0, PUSH2
        # 0x0160, ... when the contract has immutables), PUSH1 0x40, MSTORE
        assert artifact.abi and re.match(r"0x(60[0-9a-f]{2}|61[0-9a-f]{4})604052", artifact.bytecode)
        assert len(artifact.bytecode) > 100
        assert artifact.compiler_version.startswith("0.8.30")
        assert artifact.raw["compiler"]["settings"]["optimizer"] == {"enabled": True, "runs": 200}
        assert artifact.raw["sourceName"] == f"src/{name}.sol"


def test_artifact_source_hashes_match_the_sources():
    """Recomputes each artifact's source hash from the files it was built from (no compiler needed)."""
    for name in ALL_CONTRACTS:
        raw = json.loads((ARTIFACTS_DIR / f"{name}.json").read_text())
        parts = []
        for unit in raw["sources"]:
            path = (
                REPO_ROOT / "node_modules" / unit
                if unit.startswith("@openzeppelin/")
                else REPO_ROOT / "contracts" / unit
            )
            parts.append(f"{unit}\n{hashlib.sha256(path.read_bytes()).hexdigest()}\n")
        assert hashlib.sha256("".join(parts).encode()).hexdigest() == raw["sourceHash"], f"{name}: stale artifact"


@pytest.mark.integration  # runs the compiler (node) as a process
@pytest.mark.skipif(not toolchain_available(), reason="node and the npm packages are needed to recompile")
def test_committed_artifacts_match_a_fresh_compile():
    assert check() == []
