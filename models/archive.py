"""Archiving old intents: ended flows, their payments, webhook events and idempotency records older
than a cut-off move from the hot tables into a compressed, checksummed JSON Lines file, in one
audited step; `restore` brings a file's rows back.

What is archived (and what never is):
- `onboarding` rows in an ended state whose money is settled (completed, expired, failed, refunded),
  last updated before the cut-off. Flows in `underpaid`/`suspense` hold money operators still act on,
  and running flows are not ended: neither is touched.
- `payment` rows of those flows; `webhook_event` rows received before the cut-off;
  `idempotency_record` rows created before the cut-off and already expired.
- Never: the ledger (`ledger_tx`, `ledger_posting`, `ledger_pending`), the audit log, settlements,
  commissions, or any other table. The books stay whole and verifiable.

The file (`<dir>/sge-archive-<cut-off date>-<UTC time>.jsonl.gz`) starts with a header line (format,
cut-off, counts), then one `{"table": ..., "row": {...}}` per row; `<file>.sha256` beside it holds its
checksum (sha256sum's format). The file is written before the rows are deleted, inside the same DB
transaction that deletes them and appends the audit entry (`archive.run`): if the delete does not
remove exactly the rows written, nothing is deleted and the file is removed.

Personal data: flow, payment and webhook rows hold wallet addresses (pseudonymous personal data).
Archive files are kept under the same access control as database backups, and an erasure request
applies to them too (restore the file, erase, archive again).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Table, and_, delete, insert, select, tuple_
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from core.columns import utcnow
from core.errors import DomainError
from models.audit import audit
from models.idempotency import IdempotencyRecord
from models.onboarding import FlowState, Onboarding
from models.operators import Actor
from models.payments import Payment, WebhookEvent

FORMAT = 1
ARCHIVED_FLOW_STATES = (FlowState.COMPLETED, FlowState.EXPIRED, FlowState.FAILED, FlowState.REFUNDED)
# Insert order on restore (none of these reference each other by foreign key; kept stable anyway).
TABLES: tuple[Table, ...] = (
    Onboarding.__table__,  # type: ignore[attr-defined]
    Payment.__table__,  # type: ignore[attr-defined]
    WebhookEvent.__table__,  # type: ignore[attr-defined]
    IdempotencyRecord.__table__,  # type: ignore[attr-defined]
)
_BY_NAME = {t.name: t for t in TABLES}


class ArchiveError(DomainError):
    code = "archive_error"


class ArchiveResult(BaseModel):
    path: str | None  # None when nothing was old enough
    cutoff: datetime
    counts: dict[str, int]
    sha256: str | None = None


# --- row encoding ------------------------------------------------------------------------------


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, bytes):
        return {"$b64": base64.b64encode(value).decode()}
    if isinstance(value, Decimal):
        return {"$dec": str(value)}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and len(value) == 1:
        ((tag, raw),) = value.items()
        if tag == "$dt":
            return datetime.fromisoformat(raw)
        if tag == "$b64":
            return base64.b64decode(raw)
        if tag == "$dec":
            return Decimal(raw)
    return value


def _pk(table: Table, row: dict[str, Any]) -> tuple:
    return tuple(row[c.name] for c in table.primary_key.columns)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- selection ---------------------------------------------------------------------------------


def _selections(cutoff: datetime, now: datetime) -> list[tuple[Table, Any]]:
    """(table, WHERE clause) of what is archived, evaluated again at delete time."""
    flows, payments, events, records = TABLES
    ended_flows = select(flows.c.flow_id).where(
        flows.c.state.in_([s.value for s in ARCHIVED_FLOW_STATES]), flows.c.updated_at < cutoff
    )
    return [
        (flows, and_(flows.c.state.in_([s.value for s in ARCHIVED_FLOW_STATES]), flows.c.updated_at < cutoff)),
        (payments, payments.c.flow_id.in_(ended_flows)),
        (events, events.c.received_at < cutoff),
        (records, and_(records.c.created_at < cutoff, records.c.expires_at < now)),
    ]


def run_archive(
    engine: Engine, directory: Path, older_than: timedelta, actor: Actor, *, now: datetime | None = None
) -> ArchiveResult:
    """Export and remove everything archivable older than `now - older_than`, in one audited step."""
    now = now or utcnow()
    cutoff = now - older_than
    directory.mkdir(parents=True, exist_ok=True)
    name = f"sge-archive-{cutoff:%Y%m%d}-{now:%Y%m%dT%H%M%S%fZ}.jsonl.gz"
    path = directory / name
    counts: dict[str, int] = {}
    with Session(engine) as session:
        conn = session.connection()
        selected: list[tuple[Table, Any, list[dict[str, Any]]]] = []
        for table, where in _selections(cutoff, now):
            query = select(table).where(where)
            if engine.dialect.name == "postgresql":
                query = query.with_for_update()  # a row cannot change between export and delete
            rows = [dict(r._mapping) for r in conn.execute(query)]
            selected.append((table, where, rows))
            counts[table.name] = len(rows)
        if not any(counts.values()):
            return ArchiveResult(path=None, cutoff=cutoff, counts=counts)
        header = {"format": FORMAT, "cutoff": cutoff.isoformat(), "created_at": now.isoformat(), "counts": counts}
        try:
            with gzip.open(path, "wt", encoding="utf-8") as out:
                out.write(json.dumps(header) + "\n")
                for table, _where, rows in selected:
                    for row in rows:
                        encoded = {k: _encode(v) for k, v in row.items()}
                        out.write(json.dumps({"table": table.name, "row": encoded}, sort_keys=True) + "\n")
            with path.open("rb") as f:
                os.fsync(f.fileno())
            digest = _sha256(path)
            # Payments are matched through their flows: delete them before the flows.
            for table, where, rows in reversed(selected):
                if not rows:
                    continue
                keys = [_pk(table, row) for row in rows]
                pk_cols = tuple(table.primary_key.columns)
                removed = 0
                for start in range(0, len(keys), 500):
                    chunk = keys[start : start + 500]
                    key_match = (
                        pk_cols[0].in_([k[0] for k in chunk]) if len(pk_cols) == 1 else tuple_(*pk_cols).in_(chunk)
                    )
                    removed += conn.execute(delete(table).where(and_(key_match, where))).rowcount
                if removed != len(rows):
                    raise ArchiveError(f"{table.name}: {removed} rows removable of {len(rows)} exported; nothing done")
            audit(
                session,
                actor,
                "archive.run",
                "archive",
                name,
                after={"cutoff": cutoff.isoformat(), "counts": counts, "sha256": digest},
            )
            session.commit()
        except BaseException:
            session.rollback()
            path.unlink(missing_ok=True)
            raise
    Path(f"{path}.sha256").write_text(f"{digest}  {name}\n")
    return ArchiveResult(path=str(path), cutoff=cutoff, counts=counts, sha256=digest)


# --- reading and restoring -------------------------------------------------------------------------


def check_file(path: Path) -> dict[str, Any]:
    """The file's header, after checking its checksum; ArchiveError when missing or damaged."""
    if not path.is_file():
        raise ArchiveError(f"{path}: no such archive file")
    sidecar = Path(f"{path}.sha256")
    if not sidecar.is_file():
        raise ArchiveError(f"{sidecar}: checksum file missing")
    expected = sidecar.read_text().split()[0]
    if _sha256(path) != expected:
        raise ArchiveError(f"{path}: sha256 differs from {sidecar.name}; the file is damaged")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        header = json.loads(f.readline())
    if header.get("format") != FORMAT:
        raise ArchiveError(f"{path}: unknown archive format {header.get('format')!r}")
    return header


