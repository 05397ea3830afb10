"""append-only for real: no rewrite by INSERT, no TRUNCATE, a hash-chained audit log, subjects (issue 10)

Revision ID: 0007_append_only
Revises: 0006_payment_outcomes

- SQLite: a BEFORE INSERT trigger on ledger_tx, ledger_posting and audit_log refuses an id that
  exists, so `INSERT OR REPLACE` (a delete plus an insert, which fires no DELETE trigger) cannot
  rewrite a row. PostgreSQL: a BEFORE TRUNCATE trigger on the same tables (UPDATE and DELETE were
  refused since 0003); the runtime role gets SELECT, INSERT only on them (`sge db grant-runtime`).
- `subject`: the pseudonymous id under which the immutable rows name an end user (models/subjects.py).
- audit_log gets `prev_hash` and `hash` (models/audit.py). Existing rows are brought into the chain
  here, in id order, with their wallet addresses replaced by subject refs first (the only time an
  audit row is ever changed: before its hash exists). Journal rows written before this revision keep
  their references as they are (their content hashes cover them).
"""

import hashlib
import json
import re
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from core.columns import UtcDateTime

revision = "0007_append_only"
down_revision = "0006_payment_outcomes"
branch_labels = None
depends_on = None

_APPEND_ONLY = ("ledger_tx", "ledger_posting", "audit_log")
_GENESIS = "0" * 64
# Frozen copies of models.subjects.WALLET_RE, models.audit.KEEP_KEYS and models.audit.row_hash (a test
# checks that rows brought in here verify with the model's code).
_WALLET_RE = re.compile(r"(?<![0-9A-Za-z])0x[0-9a-fA-F]{40}(?![0-9A-Za-z])")
_KEEP_KEYS = frozenset({"treasury_address", "name", "key_hint"})

_audit = sa.table(
    "audit_log",
    sa.column("id", sa.Integer()),
    sa.column("operator_id", sa.Integer()),
    sa.column("actor", sa.String()),
    sa.column("action", sa.String()),
    sa.column("target_type", sa.String()),
    sa.column("target_id", sa.String()),
    sa.column("before", sa.JSON()),
    sa.column("after", sa.JSON()),
    sa.column("request_id", sa.String()),
    sa.column("created_at", UtcDateTime()),
    sa.column("prev_hash", sa.String()),
    sa.column("hash", sa.String()),
)
_subject = sa.table(
    "subject",
    sa.column("id", sa.Integer()),
    sa.column("wallet_lower", sa.String()),
    sa.column("created_at", UtcDateTime()),
)


def _row_hash(prev_hash: str, row) -> str:
    created: datetime = row["created_at"]
    content = {
        "id": int(row["id"]),
        "operator_id": row["operator_id"],
        "actor": row["actor"],
        "action": row["action"],
        "target_type": row["target_type"],
        "target_id": row["target_id"],
        "before": row["before"],
        "after": row["after"],
        "request_id": row["request_id"],
        "created_at": created.astimezone(UTC).isoformat(timespec="microseconds"),
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(f"{prev_hash}\n{canonical}".encode()).hexdigest()


def _pseudonymizer(conn):
    known: dict[str, str] = {}

    def ref(match: re.Match) -> str:
        lower = match.group(0).lower()
        if lower not in known:
            found = conn.execute(sa.select(_subject.c.id).where(_subject.c.wallet_lower == lower)).scalar()
            if found is None:
                found = conn.execute(
                    _subject.insert().values(wallet_lower=lower, created_at=datetime.now(UTC)).returning(_subject.c.id)
                ).scalar_one()
            known[lower] = f"subject:{found}"
        return known[lower]

    def clean(value, key=None):
        if key in _KEEP_KEYS:
            return value
        if isinstance(value, str):
            return _WALLET_RE.sub(ref, value)
        if isinstance(value, dict):
            return {_WALLET_RE.sub(ref, str(k)): clean(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    return clean


def _chain_existing_rows(conn) -> None:
    clean = _pseudonymizer(conn)
    prev = _GENESIS
    rows = conn.execute(sa.select(_audit).order_by(_audit.c.id)).mappings().all()
    for original in rows:
        row = dict(original)
        row["target_id"] = clean(row["target_id"])[:200]
        row["before"], row["after"] = clean(row["before"]), clean(row["after"])
        digest = _row_hash(prev, row)
        conn.execute(
            _audit.update()
            .where(_audit.c.id == row["id"])
            .values(target_id=row["target_id"], before=row["before"], after=row["after"], prev_hash=prev, hash=digest)
        )
        prev = digest


def upgrade() -> None:
    op.create_table(
        "subject",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("wallet_lower", sa.String(42), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("erased_at", UtcDateTime(), nullable=True),
        sa.UniqueConstraint("wallet_lower", name="uq_subject_wallet_lower"),
    )
    op.add_column("audit_log", sa.Column("prev_hash", sa.String(64), nullable=False, server_default=""))
    op.add_column("audit_log", sa.Column("hash", sa.String(64), nullable=False, server_default=""))

    conn = op.get_bind()
    if conn.dialect.name == "postgresql":
        op.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        _chain_existing_rows(conn)
        op.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
        for table in _APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION sge_refuse_change()"
            )
    elif conn.dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        _chain_existing_rows(conn)
        op.execute(_sqlite_refuse("audit_log", "UPDATE"))
        for table in _APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_no_rewrite BEFORE INSERT ON {table} "
                f"WHEN EXISTS (SELECT 1 FROM {table} WHERE id = NEW.id) "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: rewrite of an existing id refused'); END"
            )


def _sqlite_refuse(table: str, action: str) -> str:
    """0003's trigger, recreated as it was."""
    return (
        f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {action} refused'); END"
    )


def downgrade() -> None:
    conn = op.get_bind()
    for table in _APPEND_ONLY:
        if conn.dialect.name == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        elif conn.dialect.name == "sqlite":
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_rewrite")
    op.drop_column("audit_log", "hash")
    op.drop_column("audit_log", "prev_hash")
    op.drop_table("subject")
