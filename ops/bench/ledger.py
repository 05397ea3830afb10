"""Ledger write benchmark: balanced 3-posting transactions per second on the configured database.

It never touches the platform's own tables: on PostgreSQL it migrates a scratch schema in the
configured database (dropped afterwards); on SQLite a scratch file beside the configured one. Each
transaction goes through `models.ledger.post_transaction` (validation, idempotency key insert,
postings, and on PostgreSQL the deferred balance trigger at commit), one DB transaction each.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

from models import ledger, migrate
from models.db import make_engine, session_scope
from models.money import Asset

FLOOR_PG_TX_PER_S = 1000


@dataclass
class LedgerBenchReport:
    database: str
    backend: str
    threads: int
    transactions: int
    seconds: float
    tx_per_s: float
    floor: int | None
    verified: bool

    @property
    def floor_met(self) -> bool:
        return self.floor is None or self.tx_per_s >= self.floor


@contextmanager
def scratch_engine(url: str, pool_size: int):
    """A migrated, empty scratch database on the same server/disk as `url`; removed afterwards."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        schema = f"sge_bench_{uuid.uuid4().hex[:10]}"
        admin = make_engine(url, pool_size=1)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        query = dict(parsed.query)
        query["options"] = f"-csearch_path={schema}"
        engine = make_engine(parsed.set(query=query).render_as_string(hide_password=False), pool_size=pool_size)
        try:
            migrate.upgrade(engine)
            yield engine
        finally:
            engine.dispose()
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            admin.dispose()
    else:
        base = Path(parsed.database or "var/sge.db").resolve()
        path = base.parent / f".bench-{uuid.uuid4().hex[:10]}.db"
        engine = make_engine(f"sqlite:///{path}", pool_size=pool_size)
        try:
            migrate.upgrade(engine)
            yield engine
        finally:
            engine.dispose()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)


def _legs(i: int) -> list[ledger.Posting]:
    amount = 100_000_000 + i
    commission = amount // 10
    return [
        ledger.debit(ledger.Accounts.processor_receivable("onchain"), Asset.USDC, amount),
        ledger.credit(ledger.Accounts.fee_revenue("bench"), Asset.USDC, amount - commission),
        ledger.credit(ledger.Accounts.affiliate_accrued(1 + i % 50), Asset.USDC, commission),
    ]


def _worker(engine: Engine, prefix: str, stop_at: float, counts: list[int], slot: int, errors: list[BaseException]) -> None:
    i = 0
    try:
        while time.perf_counter() < stop_at:
            with session_scope(engine) as session:
                ledger.post_transaction(session, f"{prefix}:{slot}:{i}", "bench", {"n": i}, _legs(i))
            i += 1
    except BaseException as exc:  # noqa: BLE001 - reported by the caller
        errors.append(exc)
    counts[slot] = i


def run(url: str, *, seconds: float = 10.0, threads: int | None = None, warmup: float = 1.0) -> LedgerBenchReport:
    backend = make_url(url).get_backend_name()
    threads = threads or (max(4, 4 * (os.cpu_count() or 1)) if backend == "postgresql" else 1)
    with scratch_engine(url, pool_size=threads) as engine:
        for phase, duration in (("warmup", warmup), ("run", seconds)):
            counts = [0] * threads
            errors: list[BaseException] = []
            prefix = f"bench:{phase}:{uuid.uuid4().hex[:8]}"
            started = time.perf_counter()
            stop_at = started + duration
            pool = [threading.Thread(target=_worker, args=(engine, prefix, stop_at, counts, t, errors)) for t in range(threads)]
            for t in pool:
                t.start()
            for t in pool:
                t.join()
            elapsed = time.perf_counter() - started
            if errors:
                raise errors[0]
        with session_scope(engine) as session:
            verified = ledger.verify(session).ok
    total = sum(counts)
    return LedgerBenchReport(
        database=make_url(url).render_as_string(hide_password=True).split("@")[-1],
        backend=backend,
        threads=threads,
        transactions=total,
        seconds=elapsed,
        tx_per_s=total / elapsed if elapsed else 0.0,
        floor=FLOOR_PG_TX_PER_S if backend == "postgresql" else None,
        verified=verified,
    )
