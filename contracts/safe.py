"""The treasury Safe (Safe 1.4.1 from the `@safe-global/safe-contracts` npm package): deploy the
singleton, proxy factory, fallback handler and MultiSendCallOnly, create the Safe, and build, sign and
execute Safe transactions.

The Safe's compiled artifacts are read from node_modules at deploy time (they are not ours to
rebuild). A Safe transaction is identified by its EIP-712 hash (domain {chainId, verifyingContract});
each owner signs that hash with plain ECDSA (v = 27/28) and `execTransaction` takes the signatures
sorted by owner address, concatenated as r ‖ s ‖ v.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

from eth_abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_typing import Hash32
from eth_utils import keccak
from web3 import Web3

from contracts import CONTRACTS_DIR
from contracts.abi import ContractAbi, to_bytes

SAFE_VERSION = "1.4.1"
SAFE_ARTIFACTS_DIR = (
    CONTRACTS_DIR.parent / "node_modules" / "@safe-global" / "safe-contracts" / "build" / "artifacts" / "contracts"
)
# Artifact paths inside the package. SafeL2 emits an event per execution (indexers and our audit
# can follow the Safe without tracing).
SAFE_ARTIFACT_PATHS = {
    "SafeL2": "SafeL2.sol/SafeL2.json",
    "SafeProxyFactory": "proxies/SafeProxyFactory.sol/SafeProxyFactory.json",
    "CompatibilityFallbackHandler": "handler/CompatibilityFallbackHandler.sol/CompatibilityFallbackHandler.json",
    "MultiSendCallOnly": "libraries/MultiSendCallOnly.sol/MultiSendCallOnly.json",
}
# Manifest names of the Safe infrastructure and of the treasury Safe itself.
SAFE_INFRA = ("SafeL2", "SafeProxyFactory", "CompatibilityFallbackHandler", "MultiSendCallOnly")
TREASURY_SAFE = "TreasurySafe"
ZERO_ADDRESS = "0x" + "00" * 20

DOMAIN_TYPEHASH = keccak(text="EIP712Domain(uint256 chainId,address verifyingContract)")
SAFE_TX_TYPEHASH = keccak(
    text="SafeTx(address to,uint256 value,bytes data,uint8 operation,uint256 safeTxGas,uint256 baseGas,"
    "uint256 gasPrice,address gasToken,address refundReceiver,uint256 nonce)"
)
PROXY_CREATION_TOPIC = keccak(text="ProxyCreation(address,address)")

# (label, to, data) -> receipt; the deployer's sequential sender (contracts.deploy._Sender.send).
Send = Callable[[str, str | None, bytes], dict[str, Any]]


class SafeError(Exception):
    pass


@cache
def safe_artifact(name: str, artifacts_dir: Path = SAFE_ARTIFACTS_DIR) -> tuple[ContractAbi, str]:
    """(ABI codec, creation bytecode) of one Safe contract from the npm package."""
    path = artifacts_dir / SAFE_ARTIFACT_PATHS[name]
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise SafeError(
            f"no Safe artifact at {path}; run `npm ci` in {CONTRACTS_DIR.parent} "
            f"(@safe-global/safe-contracts {SAFE_VERSION})"
        ) from None
    return ContractAbi(name, raw["abi"]), raw["bytecode"]


def safe_codec() -> ContractAbi:
    return safe_artifact("SafeL2")[0]


@dataclass(frozen=True)
class SafeDeployment:
    infra: dict[str, dict[str, Any]]  # name -> deploy receipt
    safe: str
    safe_receipt: dict[str, Any]


def deploy_safe(send: Send, owners: list[str], threshold: int, *, salt_nonce: int = 0) -> SafeDeployment:
    """Deploy the Safe 1.4.1 contracts and create a Safe proxy with `owners` and `threshold`."""
    owners = [Web3.to_checksum_address(o) for o in owners]
    if len(set(owners)) != len(owners):
        raise SafeError("the Safe owners contain a duplicate")
    if not 1 <= threshold <= len(owners):
        raise SafeError(f"threshold {threshold} needs 1..{len(owners)} (the number of owners)")
    infra: dict[str, dict[str, Any]] = {}
    for name in SAFE_INFRA:
        _, bytecode = safe_artifact(name)
        infra[name] = send(f"deploy {name}", None, to_bytes(bytecode))
    address = {name: Web3.to_checksum_address(r["contractAddress"]) for name, r in infra.items()}
    initializer = safe_codec().encode_call(
        "setup",
        owners,
        threshold,
        ZERO_ADDRESS,
        b"",
        address["CompatibilityFallbackHandler"],
        ZERO_ADDRESS,
        0,
        ZERO_ADDRESS,
    )
    factory, _ = safe_artifact("SafeProxyFactory")
    receipt = send(
        "create the treasury Safe",
        address["SafeProxyFactory"],
        factory.encode_call("createProxyWithNonce", address["SafeL2"], initializer, salt_nonce),
    )
    for entry in receipt["logs"]:
        topics = [bytes(t) for t in entry["topics"]]
        if topics and topics[0] == PROXY_CREATION_TOPIC and entry["address"] == address["SafeProxyFactory"]:
            return SafeDeployment(infra, Web3.to_checksum_address(topics[1][-20:]), receipt)
    raise SafeError("the proxy factory emitted no ProxyCreation event")


@dataclass(frozen=True)
class SafeTx:
    """One Safe transaction; gas fields 0 means the executor pays gas and nobody is refunded."""

    to: str
    value: int
    data: bytes
    operation: int  # 0 call, 1 delegatecall
    nonce: int
    safe_tx_gas: int = 0
    base_gas: int = 0
    gas_price: int = 0
    gas_token: str = ZERO_ADDRESS
    refund_receiver: str = ZERO_ADDRESS

    def typed_data(self, chain_id: int, safe: str) -> dict[str, Any]:
        """The EIP-712 message as wallets display it (stored with a pending transaction)."""
        message = {**asdict(self), "data": "0x" + self.data.hex()}
        return {
            "domain": {"chainId": chain_id, "verifyingContract": Web3.to_checksum_address(safe)},
            "primaryType": "SafeTx",
            "message": {
                "to": message["to"],
                "value": str(self.value),
                "data": message["data"],
                "operation": self.operation,
                "safeTxGas": str(self.safe_tx_gas),
                "baseGas": str(self.base_gas),
                "gasPrice": str(self.gas_price),
                "gasToken": self.gas_token,
                "refundReceiver": self.refund_receiver,
                "nonce": str(self.nonce),
            },
        }


def domain_separator(chain_id: int, safe: str) -> bytes:
    return keccak(abi_encode(["bytes32", "uint256", "address"], [DOMAIN_TYPEHASH, chain_id, safe]))


def safe_tx_hash(chain_id: int, safe: str, tx: SafeTx) -> bytes:
    struct_hash = keccak(
        abi_encode(
            ["bytes32", "address", "uint256", "bytes32", "uint8", "uint256", "uint256", "uint256", "address",
             "address", "uint256"],
            [SAFE_TX_TYPEHASH, tx.to, tx.value, keccak(tx.data), tx.operation, tx.safe_tx_gas, tx.base_gas,
             tx.gas_price, tx.gas_token, tx.refund_receiver, tx.nonce],
        )
    )  # fmt: skip
    return keccak(b"\x19\x01" + domain_separator(chain_id, safe) + struct_hash)


def sign_safe_tx(owner: LocalAccount, tx_hash: bytes) -> bytes:
    """An owner's 65-byte ECDSA signature (r ‖ s ‖ v, v = 27/28) over the SafeTx hash."""
    signed = owner.unsafe_sign_hash(Hash32(tx_hash))
    return signed.r.to_bytes(32, "big") + signed.s.to_bytes(32, "big") + bytes([signed.v])


