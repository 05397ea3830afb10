"""AffiliatePayout's approval protocol, off chain: payout lines → Merkle root → EIP-712 `PayoutBatch`
→ approvers' signatures → `approveBatch` and `payLines` calldata.

`typed_data()` returns one JSON-safe dict that eth_account's `encode_typed_data(full_message=...)`
and a browser wallet's `eth_signTypedData_v4` both sign (uint256 values as decimal strings, bytes32
as 0x-hex), so an approver can sign in a wallet and the backend can check the signature here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import encode as abi_encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak, to_checksum_address

from contracts.abi import AbiError, encode_call, ref_to_bytes32, to_bytes
from contracts.merkle import MerkleTree, payout_leaf

DOMAIN_NAME = "SGE AffiliatePayout"
DOMAIN_VERSION = "1"
DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
BATCH_FIELDS = [
    {"name": "batchId", "type": "bytes32"},
    {"name": "program", "type": "bytes32"},
    {"name": "token", "type": "address"},
    {"name": "linesRoot", "type": "bytes32"},
    {"name": "lineCount", "type": "uint256"},
    {"name": "total", "type": "uint256"},
    {"name": "deadline", "type": "uint256"},
]
BATCH_TYPE = "PayoutBatch(" + ",".join(f"{f['type']} {f['name']}" for f in BATCH_FIELDS) + ")"
BATCH_TYPEHASH = keccak(text=BATCH_TYPE)
DOMAIN_TYPEHASH = keccak(text="EIP712Domain(" + ",".join(f"{f['type']} {f['name']}" for f in DOMAIN_FIELDS) + ")")


class PayoutError(ValueError):
    pass


@dataclass(frozen=True)
class PayoutLine:
    payout_id: bytes  # bytes32; paid at most once, ever
    to: str
    amount: int  # the token's smallest unit

    @classmethod
    def of(cls, payout_id: str | bytes, to: str, amount: int) -> PayoutLine:
        """`payout_id` as for `ref_to_bytes32`: 0x-hex bytes32 as is, a business id hashed."""
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise PayoutError(f"line amount must be a positive int, got {amount!r}")
        return cls(ref_to_bytes32(payout_id), to_checksum_address(to), amount)

    @property
    def leaf(self) -> bytes:
        return payout_leaf(self.payout_id, self.to, self.amount)

    def as_abi(self) -> tuple[bytes, str, int]:
        return (self.payout_id, self.to, self.amount)


@dataclass(frozen=True)
class PayoutBatch:
    """The struct approvers sign (field for field `AffiliatePayout.PayoutBatch`)."""

    batch_id: bytes
    program: bytes
    token: str
    lines_root: bytes
    line_count: int
    total: int
    deadline: int  # unix seconds

    def as_abi(self) -> tuple[bytes, bytes, str, bytes, int, int, int]:
        return (self.batch_id, self.program, self.token, self.lines_root, self.line_count, self.total, self.deadline)

    def message(self) -> dict[str, Any]:
        return {
            "batchId": _hex(self.batch_id),
            "program": _hex(self.program),
            "token": self.token,
            "linesRoot": _hex(self.lines_root),
            "lineCount": str(self.line_count),
            "total": str(self.total),
            "deadline": str(self.deadline),
        }


@dataclass(frozen=True)
class BatchPlan:
    """A batch with its lines and tree: what to sign, and the proof of every line."""

    batch: PayoutBatch
    lines: tuple[PayoutLine, ...]
    tree: MerkleTree

    def proof(self, line: PayoutLine) -> list[bytes]:
        return self.tree.proof(line.leaf)


def plan_batch(
    batch_id: str | bytes, program: bytes, token: str, lines: Sequence[PayoutLine], *, deadline: int
) -> BatchPlan:
    """One batch over `lines` (each payout id once): its root, line count and total."""
    if not lines:
        raise PayoutError("a batch needs at least one line")
    ids = [line.payout_id for line in lines]
    if len(set(ids)) != len(ids):
        raise PayoutError("a payout id appears twice in the batch")
    if len(program) != 32:
        raise PayoutError("program must be a bytes32 program id (contracts.abi.program_id)")
    tree = MerkleTree.of([line.leaf for line in lines])
    batch = PayoutBatch(
        batch_id=ref_to_bytes32(batch_id),
        program=bytes(program),
        token=to_checksum_address(token),
        lines_root=tree.root,
        line_count=len(lines),
        total=sum(line.amount for line in lines),
        deadline=deadline,
    )
    return BatchPlan(batch=batch, lines=tuple(lines), tree=tree)


# --- EIP-712 -----------------------------------------------------------------------------------------
def typed_data(batch: PayoutBatch, *, chain_id: int, contract: str) -> dict[str, Any]:
    """The full EIP-712 message (types, primaryType, domain, message), JSON-safe."""
    return {
        "types": {"EIP712Domain": DOMAIN_FIELDS, "PayoutBatch": BATCH_FIELDS},
        "primaryType": "PayoutBatch",
        "domain": {
            "name": DOMAIN_NAME,
            "version": DOMAIN_VERSION,
            "chainId": chain_id,
            "verifyingContract": to_checksum_address(contract),
        },
        "message": batch.message(),
    }


def domain_separator(*, chain_id: int, contract: str) -> bytes:
    return keccak(
        abi_encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [
                DOMAIN_TYPEHASH,
                keccak(text=DOMAIN_NAME),
                keccak(text=DOMAIN_VERSION),
                chain_id,
                to_checksum_address(contract),
            ],
        )
    )


def struct_hash(batch: PayoutBatch) -> bytes:
    return keccak(
        abi_encode(
            ["bytes32", "bytes32", "bytes32", "address", "bytes32", "uint256", "uint256", "uint256"],
            [BATCH_TYPEHASH, *batch.as_abi()],
        )
    )


def batch_digest(batch: PayoutBatch, *, chain_id: int, contract: str) -> bytes:
    """What approvers sign and the contract's `hashBatch` returns: keccak256(0x1901 ‖ domain ‖ struct)."""
    return keccak(b"\x19\x01" + domain_separator(chain_id=chain_id, contract=contract) + struct_hash(batch))


