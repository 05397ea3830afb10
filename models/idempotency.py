"""HTTP idempotency records: one row per (scope, Idempotency-Key), claimed atomically.

The scope is the authenticated principal (`op:<operator id>` or `wallet:<address>`), never a raw
header. A request claims its key before running (state `in_flight`, with a lock deadline); the response
is stored when it finishes (`done`) unless it was a 5xx, in which case the claim is released so the
client can retry. A response that carried a secret is stored with it redacted (`redacted` names the
fields). Records expire after a TTL and are then treated as absent; `prune_expired` deletes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, TypedDict, cast

from sqlalchemy import LargeBinary, delete, select
from sqlalchemy.engine import CursorResult, Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Column, Field, SQLModel, col

from core.columns import StrEnumType, UtcDateTime, utcnow
from core.db import session_scope

IN_FLIGHT_LOCK = timedelta(seconds=60)
RECORD_TTL = timedelta(hours=24)


class IdempotencyState(StrEnum):
    IN_FLIGHT = "in_flight"
    DONE = "done"


class IdempotencyRecord(SQLModel, table=True):
    __tablename__ = "idempotency_record"

    scope: str = Field(primary_key=True, max_length=64, description="The principal: op:<id> or wallet:<address>.")
    key: str = Field(primary_key=True, max_length=200)
    request_hash: str = Field(max_length=64)
    state: IdempotencyState = Field(sa_type=StrEnumType(IdempotencyState, 16))
    status_code: int | None = None
    content_type: str = Field(default="application/json", max_length=100)
    response_body: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    redacted: str = Field(default="", max_length=200, description="Fields of the stored body that were redacted.")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    locked_until: datetime = Field(sa_type=UtcDateTime)
    expires_at: datetime = Field(sa_type=UtcDateTime, index=True)


class Claim(StrEnum):
    PROCEED = "proceed"  # run the request
    REPLAY = "replay"  # answer with the stored response
    BODY_MISMATCH = "body_mismatch"  # same key, different request → 409
    IN_FLIGHT = "in_flight"  # the first request is still running → 409


@dataclass
class ClaimResult:
    outcome: Claim
    status_code: int | None = None
    content_type: str = "application/json"
    body: bytes = b""
    redacted: str = ""


class _Fresh(TypedDict):
    """The columns a claim (re)sets: a new record, or an expired or abandoned one taken over."""

    request_hash: str
    state: IdempotencyState
    status_code: int | None
    response_body: bytes | None
    redacted: str
    created_at: datetime
    locked_until: datetime
    expires_at: datetime


def claim_key(engine: Engine, scope: str, key: str, request_hash: str, now: datetime | None = None) -> ClaimResult:
    now = now or utcnow()
    fresh = _Fresh(
        request_hash=request_hash,
        state=IdempotencyState.IN_FLIGHT,
        status_code=None,
        response_body=None,
        redacted="",
        created_at=now,
        locked_until=now + IN_FLIGHT_LOCK,
        expires_at=now + RECORD_TTL,
    )
    try:
        with session_scope(engine) as session:
            session.add(IdempotencyRecord(scope=scope, key=key, **fresh))
        return ClaimResult(Claim.PROCEED)
    except IntegrityError:
        pass  # the key exists: decide under a row lock
    with session_scope(engine) as session:
        record = session.execute(
            select(IdempotencyRecord)
            .where(col(IdempotencyRecord.scope) == scope, col(IdempotencyRecord.key) == key)
            .with_for_update()
        ).scalar_one_or_none()
        if record is None:  # released in between: claim it now
            session.add(IdempotencyRecord(scope=scope, key=key, **fresh))
            return ClaimResult(Claim.PROCEED)
        expired = record.expires_at <= now
        abandoned = record.state == IdempotencyState.IN_FLIGHT and record.locked_until <= now
        if expired or (abandoned and record.request_hash == request_hash):
            for name, value in fresh.items():
                setattr(record, name, value)
            return ClaimResult(Claim.PROCEED)
        if record.request_hash != request_hash:
            return ClaimResult(Claim.BODY_MISMATCH)
        if record.state == IdempotencyState.IN_FLIGHT:
            return ClaimResult(Claim.IN_FLIGHT)
        return ClaimResult(
            Claim.REPLAY, record.status_code, record.content_type, record.response_body or b"", record.redacted
        )


def complete_key(
    engine: Engine, scope: str, key: str, status_code: int, content_type: str, body: bytes, redacted: str = ""
) -> None:
    with session_scope(engine) as session:
        record = session.get(IdempotencyRecord, (scope, key))
        if record is None:
            return
        record.state = IdempotencyState.DONE
        record.status_code = status_code
        record.content_type = content_type
        record.response_body = body
        record.redacted = redacted


def release_key(engine: Engine, scope: str, key: str) -> None:
    with session_scope(engine) as session:
        session.execute(
            delete(IdempotencyRecord).where(col(IdempotencyRecord.scope) == scope, col(IdempotencyRecord.key) == key)
        )


def prune_expired(engine: Engine, now: datetime | None = None) -> int:
    with session_scope(engine) as session:
        # A DML statement's result is a CursorResult (which has rowcount); Session.execute is typed wider.
        result = cast(
            "CursorResult[Any]",
            session.execute(delete(IdempotencyRecord).where(col(IdempotencyRecord.expires_at) <= (now or utcnow()))),
        )
        return result.rowcount or 0
