"""The relayer engine: sends transactions exactly once per idempotency key, and waits for them.

request (idempotency key) → nonce taken under a DB lock → signed → raw bytes persisted → broadcast
→ mined → final after N confirmations. A crash anywhere re-sends the *same* signed bytes: one
request never gets a second nonce. Stuck transactions are replaced at the same nonce with both fee
fields raised by at least 10 %; every hash of the nonce is watched until one is final.

`Relayer` is plain and synchronous (the CLI, the benchmark and tests use it directly; the Temporal
activities in activities/relayer.py run it in the worker's thread pool). Its parts, bottom up:
relayer.base (key, RPC client, chain facts, DB, nonces, signing) → relayer.submission (record, sign,
persist, broadcast) → relayer.tracking (receipts, confirmations, replacement) → this module
(waiting, outcomes, reads).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any, Literal

from contracts.abi import decode_log, is_temporary_revert
from models.chain import ChainEvent, LogEntry, SubmitTx, TxOutcome, TxStatus
from relayer.errors import RelayerError
from relayer.outbox import TxRow
from relayer.tracking import Tracking


class Relayer(Tracking):
    """Sends transactions exactly once per idempotency key. Thread-safe: share one per process."""

    def wait_final(
        self, key: str, *, heartbeat: Callable[[dict[str, Any]], None] | None = None, timeout: float | None = None
    ) -> TxOutcome:
        """Poll until the transaction is final (confirmed or failed), replacing it when stuck."""
        deadline = None if timeout is None else time.monotonic() + timeout
        interval = self.settings.relayer_poll_interval_seconds
        row = self.poll(key)
        while not TxStatus(row.status).final:
            if heartbeat is not None:
                heartbeat({"key": key, "status": row.status, "hash": row.tx_hash, "nonce": row.nonce})
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"{key} not final after {timeout}s (status {row.status})")
            time.sleep(interval)
            needed, hint = self._needs_full_poll(row)
            if needed:
                row = self.poll(key, hint=hint)
        return self.outcome(row)

    def outcome(self, row: TxRow) -> TxOutcome:
        logs = [LogEntry(**entry) for entry in row.logs or []]
        return TxOutcome(
            key=row.key,
            status="confirmed" if row.status == TxStatus.CONFIRMED else "failed",
            hash=row.tx_hash if row.block_number is not None else None,
            nonce=row.nonce,
            block_number=row.block_number,
            gas_used=row.gas_used,
            effective_gas_price=row.effective_gas_price,
            fee_wei=row.fee_wei,
            revert_reason=row.revert_reason,
            revert_kind=revert_kind(row.revert_reason) if row.status != TxStatus.CONFIRMED else None,
            logs=logs,
            events=self._decode_events(logs),
        )

    def _decode_events(self, logs: list[LogEntry]) -> list[ChainEvent]:
        names: dict[str, str] = {}
        with contextlib.suppress(RelayerError):  # no manifest: decode by signature alone
            names = {addr.lower(): name for name, addr in self.manifest().addresses.items()}
        events = []
        for entry in logs:
            decoded = decode_log(entry.address, entry.topics, entry.data, contract=names.get(entry.address.lower()))
            if decoded is not None:
                events.append(
                    ChainEvent(
                        contract=decoded.contract, event=decoded.event, address=decoded.address, args=decoded.args
                    )
                )
        return events

    def send_and_wait(self, req: SubmitTx, **kwargs: Any) -> TxOutcome:
        """Submit and wait until final. A call that would revert now is answered at once (nothing was
        sent, nothing stored: the same key may be submitted again once the cause has passed)."""
        ref = self.submit(req)
        if ref.status == TxStatus.FAILED and ref.hash is None:
            return TxOutcome(
                key=req.key,
                status="failed",
                revert_reason=ref.revert_reason,
                revert_kind=revert_kind(ref.revert_reason),
            )
        return self.wait_final(req.key, **kwargs)


def revert_kind(reason: str | None) -> Literal["temporary", "permanent"]:
    """Whether a revert may pass by itself (paused, empty inventory, program inactive) or never will."""
    return "temporary" if reason and is_temporary_revert(reason) else "permanent"
