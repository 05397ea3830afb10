"""Tracking a broadcast transaction to finality: receipts of every attempt at its nonce, N
confirmations on the canonical chain, reorgs, a nonce used by someone else (re-sign), and
replacement at the same nonce with higher fees when it is not mined in time."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, update
from web3.exceptions import ContractLogicError

from core.columns import utcnow
from core.db import inserted_id
from core.logs import get_logger
from models.chain import AttemptStatus, TxStatus
from relayer.errors import UnknownTransaction
from relayer.outbox import (
    AT,
    NONCE_TOO_LOW,
    TX,
    AttemptRow,
    TxRow,
    receipt_fields,
    revert_reason_of,
    to_hex,
    values_of,
    with_fields,
)
from relayer.submission import Submission

log = get_logger(__name__)


class Tracking(Submission):
    """`poll`: one step of progress for a submitted transaction."""

    def poll(self, key: str, *, hint: tuple[str, Any] | None = None) -> TxRow:
        """One step of progress for `key`: sign/broadcast if needed, look for receipts of every
        attempt, finalize after N confirmations, replace when stuck. Returns the updated row."""
        row, attempts = self._load_with_attempts(key)
        if row is None:
            raise UnknownTransaction(f"no transaction with key {key!r}")
        if TxStatus(row.status).final:
            return row
        if row.status == TxStatus.REQUESTED:
            row = self._sign_requested(row)
            if TxStatus(row.status).final:
                return row
            row, attempts = self._load_with_attempts(key)
            assert row is not None
        if row.status == TxStatus.SIGNED:
            row = self._broadcast_current(row)
        return self._track(row, attempts, hint)

    def _needs_full_poll(self, row: TxRow) -> tuple[bool, tuple[str, Any] | None]:
        """Between full polls (DB + chain) only the chain is asked about the current hash, so many
        waiting transactions do not queue on the database. A full poll runs once that hash has a
        receipt (handed over, not fetched twice), at the replacement deadline, or whenever the
        request is not simply in flight."""
        if row.status != TxStatus.BROADCAST or not row.tx_hash or row.broadcast_at is None:
            return True, None
        if (row.last_error or "").startswith(NONCE_TOO_LOW):
            return True, None
        if (utcnow() - row.broadcast_at).total_seconds() >= self.settings.relayer_replace_after_seconds:
            return True, None
        receipt = self._receipt(row.tx_hash)
        return (True, (row.tx_hash, receipt)) if receipt is not None else (False, None)

    def _receipt(self, tx_hash: str) -> dict[str, Any] | None:
        raw = self._rpc("eth_getTransactionReceipt", [tx_hash])
        return receipt_fields(raw) if raw else None

    def _find_receipt(
        self, attempts: list[AttemptRow], hint: tuple[str, Any] | None = None
    ) -> tuple[AttemptRow, Any] | None:
        for attempt in attempts:
            receipt = hint[1] if hint is not None and hint[0] == attempt.tx_hash else self._receipt(attempt.tx_hash)
            if receipt is not None:
                return attempt, receipt
        return None

    def _track(self, row: TxRow, attempts: list[AttemptRow], hint: tuple[str, Any] | None = None) -> TxRow:
        found = self._find_receipt(attempts, hint)
        if found is not None:
            return self._on_mined(row, attempts, *found)
        if row.status == TxStatus.MINED:
            # Its block was reorganised away: back to waiting; the stored bytes are re-sent below.
            log.warning("relayer_tx_reorged", key=row.key, hash=row.tx_hash, block=row.block_number)
            row = self._set(row, status=TxStatus.BROADCAST, block_number=None, block_hash=None, mined_at=None)
        age = (utcnow() - row.broadcast_at).total_seconds() if row.broadcast_at else float("inf")
        # The node said "nonce too low" at broadcast: find out now rather than after the timeout.
        told_nonce_low = (row.last_error or "").startswith(NONCE_TOO_LOW)
        if age < self.settings.relayer_replace_after_seconds and not told_nonce_low:
            return row
        # Not mined in time. First: is the nonce already used? If so and none of our attempts has a
        # receipt (looked again, in case one was mined meanwhile), another transaction took it.
        latest_nonce = self.w3.eth.get_transaction_count(self.address, "latest")
        if row.nonce is not None and latest_nonce > row.nonce:
            found = self._find_receipt(attempts)
            if found is not None:
                return self._on_mined(row, attempts, *found)
            return self._requeue_consumed(row)
        if age < self.settings.relayer_replace_after_seconds:
            return row  # nonce not used yet after all: keep waiting
        return self._replace(row)

    def _on_mined(self, row: TxRow, attempts: list[AttemptRow], attempt: AttemptRow, receipt: Any) -> TxRow:
        block_number = int(receipt["blockNumber"])
        block_hash = to_hex(receipt["blockHash"])
        gas_used = int(receipt["gasUsed"])
        price = int(receipt.get("effectiveGasPrice") or 0)
        needed = self.settings.confirmations
        final = needed <= 1  # the receipt's own block is the first confirmation
        if not final:
            head = self.w3.eth.block_number
            if head - block_number + 1 >= needed:
                # Confirmed only if the receipt's block is still the canonical one at that height.
                final = to_hex(self.w3.eth.get_block(block_number)["hash"]) == block_hash
        changed = row.status != TxStatus.MINED or row.tx_hash != attempt.tx_hash or row.block_hash != block_hash
        if not changed and not final:
            return row
        fields: dict[str, Any] = {}
        attempt_statuses: dict[int | None, str] = {}
        if changed:
            fields.update(
                status=TxStatus.MINED,
                tx_hash=attempt.tx_hash,
                block_number=block_number,
                block_hash=block_hash,
                receipt_status=int(receipt["status"]),
                gas_used=gas_used,
                effective_gas_price=price,
                fee_wei=gas_used * price,
                logs=receipt["logs"],
                mined_at=utcnow(),
            )
            for a in attempts:
                status = AttemptStatus.MINED if a.id == attempt.id else AttemptStatus.REPLACED
                if a.status != status:
                    attempt_statuses[a.id] = status
        if final:
            if int(receipt["status"]) == 1:
                fields.update(status=TxStatus.CONFIRMED, final_at=utcnow())
            else:
                fields.update(
                    status=TxStatus.FAILED, final_at=utcnow(), revert_reason=self._revert_reason(row, receipt)
                )
        row = self._set(row, attempt_statuses=attempt_statuses, **fields)
        if final:
            log.info(
                "relayer_tx_final",
                key=row.key,
                label=row.label,
                status=row.status,
                hash=row.tx_hash,
                nonce=row.nonce,
                block=block_number,
                replacements=row.replacements,
            )
        return row

    def _revert_reason(self, row: TxRow, receipt: Any) -> str:
        """Replay the call on the parent block's state to recover the revert data."""
        if int(receipt["gasUsed"]) >= (row.gas_limit or 0) > 0:
            return "out of gas"
        try:
            self.w3.eth.call(
                {
                    "from": self.address,
                    "to": row.to_address,
                    "data": row.data,
                    "value": row.value,
                    "gas": row.gas_limit,
                },
                block_identifier=int(receipt["blockNumber"]) - 1,
            )
        except ContractLogicError as exc:
            return revert_reason_of(exc)
        except Exception as exc:  # noqa: BLE001 - the replay only explains a revert; it must not fail
            return f"reverted (replay failed: {type(exc).__name__})"
        return "reverted (replay on the parent block succeeded; state changed within the block)"

    def _requeue_consumed(self, row: TxRow) -> TxRow:
        """Our nonce was consumed by a transaction that is none of our attempts, so none of them can
        ever be mined: the request is safe to sign again with a fresh nonce."""
        with self._tx() as conn:
            current = self._lock_row(conn, row.id)
            if current.nonce != row.nonce or TxStatus(current.status).final:
                return current
            conn.execute(update(AT).where(AT.c.tx_id == row.id).values(status=AttemptStatus.DROPPED))
            fields = {
                "status": TxStatus.REQUESTED,
                "nonce": None,
                "tx_hash": None,
                "last_error": f"nonce {row.nonce} was used by another transaction; re-signing",
                "updated_at": utcnow(),
            }
            conn.execute(update(TX).where(TX.c.id == row.id).values(**fields))
        log.warning("relayer_nonce_consumed_elsewhere", key=row.key, nonce=row.nonce)
        self.resync_nonce()
        return with_fields(current, fields)

    def _replace(self, row: TxRow) -> TxRow:
        """Not mined in time: sign the same transaction at the same nonce with higher fees (both fields
        ≥ 10 % up), persist it, broadcast it. Also re-sends if the node dropped our transaction."""
        fees = self.bumped_fees(int(row.max_fee_per_gas or 0), int(row.max_priority_fee_per_gas or 0))
        if fees is None:
            # At the fee ceiling: keep the current attempt alive (re-send the same bytes).
            log.warning("relayer_fee_ceiling_reached", key=row.key, nonce=row.nonce, max_fee=row.max_fee_per_gas)
            return self._broadcast_current(row)
        with self._tx() as conn:
            current = self._lock_row(conn, row.id)
            if current.tx_hash != row.tx_hash or current.status != TxStatus.BROADCAST:
                return current  # someone else replaced it, or it got mined meanwhile
            attempt = self._sign(current, int(current.nonce), int(current.gas_limit), fees)
            conn.execute(
                update(AT)
                .where(AT.c.tx_id == row.id, AT.c.status == AttemptStatus.SIGNED)
                .values(status=AttemptStatus.REPLACED)
            )
            attempt.id = inserted_id(conn.execute(insert(AT).values(values_of(AT, attempt))))
            fields = {
                "tx_hash": attempt.tx_hash,
                "max_fee_per_gas": fees.max_fee,
                "max_priority_fee_per_gas": fees.tip,
                "replacements": current.replacements + 1,
                "updated_at": utcnow(),
            }
            conn.execute(update(TX).where(TX.c.id == row.id).values(**fields))
        log.info(
            "relayer_tx_replaced",
            key=row.key,
            nonce=row.nonce,
            old_hash=row.tx_hash,
            new_hash=attempt.tx_hash,
            max_fee=fees.max_fee,
            tip=fees.tip,
        )
        return self._broadcast(with_fields(current, fields), attempt)
