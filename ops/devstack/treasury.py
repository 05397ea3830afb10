"""Executing treasury transfers: on a local chain from the dev funding account (anvil's first account,
the deployer, which holds the SGE not put in the claim contract and may mint the test stablecoins), and
a sweep signed by a retired relayer key. Each returns the transaction hash to record."""

from __future__ import annotations

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from contracts.abi import encode_call, hexstr
from contracts.manifest import load_manifest
from contracts.rpc import connect
from core.devchain import anvil_accounts
from core.errors import DomainError
from core.settings import Settings
from ops.devstack.processes import send_signed

FUND_TARGETS = ("sge", "usdc", "usdt")
TRANSFER_GAS = 21_000


class NotLocalChain(DomainError):
    code = "not_local_chain"
    status = 409


def dev_funder(settings: Settings) -> LocalAccount:
    if not settings.is_local_chain:
        raise NotLocalChain(
            f"chain {settings.chain_id} is not a local chain: the treasury executes this transfer itself, "
            "then `sge treasury record TX_HASH --kind ...` books it"
        )
    return anvil_accounts()[0]


def _w3(settings: Settings) -> Web3:
    return connect(settings.eth_rpc_urls, expected_chain_id=settings.chain_id)


def send_fund(settings: Settings, target: str, amount: int) -> str:
    """SGE into the claim contract (a transfer), or a test stablecoin into the payout contract (a mint)."""
    funder = dev_funder(settings)
    manifest = load_manifest(settings.deployments_dir, settings.chain_id)
    w3 = _w3(settings)
    if target == "sge":
        data = encode_call("SGEToken", "transfer", manifest.address("SGEClaim"), amount)
        return send_signed(w3, funder, manifest.address("SGEToken"), hexstr(data))
    token = "TestUSDC" if target == "usdc" else "TestUSDT"
    data = encode_call(token, "mint", manifest.address("AffiliatePayout"), amount)
    return send_signed(w3, funder, manifest.address(token), hexstr(data))


def send_topup(settings: Settings, amount_wei: int, to: str) -> str:
    return send_signed(_w3(settings), dev_funder(settings), to, "0x", amount_wei)


def send_sweep(settings: Settings, retired_key: str, to: str, amount_wei: int | None = None) -> str:
    """ETH from a retired relayer key to `to`: `amount_wei`, or everything but the gas of this transfer."""
    w3 = _w3(settings)
    account = Account.from_key(retired_key)
    base_fee = int(w3.eth.get_block("latest")["baseFeePerGas"])
    tip = 10**9
    max_fee = 2 * base_fee + tip
    if amount_wei is None:
        amount_wei = int(w3.eth.get_balance(account.address)) - TRANSFER_GAS * max_fee
        if amount_wei <= 0:
            raise DomainError(f"{account.address} holds too little to sweep", code="nothing_to_sweep")
    tx = {
        "to": Web3.to_checksum_address(to),
        "value": amount_wei,
        "gas": TRANSFER_GAS,
        "maxFeePerGas": max_fee,
        "maxPriorityFeePerGas": tip,
        "nonce": w3.eth.get_transaction_count(account.address, "pending"),
        "chainId": settings.chain_id,
    }
    tx_hash = w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
    if w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)["status"] != 1:
        raise DomainError(f"sweep from {account.address} reverted", code="sweep_failed")
    return "0x" + bytes(tx_hash).hex().removeprefix("0x")
