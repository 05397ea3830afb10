"""Everything the database holds about one person (GDPR access/portability), as one document.

The tables are not listed by hand: every string, text and JSON column of every table in the metadata is
searched for the wallet (its 40 hex digits, any case, so calldata and flow ids match too) and for the
person's subject ref (`subject:<id>`, how immutable rows name them). A table added later is therefore
included without anyone remembering to. It is a full scan of those columns: an admin's rare request.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, String, Table, Text, TypeDecorator, cast, func, or_, select
from sqlmodel import Session, SQLModel, col

from core.columns import utcnow
from models.operators import Actor, audit
from models.subjects import WALLET_RE, Subject, SubjectError

MAX_SAFE_INT = 2**53  # larger integers (wei, 18-decimal amounts) are exported as strings


def holds_text(column: Any) -> bool:
    """Whether a column stores strings or JSON (a TypeDecorator such as SQLModel's AutoString: its impl)."""
    kind = column.type.impl if isinstance(column.type, TypeDecorator) else column.type
    return isinstance(kind, String | Text | JSON)


def text_columns(table: Table) -> list:
    """The columns of `table` that can hold a wallet or a subject ref."""
    return [c for c in table.columns if holds_text(c)]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return "0x" + value.hex()
    big = isinstance(value, int) and not isinstance(value, bool) and abs(value) >= MAX_SAFE_INT
    if isinstance(value, Decimal) or big:
        return str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def normalize(wallet: str) -> str:
    if not WALLET_RE.fullmatch(wallet.strip()):
        raise SubjectError(f"not an Ethereum address: {wallet[:64]!r}")
    return wallet.strip().lower()


def export_person(session: Session, wallet: str) -> dict[str, Any]:
    """{wallet, subject, generated_at, tables: {table: [row, ...]}} for `wallet` (rows sorted by their
    first column, so two exports of the same data are equal)."""
    wallet_lower = normalize(wallet)
    subject = session.execute(select(Subject).where(col(Subject.wallet_lower) == wallet_lower)).scalars().first()
    needles = [wallet_lower[2:]]
    subject_re = None
    if subject is not None:
        needles.append(f"subject:{subject.id}")
        subject_re = re.compile(rf"subject:{subject.id}(?!\d)")
    found: dict[str, list[dict[str, Any]]] = {}
    conn = session.connection()
    for table in SQLModel.metadata.sorted_tables:
        columns = text_columns(table)
        if not columns:
            continue
        matches = [func.lower(cast(c, Text)).like(f"%{n}%") for c in columns for n in needles]
        rows = []
        for row in conn.execute(select(table).where(or_(*matches))).mappings():
            plain = {k: _plain(v) for k, v in row.items()}
            text = repr(plain).lower()
            # `subject:1` is also a prefix of `subject:12`: keep a row only on an exact match.
            if needles[0] in text or (subject_re is not None and subject_re.search(text)):
                rows.append(plain)
        if rows:
            rows.sort(key=lambda r: str(next(iter(r.values()))))
            found[table.name] = rows
    return {
        "wallet": wallet_lower,
        "subject": None if subject is None else {"id": subject.id, "erased_at": _plain(subject.erased_at)},
        "generated_at": utcnow().isoformat(),
        "tables": found,
    }


def audit_export(session: Session, actor: Actor, document: dict[str, Any]) -> None:
    """Record who exported whose data (by subject ref: the audit log never holds a wallet)."""
    subject = document.get("subject")
    target = f"subject:{subject['id']}" if subject else "unknown-subject"
    counts = {name: len(rows) for name, rows in document["tables"].items()}
    audit(session, actor, "privacy.export", "subject", target, None, {"rows": counts})
