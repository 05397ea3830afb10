"""Versioned legal documents of a program: terms, privacy notice, risk disclosures.

Each `sge programs terms set` stores a new version (text + SHA-256); the newest version of a kind is in
force. A program without a stored version of a kind uses the built-in default (models/terms.py), which
is version "1": stored versions count on from 2, so a version number never names two texts.
Rows are never changed: old versions stay, because signed acceptances name them.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, ForeignKey, Integer, Text, UniqueConstraint
from sqlmodel import Field, Session, SQLModel, col, select

from core.columns import UtcDateTime, utcnow
from core.db import row_id
from core.errors import DomainError
from models.operators import Actor, audit
from models.platform import Program

MAX_DOCUMENT_CHARS = 200_000


class DocumentKind(StrEnum):
    TERMS = "terms"
    PRIVACY = "privacy"
    RISK = "risk"


class DocumentError(DomainError):
    code = "invalid_document"
    status = 422


class ProgramDocument(SQLModel, table=True):
    __tablename__ = "program_document"
    __table_args__ = (UniqueConstraint("program_id", "kind", "version", name="uq_program_document_version"),)

    id: int | None = Field(default=None, primary_key=True)
    program_id: int = Field(sa_column=Column(Integer, ForeignKey("program.id"), nullable=False, index=True))
    kind: str = Field(max_length=16)
    version: str = Field(max_length=32)
    text: str = Field(sa_column=Column(Text, nullable=False))
    sha256: str = Field(max_length=64)
    created_by: str = Field(max_length=200)
    created_at: datetime = Field(sa_type=UtcDateTime)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def latest_document(session: Session, program: Program, kind: DocumentKind) -> ProgramDocument | None:
    """The stored version in force (the highest), or None when the program uses the default."""
    rows = session.exec(
        select(ProgramDocument).where(
            col(ProgramDocument.program_id) == row_id(program), col(ProgramDocument.kind) == kind.value
        )
    ).all()
    return max(rows, key=lambda r: int(r.version), default=None)


def set_document(session: Session, actor: Actor, program: Program, kind: DocumentKind, text: str) -> ProgramDocument:
    """Store `text` as the next version of `kind` (audited). The same text as the one in force is a no-op."""
    if not text.strip():
        raise DocumentError("the document is empty")
    if len(text) > MAX_DOCUMENT_CHARS:
        raise DocumentError(f"the document is longer than {MAX_DOCUMENT_CHARS} characters")
    current = latest_document(session, program, kind)
    if current is not None and current.sha256 == digest(text):
        return current
    row = ProgramDocument(
        program_id=row_id(program),
        kind=kind.value,
        version=str(int(current.version) + 1 if current else 2),
        text=text,
        sha256=digest(text),
        created_by=actor.name,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()  # a concurrent set of the same version fails here on the unique constraint
    audit(
        session,
        actor,
        f"program.{kind.value}.set",
        "program",
        program.slug,
        None,
        {"version": row.version, "sha256": row.sha256},
    )
    return row
