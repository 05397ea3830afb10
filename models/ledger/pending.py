"""Two-phase entries: value reserved in a holding account, later posted or voided, at most once.

`create_pending` posts the reservation (into `liability:payouts_in_flight:<program>`) and opens the
entry; `post_pending` / `void_pending` resolve it with a conditional UPDATE on its status, so a
concurrent second resolution finds nothing to do.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Column, ForeignKey, String, select, update
from sqlmodel import Field, Session, SQLModel

from core.columns import UtcDateTime, utcnow
from core.db import table_of
from models.ledger.errors import LedgerConflict, LedgerError, PendingAlreadyResolved, PendingNotFound
from models.ledger.journal import MAX_KEY_LEN, LedgerPosting, Posting, dialect_insert, is_pg, post_transaction
from models.money import Asset

_POSTING = table_of(LedgerPosting)


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


_PENDING = table_of(LedgerPending)


class PendingEntry(BaseModel):
    key: str
    kind: str
    status: PendingStatus
    reserve_tx_id: str
    resolve_tx_id: str | None = None


def pending_row(session: Session, key: str, *, lock: bool = False):
    """The entry's row, or None; `lock` takes it FOR UPDATE on PostgreSQL."""
    stmt = select(_PENDING).where(_PENDING.c.key == key)
    if lock and is_pg(session):
        stmt = stmt.with_for_update()
    return session.connection().execute(stmt).first()


def _entry(row) -> PendingEntry:
    return PendingEntry(
        key=row.key,
        kind=row.kind,
        status=PendingStatus(row.status),
        reserve_tx_id=row.reserve_tx_id,
        resolve_tx_id=row.resolve_tx_id,
    )


def create_pending(
    session: Session, key: str, kind: str, refs: Mapping[str, Any] | None, postings: Sequence[Posting]
) -> PendingEntry:
    """Reserve value: post `postings` (which move it into a holding account) as `<key>` and open a
    pending entry. Idempotent like post_transaction (same key + same postings → the same entry)."""
    result = post_transaction(session, key, kind, refs, postings)
    conn = session.connection()
    conn.execute(
        dialect_insert(session, _PENDING)
        .values(key=key, kind=kind, status=PendingStatus.PENDING.value, reserve_tx_id=result.tx_id, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["key"])
    )
    row = pending_row(session, key)
    if row is None or row.reserve_tx_id != result.tx_id:  # pragma: no cover - a foreign row under our key
        raise LedgerConflict(f"pending key {key!r} is taken")
    return _entry(row)


def held_amounts(session: Session, tx_id: str) -> dict[tuple[str, str], int]:
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
    row = pending_row(session, key, lock=True)
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
    return _entry(pending_row(session, key))


def post_pending(
    session: Session, key: str, postings: Sequence[Posting], refs: Mapping[str, Any] | None = None
) -> PendingEntry:
    """Complete a reservation: `postings` must take out of the holding accounts exactly what the
    reservation put in (e.g. Dr payouts_in_flight / Cr payout_contract)."""
    row = pending_row(session, key)
    if row is None:
        raise PendingNotFound(f"no pending ledger entry {key!r}")
    holds = held_amounts(session, row.reserve_tx_id)
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
    row = pending_row(session, key)
    if row is None:
        raise PendingNotFound(f"no pending ledger entry {key!r}")
    legs = session.connection().execute(
        select(_POSTING.c.account, _POSTING.c.asset, _POSTING.c.amount).where(_POSTING.c.tx_id == row.reserve_tx_id)
    )
    reverse = [Posting(account=a, asset=Asset(s), amount=-n) for a, s, n in legs]
    return _resolve(session, key, PendingStatus.VOIDED, reverse, refs)
