"""The audit log: append-only, hash-chained, and free of end users' wallets.

Each row carries `prev_hash` (the previous row's `hash`; 64 zeros for the first) and `hash` =
sha256(prev_hash, "\\n", the row's canonical content: id, operator, actor, action, target, before,
after, request id, time — JSON with sorted keys). Changing, removing or inserting a row anywhere
breaks the chain from there on; `verify_audit_chain` names the first broken row (`sge audit verify`).

Appends are serialized so the chain has one tip: on PostgreSQL by a transaction-scoped advisory lock
(held until the caller's transaction ends), on SQLite by the write lock every transaction takes at
BEGIN. The row's id is drawn under that lock (PostgreSQL: the table's sequence; SQLite: max + 1), so
id order is chain order. A rolled-back append leaves a gap in the ids, never a broken link.

Personal data: the target id and the before/after JSON go through `models.subjects` — every wallet
address (a flow id's too) is stored as `subject:<id>`; addresses the platform owns (a program's
treasury) and names stay. Erasure blanks the subject row; audit rows are never rewritten.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import JSON, BigInteger, Column, Integer, String, select, text
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, col

from core.columns import UtcDateTime, utcnow
from core.db import session_scope, table_of
from models.subjects import pseudonymize_json, pseudonymize_text

if TYPE_CHECKING:
    from models.operators import Actor

_T = TypeVar("_T")
GENESIS = "0" * 64
_AUDIT_LOCK = "sge:audit_log:append"
# Object keys whose values are not an end user's data (platform addresses, operator and program names).
KEEP_KEYS = frozenset({"treasury_address", "name", "key_hint"})


class AuditLog(SQLModel, table=True):
    """One operator action. Append-only (triggers), hash-chained."""

    __tablename__ = "audit_log"

    id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    )
    operator_id: int | None = Field(default=None, index=True, description="None for CLI/system actors.")
    actor: str = Field(max_length=120, description="Operator name, or `cli:<user>` / `system:<process>`.")
    action: str = Field(max_length=64, index=True)
    target_type: str = Field(max_length=32)
    target_id: str = Field(max_length=200)
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    request_id: str = Field(default="", max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime, index=True)
    prev_hash: str = Field(default=GENESIS, sa_column=Column(String(64), nullable=False))
    hash: str = Field(default="", sa_column=Column(String(64), nullable=False))


_LOG = table_of(AuditLog)


def row_hash(prev_hash: str, row: Any) -> str:
    """The chain hash of a row (anything with the audit columns as attributes)."""
    created: datetime = row.created_at
    content = {
        "id": int(row.id),
        "operator_id": row.operator_id,
        "actor": row.actor,
        "action": row.action,
        "target_type": row.target_type,
        "target_id": row.target_id,
        "before": row.before,
        "after": row.after,
        "request_id": row.request_id,
        "created_at": created.astimezone(UTC).isoformat(timespec="microseconds"),
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(f"{prev_hash}\n{canonical}".encode()).hexdigest()


def _as_stored(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """The JSON as it reads back from the database (tuples become lists, keys strings): what is hashed."""
    return None if value is None else json.loads(json.dumps(value))


def _next_link(session: Session) -> tuple[int, str]:
    """Under the append lock: the new row's id and the chain tip's hash."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": _AUDIT_LOCK})
        new_id = conn.execute(text("SELECT nextval(pg_get_serial_sequence('audit_log', 'id'))")).scalar_one()
    else:  # SQLite: this transaction already holds the database's write lock (BEGIN IMMEDIATE)
        new_id = conn.execute(text("SELECT COALESCE(MAX(id), 0) + 1 FROM audit_log")).scalar_one()
    tip = conn.execute(select(_LOG.c.hash).order_by(_LOG.c.id.desc()).limit(1)).scalar()
    return int(new_id), tip or GENESIS


