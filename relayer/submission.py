"""Submitting: record the request, take a nonce and sign under the DB lock (group-committed with
other threads' requests), persist the signed bytes, then broadcast them. Nothing is signed twice for
one idempotency key, and a crash after the commit re-sends the stored bytes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from web3 import Web3

from contracts.abi import decode_revert, encode_call
from core.columns import utcnow
from core.db import inserted_id
from core.logs import get_logger
from core.settings import Settings
from models.chain import SubmitTx, TxRef, TxStatus
from relayer.base import RelayerBase
from relayer.errors import (
    BadRequest,
    ChainUnavailable,
    IdempotencyConflict,
    RelayerError,
    RpcCallError,
    error_text,
    is_already_known,
    is_insufficient_funds,
    is_nonce_too_low,
    is_underpriced,
)
from relayer.fees import Fees
from relayer.group_commit import GroupCommit, Waiter
from relayer.outbox import (
    AT,
    BATCH_IDS,
    INSERT_AT,
    INSERT_AT_FOR_KEY,
    INSERT_TX,
    NC,
    NONCE_TOO_LOW,
    TX,
    AttemptRow,
    TxRow,
    attempt_row,
    content_hash,
    plain_reason,
    to_hex,
    tx_ref,
    values_of,
    with_fields,
)

log = get_logger(__name__)


class Submission(RelayerBase):
    """`submit` and the steps up to a broadcast transaction."""

    def __init__(self, settings: Settings, engine: Engine, *, w3: Web3 | None = None):
        super().__init__(settings, engine, w3=w3)
        self._group = GroupCommit(self._create_batch)  # see _create

    def _resolve(self, req: SubmitTx) -> tuple[str, str]:
        if req.call is not None:
            to = self._contract_address(req.call.contract)
            try:
                data = to_hex(encode_call(req.call.contract, req.call.function, *req.call.args))
            except Exception as exc:  # noqa: BLE001 - any encoding failure is a bad request
                raise BadRequest(f"cannot encode {req.call.contract}.{req.call.function}: {exc}") from None
            return to, data
        assert req.to is not None
        try:
            to = Web3.to_checksum_address(req.to)
            data = to_hex(bytes.fromhex(req.data_hex.removeprefix("0x")))
        except ValueError as exc:
            raise BadRequest(f"bad target or calldata: {exc}") from None
        return to, data

    def submit(self, req: SubmitTx) -> TxRef:
        """Record, sign, persist and broadcast `req` once. Calling again with the same key returns the
        same transaction (re-broadcasting its stored bytes if it was never sent)."""
        to, data = self._resolve(req)
        new = TxRow.new(
            key=req.key,
            label=req.label[:100],
            chain_id=self.chain_id,
            from_address=self.address,
            to_address=to,
            data=data,
            value=req.value,
            content_hash=content_hash(self.chain_id, to, data, req.value, req.gas_limit),
            status=TxStatus.REQUESTED,
            gas_limit=req.gas_limit,
            caller_gas_limit=req.gas_limit is not None,
        )
        # Optimistic: a key is normally new, so the checks and the gas estimate run first and the
        # existing-key lookup happens inside the signing transaction (one DB round trip for a new
        # transaction). A repeated submit wastes one estimate and then uses the stored row.
        if req.gated:
            self._check_gate(new.key)
        attempt: AttemptRow | None = None
        try:
            prepared = self._prepare(new)
        except RelayerError:
            existing = self._load(new.key)
            if existing is None or self._same(existing, new).status == TxStatus.REQUESTED:
                if existing is None:
                    self._insert(new)  # the request is recorded while its caller waits and retries
                raise
            row = existing
        else:
            row, attempt = self._create(new, prepared)
        if row.status == TxStatus.REQUESTED:
            row = self._sign_requested(row)
        if row.status == TxStatus.SIGNED:
            # A just-signed attempt is at hand; otherwise (a retry) read the stored one.
            row = self._broadcast(row, attempt) if attempt is not None else self._broadcast_current(row)
        return tx_ref(row)

    @staticmethod
    def _same(existing: TxRow, new: TxRow) -> TxRow:
        if existing.content_hash != new.content_hash:
            raise IdempotencyConflict(f"key {new.key!r} was already used for a different transaction")
        return existing

    def _prepare(self, row: TxRow) -> tuple[int, Fees] | str:
        """Checks and estimates before signing, outside any DB lock: (gas limit, fees), or the revert
        reason when the call would revert."""
        self._check_chain_id()
        self._check_not_halted()
        self._check_balance()
        self._ensure_nonce_row()
        gas_limit = row.gas_limit
        if not row.caller_gas_limit or gas_limit is None:
            try:
                estimate = int(
                    self._rpc(
                        "eth_estimateGas",
                        [{"from": self.address, "to": row.to_address, "data": row.data, "value": hex(row.value)}],
                    ),
                    16,
                )
            except RpcCallError as exc:
                if exc.data and len(exc.data) >= 10:  # revert data: a selector at least
                    return decode_revert(exc.data)
                text = error_text(exc)
                if "revert" in text:
                    return plain_reason(exc)
                if is_insufficient_funds(text):
                    raise self._balance_too_low() from None
                raise ChainUnavailable(f"eth_estimateGas failed: {exc}") from None
            except Exception as exc:  # noqa: BLE001 - classified below by the node's error text
                text = error_text(exc)
                if "revert" in text:
                    return plain_reason(exc)
                if is_insufficient_funds(text):
                    raise self._balance_too_low() from None
                raise ChainUnavailable(f"eth_estimateGas failed: {exc}") from None
            gas_limit = estimate * self.settings.relayer_gas_limit_percent // 100
        return gas_limit, self.market_fees()

    def _create(self, new: TxRow, prepared: tuple[int, Fees] | str) -> tuple[TxRow, AttemptRow | None]:
        """Insert and sign a new request in one DB transaction under the nonce lock, batched with the
        requests of other threads arriving meanwhile (GroupCommit); the key's unique index turns a
        duplicate into the stored row. Returns the attempt only if this call signed it."""
        if isinstance(prepared, str):
            # The call would revert now: nothing is signed and nothing is stored, so the key stays free.
            # A revert that passes (a paused contract unpaused, inventory topped up) must not block the
            # same request later; a *mined* revert, by contrast, is final under its key.
            existing = self._load(new.key)
            if existing is not None:
                return self._same(existing, new), None
            new.status, new.revert_reason, new.final_at = TxStatus.FAILED, prepared, utcnow()
            log.info("relayer_tx_would_revert", key=new.key, label=new.label, reason=prepared)
            return new, None
        row, attempt = self._group.submit(new, prepared)
        if attempt is not None and self.after_persist is not None:
            self.after_persist(new.key)  # committed, not broadcast (on the caller's own thread)
        return row, attempt

    def _create_batch(self, batch: list[Waiter]) -> None:
        """Run by the group-commit leader: answer every waiter. Several requests go in one
        transaction; if it fails nothing of it was committed (no nonce used), and each request is
        run again on its own, so only the offending one gets the error or its existing row."""
        if len(batch) > 1:
            try:
                self._create_many(batch)
                return
            except Exception as exc:  # noqa: BLE001 - e.g. a key already stored: IntegrityError, all rolled back
                log.info("relayer_batch_fallback", size=len(batch), error=type(exc).__name__)
        for waiter in batch:
            try:
                waiter.answer(self._create_one(waiter.new, waiter.prepared))
            except Exception as exc:  # noqa: BLE001 - handed to the waiting caller, who re-raises it
                waiter.answer(error=exc)

    def _create_one(self, new: TxRow, prepared: tuple[int, Fees]) -> tuple[TxRow, AttemptRow | None]:
        try:
            with self._tx(nonce=True) as conn:
                # Few round trips while the nonce row is locked: other senders queue on it.
                nonce = self._take_nonces(conn)
                attempt = self._assign(new, nonce, *prepared)  # fields complete before the INSERT
                self._insert_signed(conn, new, attempt)
        except IntegrityError:
            # The key exists (a repeated submit, or a concurrent first one that committed first): the
            # whole transaction rolled back, the nonce is untouched, and the stored row is the answer.
            return self._existing(new), None
        return new, attempt

    def _create_many(self, batch: list[Waiter]) -> None:
        """One transaction for the batch: n consecutive nonces in one UPDATE, each request signed,
        all rows and first attempts inserted, ids read back, one commit. Waiters are answered only
        after the commit. Works on copies of the rows, so a failed batch leaves the originals as
        they were for the one-by-one retry."""
        firsts: dict[str, Waiter] = {}  # a key twice in one batch: the later ones get the first's row
        for waiter in batch:
            firsts.setdefault(waiter.new.key, waiter)
        unique = list(firsts.values())
        signed: list[tuple[TxRow, AttemptRow]] = []
        with self._tx(nonce=True) as conn:
            first_nonce = self._take_nonces(conn, len(unique))
            for i, waiter in enumerate(unique):
                row = TxRow(**vars(waiter.new))
                signed.append((row, self._assign(row, first_nonce + i, *waiter.prepared)))
            # executemany of fixed statements, not one multi-row VALUES list: psycopg pipelines them
            # (one round trip each) and reuses their parsed form, while a VALUES list of n × 30
            # parameters was re-parsed in Python for every batch (~40 % of the leader's CPU time).
            conn.execute(INSERT_TX, [values_of(TX, row) for row, _ in signed])
            conn.execute(
                INSERT_AT_FOR_KEY, [values_of(AT, a, skip=("tx_id",)) | {"tx_key": row.key} for row, a in signed]
            )
            ids = {
                key: (tx_id, attempt_id)
                for key, tx_id, attempt_id in conn.execute(
                    BATCH_IDS,
                    {
                        "chain_id_": self.chain_id,
                        "address_": self.address,
                        "first": first_nonce,
                        "last": first_nonce + len(unique) - 1,
                    },
                )
            }
        for row, attempt in signed:
            row.id, attempt.id = ids[row.key]
            attempt.tx_id = row.id
        results = {row.key: (row, attempt) for row, attempt in signed}
        for waiter in batch:
            row, attempt = results[waiter.new.key]
            if waiter is firsts[waiter.new.key]:
                waiter.answer((row, attempt))
            elif row.content_hash != waiter.new.content_hash:
                waiter.answer(
                    error=IdempotencyConflict(f"key {waiter.new.key!r} was already used for a different transaction")
                )
            else:  # like a repeated submit: the stored row (a copy: the first caller goes on with its own)
                waiter.answer((TxRow(**vars(row)), None))

    def _insert_signed(self, conn: Connection, row: TxRow, attempt: AttemptRow) -> None:
        """Insert a request and its first attempt (statements built once, executed with parameters:
        little Python work while the nonce row is locked)."""
        row.id = inserted_id(conn.execute(INSERT_TX, values_of(TX, row)))
        attempt.tx_id = row.id
        attempt.id = inserted_id(conn.execute(INSERT_AT, values_of(AT, attempt)))

    def _insert(self, row: TxRow) -> TxRow:
        try:
            with self._tx() as conn:
                row.id = inserted_id(conn.execute(insert(TX).values(values_of(TX, row))))
            return row
        except IntegrityError:
            return self._existing(row)

    def _existing(self, row: TxRow) -> TxRow:
        """The key was inserted by someone else: use that row, if it is the same request."""
        existing = self._load(row.key)
        if existing is None:
            # Not the key: the nonce's unique index (chain, sender, nonce) fired, i.e. the counter
            # is behind the outbox. Resync it from the chain and let the caller retry.
            self.resync_nonce()
            raise ChainUnavailable(
                f"insert of {row.key!r} hit a used nonce ({row.nonce}); nonce counter resynced, retry"
            )
        return self._same(existing, row)

    def _sign_requested(self, row: TxRow) -> TxRow:
        """requested → signed (or failed when the call would revert). Nonce taken and bytes stored in
        one DB transaction: a crash before the commit leaves no nonce used."""
        prepared = self._prepare(row)
        with self._tx(nonce=True) as conn:
            nonce = self._lock_nonce(conn)
            current = self._lock_row(conn, row.id)
            if current.status != TxStatus.REQUESTED:  # another worker got there first
                return current
            if isinstance(prepared, str):
                fields = {
                    "status": TxStatus.FAILED,
                    "revert_reason": prepared,
                    "final_at": utcnow(),
                    "updated_at": utcnow(),
                }
                conn.execute(update(TX).where(TX.c.id == row.id).values(**fields))
                return with_fields(current, fields)
            attempt = self._assign(current, nonce, *prepared)
            attempt.id = inserted_id(conn.execute(insert(AT).values(values_of(AT, attempt))))
            conn.execute(update(TX).where(TX.c.id == row.id).values(values_of(TX, current)))
            conn.execute(update(NC).where(self._nonce_where()).values(next_nonce=nonce + 1, updated_at=utcnow()))
        if self.after_persist is not None:
            self.after_persist(current.key)
        return current

    def _assign(self, row: TxRow, nonce: int, gas_limit: int, fees: Fees) -> AttemptRow:
        """Inside the nonce-locked transaction: sign with `nonce` (local, ~1 ms) and record it on the row."""
        attempt = self._sign(row, nonce, gas_limit, fees)
        now = utcnow()
        row.nonce = nonce
        row.gas_limit = gas_limit
        row.max_fee_per_gas = fees.max_fee
        row.max_priority_fee_per_gas = fees.tip
        row.tx_hash = attempt.tx_hash
        row.status = TxStatus.SIGNED
        row.signed_at = now
        row.updated_at = now
        return attempt

    # --- broadcast -------------------------------------------------------------------------------
    def _broadcast_current(self, row: TxRow) -> TxRow:
        with self._tx() as conn:
            attempt = attempt_row(conn.execute(select(AT).where(AT.c.tx_hash == row.tx_hash)).mappings().one())
        return self._broadcast(row, attempt)

    def _broadcast(self, row: TxRow, attempt: AttemptRow) -> TxRow:
        """Hand stored bytes to the node. Safe to repeat: the same bytes are the same transaction."""
        error: str | None = None
        try:
            self._rpc("eth_sendRawTransaction", [attempt.raw_tx])
        except Exception as exc:  # noqa: BLE001 - classified below by the node's error text
            text = error_text(exc)
            if is_already_known(text):
                pass
            elif is_nonce_too_low(text):
                # Either one of our attempts was mined (the poll will find its receipt) or the nonce
                # was used by someone else (the poll re-queues the request). Never re-sign here.
                error = f"{NONCE_TOO_LOW} at broadcast"
                self.resync_nonce()
            elif is_underpriced(text):
                # Another transaction with this nonce sits in the pool (normally our own earlier
                # attempt); waiting resolves it, replacement raises fees further if needed.
                error = "replacement underpriced at broadcast"
            elif is_insufficient_funds(text):
                raise self._balance_too_low() from None
            else:
                raise ChainUnavailable(f"broadcast of {attempt.tx_hash} failed: {exc}") from None
        now = utcnow()
        fields: dict[str, Any] = {"broadcast_at": now, "updated_at": now, "last_error": error}
        if row.status == TxStatus.SIGNED:
            fields["status"] = TxStatus.BROADCAST
        with self._tx() as conn:
            # Only a row still in a sending state moves; a concurrent poll may have finalized it.
            conn.execute(
                update(TX)
                .where(TX.c.id == row.id, TX.c.status.in_([TxStatus.SIGNED, TxStatus.BROADCAST]))
                .values(**fields)
            )
        return with_fields(row, fields)