def sign_batch(private_key: Any, batch: PayoutBatch, *, chain_id: int, contract: str) -> bytes:
    """An approver's signature (65 bytes, low-s) with a local key; browsers use eth_signTypedData_v4."""
    signed = Account.sign_typed_data(private_key, full_message=typed_data(batch, chain_id=chain_id, contract=contract))
    return bytes(signed.signature)


def recover_approver(batch: PayoutBatch, signature: str | bytes, *, chain_id: int, contract: str) -> str:
    """The address that signed `batch` (check it against the approver set before relying on it)."""
    message = encode_typed_data(full_message=typed_data(batch, chain_id=chain_id, contract=contract))
    return to_checksum_address(Account.recover_message(message, signature=to_bytes(signature)))


def ordered_signatures(
    batch: PayoutBatch, signatures: Iterable[str | bytes], *, chain_id: int, contract: str
) -> list[bytes]:
    """Signatures sorted by signer address, as `approveBatch` requires; one per signer."""
    by_signer: dict[str, bytes] = {}
    for signature in signatures:
        signer = recover_approver(batch, signature, chain_id=chain_id, contract=contract)
        if signer in by_signer:
            raise PayoutError(f"{signer} signed twice")
        by_signer[signer] = to_bytes(signature)
    return [by_signer[s] for s in sorted(by_signer, key=lambda a: int(a, 16))]


# --- calldata ----------------------------------------------------------------------------------------
def approve_batch(batch: PayoutBatch, signatures: Sequence[str | bytes]) -> bytes:
    """`signatures` already in ascending signer order (see `ordered_signatures`)."""
    return encode_call("AffiliatePayout", "approveBatch", batch.as_abi(), [to_bytes(s) for s in signatures])


def pay_lines(plan: BatchPlan, lines: Sequence[PayoutLine] | None = None) -> bytes:
    """Pay `lines` (default: all) of an approved batch, each with its proof."""
    chosen = plan.lines if lines is None else tuple(lines)
    if not chosen:
        raise PayoutError("no lines to pay")
    return encode_call(
        "AffiliatePayout",
        "payLines",
        plan.batch.batch_id,
        [line.as_abi() for line in chosen],
        [plan.proof(line) for line in chosen],
    )


def set_approver(account: str, enabled: bool) -> bytes:
    return encode_call("AffiliatePayout", "setApprover", account, enabled)


def set_approval_policy(base_approvals: int, high_approvals: int, high_value_total: int) -> bytes:
    return encode_call("AffiliatePayout", "setApprovalPolicy", base_approvals, high_approvals, high_value_total)


def _hex(value: bytes) -> str:
    if len(value) != 32:
        raise AbiError(f"expected 32 bytes, got {len(value)}")
    return "0x" + value.hex()
