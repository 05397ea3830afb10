"""What every part of the relayer engine stands on: the key, the RPC client, cached chain facts
(chain id, balance, fees), DB transactions, the nonce counter and signing."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from web3 import Web3
from web3.types import RPCEndpoint

from contracts.manifest import Manifest, ManifestError, load_manifest
from contracts.rpc import ChainIdMismatch, connect, lean
from core.columns import utcnow
from core.db import is_postgres, table_of
from core.devchain import is_anvil_dev_key
from core.logs import get_logger
from core.settings import Settings
from models.chain import AttemptStatus
from models.chain_gate import GateReader
from models.platform import HALT_FLAG, PlatformFlag
from relayer.errors import (
    BadRequest,
    BalanceTooLow,
    ChainGateClosed,
    ChainUnavailable,
    Misconfigured,
    PlatformHalted,
    RpcCallError,
)
from relayer.fees import Fees, bumped_fees, market_fees, next_base_and_tip
from relayer.outbox import AT, NC, TAKE_NONCE, TX, AttemptRow, TxRow, attempt_row, to_hex, tx_row, with_fields
from relayer.signing import Eip1559Signer

_FLAG = table_of(PlatformFlag)

log = get_logger(__name__)

# How long cheap chain facts are reused. Short: they only save RPC round trips under load.
FEE_CACHE_SECONDS = 1.0
BALANCE_CACHE_SECONDS = 2.0
CHAIN_ID_RECHECK_SECONDS = 60.0


class RelayerBase:
    """The shared state and primitives of `relayer.engine.Relayer` (see there)."""

    def __init__(self, settings: Settings, engine: Engine, *, w3: Web3 | None = None):
        self.settings = settings
        self.engine = engine
        self.chain_id = settings.chain_id
        account = self._load_account(settings)
        self.address: ChecksumAddress = account.address
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
        self._manifest: Manifest | None = None
        self.gate = GateReader(settings, engine)
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
                    except Exception as exc:  # noqa: BLE001 - any connection failure means the chain is unavailable
                        raise ChainUnavailable(str(exc)) from None
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

    def _rpc(self, method: str, params: list[Any]) -> Any:
        """A JSON-RPC call straight through the provider. The hot path (estimate, send, receipt)
        skips web3's middleware and result formatters: they were a large share of the relayer's CPU
        per transaction, and the few fields used are parsed here."""
        response = self.w3.provider.make_request(RPCEndpoint(method), params)
        error = response.get("error")
        if error:
            raise RpcCallError(error if isinstance(error, dict) else {"message": str(error)})
        return response.get("result")

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

    def _check_not_halted(self) -> None:
        """The platform halt switch, read just before anything is signed (one primary-key read)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(_FLAG.c.value, _FLAG.c.reason).where(_FLAG.c.key == HALT_FLAG)).first()
        if row is not None and row.value:
            raise PlatformHalted(f"the platform is halted: {row.reason}")

    def _check_gate(self, key: str) -> None:
        """A new pre-payment request is refused while the chain gate is closed; one already recorded
        under `key` (a retry after a crash) goes on."""
        gate = self.gate.read()
        if not gate.open and self._load(key) is None:
            raise ChainGateClosed(f"the pre-payment chain gate is closed: {gate.reason}")

    def _balance_too_low(self) -> BalanceTooLow:
        """The node said "insufficient funds": the error to raise, with a fresh balance."""
        return BalanceTooLow(self.address, self.balance(fresh=True), self.settings.relayer_min_balance_wei)

    def _market(self) -> tuple[int, int]:
        """(next block's base fee, tip) from eth_feeHistory."""
        with self._cache_lock:
            cached = self._fees
        if cached and time.monotonic() - cached[0] < FEE_CACHE_SECONDS:
            return cached[1], cached[2]
        s = self.settings
        history = self.w3.eth.fee_history(s.relayer_fee_history_blocks, "latest", [s.relayer_fee_percentile])
        next_base, tip = next_base_and_tip(history, s.relayer_min_priority_fee_wei)
        with self._cache_lock:
            self._fees = (time.monotonic(), next_base, tip)
        return next_base, tip

    def market_fees(self) -> Fees:
        """Fees for a first attempt at the current market (relayer.fees.market_fees)."""
        base, tip = self._market()
        return market_fees(base, tip, self.settings.relayer_max_fee_per_gas_wei)

    def bumped_fees(self, old_max: int, old_tip: int) -> Fees | None:
        """Fees for a replacement (relayer.fees.bumped_fees); None when the ceiling leaves no room."""
        base, market_tip = self._market()
        return bumped_fees(
            old_max,
            old_tip,
            base=base,
            market_tip=market_tip,
            bump_percent=self.settings.relayer_fee_bump_percent,
            ceiling=self.settings.relayer_max_fee_per_gas_wei,
        )

    # --- DB access -------------------------------------------------------------------------------
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
        return tx_row(found) if found else None

    def _load_with_attempts(self, key: str) -> tuple[TxRow | None, list[AttemptRow]]:
        """The request and its live attempts (newest first), in one transaction."""
        with self._tx() as conn:
            found = conn.execute(select(TX).where(TX.c.key == key)).mappings().first()
            if found is None:
                return None, []
            attempts = (
                conn.execute(
                    select(AT)
                    .where(AT.c.tx_id == found["id"], AT.c.status != AttemptStatus.DROPPED)
                    .order_by(AT.c.id.desc())
                )
                .mappings()
                .all()
            )
        return tx_row(found), [attempt_row(a) for a in attempts]

    def _lock_row(self, conn: Connection, row_id: int | None) -> TxRow:
        return tx_row(conn.execute(select(TX).where(TX.c.id == row_id).with_for_update()).mappings().one())

    def _set(self, row: TxRow, *, attempt_statuses: dict[int | None, str] | None = None, **fields: Any) -> TxRow:
        """Update the request (and optionally its attempts' statuses) in one transaction."""
        fields["updated_at"] = utcnow()
        with self._tx() as conn:
            for attempt_id, status in (attempt_statuses or {}).items():
                conn.execute(update(AT).where(AT.c.id == attempt_id).values(status=status))
            conn.execute(update(TX).where(TX.c.id == row.id).values(**fields))
        return with_fields(row, fields)

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

    # --- signing ---------------------------------------------------------------------------------
    def _sign(self, row: TxRow, nonce: int, gas_limit: int, fees: Fees) -> AttemptRow:
        raw, tx_hash = self._signer.sign(
            chain_id=self.chain_id,
            nonce=nonce,
            to=row.to_address,
            value=row.value,
            data=bytes.fromhex(row.data.removeprefix("0x")),
            gas=gas_limit,
            max_fee=fees.max_fee,
            tip=fees.tip,
        )
        return AttemptRow.new(
            tx_id=row.id,
            nonce=nonce,
            tx_hash=to_hex(tx_hash),
            raw_tx=to_hex(raw),
            max_fee_per_gas=fees.max_fee,
            max_priority_fee_per_gas=fees.tip,
            gas_limit=gas_limit,
            status=AttemptStatus.SIGNED,
        )
