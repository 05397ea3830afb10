"""The double-entry ledger: an append-only journal of transactions and their postings.

A ledger transaction's id is its idempotency key. Its postings carry a signed integer amount in the
asset's smallest unit (debit > 0, credit < 0) and must sum to zero per asset. That is checked here
before anything is written and again, on PostgreSQL, by a deferred constraint trigger at commit;
UPDATE and DELETE of journal rows are refused by triggers (PostgreSQL and SQLite).

Posting the same key again with the same content (kind, refs, postings) returns the original and
writes nothing; with other content it raises `LedgerConflict` (the caller's DB transaction is then
rolled back by `session_scope`, so nothing of that unit of work is written).

Two-phase entries (`create_pending` → `post_pending` | `void_pending`) reserve value in a holding
account (`liability:payouts_in_flight:<program>`) before it moves; an entry is resolved at most once
(a conditional UPDATE on its status, so a concurrent second resolution finds nothing to do).

Chart of accounts (every movement of value has a home, so reconciliation can catch a missing leg):

| code | type | what it holds |
|---|---|---|
| `asset:processor_receivable:<rail>` | asset | money a payment rail collected for us (rail: coinbase_commerce, coinbase_business, onchain) |
| `asset:treasury` | asset | settled funds in the platform treasury |
| `asset:payout_contract` | asset | stablecoin held by the AffiliatePayout contract (never negative) |
| `asset:sge_inventory` | asset | SGE held for claims |
| `asset:relayer_eth` | asset | the relayer's ETH |
| `asset:affiliate:<id>:clawback` | asset | owed back by an affiliate for a refunded, already paid commission (never negative) |
| `liability:affiliate:<id>:accrued` | liability | commissions in their hold period (never negative) |
| `liability:affiliate:<id>:payable` | liability | commissions past the hold, not yet paid (never negative) |
| `liability:payouts_in_flight:<program>` | liability | reserved for a payout batch, not yet paid (never negative) |
| `liability:suspense:<rail>` | liability | money that arrived but cannot be matched (under/over-payment, unknown charge) |
| `revenue:fees:<program>` | revenue | registration fees |
| `expense:commissions:<program>` | expense | affiliate commissions (net of cancellations and clawbacks) |
| `expense:sge_delivered:<program>` | expense | SGE delivered to users by claims |
| `expense:gas` | expense | relayer gas |
| `equity:capital` | equity | outside funding (relayer ETH, SGE inventory, payout contract funding) |
| `equity:conversion` | equity | 1:1 conversion clearing between USD and the USD stablecoins (same 6-decimal unit) |

"Never negative" means: never past zero against the account's normal side (debit for assets,
credit for liabilities). A posting that would take such an account past zero is refused.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field as PField, field_validator
from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, Integer, String, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, Session, SQLModel

from core.columns import UtcDateTime, utcnow
from core.columns import AmountType
from models.money import AmountError, Asset

# --- activity names (workflows call these by name) ---------------------------------------------
POST = "ledger.post"
SETTLE_PAYMENT = "ledger.settle_payment"
REVERSE_PAYMENT = "ledger.reverse_payment"
POST_SUSPENSE = "ledger.post_suspense"
POST_CLAIM_DELIVERY = "ledger.post_claim_delivery"
POST_GAS = "ledger.post_gas"
RELEASE_DUE = "ledger.release_due_commissions"

MAX_KEY_LEN = 200


# --- errors -------------------------------------------------------------------------------------


class LedgerError(Exception):
    """A ledger request that can never succeed as given. `code` is machine-readable."""

    code = "ledger_error"

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        if code:
            self.code = code


class LedgerUnbalanced(LedgerError):
    code = "ledger_unbalanced"


class LedgerConflict(LedgerError):
    """The key is taken by a transaction with other content. Nothing was written."""

    code = "ledger_conflict"


class LedgerNegativeBalance(LedgerError):
    code = "ledger_negative_balance"


class UnknownAccount(LedgerError):
    code = "unknown_account"


class PendingNotFound(LedgerError):
    code = "pending_not_found"


class PendingAlreadyResolved(LedgerError):
    code = "pending_already_resolved"


# --- chart of accounts --------------------------------------------------------------------------


class AccountType(StrEnum):
    ASSET = "asset"
    LIABILITY = "liability"
    EQUITY = "equity"
    REVENUE = "revenue"
    EXPENSE = "expense"

    @property
    def debit_normal(self) -> bool:
        return self in (AccountType.ASSET, AccountType.EXPENSE)


RAILS = ("coinbase_commerce", "coinbase_business", "onchain")
_SLUG = r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?"
_ID = r"[1-9][0-9]{0,18}"
_RAIL = "|".join(RAILS)


@dataclass(frozen=True)
class AccountSpec:
    pattern: str
    type: AccountType
    non_negative: bool
    description: str

    @property
    def regex(self) -> re.Pattern:
        return re.compile(self.pattern)


CHART: tuple[AccountSpec, ...] = (
    AccountSpec(rf"asset:processor_receivable:(?:{_RAIL})", AccountType.ASSET, False, "collected by a payment rail for us"),
    AccountSpec(r"asset:treasury", AccountType.ASSET, False, "settled funds in the platform treasury"),
    AccountSpec(r"asset:payout_contract", AccountType.ASSET, True, "stablecoin held by the payout contract"),
    AccountSpec(r"asset:sge_inventory", AccountType.ASSET, False, "SGE held for claims"),
    AccountSpec(r"asset:relayer_eth", AccountType.ASSET, False, "the relayer's ETH"),
    AccountSpec(rf"asset:affiliate:{_ID}:clawback", AccountType.ASSET, True, "owed back by an affiliate (refunded, paid commission)"),
    AccountSpec(rf"liability:affiliate:{_ID}:accrued", AccountType.LIABILITY, True, "commissions in their hold period"),
    AccountSpec(rf"liability:affiliate:{_ID}:payable", AccountType.LIABILITY, True, "commissions payable, not yet paid"),
    AccountSpec(rf"liability:payouts_in_flight:{_SLUG}", AccountType.LIABILITY, True, "reserved for a payout batch"),
    AccountSpec(rf"liability:suspense:(?:{_RAIL})", AccountType.LIABILITY, False, "arrived but not matched"),
    AccountSpec(rf"revenue:fees:{_SLUG}", AccountType.REVENUE, False, "registration fees"),
    AccountSpec(rf"expense:commissions:{_SLUG}", AccountType.EXPENSE, False, "affiliate commissions"),
    AccountSpec(rf"expense:sge_delivered:{_SLUG}", AccountType.EXPENSE, False, "SGE delivered by claims"),
    AccountSpec(r"expense:gas", AccountType.EXPENSE, False, "relayer gas"),
    AccountSpec(r"equity:capital", AccountType.EQUITY, False, "outside funding"),
    AccountSpec(r"equity:conversion", AccountType.EQUITY, False, "USD <-> USD-stablecoin 1:1 conversion clearing"),
)
_COMPILED = tuple((re.compile(rf"^{spec.pattern}$"), spec) for spec in CHART)
_spec_cache: dict[str, AccountSpec] = {}


def account_spec(code: str) -> AccountSpec:
    """The chart entry of an account code, or UnknownAccount."""
    spec = _spec_cache.get(code)
    if spec is not None:
        return spec
    if isinstance(code, str) and len(code) <= 120:
        for regex, spec in _COMPILED:
            if regex.match(code):
                if len(_spec_cache) < 100_000:  # bounded: codes per affiliate/program are finite anyway
                    _spec_cache[code] = spec
                return spec
    raise UnknownAccount(f"unknown account {code!r} (not in the chart of accounts)")


def rail_of(payment_ref: str) -> str:
    """The payment rail named by a payment reference's prefix, e.g. 'onchain:0xabc..:3' → 'onchain'."""
    rail, sep, rest = payment_ref.partition(":")
    if not sep or not rest or rail not in RAILS:
        raise LedgerError(
            f"payment_ref {payment_ref!r} must start with one of {', '.join(RAILS)} followed by ':'",
            code="invalid_payment_ref",
        )
    return rail


