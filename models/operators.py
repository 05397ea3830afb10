"""Operators (people with their own API keys and roles) and their audit trail.

An API key is `sgeop_` + 32 random bytes (urlsafe base64). Only its SHA-256 is stored: a key with
256 bits of entropy needs no slow KDF, and the hash is compared with `hmac.compare_digest`. The key
is shown once, when created or rotated. Roles: `admin` (programs, operators, affiliate status),
`approver` (payout approvals), `viewer` (read-only). There is no shared admin key.

Every operator action is written to `audit_log` (who, what, when, before/after) in the same DB
transaction as the change it describes (`models.audit`, re-exported here). The log refuses UPDATE,
DELETE, a rewrite of an existing id (SQLite) and TRUNCATE (PostgreSQL), and its rows are hash-chained
(`verify_audit_chain`, `sge audit verify`). An action that goes through Temporal is audited twice:
`<action>.requested` committed before the call, then `<action>` or `<action>.failed` after it.

Personal data: audit rows are never rewritten, so they never hold an end user's wallet. `audit()`
stores every wallet address in the target and the before/after as its subject ref (`subject:<id>`,
`models.subjects`); a flow id as a target reads `onboarding:<program>:subject:<id>`. Operators' own
names stay. Erasure (a later issue) blanks the subject's wallet; the audit rows stay as written.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel
from sqlalchemy import JSON, Column
from sqlmodel import Field, Session, SQLModel, col, select

from core.columns import UtcDateTime, utcnow
from core.db import row_id
from core.errors import DomainError
from models.audit import AuditEntry, AuditLog, ChainReport, audit, audit_entries, verify_audit_chain

__all__ = [
    "READ_ROLES",
    "Actor",
    "AuditEntry",
    "AuditLog",
    "ChainReport",
    "Operator",
    "OperatorError",
    "OperatorView",
    "Role",
    "audit",
    "audit_entries",
    "authenticate",
    "create_operator",
    "list_operators",
    "rotate_key",
    "set_active",
    "set_roles",
    "verify_audit_chain",
    "view",
]

KEY_PREFIX = "sgeop_"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._@-]{0,99}$")
NAME_PATTERN = r"^(?![0-9]+$)[A-Za-z0-9][A-Za-z0-9 ._@-]{0,99}$"  # the same rule, for the API schema


class Role(StrEnum):
    ADMIN = "admin"
    APPROVER = "approver"
    VIEWER = "viewer"


# Reads are open to every role; an approver or admin can always see what they act on.
READ_ROLES = (Role.VIEWER, Role.APPROVER, Role.ADMIN)


class OperatorError(DomainError):
    code = "operator_error"
    status = 422


class Operator(SQLModel, table=True):
    __tablename__ = "operator"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, unique=True, index=True)
    roles: list[str] = Field(sa_column=Column(JSON, nullable=False))
    key_hash: str = Field(max_length=64, unique=True, index=True, description="sha256 hex of the API key.")
    key_hint: str = Field(max_length=16, description="First characters of the key, to tell keys apart.")
    active: bool = Field(default=True)
    created_by: str = Field(default="", max_length=120)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


class Actor(BaseModel):
    """Who performs an action: an authenticated operator, or the CLI/system."""

    name: str
    operator_id: int | None = None
    roles: list[Role] = []
    request_id: str = ""

    def has_any(self, *roles: Role) -> bool:
        return any(r in self.roles for r in roles)


class OperatorView(BaseModel):
    id: int
    name: str
    roles: list[Role]
    key_hint: str
    active: bool
    created_by: str
    created_at: datetime


def view(op: Operator) -> OperatorView:
    return OperatorView(
        id=op.id,
        name=op.name,
        roles=[Role(r) for r in op.roles],
        key_hint=op.key_hint,
        active=op.active,
        created_by=op.created_by,
        created_at=op.created_at,
    )


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def _roles(roles: list[str] | tuple[str, ...]) -> list[str]:
    if not roles:
        raise OperatorError("an operator needs at least one role (admin, approver, viewer)", code="invalid_roles")
    out: list[str] = []
    for r in roles:
        try:
            role = Role(str(r).strip().lower())
        except ValueError:
            raise OperatorError(f"unknown role {r!r} (admin, approver, viewer)", code="invalid_roles") from None
        if role.value not in out:
            out.append(role.value)
    return out


def create_operator(session: Session, actor: Actor, name: str, roles: list[str]) -> tuple[OperatorView, str]:
    """A new operator and their API key (returned once, never stored)."""
    name = name.strip()
    if not _NAME_RE.match(name) or name.isdigit():  # all-digit names would read as ids
        raise OperatorError(
            "operator name: 1-100 letters, digits, spaces or ._@- (not only digits)", code="invalid_name"
        )
    role_values = _roles(roles)
    if session.exec(select(Operator.id).where(Operator.name == name)).first() is not None:
        raise OperatorError(f"an operator named {name!r} exists", code="operator_exists", status=409)
    key = new_key()
    op = Operator(
        name=name, roles=role_values, key_hash=hash_key(key), key_hint=key[: len(KEY_PREFIX) + 4], created_by=actor.name
    )
    session.add(op)
    session.flush()
    audit(session, actor, "operator.create", "operator", row_id(op), None, _audit_view(op))
    return view(op), key


def _audit_view(op: Operator) -> dict[str, Any]:
    return {"name": op.name, "roles": list(op.roles), "active": op.active, "key_hint": op.key_hint}


def _get(session: Session, ident: int | str) -> Operator:
    if isinstance(ident, int) or (isinstance(ident, str) and ident.isdigit()):
        op = session.get(Operator, int(ident))
    else:
        op = session.exec(select(Operator).where(Operator.name == ident)).first()
    if op is None:
        raise OperatorError(f"no operator {ident!r}", code="operator_not_found", status=404)
    return op


def set_active(session: Session, actor: Actor, ident: int | str, active: bool) -> OperatorView:
    op = _get(session, ident)
    before = _audit_view(op)
    if op.active != active:
        op.active = active
        op.updated_at = utcnow()
        session.add(op)
        session.flush()
    audit(
        session,
        actor,
        "operator.enable" if active else "operator.disable",
        "operator",
        row_id(op),
        before,
        _audit_view(op),
    )
    return view(op)


def rotate_key(session: Session, actor: Actor, ident: int | str) -> tuple[OperatorView, str]:
    op = _get(session, ident)
    before = _audit_view(op)
    key = new_key()
    op.key_hash = hash_key(key)
    op.key_hint = key[: len(KEY_PREFIX) + 4]
    op.updated_at = utcnow()
    session.add(op)
    session.flush()
    audit(session, actor, "operator.rotate_key", "operator", row_id(op), before, _audit_view(op))
    return view(op), key


def set_roles(session: Session, actor: Actor, ident: int | str, roles: list[str]) -> OperatorView:
    op = _get(session, ident)
    before = _audit_view(op)
    op.roles = _roles(roles)
    op.updated_at = utcnow()
    session.add(op)
    session.flush()
    audit(session, actor, "operator.set_roles", "operator", row_id(op), before, _audit_view(op))
    return view(op)


def list_operators(session: Session) -> list[OperatorView]:
    return [view(op) for op in session.exec(select(Operator).order_by(col(Operator.id)))]


def authenticate(session: Session, key: str) -> Actor | None:
    """The active operator holding `key`, or None. Reads only."""
    if not key or not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    digest = hash_key(key)
    op = session.exec(select(Operator).where(Operator.key_hash == digest)).first()
    # The lookup is by a hash of a high-entropy secret; the constant-time compare guards the final check.
    if op is None or not hmac.compare_digest(op.key_hash, digest) or not op.active:
        return None
    return Actor(name=op.name, operator_id=op.id, roles=[Role(r) for r in op.roles])
