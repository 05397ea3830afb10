"""Deploy the platform's contracts with web3 and write the manifest.

Idempotent: when `<deployments_dir>/<chain_id>.json` exists and every contract it names has code on
chain, nothing is sent. Otherwise the whole set is deployed afresh (e.g. a restarted anvil has lost
its state, so the old manifest is stale) and the manifest is replaced. Mainnet (chain id 1) is
refused unless the caller passes `confirm_mainnet=True`.

The relayer's roles are granted in the constructors (it is a constructor argument), so there is no
window in which the contracts exist without them. The payout approvers are registered right after
(an empty set is allowed: then no batch can be approved until the admin adds approvers).

Claim amounts and fees are per program: `sync_program` writes one program's on-chain config.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.types import TxParams

from contracts import load_artifact
from contracts.abi import ContractAbi, contract_abi, decode_revert, program_id, revert_data_from_exception
from contracts.manifest import DeployedContract, Manifest, load_manifest, manifest_path, save_manifest
from contracts.reads import call_view
from contracts.safe import TREASURY_SAFE, deploy_safe

log = logging.getLogger(__name__)

MAINNET_CHAIN_ID = 1
# Known stablecoins per chain for the claim fee (local chains get TestUSDC/TestUSDT instead).
KNOWN_STABLECOINS: dict[int, dict[str, str]] = {
    1: {
        "USDC": "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48",
        "USDT": "0xdAC17F958D2ee523a2206206994597C13D831ec7",
    },
}


class DeployError(Exception):
    pass


@dataclass
class DeployParams:
    """Amounts are integers in the token's smallest unit."""

    treasury: str | None = None  # receives claim fees and the SGE not put in the claim contract; default deployer
    sge_supply: int = 1_000_000_000 * 10**18
    claim_inventory: int = 10_000_000 * 10**18
    payout_cap_per_tx: int = 100_000 * 10**6
    payout_funding: int = 1_000_000 * 10**6  # TestUSDC put in AffiliatePayout on local chains
    # A payout batch of this total or more needs the higher approval count (3 instead of 2).
    payout_high_value_total: int = 10_000 * 10**6
    payout_approvers: list[str] = field(default_factory=list)  # addresses of the people who sign batches
    base_uri: str = ""
    stablecoins: dict[str, str] = field(default_factory=dict)  # symbol -> address (non-local chains)
    safe_owners: list[str] = field(default_factory=list)  # treasury Safe owners; none: no Safe is created
    safe_threshold: int = 3
    require_safe: bool = False  # refuse to deploy without Safe owners (the settings path on a real chain)

    def as_strings(self) -> dict[str, str]:
        lists = ("stablecoins", "payout_approvers", "safe_owners", "require_safe")
        values = {k: v for k, v in self.__dict__.items() if k not in lists and v is not None}
        return {
            **{k: str(v) for k, v in values.items()},
            "payout_approvers": ",".join(self.payout_approvers),
            "safe_owners": ",".join(self.safe_owners),
        }


@dataclass
class DeployResult:
    manifest: Manifest
    path: Path
    deployed: bool  # False: the manifest's contracts were already on chain


def existing_deployment(w3: Web3, deployments_dir: Path, chain_id: int) -> Manifest | None:
    """The manifest for this chain if every contract in it still has code, else None."""
    if not manifest_path(deployments_dir, chain_id).exists():
        return None
    manifest = load_manifest(deployments_dir, chain_id)
    for name, c in manifest.contracts.items():
        if len(w3.eth.get_code(Web3.to_checksum_address(c.address))) == 0:
            log.info("manifest contract %s at %s has no code on chain %s; redeploying", name, c.address, chain_id)
            return None
    return manifest