class Accounts:
    """Account codes by name, so callers never spell them by hand."""

    @staticmethod
    def processor_receivable(rail: str) -> str:
        return f"asset:processor_receivable:{rail}"

    treasury = "asset:treasury"
    payout_contract = "asset:payout_contract"
    sge_inventory = "asset:sge_inventory"
    relayer_eth = "asset:relayer_eth"
    gas = "expense:gas"
    capital = "equity:capital"
    conversion = "equity:conversion"

    @staticmethod
    def affiliate_clawback(affiliate_id: int) -> str:
        return f"asset:affiliate:{affiliate_id}:clawback"

    @staticmethod
    def affiliate_accrued(affiliate_id: int) -> str:
        return f"liability:affiliate:{affiliate_id}:accrued"

    @staticmethod
    def affiliate_payable(affiliate_id: int) -> str:
        return f"liability:affiliate:{affiliate_id}:payable"

    @staticmethod
    def payouts_in_flight(program: str) -> str:
        return f"liability:payouts_in_flight:{program}"

    @staticmethod
    def suspense(rail: str) -> str:
        return f"liability:suspense:{rail}"

    @staticmethod
    def fee_revenue(program: str) -> str:
        return f"revenue:fees:{program}"

    @staticmethod
    def commission_expense(program: str) -> str:
        return f"expense:commissions:{program}"

    @staticmethod
    def sge_delivered(program: str) -> str:
        return f"expense:sge_delivered:{program}"


