"""The journal: transactions and their postings, written once under an idempotency key.

`post_transaction` checks a request completely (chart, balance per asset, no zero legs, never-negative
accounts) before it writes anything; the same key with the same content is a replay, with other
content a `LedgerConflict`.

A journal row is never rewritten, so it never holds a wallet: any wallet address in the key or in a
reference value is stored as its subject ref (`models.subjects`); callers that know they hold a
wallet pass `subject_ref(...)` themselves.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, field_validator
from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, Integer, String, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, Session, SQLModel

from core.columns import AmountType, UtcDateTime, utcnow
from core.db import table_of
from models.ledger.chart import account_spec
from models.ledger.errors import LedgerConflict, LedgerError, LedgerNegativeBalance, LedgerUnbalanced
from models.money import AmountError, Asset
from models.subjects import WALLET_RE, pseudonymize_text

MAX_KEY_LEN = 200


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
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    )
    tx_id: str = Field(sa_column=Column(String(MAX_KEY_LEN), ForeignKey("ledger_tx.id"), nullable=False, index=True))
    account: str = Field(max_length=120)
    asset: str = Field(max_length=8)
    amount: int = Field(sa_type=AmountType)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


_TX = table_of(LedgerTx)
_POSTING = table_of(LedgerPosting)


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


class PostResult(BaseModel):
    tx_id: str
    created: bool  # False: the key already held this exact transaction (a replay)
    postings: list[Posting]


# --- dialect helpers and the balance the non-negative guard reads --------------------------------


def dialect_insert(session: Session, table):
    """An INSERT with the dialect's ON CONFLICT support (PostgreSQL or SQLite)."""
    return (postgresql.insert if is_pg(session) else sqlite.insert)(table)


def is_pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def balance(session: Session, account: str, asset: Asset | str) -> int:
    """Signed balance (debits − credits) of one account in one asset."""
    conn = session.connection()
    where = (_POSTING.c.account == account, _POSTING.c.asset == Asset(asset).value)
    if is_pg(session):
        value = conn.execute(select(func.coalesce(func.sum(_POSTING.c.amount), 0)).where(*where)).scalar_one()
        return int(value)
    return sum(int(v) for (v,) in conn.execute(select(_POSTING.c.amount).where(*where)))


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
    pg = is_pg(session)
    for account, asset, delta in sorted(risky):
        if pg:
            conn.execute(
                text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": f"ledger:{account}:{asset}"}
            )
        current = balance(session, account, asset)
        after = current + delta
        if (after < 0) if account_spec(account).type.debit_normal else (after > 0):
            raise LedgerNegativeBalance(f"{account} would go negative in {asset} (balance {current}, change {delta})")


def post_transaction(
    session: Session,
    key: str,
    kind: str,
    refs: Mapping[str, Any] | None,
    postings: Sequence[Posting],
    *,
    earlier_refs: Mapping[str, Any] | None = None,
) -> PostResult:
    """Post a balanced transaction under idempotency key `key`, inside the caller's DB transaction.

    Same key + same content → the original (`created=False`), nothing written. Same key + other
    content → LedgerConflict. Unbalanced, unknown account, zero leg, or a never-negative account
    pushed below zero → a LedgerError before anything is written. Wallets in the key or the refs are
    stored as subject refs (the result's `tx_id` is the key as stored).

    `earlier_refs`: the refs this key was posted with before wallets became subjects (revision 0007);
    a replay against a transaction written then is the same transaction, not a conflict.
    """
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LEN:
        raise LedgerError(f"ledger key must be 1..{MAX_KEY_LEN} characters", code="invalid_key")
    if not kind or len(kind) > 64:
        raise LedgerError("ledger kind must be 1..64 characters", code="invalid_kind")
    raw_refs = {str(k): str(v) for k, v in (refs or {}).items()}
    refs = {k: pseudonymize_text(session, v) for k, v in raw_refs.items()}
    legs = _check_postings(postings)
    digest = content_hash(kind, refs, legs)
    earlier: set[str] = set()
    if earlier_refs is not None or refs != raw_refs:
        before = {str(k): str(v) for k, v in (earlier_refs or raw_refs).items()}
        earlier = {content_hash(kind, before, legs)} - {digest}
    conn = session.connection()
    if WALLET_RE.search(key):
        raw_key, key = key, pseudonymize_text(session, key)
        if len(key) > MAX_KEY_LEN:
            raise LedgerError(f"ledger key must be 1..{MAX_KEY_LEN} characters", code="invalid_key")
        if conn.execute(select(_TX.c.id).where(_TX.c.id == raw_key)).first() is not None:
            # Posted under its wallet-bearing key before revision 0007: that is this transaction.
            return _replayed(conn, raw_key, digest, postings, earlier | {content_hash(kind, raw_refs, legs)})
    now = utcnow()
    risky = _risky(legs)
    if not risky and conn.dialect.name == "postgresql":
        # One round trip: the key insert and the postings in one statement (the hot path).
        params: dict[str, Any] = {"id": key, "kind": kind, "refs": json.dumps(refs), "hash": digest, "now": now}
        for i, (a, s, n) in enumerate(legs):
            params[f"a{i}"], params[f"s{i}"], params[f"n{i}"] = a, s, n
        if conn.exec_driver_sql(_pg_post_sql(len(legs)), params).rowcount:
            return PostResult(tx_id=key, created=True, postings=list(postings))
        return _replayed(conn, key, digest, postings, earlier)
    row = {"id": key, "kind": kind, "refs": refs, "content_hash": digest, "created_at": now}
    if conn.dialect.name == "postgresql":
        # The key insert comes first: a concurrent writer of the same key waits here until we commit.
        inserted = conn.execute(
            dialect_insert(session, _TX).values(**row).on_conflict_do_nothing(index_elements=["id"]).returning(_TX.c.id)
        ).first()
        if inserted is None:
            return _replayed(conn, key, digest, postings, earlier)
    elif conn.execute(select(_TX.c.id).where(_TX.c.id == key)).first() is not None:
        # SQLite refuses any INSERT of an existing id (its rewrite guard fires before ON CONFLICT would);
        # this transaction holds the write lock since BEGIN, so look-then-insert cannot race.
        return _replayed(conn, key, digest, postings, earlier)
    else:
        conn.execute(_TX.insert().values(**row))
    if risky:
        _guard_non_negative(session, risky)
    conn.execute(
        _POSTING.insert(),
        [{"tx_id": key, "account": a, "asset": s, "amount": n, "created_at": now} for a, s, n in legs],
    )
    return PostResult(tx_id=key, created=True, postings=list(postings))


def _replayed(conn, key: str, digest: str, postings: Sequence[Posting], earlier: set[str]) -> PostResult:
    """The key exists: the original when the content is the same, else LedgerConflict."""
    existing = conn.execute(select(_TX.c.content_hash, _TX.c.kind).where(_TX.c.id == key)).first()
    if existing is None:  # pragma: no cover - journal rows are never deleted
        raise LedgerError(f"ledger key {key!r} could not be read back")
    if existing.content_hash != digest and existing.content_hash not in earlier:
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