class _Sender:
    """Sequential deployer transactions with our own nonce counter (the pending count races)."""

    def __init__(self, w3: Web3, account: LocalAccount, chain_id: int, on_tx: Callable[[str, str], None] | None):
        self.w3, self.account, self.chain_id = w3, account, chain_id
        self.nonce: int = w3.eth.get_transaction_count(account.address, "pending")
        self.on_tx = on_tx

    def send(self, label: str, to: str | None, data: bytes, value: int = 0) -> dict[str, Any]:
        tx: dict[str, Any] = {
            "from": self.account.address,
            "data": data,
            "value": value,
            "nonce": self.nonce,
            "chainId": self.chain_id,
        }
        if to is not None:
            tx["to"] = Web3.to_checksum_address(to)
        try:
            tx["gas"] = self.w3.eth.estimate_gas(cast(TxParams, tx)) * 12 // 10 + 10_000
        except Exception as exc:  # noqa: BLE001 - any estimate failure is reported as the revert it is
            raise DeployError(f"{label}: would revert: {decode_revert(revert_data_from_exception(exc))}") from None
        base_fee = self.w3.eth.get_block("latest").get("baseFeePerGas", 0)
        tip = self.w3.eth.max_priority_fee
        tx["maxPriorityFeePerGas"] = tip
        tx["maxFeePerGas"] = 2 * base_fee + tip
        signed = self.account.sign_transaction(tx)
        tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        self.nonce += 1
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=300)
        if receipt["status"] != 1:
            raise DeployError(f"{label}: transaction {tx_hash.to_0x_hex()} reverted")
        if self.on_tx:
            self.on_tx(label, tx_hash.to_0x_hex())
        return dict(receipt)

    def deploy(self, name: str, *args: Any) -> DeployedContract:
        codec: ContractAbi = contract_abi(name)
        receipt = self.send(f"deploy {name}", None, codec.encode_deploy(load_artifact(name).bytecode, *args))
        return DeployedContract(
            address=Web3.to_checksum_address(receipt["contractAddress"]),
            tx_hash="0x" + bytes(receipt["transactionHash"]).hex(),
            block_number=receipt["blockNumber"],
        )

    def call(self, label: str, contract: DeployedContract, codec_name: str, fn: str, *args: Any) -> str:
        receipt = self.send(label, contract.address, contract_abi(codec_name).encode_call(fn, *args))
        return "0x" + bytes(receipt["transactionHash"]).hex()


