"""Reading the platform's contracts: logs by wallet, and view calls. Synchronous web3."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from web3 import Web3

from contracts.abi import address_topic, contract_abi, decode_log, encode_call, event_topic


@dataclass(frozen=True)
class ClaimEvent:
    """A `SGEClaim.Claimed` log. `token` is the zero address and `fee` 0 for relayer deliveries."""

    wallet: str
    payment_ref: str  # 0x-hex bytes32
    token: str
    fee: int
    amount: int
    tx_hash: str
    block_number: int
    log_index: int


def find_claims(
    w3: Web3, claim_address: str, wallet: str, *, from_block: int = 0, to_block: int | str = "latest"
) -> list[ClaimEvent]:
    """Every Claimed event for `wallet` (a topic filter: the node does the work)."""
    logs = w3.eth.get_logs(
        {
            "address": Web3.to_checksum_address(claim_address),
            "topics": [event_topic("SGEClaim", "Claimed"), address_topic(wallet)],
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


def call_view(w3: Web3, contract: str, address: str, fn: str, *args: Any, block: int | str = "latest") -> list[Any]:
    """`contract.fn(*args)` as an eth_call; outputs JSON-friendly (see contracts.abi)."""
    data = encode_call(contract, fn, *args)
    result = w3.eth.call({"to": Web3.to_checksum_address(address), "data": data}, block_identifier=block)
    return contract_abi(contract).decode_output(fn, len(args), bytes(result))
