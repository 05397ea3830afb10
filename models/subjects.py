"""Pseudonymous subjects: the one place where an end user's wallet meets the rows that never change.

The journal (`ledger_tx`, `ledger_posting`) and the audit log are append-only and hash-checked: they
are never rewritten, not even to erase a person. So they never hold a wallet address. Where one
would appear (a settlement's or a claim delivery's references, a ledger key built from a flow id, an
audit row's target or before/after), they hold `subject:<id>`, and the `subject` table maps that id
to the wallet. Flow ids carry the wallet (`onboarding:<program>:<wallet>`); in an immutable row
they read `onboarding:<program>:subject:<id>`.

Erasure (GDPR; a later issue) deletes or blanks the subject's `wallet_lower` and sets `erased_at`:
the journal and the audit chain stay exactly as written, their hashes still verify, and they no
longer lead to a person. The mutable tables that hold a wallet (onboarding, attribution, payments,
settlements) are blanked by that erasure directly.

`pseudonymize_text` / `pseudonymize_json` replace every Ethereum address in a string or a JSON
value by its subject ref (a wallet seen for the first time gets a subject). Callers that only read
(e.g. a search by flow id) pass `create=False`: an unknown wallet is left as it is.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import String, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, Session, SQLModel

from core.columns import UtcDateTime, utcnow
from core.db import table_of
from core.errors import DomainError

SUBJECT_PREFIX = "subject:"
# An address standing alone: not the first 40 digits of a longer hex string (a transaction hash).
WALLET_RE = re.compile(r"(?<![0-9A-Za-z])0x[0-9a-fA-F]{40}(?![0-9A-Za-z])")


class SubjectError(DomainError):
    code = "invalid_wallet"
    status = 422


class Subject(SQLModel, table=True):
    """A person known by a wallet. Erasure blanks `wallet_lower`; the id stays for the immutable rows."""

    __tablename__ = "subject"

    id: int | None = Field(default=None, primary_key=True)
    wallet_lower: str | None = Field(
        default=None, sa_type=String(42), unique=True, description="Lower-case address; NULL once erased."
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    erased_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


_SUBJECT = table_of(Subject)


def _wallet_lower(wallet: str) -> str:
    value = wallet.strip() if isinstance(wallet, str) else ""
    if not WALLET_RE.fullmatch(value):
        raise SubjectError(f"not a wallet address: {value[:64]!r}")
    return value.lower()


def find_subject_ref(session: Session, wallet: str) -> str | None:
    """The wallet's `subject:<id>`, or None when it has none (reads only)."""
    found = (
        session.connection()
        .execute(select(_SUBJECT.c.id).where(_SUBJECT.c.wallet_lower == _wallet_lower(wallet)))
        .first()
    )
    return None if found is None else f"{SUBJECT_PREFIX}{found[0]}"


def subject_ref(session: Session, wallet: str) -> str:
    """The wallet's `subject:<id>`, created in the caller's DB transaction when it is new."""
    lower = _wallet_lower(wallet)
    conn = session.connection()
    query = select(_SUBJECT.c.id).where(_SUBJECT.c.wallet_lower == lower)
    found = conn.execute(query).first()
    if found is None:
        insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(_SUBJECT)
        # A concurrent first sighting of the same wallet waits on the unique index, then reads ours.
        conn.execute(
            insert.values(wallet_lower=lower, created_at=utcnow()).on_conflict_do_nothing(
                index_elements=["wallet_lower"]
            )
        )
        found = conn.execute(query).first()
        if found is None:  # pragma: no cover - the row was just inserted or seen
            raise RuntimeError(f"subject for {lower} could not be read back")
    return f"{SUBJECT_PREFIX}{found[0]}"


def pseudonymize_text(session: Session, text: str, *, create: bool = True) -> str:
    """`text` with every wallet address replaced by its subject ref."""
    if "0x" not in text:
        return text

    def replace(match: re.Match[str]) -> str:
        if create:
            return subject_ref(session, match.group(0))
        return find_subject_ref(session, match.group(0)) or match.group(0)

    return WALLET_RE.sub(replace, text)


def pseudonymize_json(session: Session, value: Any, *, keep: Collection[str] = ()) -> Any:
    """A JSON value with every wallet address in its strings replaced by its subject ref; values under
    the object keys in `keep` (addresses the platform owns, like a program's treasury) stay."""
    if isinstance(value, str):
        return pseudonymize_text(session, value)
    if isinstance(value, dict):
        return {
            k: v if k in keep else pseudonymize_json(session, v, keep=keep)
            for k, v in ((pseudonymize_text(session, str(k)), v) for k, v in value.items())
        }
    if isinstance(value, list | tuple):
        return [pseudonymize_json(session, v, keep=keep) for v in value]
    return value


def wallet_of(session: Session, ref: str) -> str | None:
    """The wallet behind `subject:<id>` (None when erased or unknown): for operators who must act on it."""
    if not ref.startswith(SUBJECT_PREFIX) or not ref[len(SUBJECT_PREFIX) :].isdigit():
        return None
    subject = session.get(Subject, int(ref[len(SUBJECT_PREFIX) :]))
    return None if subject is None else subject.wallet_lower