def list_archives(directory: Path) -> list[dict[str, Any]]:
    found = []
    for path in sorted(directory.glob("sge-archive-*.jsonl.gz")):
        try:
            header = check_file(path)
            found.append({"file": path.name, "ok": True, **header})
        except ArchiveError as exc:
            found.append({"file": path.name, "ok": False, "problem": exc.message})
    return found


def read_rows(path: Path) -> list[tuple[str, dict[str, Any]]]:
    check_file(path)
    with gzip.open(path, "rt", encoding="utf-8") as f:
        f.readline()
        return [(r["table"], {k: _decode(v) for k, v in r["row"].items()}) for r in map(json.loads, f)]


def restore_archive(engine: Engine, path: Path, actor: Actor) -> dict[str, int]:
    """Put a file's rows back (one audited transaction). A row already present is an error: restoring
    never overwrites what the hot tables hold now."""
    rows = read_rows(path)
    counts: dict[str, int] = {}
    with Session(engine) as session:
        conn = session.connection()
        for table in TABLES:
            batch = [row for name, row in rows if name == table.name]
            if not batch:
                continue
            try:
                for start in range(0, len(batch), 1000):
                    conn.execute(insert(table), batch[start : start + 1000])
            except IntegrityError:
                session.rollback()
                raise ArchiveError(
                    f"{path.name}: {table.name} rows are already in the database; nothing restored", status=409
                ) from None
            counts[table.name] = len(batch)
        audit(session, actor, "archive.restore", "archive", path.name, after={"counts": counts})
        session.commit()
    return counts
