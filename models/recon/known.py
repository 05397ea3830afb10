"""What the books know about chain transactions, by hash: treasury movements, claim deliveries, the
relayer's outbox. A chain movement whose hash none of them knows is an item to look at."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlmodel import Session

from core.columns import utcnow
from core.db import table_of
from models.chain import ChainTx, TxStatus
from models.ledger import LedgerTx
from models.subjects import pseudonymize_text
from models.treasury import TreasuryMovement

_TX = table_of(LedgerTx)
_CHAIN = table_of(ChainTx)
_MOVE = table_of(TreasuryMovement)


@dataclass
class OutboxTx:
    key: str
    label: str
    status: str
    tx_hash: str | None
    value: int
    fee_wei: int | None
    updated_at: datetime


@dataclass
class Known:
    treasury: set[str] = field(default_factory=set)
    deliveries: dict[str, str] = field(default_factory=dict)  # chain tx hash -> ledger key of claim.delivery
    settled_refs: set[str] = field(default_factory=set)  # payment refs of payment.settle / suspense
    gas_keys: set[str] = field(default_factory=set)  # ledger keys of gas bookings
    other_chain_txs: set[str] = field(default_factory=set)  # hashes other value bookings name
    outbox: dict[str, OutboxTx] = field(default_factory=dict)  # tx hash (or key when unsigned) -> row

    def booked(self, tx_hash: str) -> bool:
        h = tx_hash.lower()
        return h in self.treasury or h in self.deliveries or h in self.other_chain_txs

    def recent(self, tx_hash: str, grace: timedelta) -> bool:
        """Our own relayer's transaction, changed within the grace period: its booking may be on its way."""
        row = self.outbox.get(tx_hash.lower())
        return row is not None and utcnow() - row.updated_at < grace


def known(session: Session) -> Known:
    conn = session.connection()
    k = Known()
    k.treasury = {h.lower() for (h,) in conn.execute(select(_MOVE.c.tx_hash))}
    wanted = ("gas", "claim.delivery", "payment.settle", "suspense")
    for key, kind, refs in conn.execute(
        select(_TX.c.id, _TX.c.kind, _TX.c.refs).where(_TX.c.kind.in_(wanted) | _TX.c.kind.like("payout%"))
    ):
        refs = refs or {}
        chain_tx = str(refs.get("chain_tx") or "").lower()
        if kind == "gas":
            k.gas_keys.add(key)
        elif kind == "claim.delivery" and chain_tx:
            k.deliveries[chain_tx] = key
        elif chain_tx:  # e.g. a payout line's completion names the transaction that paid it
            k.other_chain_txs.add(chain_tx)
        if refs.get("payment_ref") and kind in ("payment.settle", "suspense"):
            k.settled_refs.add(str(refs["payment_ref"]))
    for row in conn.execute(
        select(
            _CHAIN.c.key,
            _CHAIN.c.label,
            _CHAIN.c.status,
            _CHAIN.c.tx_hash,
            _CHAIN.c.value,
            _CHAIN.c.gas_used,
            _CHAIN.c.effective_gas_price,
            _CHAIN.c.updated_at,
        )
    ):
        fee = int(row.gas_used) * int(row.effective_gas_price) if row.gas_used and row.effective_gas_price else None
        tx = OutboxTx(row.key, row.label, row.status, row.tx_hash, int(row.value or 0), fee, row.updated_at)
        k.outbox[(row.tx_hash or row.key).lower()] = tx
    return k


def gas_booked(session: Session, k: Known, tx: OutboxTx) -> bool:
    """The relayer activity books a mined transaction's gas under `gas:<request key>` (wallets as subjects)."""
    key = f"gas:{tx.key}"
    return key in k.gas_keys or pseudonymize_text(session, key, create=False) in k.gas_keys


FINAL_STATUSES = (TxStatus.CONFIRMED.value, TxStatus.FAILED.value)