def audit(
    session: Session,
    actor: Actor,
    action: str,
    target_type: str,
    target_id: str | int,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditLog:
    """Append an action to the chain in the caller's DB transaction (so it exists exactly when the
    change does); wallets in the target and the before/after become subject refs."""
    row = AuditLog(
        operator_id=actor.operator_id,
        actor=actor.name[:120],
        action=action[:64],
        target_type=target_type[:32],
        target_id=pseudonymize_text(session, str(target_id))[:200],
        before=_as_stored(pseudonymize_json(session, before, keep=KEEP_KEYS)),
        after=_as_stored(pseudonymize_json(session, after, keep=KEEP_KEYS)),
        request_id=actor.request_id[:64],
        created_at=utcnow(),
    )
    row.id, row.prev_hash = _next_link(session)
    row.hash = row_hash(row.prev_hash, row)
    session.add(row)
    session.flush()
    return row


# --- actions that leave the database (Temporal) --------------------------------------------------


def _error_detail(exc: BaseException) -> dict[str, Any]:
    code = getattr(exc, "code", None)
    status = getattr(exc, "status", None)
    name = getattr(status, "name", None)  # an RPCError's status code
    return {
        "error": code if isinstance(code, str) else f"rpc_{name.lower()}" if name else type(exc).__name__,
        "message": str(getattr(exc, "message", None) or exc)[:500],
    }


async def audited_call(
    engine: Engine,
    actor: Actor,
    action: str,
    target_type: str,
    target_id: str | int,
    before: dict[str, Any] | None,
    details: dict[str, Any],
    call: Callable[[], Awaitable[_T]],
) -> _T:
    """An operator action that the database cannot enclose (a Temporal call): `<action>.requested`
    (with `details`) is committed before `call` runs, then `<action>` with its result, or
    `<action>.failed` with the error, which is raised again. A process that dies in between leaves
    the intent alone on the log: the action may or may not have happened, and the log says so."""

    def write(name: str, after: dict[str, Any]) -> None:
        with session_scope(engine) as session:
            audit(session, actor, name, target_type, target_id, before, after)

    await asyncio.to_thread(write, f"{action}.requested", details)
    try:
        result = await call()
    except Exception as exc:
        await asyncio.to_thread(write, f"{action}.failed", details | _error_detail(exc))
        raise
    await asyncio.to_thread(write, action, details | {"result": result})
    return result


# --- reading ------------------------------------------------------------------------------------


class AuditEntry(BaseModel):
    id: int
    operator_id: int | None
    actor: str
    action: str
    target_type: str
    target_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request_id: str
    created_at: datetime
    prev_hash: str
    hash: str


def audit_entries(
    session: Session,
    *,
    before_id: int | None = None,
    limit: int = 100,
    target_type: str | None = None,
    target_id: str | None = None,
) -> list[AuditEntry]:
    """Newest first; page with `before_id` = the last id seen. A `target_id` holding a wallet (a flow
    id) is looked up by its subject ref."""
    stmt = select(AuditLog).order_by(col(AuditLog.id).desc()).limit(max(1, min(limit, 500)))
    if before_id:
        stmt = stmt.where(col(AuditLog.id) < before_id)
    if target_type:
        stmt = stmt.where(col(AuditLog.target_type) == target_type)
    if target_id:
        stmt = stmt.where(col(AuditLog.target_id) == pseudonymize_text(session, target_id, create=False))
    return [AuditEntry.model_validate(row, from_attributes=True) for row in session.execute(stmt).scalars()]


class ChainBreak(BaseModel):
    id: int
    problem: str  # "content": the row is not what was hashed; "link": it does not follow the row before
    detail: str


class ChainReport(BaseModel):
    ok: bool
    rows: int
    first_broken: ChainBreak | None
    tip: str  # the last row's hash (GENESIS when empty): note it down to detect a cut-off tail later
    checked_at: datetime


def verify_audit_chain(session: Session) -> ChainReport:
    """Walk the log in id order; report the first row whose link or content does not check."""
    prev = tip = GENESIS
    rows = 0
    broken: ChainBreak | None = None
    stmt = select(_LOG).order_by(_LOG.c.id).execution_options(yield_per=2000)
    for row in session.connection().execute(stmt):
        rows += 1
        tip = row.hash
        if broken is not None:
            continue
        if row.prev_hash != prev:
            broken = ChainBreak(
                id=row.id, problem="link", detail=f"prev_hash {row.prev_hash[:12]}… ≠ the previous row's {prev[:12]}…"
            )
        elif row_hash(prev, row) != row.hash:
            broken = ChainBreak(id=row.id, problem="content", detail="the row differs from what its hash covers")
        prev = row.hash
    return ChainReport(ok=broken is None, rows=rows, first_broken=broken, tip=tip, checked_at=utcnow())
