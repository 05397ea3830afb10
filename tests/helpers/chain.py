"""A small test driver for the contracts: sign and send as any account through anvil's JSON-RPC,
simulate calls to read revert reasons, decode events. Shared by tests/contracts and tests/relayer."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.exceptions import ContractLogicError

from contracts.abi import DecodedLog, decode_log, decode_revert, encode_call, program_id, revert_data_from_exception
from contracts.deploy import DeployParams, deploy_all, sync_program
from contracts.manifest import Manifest
from contracts.reads import call_view
from contracts.rpc import connect
from tests.helpers.processes import AnvilProcess

ETH = 10**18
# Every deployment of the kit has this program active (1000 SGE per claim, 100 USD fee), so relayer
# tests can deliver claims.
KIT_PROGRAM = "kit"
KIT_CLAIM_AMOUNT = 1000 * 10**18
KIT_FEE = 100 * 10**6


class NoRevert(AssertionError):
    pass


@dataclass
class Chain:
    anvil: AnvilProcess
    w3: Web3
    manifest: Manifest
    deployer: LocalAccount
    relayer: LocalAccount
    manifest_dir: Path | None = None
    names: dict[str, str] = field(default_factory=dict)  # lower address -> contract name

    def __post_init__(self) -> None:
        self.names = {a.lower(): n for n, a in self.manifest.addresses.items()}

    def addr(self, name: str) -> str:
        return self.manifest.address(name)

    def program(
        self, slug: str | None = None, *, amount: int = KIT_CLAIM_AMOUNT, fee: int = KIT_FEE, active: bool = True
    ) -> str:
        """Configure a program on chain (a fresh one by default) and return its id as 0x-hex."""
        slug = slug or f"p-{os.urandom(6).hex()}"
        sync_program(self.w3, self.deployer, self.manifest, slug, amount, fee, active=active)
        return "0x" + program_id(slug).hex()

    def new_account(self, eth: int = 10 * ETH) -> LocalAccount:
        """A fresh account funded through anvil's RPC: every test gets wallets nobody else touched."""
        account = Account.from_key("0x" + os.urandom(32).hex())
        if eth:
            self.anvil.rpc("anvil_setBalance", [account.address, hex(eth)])
        return account

    def send_raw(
        self, sender: LocalAccount, to: str | None, data: bytes, *, value: int = 0, gas: int | None = None
    ) -> Any:
        tx: dict[str, Any] = {
            "from": sender.address,
            "data": data,
            "value": value,
            "nonce": self.w3.eth.get_transaction_count(sender.address, "pending"),
            "chainId": self.anvil.chain_id,
        }
        if to is not None:
            tx["to"] = Web3.to_checksum_address(to)
        tx["gas"] = gas or self.w3.eth.estimate_gas(tx) + 50_000
        base = self.w3.eth.get_block("latest")["baseFeePerGas"]
        tx["maxFeePerGas"] = 2 * base + 10**9
        tx["maxPriorityFeePerGas"] = 10**9
        signed = sender.sign_transaction(tx)
        tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        return self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)

    def tx(
        self, sender: LocalAccount, contract: str, fn: str, *args: Any, at: str | None = None, value: int = 0
    ) -> Any:
        """Send `contract.fn(*args)` from `sender` and require success."""
        receipt = self.send_raw(sender, at or self.addr(contract), encode_call(contract, fn, *args), value=value)
        assert receipt["status"] == 1, f"{contract}.{fn} reverted on chain"
        return receipt

    def revert(self, sender: LocalAccount, contract: str, fn: str, *args: Any, at: str | None = None) -> str:
        """The decoded revert reason of `contract.fn(*args)` sent by `sender` (simulated with eth_call)."""
        try:
            self.w3.eth.call(
                {"from": sender.address, "to": at or self.addr(contract), "data": encode_call(contract, fn, *args)}
            )
        except ContractLogicError as exc:
            return decode_revert(revert_data_from_exception(exc))
        raise NoRevert(f"{contract}.{fn}{args} did not revert")

    def deploy_revert(self, sender: LocalAccount, contract: str, *args: Any) -> str:
        from contracts import load_artifact
        from contracts.abi import contract_abi

        data = contract_abi(contract).encode_deploy(load_artifact(contract).bytecode, *args)
        try:
            self.w3.eth.call({"from": sender.address, "data": data})
        except ContractLogicError as exc:
            return decode_revert(revert_data_from_exception(exc))
        raise NoRevert(f"deploying {contract} did not revert")

    def view(self, contract: str, fn: str, *args: Any, at: str | None = None) -> Any:
        out = call_view(self.w3, contract, at or self.addr(contract), fn, *args)
        return out[0] if len(out) == 1 else out

    def events(self, receipt: Any) -> list[DecodedLog]:
        decoded = []
        for entry in receipt["logs"]:
            d = decode_log(
                entry["address"], entry["topics"], entry["data"], contract=self.names.get(entry["address"].lower())
            )
            if d is not None:
                decoded.append(d)
        return decoded

    def event(self, receipt: Any, contract: str, name: str) -> dict[str, Any]:
        matches = [e for e in self.events(receipt) if e.contract == contract and e.event == name]
        assert len(matches) == 1, (
            f"expected one {contract}.{name}, got {[(e.contract, e.event) for e in self.events(receipt)]}"
        )
        return matches[0].args


def deploy_chain(
    anvil: AnvilProcess,
    deployments_dir: Path,
    *,
    relayer: LocalAccount | None = None,
    params: DeployParams | None = None,
) -> Chain:
    w3 = connect([anvil.rpc_url], expected_chain_id=anvil.chain_id)
    deployer = anvil.accounts[0]
    relayer = relayer or Account.from_key("0x" + os.urandom(32).hex())
    anvil.rpc("anvil_setBalance", [relayer.address, hex(100 * ETH)])
    result = deploy_all(
        w3, deployer, relayer.address, deployments_dir, chain_id=anvil.chain_id, local_chain=True, params=params
    )
    chain = Chain(
        anvil=anvil, w3=w3, manifest=result.manifest, deployer=deployer, relayer=relayer, manifest_dir=deployments_dir
    )
    chain.program(KIT_PROGRAM)
    return chain


def role(name: str) -> str:
    from eth_utils import keccak

    return "0x" + (bytes(32) if name == "DEFAULT_ADMIN_ROLE" else keccak(text=name)).hex()


def unauthorized(account: str, role_name: str) -> str:
    return (
        f"AccessControlUnauthorizedAccount(account={Web3.to_checksum_address(account)}, neededRole={role(role_name)})"
    )