def deploy_all(
    w3: Web3,
    deployer: LocalAccount,
    relayer_address: str,
    deployments_dir: Path,
    *,
    chain_id: int,
    local_chain: bool,
    confirm_mainnet: bool = False,
    params: DeployParams | None = None,
    on_tx: Callable[[str, str], None] | None = None,
) -> DeployResult:
    params = params or DeployParams()
    actual_chain_id = w3.eth.chain_id
    if actual_chain_id != chain_id:
        raise DeployError(f"RPC serves chain id {actual_chain_id}, configured chain id is {chain_id}")
    if chain_id == MAINNET_CHAIN_ID and not confirm_mainnet:
        raise DeployError("refusing to deploy to Ethereum mainnet (chain id 1) without the explicit confirmation flag")

    if params.require_safe and not params.safe_owners:
        raise DeployError("no treasury Safe owners: set SGE_SAFE_OWNERS (and SGE_SAFE_THRESHOLD)")

    existing = existing_deployment(w3, deployments_dir, chain_id)
    if existing is not None:
        return DeployResult(existing, manifest_path(deployments_dir, chain_id), deployed=False)

    relayer = Web3.to_checksum_address(relayer_address)
    admin = deployer.address
    treasury = Web3.to_checksum_address(params.treasury or admin)
    if params.claim_inventory > params.sge_supply:
        raise DeployError("claim inventory exceeds the SGE supply")
    stablecoins = dict(KNOWN_STABLECOINS.get(chain_id, {}))
    stablecoins.update(params.stablecoins)

    sender = _Sender(w3, deployer, chain_id, on_tx)
    start_block = w3.eth.block_number + 1
    contracts: dict[str, DeployedContract] = {}
    steps: dict[str, str] = {}

    if local_chain:
        contracts["TestUSDC"] = sender.deploy("TestUSDC", admin)
        contracts["TestUSDT"] = sender.deploy("TestUSDT", admin)
        stablecoins = {"USDC": contracts["TestUSDC"].address, "USDT": contracts["TestUSDT"].address}

    # The deployer holds the supply first so it can stock the claim contract, then hands the rest
    # to the treasury.
    contracts["SGEToken"] = sender.deploy("SGEToken", admin, params.sge_supply)
    contracts["SGEID"] = sender.deploy("SGEID", admin, relayer, params.base_uri)
    contracts["AffiliateRegistry"] = sender.deploy("AffiliateRegistry", admin, relayer)
    contracts["AffiliatePayout"] = sender.deploy("AffiliatePayout", admin, relayer, params.payout_high_value_total)
    contracts["SGEClaim"] = sender.deploy("SGEClaim", admin, relayer, contracts["SGEToken"].address, treasury)
    for approver in params.payout_approvers:
        checksum = Web3.to_checksum_address(approver)
        steps[f"payout approver {checksum}"] = sender.call(
            f"payout approver {checksum}",
            contracts["AffiliatePayout"],
            "AffiliatePayout",
            "setApprover",
            checksum,
            True,
        )

    steps["fund SGEClaim inventory"] = sender.call(
        "fund SGEClaim",
        contracts["SGEToken"],
        "SGEToken",
        "transfer",
        contracts["SGEClaim"].address,
        params.claim_inventory,
    )
    rest = params.sge_supply - params.claim_inventory
    if treasury != admin and rest > 0:
        steps["SGE to treasury"] = sender.call(
            "SGE to treasury", contracts["SGEToken"], "SGEToken", "transfer", treasury, rest
        )
    for symbol, token in sorted(stablecoins.items()):
        steps[f"payout cap {symbol}"] = sender.call(
            f"payout cap {symbol}",
            contracts["AffiliatePayout"],
            "AffiliatePayout",
            "setCap",
            token,
            params.payout_cap_per_tx,
        )
    if local_chain and params.payout_funding > 0:
        steps["fund AffiliatePayout TestUSDC"] = sender.call(
            "fund AffiliatePayout",
            contracts["TestUSDC"],
            "TestUSDC",
            "mint",
            contracts["AffiliatePayout"].address,
            params.payout_funding,
        )

    if params.safe_owners:
        # The treasury Safe (Safe 1.4.1). Roles move to it only on `sge contracts handover --to-safe`.
        safe = deploy_safe(sender.send, params.safe_owners, params.safe_threshold)
        for name, receipt in {**safe.infra, TREASURY_SAFE: safe.safe_receipt}.items():
            contracts[name] = DeployedContract(
                address=safe.safe if name == TREASURY_SAFE else Web3.to_checksum_address(receipt["contractAddress"]),
                tx_hash="0x" + bytes(receipt["transactionHash"]).hex(),
                block_number=receipt["blockNumber"],
            )

    manifest = Manifest(
        chain_id=chain_id,
        deployer=admin,
        relayer=relayer,
        treasury=treasury,
        deploy_block=min([start_block, *(c.block_number for c in contracts.values())]),
        contracts=contracts,
        role_grants={"relayer roles": "granted in constructors", **steps},
        params={**params.as_strings(), **{f"stablecoin.{k}": v for k, v in stablecoins.items()}},
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    path = save_manifest(deployments_dir, manifest)
    return DeployResult(manifest, path, deployed=True)


STABLECOIN_DECIMALS = 6  # program fees are USD minor units; USDC and USDT map 1:1


def sync_program(
    w3: Web3,
    admin: LocalAccount,
    manifest: Manifest,
    slug: str,
    claim_amount_minor: int,
    fee_minor: int,
    *,
    active: bool = True,
    on_tx: Callable[[str, str], None] | None = None,
    admin_sender: Any = None,
) -> dict[str, str]:
    """Make program `slug`'s on-chain config what the platform holds: its claim amount (SGE minor
    units), active flag, and its fee (USD minor units) in every stablecoin of the manifest. Sends
    only what differs, so calling it again is free; returns {step: tx hash} of what it sent.
    `admin` must hold SGEClaim's admin role (the deployer), unless `admin_sender` (a
    contracts.safe.SafeAdminSender, after the handover) sends the calls through the Safe."""
    pid = program_id(slug)
    claim = manifest.address("SGEClaim")
    sender = admin_sender or _Sender(w3, admin, manifest.chain_id, on_tx)
    target = DeployedContract(address=claim, tx_hash="", block_number=0)
    sent: dict[str, str] = {}
    current_amount, current_active = call_view(w3, "SGEClaim", claim, "programs", pid)
    if (int(current_amount), bool(current_active)) != (claim_amount_minor, active):
        label = f"program {slug}: claim amount {claim_amount_minor}, active {active}"
        sent[label] = sender.call(label, target, "SGEClaim", "setProgram", pid, claim_amount_minor, active)
    for key, token in sorted(manifest.params.items()):
        if not key.startswith("stablecoin."):
            continue
        symbol = key.removeprefix("stablecoin.")
        decimals = int(call_view(w3, "TestUSDC", token, "decimals")[0])  # any ERC-20 ABI reads decimals()
        if decimals != STABLECOIN_DECIMALS:
            raise DeployError(f"{symbol} at {token} has {decimals} decimals; program fees assume {STABLECOIN_DECIMALS}")
        if int(call_view(w3, "SGEClaim", claim, "feeOf", pid, token)[0]) != fee_minor:
            label = f"program {slug}: fee {fee_minor} {symbol}"
            sent[label] = sender.call(label, target, "SGEClaim", "setProgramFee", pid, token, fee_minor)
    return sent
