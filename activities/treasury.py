"""The treasury movement activity: read the transaction's receipt, then book it (models/treasury.py).
The chain read and the booking are one activity so a booking never rests on a stale read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hexbytes import HexBytes
from sqlmodel import Session
from temporalio import activity
from web3.exceptions import TransactionNotFound

from activities.chain_access import ChainAccess
from core.db import session_scope
from models import treasury
from models.treasury import Endpoints, MovementRequest, MovementResult, NotYetFinal, ObservedTx, TokenTransfer


def _hex(value: Any) -> str:
    return HexBytes(value).to_0x_hex() if not isinstance(value, str) else value


def _address_of(topic: Any) -> str:
    return "0x" + HexBytes(topic)[-20:].hex()


def observe_tx(w3, tx_hash: str) -> ObservedTx:
    """The transaction as the chain shows it: status, confirmations, ETH value, gas and ERC-20 transfers."""
    try:
        tx = w3.eth.get_transaction(tx_hash)
        receipt = w3.eth.get_transaction_receipt(tx_hash)
    except TransactionNotFound:
        raise NotYetFinal(f"{tx_hash} is not mined (or not known to this node)") from None
    transfers = [
        TokenTransfer(
            token=str(log["address"]).lower(),
            from_address=_address_of(log["topics"][1]),
            to_address=_address_of(log["topics"][2]),
            amount=int.from_bytes(HexBytes(log["data"]), "big"),
        )
        for log in receipt["logs"]
        if len(log["topics"]) == 3 and _hex(log["topics"][0]).lower() == treasury.TRANSFER_TOPIC
    ]
    head = w3.eth.block_number
    return ObservedTx(
        tx_hash=tx_hash,
        status=int(receipt["status"]),
        block_number=int(receipt["blockNumber"]),
        confirmations=head - int(receipt["blockNumber"]) + 1,
        from_address=str(tx["from"]).lower(),
        to_address=str(tx["to"]).lower() if tx.get("to") else None,
        value_wei=int(tx["value"]),
        gas_wei=int(receipt["gasUsed"]) * int(receipt.get("effectiveGasPrice") or 0),
        transfers=transfers,
    )


class TreasuryActivities(ChainAccess):
    def endpoints(self, session: Session) -> Endpoints:
        manifest = self.manifest
        current = [a for a in (manifest.relayer, self.settings.relayer_public_address) if a]
        return Endpoints(
            sge_token=manifest.address("SGEToken"),
            claim_contract=manifest.address("SGEClaim"),
            payout_contract=manifest.address("AffiliatePayout"),
            stablecoins={
                k.removeprefix("stablecoin."): v for k, v in manifest.params.items() if k.startswith("stablecoin.")
            },
            relayers=treasury.relayer_addresses(session, current),
        )

    @activity.defn(name=treasury.BOOK_MOVEMENT)
    def book_movement(self, req: MovementRequest) -> MovementResult:
        observed = observe_tx(self.w3, req.tx_hash)
        with session_scope(self.engine) as session:
            return treasury.book_movement(session, req, observed, self.endpoints(session), self.settings.confirmations)

    def all(self) -> list[Callable]:
        return [self.book_movement]