# --- tables -------------------------------------------------------------------------------------


class LedgerTx(SQLModel, table=True):
    """A journal entry. Its id is the caller's idempotency key."""

    __tablename__ = "ledger_tx"

    id: str = Field(primary_key=True, max_length=MAX_KEY_LEN)
    kind: str = Field(max_length=64, index=True)
    refs: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    content_hash: str = Field(max_length=64, description="sha256 of kind, refs and postings.")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class LedgerPosting(SQLModel, table=True):
    """One leg of a journal entry: debit > 0, credit < 0, in the asset's smallest unit."""

    __tablename__ = "ledger_posting"
    __table_args__ = (Index("ix_ledger_posting_account", "account", "asset", "id"),)

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    )
    tx_id: str = Field(sa_column=Column(String(MAX_KEY_LEN), ForeignKey("ledger_tx.id"), nullable=False, index=True))
    account: str = Field(max_length=120)
    asset: str = Field(max_length=8)
    amount: int = Field(sa_type=AmountType)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class PendingStatus(StrEnum):
    PENDING = "pending"
    POSTED = "posted"
    VOIDED = "voided"


class LedgerPending(SQLModel, table=True):
    """A two-phase entry: value reserved by `reserve_tx_id`, later posted or voided exactly once."""

    __tablename__ = "ledger_pending"

    key: str = Field(primary_key=True, max_length=MAX_KEY_LEN)
    kind: str = Field(max_length=64)
    status: str = Field(default=PendingStatus.PENDING.value, max_length=16, index=True)
    reserve_tx_id: str = Field(sa_column=Column(String(MAX_KEY_LEN), ForeignKey("ledger_tx.id"), nullable=False))
    resolve_tx_id: str | None = Field(
        default=None, sa_column=Column(String(MAX_KEY_LEN), ForeignKey("ledger_tx.id"), nullable=True)
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    resolved_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


_TX = LedgerTx.__table__
_POSTING = LedgerPosting.__table__
_PENDING = LedgerPending.__table__


# --- payload types ------------------------------------------------------------------------------


class Posting(BaseModel):
    """One leg to post. `amount`: signed integer minor units, debit > 0, credit < 0."""

    account: str
    asset: Asset
    amount: int

    @field_validator("amount", mode="before")
    @classmethod
    def _exact(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("amount must be an integer (minor units)")
        return value


def debit(account: str, asset: Asset | str, amount: int) -> Posting:
    return Posting(account=account, asset=Asset(asset), amount=amount)


def credit(account: str, asset: Asset | str, amount: int) -> Posting:
    return Posting(account=account, asset=Asset(asset), amount=-amount)


class PostRequest(BaseModel):
    """Input of the generic `ledger.post` activity."""

    key: str
    kind: str
    refs: dict[str, str] = PField(default_factory=dict)
    postings: list[Posting]


class PostResult(BaseModel):
    tx_id: str
    created: bool  # False: the key already held this exact transaction (a replay)
    postings: list[Posting]


class SuspenseRequest(BaseModel):
    key: str
    payment_ref: str
    amount_minor: int
    asset: Asset
    reason: str


class ClaimDeliveryRequest(BaseModel):
    """SGE delivered to a user: Dr expense:sge_delivered:<program> / Cr asset:sge_inventory."""

    key: str
    program: str
    wallet: str
    amount_minor: int  # SGE, 18 decimals
    payment_ref: str = ""
    chain_tx: str = ""


class GasRequest(BaseModel):
    """Gas paid by the relayer: Dr expense:gas / Cr asset:relayer_eth (wei)."""

    key: str
    fee_wei: int
    chain_tx: str
    purpose: str = ""


# --- writing ------------------------------------------------------------------------------------


def _check_postings(postings: Sequence[Posting]) -> list[tuple[str, str, int]]:
    if len(postings) < 2:
        raise LedgerUnbalanced("a ledger transaction needs at least two postings")
    legs: list[tuple[str, str, int]] = []
    totals: dict[str, int] = defaultdict(int)
    for p in postings:
        account_spec(p.account)
        amount = p.amount
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise AmountError("posting amounts must be integers")
        if amount == 0:
            raise LedgerError("a posting of zero is not allowed", code="zero_posting")
        asset = Asset(p.asset).value
        totals[asset] += amount
        legs.append((p.account, asset, amount))
    off = {asset: total for asset, total in totals.items() if total != 0}
    if off:
        detail = ", ".join(f"{asset} {total:+d}" for asset, total in sorted(off.items()))
        raise LedgerUnbalanced(f"postings do not sum to zero per asset ({detail})")
    return legs


def content_hash(kind: str, refs: Mapping[str, Any], legs: Iterable[tuple[str, str, int]]) -> str:
    """Order-independent digest of a transaction's content (what "same content" means)."""
    body = {
        "kind": kind,
        "refs": {str(k): str(v) for k, v in refs.items()},
        "postings": sorted([a, s, str(n)] for a, s, n in legs),
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _insert(session: Session, table):
    return (postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert)(table)


def _is_pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _risky(legs: list[tuple[str, str, int]]) -> list[tuple[str, str, int]]:
    """Legs that move a never-negative account toward zero (only those can take it below)."""
    deltas: dict[tuple[str, str], int] = defaultdict(int)
    for account, asset, amount in legs:
        if account_spec(account).non_negative:
            deltas[(account, asset)] += amount
    return [
        (account, asset, delta)
        for (account, asset), delta in deltas.items()
        if (delta < 0 if account_spec(account).type.debit_normal else delta > 0)
    ]


def _guard_non_negative(session: Session, risky: list[tuple[str, str, int]]) -> None:
    """Refuse legs that would take a never-negative account past zero against its normal side.

    PostgreSQL: a transaction-scoped advisory lock per (account, asset), taken in sorted order,
    makes check-and-write atomic across concurrent writers; SQLite already holds the write lock.
    """
    conn = session.connection()
    pg = _is_pg(session)
    for account, asset, delta in sorted(risky):
        if pg:
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": f"ledger:{account}:{asset}"})
        current = balance(session, account, asset)
        after = current + delta
        if (after < 0) if account_spec(account).type.debit_normal else (after > 0):
            raise LedgerNegativeBalance(
                f"{account} would go negative in {asset} (balance {current}, change {delta})"
            )


def post_transaction(
    session: Session,
    key: str,
    kind: str,
    refs: Mapping[str, Any] | None,
    postings: Sequence[Posting],
) -> PostResult:
    """Post a balanced transaction under idempotency key `key`, inside the caller's DB transaction.

    Same key + same content → the original (`created=False`), nothing written. Same key + other
    content → LedgerConflict. Unbalanced, unknown account, zero leg, or a never-negative account
    pushed below zero → a LedgerError before anything is written.
    """
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LEN:
        raise LedgerError(f"ledger key must be 1..{MAX_KEY_LEN} characters", code="invalid_key")
    if not kind or len(kind) > 64:
        raise LedgerError("ledger kind must be 1..64 characters", code="invalid_kind")
    refs = {str(k): str(v) for k, v in (refs or {}).items()}
    legs = _check_postings(postings)
    digest = content_hash(kind, refs, legs)
    now = utcnow()
    conn = session.connection()
    risky = _risky(legs)
    if not risky and conn.dialect.name == "postgresql":
        # One round trip: the key insert and the postings in one statement (the hot path).
        params: dict[str, Any] = {"id": key, "kind": kind, "refs": json.dumps(refs), "hash": digest, "now": now}
        for i, (a, s, n) in enumerate(legs):
            params[f"a{i}"], params[f"s{i}"], params[f"n{i}"] = a, s, n
        if conn.exec_driver_sql(_pg_post_sql(len(legs)), params).rowcount:
            return PostResult(tx_id=key, created=True, postings=list(postings))
        return _replayed(conn, key, digest, postings)
    # The key insert comes first: a concurrent writer of the same key waits here until we commit.
    inserted = conn.execute(
        _insert(session, _TX)
        .values(id=key, kind=kind, refs=refs, content_hash=digest, created_at=now)
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(_TX.c.id)
    ).first()
    if inserted is None:
        return _replayed(conn, key, digest, postings)
    if risky:
        _guard_non_negative(session, risky)
    conn.execute(
        _POSTING.insert(),
        [{"tx_id": key, "account": a, "asset": s, "amount": n, "created_at": now} for a, s, n in legs],
    )
    return PostResult(tx_id=key, created=True, postings=list(postings))


def _replayed(conn, key: str, digest: str, postings: Sequence[Posting]) -> PostResult:
    """The key exists: the original when the content is the same, else LedgerConflict."""
    existing = conn.execute(select(_TX.c.content_hash, _TX.c.kind).where(_TX.c.id == key)).first()
    if existing is None:  # pragma: no cover - journal rows are never deleted
        raise LedgerError(f"ledger key {key!r} could not be read back")
    if existing.content_hash != digest:
        raise LedgerConflict(f"ledger key {key!r} already holds a different {existing.kind} transaction")
    return PostResult(tx_id=key, created=False, postings=list(postings))


_pg_sql_cache: dict[int, str] = {}


def _pg_post_sql(n: int) -> str:
    """INSERT the transaction (ON CONFLICT DO NOTHING) and, only if it was inserted, its n postings.

    A concurrent writer of the same key blocks on the key's unique index until the first commits,
    then inserts nothing (rowcount 0) and reads the original back.
    """
    sql = _pg_sql_cache.get(n)
    if sql is None:
        values = ", ".join(f"(%(a{i})s, %(s{i})s, %(n{i})s::numeric)" for i in range(n))
        sql = _pg_sql_cache[n] = (
            "WITH t AS (INSERT INTO ledger_tx (id, kind, refs, content_hash, created_at) "
            "VALUES (%(id)s, %(kind)s, %(refs)s::json, %(hash)s, %(now)s) ON CONFLICT (id) DO NOTHING RETURNING id) "
            "INSERT INTO ledger_posting (tx_id, account, asset, amount, created_at) "
            f"SELECT t.id, v.account, v.asset, v.amount, %(now)s FROM t, (VALUES {values}) AS v(account, asset, amount)"
        )
    return sql


# --- two-phase entries --------------------------------------------------------------------------


class PendingEntry(BaseModel):
    key: str
    kind: str
    status: PendingStatus
    reserve_tx_id: str
    resolve_tx_id: str | None = None


def _pending_row(session: Session, key: str, *, lock: bool = False):
    stmt = select(_PENDING).where(_PENDING.c.key == key)
    if lock and _is_pg(session):
        stmt = stmt.with_for_update()
    return session.connection().execute(stmt).first()


def _entry(row) -> PendingEntry:
    return PendingEntry(
        key=row.key, kind=row.kind, status=PendingStatus(row.status), reserve_tx_id=row.reserve_tx_id, resolve_tx_id=row.resolve_tx_id
    )


def create_pending(session: Session, key: str, kind: str, refs: Mapping[str, Any] | None, postings: Sequence[Posting]) -> PendingEntry:
    """Reserve value: post `postings` (which move it into a holding account) as `<key>` and open a
    pending entry. Idempotent like post_transaction (same key + same postings → the same entry)."""
    result = post_transaction(session, key, kind, refs, postings)
    conn = session.connection()
    conn.execute(
        _insert(session, _PENDING)
        .values(key=key, kind=kind, status=PendingStatus.PENDING.value, reserve_tx_id=result.tx_id, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["key"])
    )
    row = _pending_row(session, key)
    if row is None or row.reserve_tx_id != result.tx_id:  # pragma: no cover - a foreign row under our key
        raise LedgerConflict(f"pending key {key!r} is taken")
    return _entry(row)


def _holds(session: Session, tx_id: str) -> dict[tuple[str, str], int]:
    """Net amount the reserve transaction put into holding accounts (payouts in flight)."""
    rows = session.connection().execute(
        select(_POSTING.c.account, _POSTING.c.asset, _POSTING.c.amount).where(_POSTING.c.tx_id == tx_id)
    )
    holds: dict[tuple[str, str], int] = defaultdict(int)
    for account, asset, amount in rows:
        if account.startswith("liability:payouts_in_flight:"):
            holds[(account, asset)] += amount
    return {k: v for k, v in holds.items() if v}


def _resolve(session: Session, key: str, to: PendingStatus, postings: Sequence[Posting], refs) -> PendingEntry:
    row = _pending_row(session, key, lock=True)
    if row is None:
        raise PendingNotFound(f"no pending ledger entry {key!r}")
    resolve_key = f"{key}:{to.value}"
    if row.status != PendingStatus.PENDING.value:
        if row.status == to.value and row.resolve_tx_id == resolve_key:
            # A replay of the same resolution: only if it carries the same content.
            post_transaction(session, resolve_key, f"{row.kind}.{to.value}", refs, postings)
            return _entry(row)
        raise PendingAlreadyResolved(f"pending entry {key!r} is already {row.status}")
    post_transaction(session, resolve_key, f"{row.kind}.{to.value}", refs, postings)
    # The status guard (under the row lock on PostgreSQL, the write lock on SQLite) makes the
    # resolution happen at most once; losing it rolls back the whole unit of work.
    done = session.connection().execute(
        update(_PENDING)
        .where(_PENDING.c.key == key, _PENDING.c.status == PendingStatus.PENDING.value)
        .values(status=to.value, resolve_tx_id=resolve_key, resolved_at=utcnow())
    )
    if done.rowcount != 1:  # pragma: no cover - the lock above prevents it
        raise PendingAlreadyResolved(f"pending entry {key!r} was resolved concurrently")
    return _entry(_pending_row(session, key))


def post_pending(session: Session, key: str, postings: Sequence[Posting], refs: Mapping[str, Any] | None = None) -> PendingEntry:
    """Complete a reservation: `postings` must take out of the holding accounts exactly what the
    reservation put in (e.g. Dr payouts_in_flight / Cr payout_contract)."""
    row = _pending_row(session, key)
    if row is None:
        raise PendingNotFound(f"no pending ledger entry {key!r}")
    holds = _holds(session, row.reserve_tx_id)
    moved: dict[tuple[str, str], int] = defaultdict(int)
    for p in postings:
        if p.account.startswith("liability:payouts_in_flight:"):
            moved[(p.account, Asset(p.asset).value)] += p.amount
    if {k: -v for k, v in holds.items()} != {k: v for k, v in moved.items() if v}:
        raise LedgerError(
            f"posting pending entry {key!r} must release exactly its reserved amounts from the holding accounts",
            code="pending_amount_mismatch",
        )
    return _resolve(session, key, PendingStatus.POSTED, postings, refs)


def void_pending(session: Session, key: str, refs: Mapping[str, Any] | None = None) -> PendingEntry:
    """Cancel a reservation: posts the exact reverse of the reserve transaction."""
    row = _pending_row(session, key)
    if row is None:
        raise PendingNotFound(f"no pending ledger entry {key!r}")
    legs = session.connection().execute(
        select(_POSTING.c.account, _POSTING.c.asset, _POSTING.c.amount).where(_POSTING.c.tx_id == row.reserve_tx_id)
    )
    reverse = [Posting(account=a, asset=Asset(s), amount=-n) for a, s, n in legs]
    return _resolve(session, key, PendingStatus.VOIDED, reverse, refs)


# --- domain helpers for other flows (claims, gas, suspense) -------------------------------------


class SuspenseReason(StrEnum):
    UNDERPAYMENT = "underpayment"
    OVERPAYMENT = "overpayment"
    UNKNOWN_CHARGE = "unknown_charge"
    WRONG_ASSET = "wrong_asset"
    LATE_PAYMENT = "late_payment"
    OTHER = "other"


def post_suspense(session: Session, key: str, payment_ref: str, amount_minor: int, asset: Asset | str, reason: str) -> PostResult:
    """Money that arrived but cannot be matched: Dr processor_receivable:<rail> / Cr suspense:<rail>.

    `reason` is one of SuspenseReason (underpayment, overpayment = the excess, unknown_charge, ...).
    """
    rail = rail_of(payment_ref)
    try:
        why = SuspenseReason(reason)
    except ValueError:
        raise LedgerError(f"unknown suspense reason {reason!r}", code="invalid_reason") from None
    if amount_minor <= 0:
        raise LedgerError("suspense amount must be positive", code="invalid_amount")
    asset = Asset(asset)
    return post_transaction(
        session,
        key,
        "suspense",
        {"payment_ref": payment_ref, "reason": why.value},
        [debit(Accounts.processor_receivable(rail), asset, amount_minor), credit(Accounts.suspense(rail), asset, amount_minor)],
    )


def post_claim_delivery(session: Session, req: ClaimDeliveryRequest) -> PostResult:
    if req.amount_minor <= 0:
        raise LedgerError("claim amount must be positive", code="invalid_amount")
    refs = {"program": req.program, "wallet": req.wallet, "payment_ref": req.payment_ref, "chain_tx": req.chain_tx}
    return post_transaction(
        session,
        req.key,
        "claim.delivery",
        {k: v for k, v in refs.items() if v},
        [debit(Accounts.sge_delivered(req.program), Asset.SGE, req.amount_minor), credit(Accounts.sge_inventory, Asset.SGE, req.amount_minor)],
    )


def post_gas(session: Session, req: GasRequest) -> PostResult:
    if req.fee_wei <= 0:
        raise LedgerError("gas fee must be positive", code="invalid_amount")
    refs = {"chain_tx": req.chain_tx, "purpose": req.purpose}
    return post_transaction(
        session,
        req.key,
        "gas",
        {k: v for k, v in refs.items() if v},
        [debit(Accounts.gas, Asset.ETH, req.fee_wei), credit(Accounts.relayer_eth, Asset.ETH, req.fee_wei)],
    )


# --- reading ------------------------------------------------------------------------------------


def balance(session: Session, account: str, asset: Asset | str) -> int:
    """Signed balance (debits − credits) of one account in one asset."""
    conn = session.connection()
    where = (_POSTING.c.account == account, _POSTING.c.asset == Asset(asset).value)
    if _is_pg(session):
        value = conn.execute(select(func.coalesce(func.sum(_POSTING.c.amount), 0)).where(*where)).scalar_one()
        return int(value)
    return sum(int(v) for (v,) in conn.execute(select(_POSTING.c.amount).where(*where)))


class AccountBalance(BaseModel):
    account: str
    asset: Asset
    balance: int  # signed: debit > 0
    normal_balance: int  # on the account's normal side (credit-normal accounts flipped)
    type: AccountType


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def balances(session: Session, prefix: str | None = None, asset: Asset | str | None = None) -> list[AccountBalance]:
    """Every (account, asset) with postings, optionally filtered by account prefix and asset."""
    conn = session.connection()
    conds = []
    if prefix:
        conds.append(_POSTING.c.account.like(_like_prefix(prefix), escape="\\"))
    if asset:
        conds.append(_POSTING.c.asset == Asset(asset).value)
    totals: dict[tuple[str, str], int] = defaultdict(int)
    if _is_pg(session):
        stmt = select(_POSTING.c.account, _POSTING.c.asset, func.sum(_POSTING.c.amount)).where(*conds).group_by(
            _POSTING.c.account, _POSTING.c.asset
        )
        for account, a, total in conn.execute(stmt):
            totals[(account, a)] = int(total)
    else:
        for account, a, amount in conn.execute(select(_POSTING.c.account, _POSTING.c.asset, _POSTING.c.amount).where(*conds)):
            totals[(account, a)] += int(amount)
    out = []
    for (account, a), total in sorted(totals.items()):
        spec = account_spec(account)
        out.append(
            AccountBalance(
                account=account, asset=Asset(a), balance=total, type=spec.type, normal_balance=total if spec.type.debit_normal else -total
            )
        )
    return out


class StatementLine(BaseModel):
    posting_id: int
    tx_id: str
    kind: str
    refs: dict[str, Any]
    amount: int
    balance_after: int
    created_at: datetime


class Statement(BaseModel):
    account: str
    asset: Asset
    opening_balance: int
    closing_balance: int
    lines: list[StatementLine]
    next_cursor: int | None  # pass as `after` for the next page


def statement(session: Session, account: str, asset: Asset | str, *, after: int | None = None, limit: int = 100) -> Statement:
    """Postings of one account in one asset, oldest first, `limit` per page after posting id `after`."""
    account_spec(account)
    asset = Asset(asset)
    limit = max(1, min(limit, 1000))
    conn = session.connection()
    base = (_POSTING.c.account == account, _POSTING.c.asset == asset.value)
    opening = 0
    if after:
        if _is_pg(session):
            opening = int(
                conn.execute(select(func.coalesce(func.sum(_POSTING.c.amount), 0)).where(*base, _POSTING.c.id <= after)).scalar_one()
            )
        else:
            opening = sum(int(v) for (v,) in conn.execute(select(_POSTING.c.amount).where(*base, _POSTING.c.id <= after)))
    stmt = (
        select(_POSTING.c.id, _POSTING.c.tx_id, _POSTING.c.amount, _POSTING.c.created_at, _TX.c.kind, _TX.c.refs)
        .join(_TX, _TX.c.id == _POSTING.c.tx_id)
        .where(*base, _POSTING.c.id > (after or 0))
        .order_by(_POSTING.c.id)
        .limit(limit + 1)
    )
    rows = conn.execute(stmt).all()
    more = len(rows) > limit
    rows = rows[:limit]
    running = opening
    lines = []
    for row in rows:
        running += int(row.amount)
        lines.append(
            StatementLine(
                posting_id=row.id, tx_id=row.tx_id, kind=row.kind, refs=row.refs or {}, amount=int(row.amount),
                balance_after=running, created_at=row.created_at,
            )
        )
    return Statement(
        account=account, asset=asset, opening_balance=opening, closing_balance=running, lines=lines,
        next_cursor=lines[-1].posting_id if more and lines else None,
    )


def get_transaction(session: Session, tx_id: str) -> tuple[LedgerTx, list[Posting]] | None:
    tx = session.get(LedgerTx, tx_id)
    if tx is None:
        return None
    rows = session.connection().execute(
        select(_POSTING.c.account, _POSTING.c.asset, _POSTING.c.amount).where(_POSTING.c.tx_id == tx_id).order_by(_POSTING.c.id)
    )
    return tx, [Posting(account=a, asset=Asset(s), amount=int(n)) for a, s, n in rows]


class VerifyProblem(BaseModel):
    check: str
    detail: str
    tx_id: str | None = None


class VerifyReport(BaseModel):
    ok: bool
    transactions: int
    postings: int
    asset_totals: dict[str, str]  # per asset, must be "0"
    problems: list[VerifyProblem]
    checked_at: datetime


def verify(session: Session, *, max_problems: int = 100) -> VerifyReport:
    """Check the whole journal: every transaction balances per asset and has ≥ 2 non-zero postings,
    its content hash matches its postings (nothing altered), each asset sums to zero, and every
    resolved pending entry has its resolving transaction."""
    conn = session.connection()
    problems: list[VerifyProblem] = []

    def problem(check: str, detail: str, tx_id: str | None = None) -> None:
        if len(problems) < max_problems:
            problems.append(VerifyProblem(check=check, detail=detail, tx_id=tx_id))

    asset_totals: dict[str, int] = defaultdict(int)
    n_tx = n_postings = 0
    stmt = (
        select(_TX.c.id, _TX.c.kind, _TX.c.refs, _TX.c.content_hash, _POSTING.c.account, _POSTING.c.asset, _POSTING.c.amount)
        .select_from(_TX.outerjoin(_POSTING, _POSTING.c.tx_id == _TX.c.id))
        .order_by(_TX.c.id, _POSTING.c.id)
        .execution_options(yield_per=5000)
    )

    def check_tx(tx_id, kind, refs, digest, legs) -> None:
        if len(legs) < 2:
            problem("postings", f"has {len(legs)} posting(s)", tx_id)
        sums: dict[str, int] = defaultdict(int)
        for _a, s, n in legs:
            sums[s] += n
            if n == 0:
                problem("zero_posting", "has a zero posting", tx_id)
        for s, total in sums.items():
            if total:
                problem("unbalanced", f"{s} sums to {total:+d}", tx_id)
        if legs and content_hash(kind, refs or {}, legs) != digest:
            problem("content_hash", "postings do not match the recorded content hash", tx_id)

    current = None
    legs: list[tuple[str, str, int]] = []
    for row in conn.execute(stmt):
        if current is None or row.id != current[0]:
            if current is not None:
                check_tx(*current, legs)
            current = (row.id, row.kind, row.refs, row.content_hash)
            legs = []
            n_tx += 1
        if row.account is not None:
            amount = int(row.amount)
            legs.append((row.account, row.asset, amount))
            asset_totals[row.asset] += amount
            n_postings += 1
    if current is not None:
        check_tx(*current, legs)
    for s, total in sorted(asset_totals.items()):
        if total:
            problem("asset_total", f"{s} sums to {total:+d} across the ledger")
    dangling = conn.execute(
        select(_PENDING.c.key, _PENDING.c.status).where(
            _PENDING.c.status != PendingStatus.PENDING.value, _PENDING.c.resolve_tx_id.is_(None)
        )
    ).all()
    for key, status in dangling:
        problem("pending", f"pending entry {key} is {status} without a resolving transaction")
    return VerifyReport(
        ok=not problems,
        transactions=n_tx,
        postings=n_postings,
        asset_totals={s: str(t) for s, t in sorted(asset_totals.items())},
        problems=problems,
        checked_at=utcnow(),
    )
