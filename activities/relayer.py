"""The relayer: the only component holding a hot key. Every transaction goes through its outbox.

request (idempotency key) → nonce taken under a DB lock → signed → raw bytes persisted → broadcast
→ mined → final after N confirmations. A crash anywhere re-sends the *same* signed bytes: one
request never gets a second nonce. Stuck transactions are replaced at the same nonce with both fee
fields raised by at least 10 %; every hash of the nonce is watched until one is final.

`Relayer` is the plain, synchronous engine (used by the CLI, the benchmark and tests);
`RelayerActivities` exposes it to Temporal (sync activities, run in the worker's thread pool).
Relayer errors that mean "wait and retry" raise retryable ApplicationErrors, so flows pause rather
than fail; "this request can never succeed" errors are non-retryable.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import requests
from eth_account import Account
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from sqlalchemy import Integer, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from temporalio import activity
from temporalio.exceptions import ApplicationError, CancelledError
from web3 import Web3
from web3.exceptions import ContractLogicError

from relayer.signing import Eip1559Signer
from contracts.abi import (
    contract_abi,
    decode_log,
    decode_revert,
    encode_call,
    revert_data_from_exception,
)
from contracts.manifest import Manifest, ManifestError, load_manifest
from contracts.rpc import ChainIdMismatch, connect, lean
from core.columns import utcnow
from models.chain import (
    RELAYER_READ,
    RELAYER_SUBMIT,
    RELAYER_WAIT_FINAL,
    AttemptStatus,
    ChainEvent,
    ChainNonce,
    ChainTx,
    ChainTxAttempt,
    LogEntry,
    ReadCall,
    SubmitTx,
    TxOutcome,
    TxRef,
    TxStatus,
)
from models.chain import relayer_status as models_relayer_status
from core.db import is_postgres
from core.devchain import is_anvil_dev_key
from core.logs import get_logger
from core.settings import Settings

log = get_logger(__name__)

# How long cheap chain facts are reused. Short: they only save RPC round trips under load.
FEE_CACHE_SECONDS = 1.0
BALANCE_CACHE_SECONDS = 2.0
CHAIN_ID_RECHECK_SECONDS = 60.0

NONCE_TOO_LOW = "nonce too low"

# Error types callers (workflows) can match on.
ERR_BALANCE_LOW = "RelayerBalanceLow"
ERR_IDEMPOTENCY = "IdempotencyConflict"
ERR_UNKNOWN_TX = "UnknownTransaction"
ERR_CHAIN = "ChainUnavailable"
ERR_CONFIG = "RelayerMisconfigured"
ERR_BAD_REQUEST = "BadTransactionRequest"


class RelayerError(Exception):
    retryable = True
    kind = ERR_CHAIN


class BalanceTooLow(RelayerError):
    kind = ERR_BALANCE_LOW

    def __init__(self, address: str, balance: int, floor: int):
        self.address, self.balance, self.floor = address, balance, floor
        super().__init__(f"relayer {address} holds {balance} wei, below the floor of {floor} wei; waiting for funds")


class IdempotencyConflict(RelayerError):
    retryable = False
    kind = ERR_IDEMPOTENCY


class UnknownTransaction(RelayerError):
    retryable = False
    kind = ERR_UNKNOWN_TX


class BadRequest(RelayerError):
    retryable = False
    kind = ERR_BAD_REQUEST


class Misconfigured(RelayerError):
    kind = ERR_CONFIG  # retryable: an operator fixes config and the flow continues


class RpcCallError(Exception):
    """A JSON-RPC error response: `message` and, for reverts, `data` (hex revert data)."""

    def __init__(self, error: dict[str, Any]):
        self.message = str(error.get("message", "rpc error"))
        data = error.get("data")
        if isinstance(data, dict):  # some nodes nest it
            data = data.get("data")
        self.data = data if isinstance(data, str) and data.startswith("0x") else None
        super().__init__(self.message)


class SimulatedCrash(Exception):
    """Raised by test hooks to stop the relayer between two steps, as a process death would."""


def _ceil_pct(value: int, percent: int) -> int:
    return -(-value * percent // 100)


def _hex(value: bytes | HexBytes | str) -> str:
    if isinstance(value, str):
        return value.lower() if value.startswith("0x") else "0x" + value.lower()
    return "0x" + bytes(value).hex()


def _error_text(exc: BaseException) -> str:
    msg = getattr(exc, "message", None) or str(exc)
    rpc = getattr(exc, "rpc_response", None)
    if isinstance(rpc, dict) and isinstance(rpc.get("error"), dict):
        msg = f"{msg} {rpc['error'].get('message', '')}"
    return msg.lower()


def _is_already_known(text: str) -> bool:
    return any(s in text for s in ("already known", "known transaction", "already imported", "alreadyknown"))


def _is_nonce_too_low(text: str) -> bool:
    return any(s in text for s in ("nonce too low", "nonce has already been used", "oldnonce", "nonce is too low"))


def _is_underpriced(text: str) -> bool:
    return "underpriced" in text


def _is_insufficient_funds(text: str) -> bool:
    return "insufficient funds" in text or "insufficient balance" in text


def content_hash(chain_id: int, to: str, data: str, value: int, gas_limit: int | None) -> str:
    material = f"{chain_id}|{to.lower()}|{data.lower()}|{value}|{gas_limit if gas_limit is not None else ''}"
    return hashlib.sha256(material.encode()).hexdigest()


@dataclass
class Fees:
    max_fee: int
    tip: int


class _Waiter:
    """One `submit` waiting in the group-commit queue: its new row and prepared (gas, fees), then its
    answer, (row, first attempt), or the error to raise on its own thread."""

    __slots__ = ("done", "error", "new", "prepared", "result", "wake")

    def __init__(self, new: TxRow, prepared: tuple[int, Fees]):
        self.new, self.prepared = new, prepared
        self.result: tuple[TxRow, AttemptRow | None] | None = None
        self.error: BaseException | None = None
        self.done = False
        self.wake = threading.Event()  # set when answered, or when handed the lead

    def answer(self, result: tuple[TxRow, AttemptRow | None] | None = None, error: BaseException | None = None) -> None:
        self.result, self.error, self.done = result, error, True


class _GroupCommit:
    """Group commit in front of the nonce-locked transaction (leader/followers).

    A caller that finds nobody committing leads: it runs its own request at once. Callers arriving
    while a batch is being committed queue; when the leader is done, the oldest queued caller leads
    the next batch, taking everyone queued so far. So under load one DB transaction (a few round
    trips, each of which has to win the GIL back from every other thread) serves many requests,
    while a lone request waits for nothing. Only batches within a process: across processes the
    nonce row lock (PostgreSQL) or the write lock (SQLite) still serialises the transactions."""

    def __init__(self, run_batch: Callable[[list[_Waiter]], None]):
        self._run_batch = run_batch  # must answer every waiter it is given
        self._lock = threading.Lock()
        self._queue: list[_Waiter] = []
        self._leading = False

    def submit(self, new: TxRow, prepared: tuple[int, Fees]) -> tuple[TxRow, AttemptRow | None]:
        me = _Waiter(new, prepared)
        with self._lock:
            self._queue.append(me)
            lead, self._leading = not self._leading, True
        if not lead:
            me.wake.wait()
        if not me.done:  # leading (at once, or handed the lead by the previous leader)
            self._lead()
        if me.error is not None:
            raise me.error
        assert me.result is not None
        return me.result

    def _lead(self) -> None:
        with self._lock:
            batch, self._queue = self._queue, []
        try:
            self._run_batch(batch)
        finally:
            with self._lock:
                if self._queue:
                    self._queue[0].wake.set()  # the lead passes on (_leading stays set)
                else:
                    self._leading = False
            for waiter in batch:
                if not waiter.done:  # only if the leader itself died (e.g. KeyboardInterrupt)
                    waiter.answer(error=RelayerError("the batch leader stopped; nothing was committed, retry"))
                waiter.wake.set()


class Relayer:
    """Sends transactions exactly once per idempotency key. Thread-safe: share one per process."""

    def __init__(self, settings: Settings, engine: Engine, *, w3: Web3 | None = None):
        self.settings = settings
        self.engine = engine
        self.chain_id = settings.chain_id
        account = self._load_account(settings)
        self.address: str = account.address
        self._signer = Eip1559Signer(bytes(account.key))  # the only place the key is kept
        del account
        self._w3 = w3
        self._w3_lock = threading.Lock()
        self._cache_lock = threading.Lock()
        self._fees: tuple[float, int, int] | None = None  # (at, next base fee, tip)
        self._balance: tuple[float, int] | None = None
        self._chain_checked_at = 0.0 if w3 is None else -1.0
        self._nonce_row_ready = False
        self._sqlite = not is_postgres(engine)
        self._nonce_mutex = threading.Lock()  # see _tx
        self._group = _GroupCommit(self._create_batch)  # see _create
        self._manifest: Manifest | None = None
        # Test hook: called with the tx key right after the signed bytes are committed, before
        # broadcast. Raising SimulatedCrash there reproduces a process dying at that point.
        self.after_persist: Callable[[str], None] | None = None

    # --- setup -----------------------------------------------------------------------------------
    @staticmethod
    def _load_account(settings: Settings) -> LocalAccount:
        key = settings.require_relayer_key()
        if not settings.is_local_chain and is_anvil_dev_key(key):
            raise Misconfigured(
                "SGE_RELAYER_PRIVATE_KEY is one of anvil's published dev keys; refused on chain "
                f"{settings.chain_id} (only local chains may use them)"
            )
        return Account.from_key(key)

    def __repr__(self) -> str:  # never show the key
        return f"Relayer(address={self.address}, chain_id={self.chain_id})"

    @property
    def w3(self) -> Web3:
        if self._w3 is None:
            with self._w3_lock:
                if self._w3 is None:
                    try:
                        self._w3 = lean(connect(self.settings.eth_rpc_urls, expected_chain_id=self.chain_id))
                    except ChainIdMismatch as exc:
                        raise Misconfigured(str(exc)) from None
                    except Exception as exc:
                        raise RelayerError(str(exc)) from None
                    self._chain_checked_at = time.monotonic()
        return self._w3

    def reset_connection(self) -> None:
        """Forget the RPC client (after connection errors): the next call connects afresh, taking
        the first configured endpoint that answers."""
        with self._w3_lock:
            self._w3 = None
            self._chain_checked_at = 0.0

    def _check_chain_id(self) -> None:
        """Before signing: the node must serve the configured chain (re-checked every minute)."""
        now = time.monotonic()
        if now - self._chain_checked_at < CHAIN_ID_RECHECK_SECONDS and self._chain_checked_at > 0:
            return
        actual = self.w3.eth.chain_id
        if actual != self.chain_id:
            raise Misconfigured(f"RPC serves chain id {actual}, configured SGE_CHAIN_ID is {self.chain_id}")
        self._chain_checked_at = now

    def manifest(self, *, reload: bool = False) -> Manifest:
        if self._manifest is None or reload:
            try:
                self._manifest = load_manifest(self.settings.deployments_dir, self.chain_id)
            except ManifestError as exc:
                raise Misconfigured(str(exc)) from None
        return self._manifest

    def _contract_address(self, name: str) -> str:
        manifest = self.manifest()
        if name not in manifest.contracts:
            manifest = self.manifest(reload=True)  # deployed after we loaded it
        try:
            return manifest.address(name)
        except ManifestError as exc:
            raise BadRequest(str(exc)) from None

    # --- chain facts (cached briefly) ------------------------------------------------------------
    def balance(self, *, fresh: bool = False) -> int:
        with self._cache_lock:
            cached = self._balance
        if not fresh and cached and time.monotonic() - cached[0] < BALANCE_CACHE_SECONDS:
            return cached[1]
        value = self.w3.eth.get_balance(self.address)
        with self._cache_lock:
            self._balance = (time.monotonic(), value)
        return value

    def _check_balance(self) -> None:
        floor = self.settings.relayer_min_balance_wei
        if floor <= 0:
            return
        balance = self.balance()
        if balance < floor:
            balance = self.balance(fresh=True)  # may have been topped up since the cached read
            if balance < floor:
                raise BalanceTooLow(self.address, balance, floor)

    def _market(self) -> tuple[int, int]:
        """(next block's base fee, tip) from eth_feeHistory."""
        with self._cache_lock:
            cached = self._fees
        if cached and time.monotonic() - cached[0] < FEE_CACHE_SECONDS:
            return cached[1], cached[2]
        s = self.settings
        history = self.w3.eth.fee_history(s.relayer_fee_history_blocks, "latest", [s.relayer_fee_percentile])
        next_base = int(history["baseFeePerGas"][-1])
        # Empty blocks report a zero reward; they say nothing about the going tip.
        rewards = sorted(int(r[0]) for r in history.get("reward") or [] if r and int(r[0]) > 0)
        tip = rewards[len(rewards) // 2] if rewards else 0
        tip = max(tip, s.relayer_min_priority_fee_wei)
        with self._cache_lock:
            self._fees = (time.monotonic(), next_base, tip)
        return next_base, tip

    def market_fees(self) -> Fees:
        """Tip from fee history; max fee = 2 × next base fee + tip (survives ~6 full blocks of
        base-fee rises), both capped by the configured ceiling."""
        base, tip = self._market()
        ceiling = self.settings.relayer_max_fee_per_gas_wei
        max_fee = min(2 * base + tip, ceiling)
        return Fees(max_fee=max_fee, tip=min(tip, max_fee))

    def bumped_fees(self, old_max: int, old_tip: int) -> Fees | None:
        """Fees for a replacement: both fields ≥ bump % above the old ones (and at least the market),
        capped by the ceiling. None when the ceiling leaves no room for a ≥ 10 % raise."""
        pct = 100 + self.settings.relayer_fee_bump_percent
        base, market_tip = self._market()
        tip = max(_ceil_pct(old_tip, pct), market_tip)
        max_fee = max(_ceil_pct(old_max, pct), 2 * base + tip)
        max_fee = min(max_fee, self.settings.relayer_max_fee_per_gas_wei)
        tip = min(tip, max_fee)
        if max_fee < _ceil_pct(old_max, 110) or tip < _ceil_pct(old_tip, 110):
            return None
        return Fees(max_fee=max_fee, tip=tip)

    # --- DB access -------------------------------------------------------------------------------
    # SQLAlchemy Core, not the ORM: the relayer's hot path is a handful of single-row statements, and
    # the ORM's unit of work was most of its CPU time per transaction.
    @contextmanager
    def _tx(self, *, nonce: bool = False) -> Iterator[Connection]:
        """One DB transaction. SQLite: every transaction takes the database write lock (BEGIN
        IMMEDIATE, core.db), so our threads queue on a mutex first rather than in SQLite's
        sleeping busy handler (10–100 ms stalls). PostgreSQL: only transactions that take the nonce
        row lock (`nonce=True`) queue on the mutex, so this process's threads wait in Python instead
        of as a convoy of blocked connections. The connection is checked out (and pinged) before the
        mutex, keeping the locked section to the statements themselves."""
        with self.engine.connect() as conn:
            with self._nonce_mutex if (nonce or self._sqlite) else nullcontext(), conn.begin():
                yield conn

    def _load(self, key: str) -> TxRow | None:
        with self._tx() as conn:
            found = conn.execute(select(TX).where(TX.c.key == key)).mappings().first()
        return _tx_row(found) if found else None

    def _load_with_attempts(self, key: str) -> tuple[TxRow | None, list[AttemptRow]]:
        """The request and its live attempts (newest first), in one transaction."""
        with self._tx() as conn:
            found = conn.execute(select(TX).where(TX.c.key == key)).mappings().first()
            if found is None:
                return None, []
            attempts = conn.execute(
                select(AT).where(AT.c.tx_id == found["id"], AT.c.status != AttemptStatus.DROPPED).order_by(AT.c.id.desc())
            ).mappings().all()
        return _tx_row(found), [_attempt_row(a) for a in attempts]

    # --- nonces ----------------------------------------------------------------------------------
    def _nonce_where(self):
        return (NC.c.chain_id == self.chain_id) & (NC.c.address == self.address)

    def _lock_nonce(self, conn: Connection) -> int:
        # FOR UPDATE: the row lock on PostgreSQL. SQLite has no row locks (the clause is dropped); its
        # transaction already holds the database write lock for the same purpose.
        return conn.execute(select(NC.c.next_nonce).where(self._nonce_where()).with_for_update()).scalar_one()

    def _take_nonces(self, conn: Connection, n: int = 1) -> int:
        """Advance the counter by `n` and return the first of the `n` nonces taken, in one round trip.
        The UPDATE takes the row lock (PostgreSQL; SQLite's transaction holds the write lock) until
        commit; if the transaction rolls back, so does the increment: no gap."""
        params = {"chain_id_": self.chain_id, "address_": self.address, "n": n, "now": utcnow()}
        return conn.execute(TAKE_NONCE, params).scalar_one() - n

    def _ensure_nonce_row(self) -> None:
        """Create this sender's nonce counter once, starting from the node's pending count; after that
        the DB is the only source of nonces."""
        if self._nonce_row_ready:
            return
        start = self.w3.eth.get_transaction_count(self.address, "pending")
        values = {"chain_id": self.chain_id, "address": self.address, "next_nonce": start, "updated_at": utcnow()}
        dialect = postgresql if is_postgres(self.engine) else sqlite
        with self._tx() as conn:
            conn.execute(dialect.insert(NC).values(**values).on_conflict_do_nothing())
        self._nonce_row_ready = True

    def resync_nonce(self) -> int:
        """Move the counter forward past nonces used outside the relayer (never backwards)."""
        self._ensure_nonce_row()
        chain_next = self.w3.eth.get_transaction_count(self.address, "pending")
        with self._tx(nonce=True) as conn:
            db_next = self._lock_nonce(conn)
            if chain_next > db_next:
                log.warning("relayer_nonce_resync", address=self.address, db_next=db_next, chain_next=chain_next)
                conn.execute(update(NC).where(self._nonce_where()).values(next_nonce=chain_next, updated_at=utcnow()))
                db_next = chain_next
        return db_next

    # --- submit ----------------------------------------------------------------------------------
    def _resolve(self, req: SubmitTx) -> tuple[str, str]:
        if req.call is not None:
            to = self._contract_address(req.call.contract)
            try:
                data = _hex(encode_call(req.call.contract, req.call.function, *req.call.args))
            except Exception as exc:
                raise BadRequest(f"cannot encode {req.call.contract}.{req.call.function}: {exc}") from None
            return to, data
        assert req.to is not None
        try:
            to = Web3.to_checksum_address(req.to)
            data = _hex(bytes.fromhex(req.data_hex.removeprefix("0x")))
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
        return _ref(row)

    @staticmethod
    def _same(existing: TxRow, new: TxRow) -> TxRow:
        if existing.content_hash != new.content_hash:
            raise IdempotencyConflict(f"key {new.key!r} was already used for a different transaction")
        return existing

    def _prepare(self, row: TxRow) -> tuple[int, Fees] | str:
        """Checks and estimates before signing, outside any DB lock: (gas limit, fees), or the revert
        reason when the call would revert."""
        self._check_chain_id()
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
                text = _error_text(exc)
                if "revert" in text:
                    return _plain_reason(exc)
                if _is_insufficient_funds(text):
                    raise BalanceTooLow(self.address, self.balance(fresh=True), self.settings.relayer_min_balance_wei) from None
                raise RelayerError(f"eth_estimateGas failed: {exc}") from None
            except Exception as exc:
                text = _error_text(exc)
                if "revert" in text:
                    return _plain_reason(exc)
                if _is_insufficient_funds(text):
                    raise BalanceTooLow(self.address, self.balance(fresh=True), self.settings.relayer_min_balance_wei) from None
                raise RelayerError(f"eth_estimateGas failed: {exc}") from None
            gas_limit = estimate * self.settings.relayer_gas_limit_percent // 100
        return gas_limit, self.market_fees()

    def _create(self, new: TxRow, prepared: tuple[int, Fees] | str) -> tuple[TxRow, AttemptRow | None]:
        """Insert and sign a new request in one DB transaction under the nonce lock, batched with the
        requests of other threads arriving meanwhile (_GroupCommit); the key's unique index turns a
        duplicate into the stored row. Returns the attempt only if this call signed it."""
        if isinstance(prepared, str):  # the call would revert: recorded as failed, nothing signed
            existing = self._load(new.key)
            if existing is not None:
                return self._same(existing, new), None
            new.status, new.revert_reason, new.final_at = TxStatus.FAILED, prepared, utcnow()
            log.info("relayer_tx_would_revert", key=new.key, label=new.label, reason=prepared)
            return self._insert(new), None
        row, attempt = self._group.submit(new, prepared)
        if attempt is not None and self.after_persist is not None:
            self.after_persist(new.key)  # committed, not broadcast (on the caller's own thread)
        return row, attempt

    def _create_batch(self, batch: list[_Waiter]) -> None:
        """Run by the group-commit leader: answer every waiter. Several requests go in one
        transaction; if it fails nothing of it was committed (no nonce used), and each request is
        run again on its own, so only the offending one gets the error or its existing row."""
        if len(batch) > 1:
            try:
                self._create_many(batch)
                return
            except Exception as exc:  # e.g. a key already stored: IntegrityError, all rolled back
                log.info("relayer_batch_fallback", size=len(batch), error=type(exc).__name__)
        for waiter in batch:
            try:
                waiter.answer(self._create_one(waiter.new, waiter.prepared))
            except Exception as exc:
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

    def _create_many(self, batch: list[_Waiter]) -> None:
        """One transaction for the batch: n consecutive nonces in one UPDATE, each request signed,
        all rows and first attempts inserted, ids read back, one commit. Waiters are answered only
        after the commit. Works on copies of the rows, so a failed batch leaves the originals as
        they were for the one-by-one retry."""
        firsts: dict[str, _Waiter] = {}  # a key twice in one batch: the later ones get the first's row
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
            conn.execute(INSERT_TX, [_values(TX, row) for row, _ in signed])
            conn.execute(INSERT_AT_FOR_KEY, [_values(AT, a, skip=("tx_id",)) | {"tx_key": row.key} for row, a in signed])
            ids = {key: (tx_id, attempt_id) for key, tx_id, attempt_id in conn.execute(
                BATCH_IDS, {"chain_id_": self.chain_id, "address_": self.address, "first": first_nonce,
                            "last": first_nonce + len(unique) - 1},
            )}
        for row, attempt in signed:
            row.id, attempt.id = ids[row.key]
            attempt.tx_id = row.id
        results = {row.key: (row, attempt) for row, attempt in signed}
        for waiter in batch:
            row, attempt = results[waiter.new.key]
            if waiter is firsts[waiter.new.key]:
                waiter.answer((row, attempt))
            elif row.content_hash != waiter.new.content_hash:
                waiter.answer(error=IdempotencyConflict(f"key {waiter.new.key!r} was already used for a different transaction"))
            else:  # like a repeated submit: the stored row (a copy: the first caller goes on with its own)
                waiter.answer((TxRow(**vars(row)), None))

    def _insert_signed(self, conn: Connection, row: TxRow, attempt: AttemptRow) -> None:
        """Insert a request and its first attempt (statements built once, executed with parameters:
        little Python work while the nonce row is locked)."""
        row.id = conn.execute(INSERT_TX, _values(TX, row)).inserted_primary_key[0]
        attempt.tx_id = row.id
        attempt.id = conn.execute(INSERT_AT, _values(AT, attempt)).inserted_primary_key[0]

    def _insert(self, row: TxRow) -> TxRow:
        try:
            with self._tx() as conn:
                row.id = conn.execute(insert(TX).values(_values(TX, row))).inserted_primary_key[0]
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
            raise RelayerError(f"insert of {row.key!r} hit a used nonce ({row.nonce}); nonce counter resynced, retry")
        return self._same(existing, row)

    def _lock_row(self, conn: Connection, row_id: int | None) -> TxRow:
        return _tx_row(conn.execute(select(TX).where(TX.c.id == row_id).with_for_update()).mappings().one())

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
                fields = {"status": TxStatus.FAILED, "revert_reason": prepared, "final_at": utcnow(), "updated_at": utcnow()}
                conn.execute(update(TX).where(TX.c.id == row.id).values(**fields))
                return _with(current, fields)
            attempt = self._assign(current, nonce, *prepared)
            attempt.id = conn.execute(insert(AT).values(_values(AT, attempt))).inserted_primary_key[0]
            conn.execute(update(TX).where(TX.c.id == row.id).values(_values(TX, current)))
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

    def _sign(self, row: TxRow, nonce: int, gas_limit: int, fees: Fees) -> AttemptRow:
        raw, tx_hash = self._signer.sign(
            chain_id=self.chain_id, nonce=nonce, to=row.to_address, value=row.value,
            data=bytes.fromhex(row.data.removeprefix("0x")), gas=gas_limit, max_fee=fees.max_fee, tip=fees.tip,
        )
        return AttemptRow.new(
            tx_id=row.id,
            nonce=nonce,
            tx_hash=_hex(tx_hash),
            raw_tx=_hex(raw),
            max_fee_per_gas=fees.max_fee,
            max_priority_fee_per_gas=fees.tip,
            gas_limit=gas_limit,
            status=AttemptStatus.SIGNED,
        )

    def _broadcast_current(self, row: TxRow) -> TxRow:
        with self._tx() as conn:
            attempt = _attempt_row(conn.execute(select(AT).where(AT.c.tx_hash == row.tx_hash)).mappings().one())
        return self._broadcast(row, attempt)

    def _broadcast(self, row: TxRow, attempt: AttemptRow) -> TxRow:
        """Hand stored bytes to the node. Safe to repeat: the same bytes are the same transaction."""
        error: str | None = None
        try:
            self._rpc("eth_sendRawTransaction", [attempt.raw_tx])
        except Exception as exc:
            text = _error_text(exc)
            if _is_already_known(text):
                pass
            elif _is_nonce_too_low(text):
                # Either one of our attempts was mined (the poll will find its receipt) or the nonce
                # was used by someone else (the poll re-queues the request). Never re-sign here.
                error = f"{NONCE_TOO_LOW} at broadcast"
                self.resync_nonce()
            elif _is_underpriced(text):
                # Another transaction with this nonce sits in the pool (normally our own earlier
                # attempt); waiting resolves it, replacement raises fees further if needed.
                error = "replacement underpriced at broadcast"
            elif _is_insufficient_funds(text):
                raise BalanceTooLow(self.address, self.balance(fresh=True), self.settings.relayer_min_balance_wei) from None
            else:
                raise RelayerError(f"broadcast of {attempt.tx_hash} failed: {exc}") from None
        now = utcnow()
        fields: dict[str, Any] = {"broadcast_at": now, "updated_at": now, "last_error": error}
        if row.status == TxStatus.SIGNED:
            fields["status"] = TxStatus.BROADCAST
        with self._tx() as conn:
            # Only a row still in a sending state moves; a concurrent poll may have finalized it.
            conn.execute(
                update(TX).where(TX.c.id == row.id, TX.c.status.in_([TxStatus.SIGNED, TxStatus.BROADCAST])).values(**fields)
            )
        return _with(row, fields)

    # --- waiting ---------------------------------------------------------------------------------
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

    def _receipt(self, tx_hash: str) -> dict[str, Any] | None:
        raw = self._rpc("eth_getTransactionReceipt", [tx_hash])
        return _receipt_fields(raw) if raw else None

    def _rpc(self, method: str, params: list[Any]) -> Any:
        """A JSON-RPC call straight through the provider. The hot path (estimate, send, receipt)
        skips web3's middleware and result formatters: they were a large share of the relayer's CPU
        per transaction, and the few fields used are parsed here."""
        response = self.w3.provider.make_request(method, params)  # type: ignore[arg-type]
        error = response.get("error")
        if error:
            raise RpcCallError(error if isinstance(error, dict) else {"message": str(error)})
        return response.get("result")

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
        block_hash = _hex(receipt["blockHash"])
        gas_used = int(receipt["gasUsed"])
        price = int(receipt.get("effectiveGasPrice") or 0)
        needed = self.settings.confirmations
        final = needed <= 1  # the receipt's own block is the first confirmation
        if not final:
            head = self.w3.eth.block_number
            if head - block_number + 1 >= needed:
                # Confirmed only if the receipt's block is still the canonical one at that height.
                final = _hex(self.w3.eth.get_block(block_number)["hash"]) == block_hash
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
                fields.update(status=TxStatus.FAILED, final_at=utcnow(), revert_reason=self._revert_reason(row, receipt))
        row = self._set(row, attempt_statuses=attempt_statuses, **fields)
        if final:
            log.info(
                "relayer_tx_final", key=row.key, label=row.label, status=row.status, hash=row.tx_hash,
                nonce=row.nonce, block=block_number, replacements=row.replacements,
            )
        return row

    def _revert_reason(self, row: TxRow, receipt: Any) -> str:
        """Replay the call on the parent block's state to recover the revert data."""
        if int(receipt["gasUsed"]) >= (row.gas_limit or 0) > 0:
            return "out of gas"
        try:
            self.w3.eth.call(
                {"from": self.address, "to": row.to_address, "data": row.data, "value": row.value, "gas": row.gas_limit},
                block_identifier=int(receipt["blockNumber"]) - 1,
            )
        except ContractLogicError as exc:
            return _revert_reason_of(exc)
        except Exception as exc:
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
        return _with(current, fields)

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
            attempt = self._sign(current, int(current.nonce), int(current.gas_limit), fees)  # type: ignore[arg-type]
            conn.execute(
                update(AT).where(AT.c.tx_id == row.id, AT.c.status == AttemptStatus.SIGNED).values(status=AttemptStatus.REPLACED)
            )
            attempt.id = conn.execute(insert(AT).values(_values(AT, attempt))).inserted_primary_key[0]
            fields = {
                "tx_hash": attempt.tx_hash,
                "max_fee_per_gas": fees.max_fee,
                "max_priority_fee_per_gas": fees.tip,
                "replacements": current.replacements + 1,
                "updated_at": utcnow(),
            }
            conn.execute(update(TX).where(TX.c.id == row.id).values(**fields))
        log.info(
            "relayer_tx_replaced", key=row.key, nonce=row.nonce, old_hash=row.tx_hash, new_hash=attempt.tx_hash,
            max_fee=fees.max_fee, tip=fees.tip,
        )
        return self._broadcast(_with(current, fields), attempt)

    def _set(self, row: TxRow, *, attempt_statuses: dict[int | None, str] | None = None, **fields: Any) -> TxRow:
        """Update the request (and optionally its attempts' statuses) in one transaction."""
        fields["updated_at"] = utcnow()
        with self._tx() as conn:
            for attempt_id, status in (attempt_statuses or {}).items():
                conn.execute(update(AT).where(AT.c.id == attempt_id).values(status=status))
            conn.execute(update(TX).where(TX.c.id == row.id).values(**fields))
        return _with(row, fields)

    def wait_final(self, key: str, *, heartbeat: Callable[[dict[str, Any]], None] | None = None,
                   timeout: float | None = None) -> TxOutcome:
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
            logs=logs,
            events=self._decode_events(logs),
        )

    def _decode_events(self, logs: list[LogEntry]) -> list[ChainEvent]:
        names: dict[str, str] = {}
        try:
            names = {addr.lower(): name for name, addr in self.manifest().addresses.items()}
        except RelayerError:
            pass  # no manifest: decode by signature alone
        events = []
        for entry in logs:
            decoded = decode_log(entry.address, entry.topics, entry.data, contract=names.get(entry.address.lower()))
            if decoded is not None:
                events.append(ChainEvent(contract=decoded.contract, event=decoded.event, address=decoded.address, args=decoded.args))
        return events

    def send_and_wait(self, req: SubmitTx, **kwargs: Any) -> TxOutcome:
        self.submit(req)
        return self.wait_final(req.key, **kwargs)

    # --- reads -----------------------------------------------------------------------------------
    def read(self, req: ReadCall) -> list[Any]:
        call = req.call
        to = self._contract_address(call.contract)
        data = encode_call(call.contract, call.function, *call.args)
        result = self.w3.eth.call({"to": to, "data": data}, block_identifier=req.block)
        return contract_abi(call.contract).decode_output(call.function, len(call.args), bytes(result))


TX = ChainTx.__table__  # type: ignore[attr-defined]
AT = ChainTxAttempt.__table__  # type: ignore[attr-defined]
NC = ChainNonce.__table__  # type: ignore[attr-defined]


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


def _values(table, obj, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """Column values of a model object for a Core INSERT/UPDATE (an unset primary key is left out, and
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
        return {"label": "", "value": 0, "status": TxStatus.REQUESTED, "caller_gas_limit": False,
                "replacements": 0, "created_at": now, "updated_at": now}


class AttemptRow(_Row):
    """A `chain_tx_attempt` row (same fields as models.chain.ChainTxAttempt)."""

    table = AT


def _tx_row(mapping: Any) -> TxRow:
    return TxRow(**mapping)


def _attempt_row(mapping: Any) -> AttemptRow:
    return AttemptRow(**mapping)


def _with(row: TxRow, fields: dict[str, Any]) -> TxRow:
    for name, value in fields.items():
        setattr(row, name, value)
    return row


def _revert_reason_of(exc: BaseException) -> str:
    data = revert_data_from_exception(exc)
    return decode_revert(data) if data else _plain_reason(exc)


def _plain_reason(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc)
    return text.removeprefix("execution reverted: ").strip() or "execution reverted"


def _int(value: Any) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)


def _receipt_fields(raw: dict[str, Any]) -> dict[str, Any]:
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
        "topics": [_hex(t) for t in entry["topics"]],
        "data": _hex(entry["data"]),
        "log_index": _int(entry["logIndex"]) if entry.get("logIndex") is not None else None,
    }


def _ref(row: TxRow) -> TxRef:
    return TxRef(key=row.key, status=TxStatus(row.status), nonce=row.nonce, hash=row.tx_hash, revert_reason=row.revert_reason)


# --- readiness ---------------------------------------------------------------------------------------
# Lives in models.chain (the API may import models/, not activities/); re-exported for the CLI.
relayer_status = models_relayer_status


# --- Temporal activities -----------------------------------------------------------------------------
def _application_error(exc: RelayerError) -> ApplicationError:
    delay = timedelta(seconds=30) if isinstance(exc, BalanceTooLow) else None
    return ApplicationError(str(exc), type=exc.kind, non_retryable=not exc.retryable, next_retry_delay=delay)


class RelayerActivities:
    """Temporal face of the relayer. Synchronous: runs in the worker's activity thread pool."""

    def __init__(self, settings: Settings, engine: Engine):
        self.settings = settings
        self.engine = engine
        self._relayer: Relayer | None = None
        self._lock = threading.Lock()

    @property
    def relayer(self) -> Relayer:
        # Created on first use so a worker can start (and serve other activities) while the chain
        # is still coming up.
        if self._relayer is None:
            with self._lock:
                if self._relayer is None:
                    self._relayer = Relayer(self.settings, self.engine)
        return self._relayer

    def _run(self, fn: Callable[[Relayer], Any]) -> Any:
        """Relayer errors become ApplicationErrors with a type workflows can match; a lost RPC
        connection drops the cached client so the retry fails over to the next configured URL."""
        try:
            return fn(self.relayer)
        except RelayerError as exc:
            if exc.kind == ERR_CHAIN and self._relayer is not None:
                self._relayer.reset_connection()
            raise _application_error(exc) from None
        except requests.RequestException as exc:
            if self._relayer is not None:
                self._relayer.reset_connection()
            raise ApplicationError(f"RPC unreachable: {type(exc).__name__}", type=ERR_CHAIN) from None

    @activity.defn(name=RELAYER_SUBMIT)
    def submit(self, req: SubmitTx) -> TxRef:
        return self._run(lambda r: r.submit(req))

    @activity.defn(name=RELAYER_WAIT_FINAL)
    def wait_final(self, key: str) -> TxOutcome:
        def beat(details: dict[str, Any]) -> None:
            activity.heartbeat(details)
            if activity.is_cancelled():
                raise CancelledError("relayer.wait_final cancelled")
            if activity.is_worker_shutdown():  # let another worker pick the wait up (state is in the DB)
                raise ApplicationError("worker shutting down", type="WorkerShutdown")

        return self._run(lambda r: r.wait_final(key, heartbeat=beat))

    @activity.defn(name=RELAYER_READ)
    def read(self, req: ReadCall) -> list[Any]:
        return self._run(lambda r: r.read(req))

    def all(self) -> list[Callable]:
        return [self.submit, self.wait_final, self.read]


def relayer_activities(settings: Settings, engine: Engine) -> list[Callable]:
    return RelayerActivities(settings, engine).all()