def recover_signer(tx_hash: bytes, signature: bytes) -> str:
    from eth_account import Account

    return Account._recover_hash(tx_hash, signature=signature)


def pack_signatures(signatures: dict[str, bytes]) -> bytes:
    """Signatures ordered by owner address ascending (the order Safe checks them in)."""
    return b"".join(signatures[owner] for owner in sorted(signatures, key=lambda a: int(a, 16)))


def exec_transaction_data(tx: SafeTx, signatures: dict[str, bytes]) -> bytes:
    return safe_codec().encode_call(
        "execTransaction",
        tx.to,
        tx.value,
        tx.data,
        tx.operation,
        tx.safe_tx_gas,
        tx.base_gas,
        tx.gas_price,
        tx.gas_token,
        tx.refund_receiver,
        pack_signatures(signatures),
    )


def safe_view(w3: Web3, safe: str, fn: str, *args: Any) -> list[Any]:
    codec = safe_codec()
    raw = w3.eth.call({"to": Web3.to_checksum_address(safe), "data": codec.encode_call(fn, *args)})
    return codec.decode_output(fn, len(args), bytes(raw))


@dataclass(frozen=True)
class SafeState:
    owners: list[str]
    threshold: int
    nonce: int


def safe_state(w3: Web3, safe: str) -> SafeState:
    owners: list[str] = [Web3.to_checksum_address(o) for o in safe_view(w3, safe, "getOwners")[0]]
    return SafeState(owners, int(safe_view(w3, safe, "getThreshold")[0]), int(safe_view(w3, safe, "nonce")[0]))


class SafeAdminSender:
    """Admin calls sent as Safe transactions signed by owner keys held here — the local stack's dev
    owners only (real owners sign with `sge safe sign`). Same `call` as the deployer's sender, so
    code written for the deployer (e.g. `sync_program`) works once the roles are handed over."""

    def __init__(self, w3: Web3, safe: str, owners: list[LocalAccount], send: Send):
        self.w3, self.safe, self.owners, self.send = w3, Web3.to_checksum_address(safe), owners, send

    def call(self, label: str, contract: Any, codec_name: str, fn: str, *args: Any) -> str:
        from contracts.abi import contract_abi

        state = safe_state(self.w3, self.safe)
        signers = [o for o in self.owners if o.address in state.owners][: state.threshold]
        if len(signers) < state.threshold:
            raise SafeError(f"{label}: {len(signers)} owner key(s) here; the Safe needs {state.threshold}")
        tx = SafeTx(contract.address, 0, contract_abi(codec_name).encode_call(fn, *args), 0, state.nonce)
        tx_hash = safe_tx_hash(int(self.w3.eth.chain_id), self.safe, tx)
        receipt = self.send(
            f"{label} (Safe)",
            self.safe,
            exec_transaction_data(tx, {o.address: sign_safe_tx(o, tx_hash) for o in signers}),
        )
        return "0x" + bytes(receipt["transactionHash"]).hex()
