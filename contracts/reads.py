"""Reading the platform's contracts: logs by wallet, program or reference, and view calls. Synchronous web3."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from web3 import Web3
from web3.types import BlockIdentifier

from contracts.abi import address_topic, contract_abi, decode_log, encode_call, event_topic, hexstr, ref_to_bytes32

ZERO_REF = "0x" + "00" * 32


@dataclass(frozen=True)
class ClaimEvent:
    """A `SGEClaim.Claimed` log. `token` is the zero address and `fee` 0 for relayer deliveries."""

    wallet: str
    program_id: str  # 0x-hex bytes32
    payment_ref: str  # 0x-hex bytes32
    token: str
    fee: int
    amount: int
    tx_hash: str
    block_number: int
    log_index: int


def find_claims(
    w3: Web3,
    claim_address: str,
    wallet: str | None = None,
    *,
    program_id: bytes | str | None = None,
    payment_ref: bytes | str | None = None,
    from_block: int = 0,
    to_block: BlockIdentifier = "latest",
) -> list[ClaimEvent]:
    """Claimed events matching every given key (topic filters: the node does the work)."""
    topics: list[str | None] = [
        event_topic("SGEClaim", "Claimed"),
        address_topic(wallet) if wallet else None,
        hexstr(ref_to_bytes32(program_id)) if program_id is not None else None,
        hexstr(ref_to_bytes32(payment_ref)) if payment_ref is not None else None,
    ]
    while topics[-1] is None:
        topics.pop()
    logs = w3.eth.get_logs(
        {
            "address": Web3.to_checksum_address(claim_address),
            "topics": topics,
            "fromBlock": from_block,
            "toBlock": to_block,
        }
    )
    events = []
    for entry in logs:
        decoded = decode_log(entry["address"], entry["topics"], entry["data"], contract="SGEClaim")
        if decoded is None:
            continue
        a = decoded.args
        events.append(
            ClaimEvent(
                wallet=a["wallet"],
                program_id=a["programId"],
                payment_ref=a["paymentRef"],
                token=a["token"],
                fee=a["fee"],
                amount=a["amount"],
                tx_hash="0x" + bytes(entry["transactionHash"]).hex(),
                block_number=int(entry["blockNumber"]),
                log_index=int(entry["logIndex"]),
            )
        )
    return events


def claim_ref_of(
    w3: Web3, claim_address: str, program_id: bytes, wallet: str, *, block: BlockIdentifier = "latest"
) -> str | None:
    """The reference of `wallet`'s claim in the program (0x-hex), or None when it has not claimed."""
    ref = call_view(w3, "SGEClaim", claim_address, "claimRefOf", program_id, wallet, block=block)[0]
    return None if ref == ZERO_REF else ref


def find_claim(
    w3: Web3, claim_address: str, program_id: bytes, wallet: str, *, from_block: int = 0
) -> ClaimEvent | None:
    """`wallet`'s one claim in the program: a view call first (no claim, no log scan), then the exact
    (wallet, program, ref) log. None when it has not claimed, or the log is not indexed yet."""
    ref = claim_ref_of(w3, claim_address, program_id, wallet)
    if ref is None:
        return None
    events = find_claims(w3, claim_address, wallet, program_id=program_id, payment_ref=ref, from_block=from_block)
    return events[0] if events else None


def find_claims_by_ref(
    w3: Web3, claim_address: str, payment_ref: str | bytes, *, from_block: int = 0, to_block: BlockIdentifier = "latest"
) -> list[ClaimEvent]:
    """Claims made under `payment_ref` (a delivery's payment id is used once; an on-chain claim's ref
    is whatever the user's wallet sent, so check the wallet and program too)."""
    return find_claims(w3, claim_address, payment_ref=payment_ref, from_block=from_block, to_block=to_block)


def call_view(
    w3: Web3, contract: str, address: str, fn: str, *args: Any, block: BlockIdentifier = "latest"
) -> list[Any]:
    """`contract.fn(*args)` as an eth_call; outputs JSON-friendly (see contracts.abi)."""
    data = encode_call(contract, fn, *args)
    result = w3.eth.call({"to": Web3.to_checksum_address(address), "data": data}, block_identifier=block)
    return contract_abi(contract).decode_output(fn, len(args), bytes(result))
