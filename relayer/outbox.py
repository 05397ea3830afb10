"""The outbox as the relayer touches it: light row types, prebuilt statements, receipt parsing.

The tables themselves (`chain_tx`, `chain_tx_attempt`, `chain_nonce`) are SQLModel models in
models/chain.py; the relayer reads and writes them with SQLAlchemy Core, not the ORM: its hot path is
a handful of single-row statements, and the ORM's unit of work was most of its CPU time per
transaction.
"""

from __future__ import annotations

import hashlib
from types import SimpleNamespace
from typing import Any

from hexbytes import HexBytes
from sqlalchemy import Integer, bindparam, insert, select, update
from web3 import Web3

from contracts.abi import decode_revert, revert_data_from_exception
from core.columns import utcnow
from core.db import table_of
from models.chain import ChainNonce, ChainTx, ChainTxAttempt, TxRef, TxStatus

TX = table_of(ChainTx)
AT = table_of(ChainTxAttempt)
NC = table_of(ChainNonce)

NONCE_TOO_LOW = "nonce too low"  # prefix of `last_error` when the node said so at broadcast


# Hot-path statements, built once (executed with parameters).
INSERT_TX = insert(TX)
INSERT_AT = insert(AT)
# For a group-commit batch: attempts find their request by key (its id is not known yet), and the
# ids of the batch's rows are read back by their nonces (unique per chain and sender).
INSERT_AT_FOR_KEY = insert(AT).values(tx_id=select(TX.c.id).where(TX.c.key == bindparam("tx_key")).scalar_subquery())
BATCH_IDS = (
    select(TX.c.key, TX.c.id, AT.c.id)
    .join(AT, AT.c.tx_id == TX.c.id)
    .where(
        TX.c.chain_id == bindparam("chain_id_"),
        TX.c.from_address == bindparam("address_"),
        TX.c.nonce.between(bindparam("first"), bindparam("last")),
    )
)
TAKE_NONCE = (  # take :n nonces
    update(NC)
    .where(NC.c.chain_id == bindparam("chain_id_"), NC.c.address == bindparam("address_"))
    .values(next_nonce=NC.c.next_nonce + bindparam("n", type_=Integer), updated_at=bindparam("now"))
    .returning(NC.c.next_nonce)
)


def content_hash(chain_id: int, to: str, data: str, value: int, gas_limit: int | None) -> str:
    """What an idempotency key stands for: the same key with another hash is refused."""
    material = f"{chain_id}|{to.lower()}|{data.lower()}|{value}|{gas_limit if gas_limit is not None else ''}"
    return hashlib.sha256(material.encode()).hexdigest()


def values_of(table: Any, obj: Any, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """Column values of a row object for a Core INSERT/UPDATE (an unset primary key is left out, and
    the columns in `skip`, e.g. one the statement itself supplies)."""
    out = {}
    for column in table.columns:
        if column.name in skip:
            continue
        value = getattr(obj, column.name)
        if column.primary_key and value is None:
            continue
        out[column.name] = value
    return out


class _Row(SimpleNamespace):
    """A plain in-memory copy of one table row. Building SQLModel instances (SQLAlchemy instrumented)
    cost ~0.2 ms each, a visible share of the relayer's CPU per transaction; the relayer only needs
    attribute access, and writes with Core statements."""

    table: Any = None

    @classmethod
    def new(cls, **fields: Any) -> Any:
        values = {column.name: None for column in cls.table.columns}
        values.update(cls.defaults())
        values.update(fields)
        return cls(**values)

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {"created_at": utcnow()}


class TxRow(_Row):
    """A `chain_tx` row (same fields as models.chain.ChainTx)."""

    table = TX

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        now = utcnow()
        return {
            "label": "",
            "value": 0,
            "status": TxStatus.REQUESTED,
            "caller_gas_limit": False,
            "replacements": 0,
            "created_at": now,
            "updated_at": now,
        }


class AttemptRow(_Row):
    """A `chain_tx_attempt` row (same fields as models.chain.ChainTxAttempt)."""

    table = AT


def tx_row(mapping: Any) -> TxRow:
    return TxRow(**mapping)


def attempt_row(mapping: Any) -> AttemptRow:
    return AttemptRow(**mapping)


def with_fields(row: TxRow, fields: dict[str, Any]) -> TxRow:
    """`row` with `fields` (just written to the DB) applied."""
    for name, value in fields.items():
        setattr(row, name, value)
    return row


def tx_ref(row: TxRow) -> TxRef:
    return TxRef(
        key=row.key, status=TxStatus(row.status), nonce=row.nonce, hash=row.tx_hash, revert_reason=row.revert_reason
    )


# --- receipts and reverts -------------------------------------------------------------------------------
def to_hex(value: bytes | HexBytes | str) -> str:
    """Lower-case 0x-hex of bytes or of a hex string."""
    if isinstance(value, str):
        return value.lower() if value.startswith("0x") else "0x" + value.lower()
    return "0x" + bytes(value).hex()


def _int(value: Any) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)


def receipt_fields(raw: dict[str, Any]) -> dict[str, Any]:
    """The receipt fields the relayer uses, from the raw JSON-RPC result (hex quantities)."""
    return {
        "transactionHash": raw["transactionHash"],
        "blockNumber": _int(raw["blockNumber"]),
        "blockHash": raw["blockHash"],
        "status": _int(raw["status"]),
        "gasUsed": _int(raw["gasUsed"]),
        "effectiveGasPrice": _int(raw.get("effectiveGasPrice") or 0),
        "logs": [_log_entry(entry) for entry in raw.get("logs") or []],
    }


def _log_entry(entry: Any) -> dict[str, Any]:
    return {
        "address": Web3.to_checksum_address(entry["address"]),
        "topics": [to_hex(t) for t in entry["topics"]],
        "data": to_hex(entry["data"]),
        "log_index": _int(entry["logIndex"]) if entry.get("logIndex") is not None else None,
    }


def revert_reason_of(exc: BaseException) -> str:
    data = revert_data_from_exception(exc)
    return decode_revert(data) if data else plain_reason(exc)


def plain_reason(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc)
    return text.removeprefix("execution reverted: ").strip() or "execution reverted"
