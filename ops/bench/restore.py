"""The restore drill (`sge bench restore`): generate a realistic volume as rows, back it up, restore it
into a fresh database, verify it, time each step, and extrapolate to the size a 1-hour restore allows.

The volume is written directly (not by running workflows): ledger transactions through
`models.ledger.post_transaction` (so hashes, subjects and balances are real and `verify` means
something), committed in batches, and finished onboarding flows as bulk-inserted rows. It works in a
scratch schema/file (ops/bench/ledger.py's `scratch_engine`) and restores into a database created for
the drill (PostgreSQL: `sge_restore_<random>` on the same server, dropped after; SQLite: a new file).
"""

from __future__ import annotations

import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from eth_utils import to_checksum_address
from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session

from core.backup import create_backup, restore_backup, verify_backup
from core.db import make_engine, session_scope
from models import ledger
from models.books import verify_books
from models.ledger.journal import LedgerTx
from models.money import Asset
from models.onboarding import FlowState, Onboarding, Rail, flow_id
from models.platform import Program
from ops.bench.ledger import scratch_engine

BATCH = 500
LIMIT_SECONDS = 3600.0


@dataclass
class RestoreDrillReport:
    backend: str
    transactions: int
    flows: int
    generate_seconds: float
    backup_seconds: float
    verify_backup_seconds: float
    restore_seconds: float
    verify_ledger_seconds: float
    backup_bytes: int
    restored_transactions: int
    restored_flows: int
    ledger_ok: bool
    # Linear in transactions: backup + restore + ledger verify of a copy that size.
    seconds_per_million_tx: float
    max_tx_within_hour: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _legs(i: int) -> list[ledger.Posting]:
    # Fees received (no commissions: those must match commission rows, which `verify_books` checks).
    amount = 100_000_000 + i
    return [
        ledger.debit(ledger.Accounts.processor_receivable("onchain"), Asset.USDC, amount),
        ledger.credit(ledger.Accounts.fee_revenue("drill"), Asset.USDC, amount),
    ]


def generate(engine: Engine, transactions: int, flows: int) -> None:
    """`transactions` balanced ledger transactions and `flows` completed flows, as rows."""
    with session_scope(engine) as session:
        program = Program(
            slug="drill",
            name="Restore drill",
            treasury_address=to_checksum_address("0x" + "11" * 20),
            fee_usd_minor=100_000_000,
            claim_amount_minor=1000 * 10**18,
            commission_bps=[1000, 500],
        )
        session.add(program)
        session.flush()
        program_id = program.id
    for start in range(0, transactions, BATCH):
        with session_scope(engine) as session:
            for i in range(start, min(start + BATCH, transactions)):
                ledger.post_transaction(session, f"drill:{i}", "drill", {"n": i}, _legs(i))
    done = datetime.now(UTC) - timedelta(days=1)
    for start in range(0, flows, 5000):
        rows = []
        for i in range(start, min(start + 5000, flows)):
            wallet = to_checksum_address(f"0x{i + 1:040x}")
            rows.append(
                {
                    "program_id": program_id,
                    "wallet": wallet,
                    "flow_id": flow_id("drill", wallet),
                    "state": FlowState.COMPLETED,
                    "state_since": done,
                    "rail": Rail.COINBASE_COMMERCE,
                    "payment_ref": f"drill-{i}",
                    "paid_amount_minor": 100_000_000,
                    "paid_asset": "USD",
                    "sge_amount_minor": 1000 * 10**18,
                    "created_at": done,
                    "updated_at": done,
                    "completed_at": done,
                }
            )
        with session_scope(engine) as session:
            session.execute(insert(Onboarding), rows)


@contextmanager
def fresh_target(source_url: str, schema: str | None, workdir: Path):
    """An empty database for the restore: a new PostgreSQL database (dropped after), or a new SQLite file."""
    parsed = make_url(source_url)
    if parsed.get_backend_name() != "postgresql":
        yield f"sqlite:///{workdir / 'restored.db'}"
        return
    name = f"sge_restore_{uuid.uuid4().hex[:10]}"
    admin = make_engine(parsed.set(query={}).render_as_string(hide_password=False), pool_size=1)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    query = {"options": f"-csearch_path={schema}"} if schema else {}
    try:
        yield parsed.set(database=name, query=query).render_as_string(hide_password=False)
    finally:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _counts(url: str) -> tuple[int, int, bool, float]:
    engine = make_engine(url, pool_size=1)
    try:
        with Session(engine) as session:
            started = time.perf_counter()
            ok = verify_books(session).ok
            verify_seconds = time.perf_counter() - started
            txs = session.execute(select(func.count()).select_from(LedgerTx)).scalar_one()
            flows = session.execute(select(func.count()).select_from(Onboarding)).scalar_one()
    finally:
        engine.dispose()
    return txs, flows, ok, verify_seconds


def run(
    url: str, *, transactions: int = 100_000, flows: int = 20_000, workdir: Path | None = None
) -> RestoreDrillReport:
    backend = make_url(url).get_backend_name()
    with tempfile.TemporaryDirectory(prefix="sge-restore-drill-", dir=workdir) as tmp:
        root = Path(tmp)
        with scratch_engine(url, pool_size=2) as engine:
            started = time.perf_counter()
            generate(engine, transactions, flows)
            generate_seconds = time.perf_counter() - started
            source_url = engine.url.render_as_string(hide_password=False)
            schema = make_url(source_url).query.get("options")
            schema_name = str(schema).removeprefix("-csearch_path=") if schema else None
            started = time.perf_counter()
            backup = create_backup(source_url, root / "home", root / "backups")
            backup_seconds = time.perf_counter() - started
        started = time.perf_counter()
        problems = verify_backup(backup)
        verify_backup_seconds = time.perf_counter() - started
        if problems:
            raise RuntimeError(f"fresh backup does not verify: {problems}")
        backup_bytes = sum(p.stat().st_size for p in backup.rglob("*") if p.is_file())
        with fresh_target(url, schema_name, root) as target:
            started = time.perf_counter()
            restore_backup(backup, target)
            restore_seconds = time.perf_counter() - started
            restored_tx, restored_flows, ok, verify_seconds = _counts(target)
    per_tx = (backup_seconds + restore_seconds + verify_seconds) / max(transactions, 1)
    return RestoreDrillReport(
        backend=backend,
        transactions=transactions,
        flows=flows,
        generate_seconds=round(generate_seconds, 2),
        backup_seconds=round(backup_seconds, 2),
        verify_backup_seconds=round(verify_backup_seconds, 3),
        restore_seconds=round(restore_seconds, 2),
        verify_ledger_seconds=round(verify_seconds, 2),
        backup_bytes=backup_bytes,
        restored_transactions=restored_tx,
        restored_flows=restored_flows,
        ledger_ok=ok,
        seconds_per_million_tx=round(per_tx * 1_000_000, 1),
        max_tx_within_hour=int(LIMIT_SECONDS / per_tx) if per_tx else 0,
    )
