"""Ledger write benchmark: balanced 3-posting transactions per second on the configured database.

It never touches the platform's own tables: on PostgreSQL it migrates a scratch schema in the
configured database (dropped afterwards); on SQLite a scratch file beside the configured one. Each
transaction goes through `models.ledger.post_transaction` (validation, idempotency key insert,
postings, and on PostgreSQL the deferred balance trigger at commit), one DB transaction each.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

from core import migrate
from core.db import make_engine, session_scope
from models import ledger
from models.money import Asset

FLOOR_PG_TX_PER_S = 1000


@dataclass
class LedgerBenchReport:
    database: str
    backend: str
    processes: int
    threads: int  # per process
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


def _worker(
    engine: Engine, prefix: str, stop_at: float, counts: list[int], slot: int, errors: list[BaseException]
) -> None:
    i = 0
    try:
        while time.perf_counter() < stop_at:
            with session_scope(engine) as session:
                ledger.post_transaction(session, f"{prefix}:{slot}:{i}", "bench", {"n": i}, _legs(i))
            i += 1
    except BaseException as exc:  # noqa: BLE001 - reported by the caller
        errors.append(exc)
    counts[slot] = i


def _threads(engine: Engine, prefix: str, threads: int, seconds: float) -> tuple[int, float]:
    """`threads` writers for `seconds`; returns (transactions, elapsed)."""
    counts = [0] * threads
    errors: list[BaseException] = []
    started = time.perf_counter()
    pool = [
        threading.Thread(target=_worker, args=(engine, prefix, started + seconds, counts, t, errors))
        for t in range(threads)
    ]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return sum(counts), elapsed


def _process(url: str, slot: int, threads: int, seconds: float, warmup: float, barrier, results) -> None:
    """One writer process (own interpreter, so its own GIL): warm up, wait for the others, measure."""
    engine = make_engine(url, pool_size=threads)
    try:
        _threads(engine, f"bench:warmup:{slot}:{uuid.uuid4().hex[:6]}", threads, warmup)
        barrier.wait()
        results.put((slot, *_threads(engine, f"bench:run:{slot}:{uuid.uuid4().hex[:6]}", threads, seconds)))
    except BaseException as exc:  # noqa: BLE001 - reported by the parent
        results.put((slot, exc, 0.0))
        barrier.abort()
    finally:
        engine.dispose()


def run(
    url: str, *, seconds: float = 10.0, threads: int | None = None, processes: int | None = None, warmup: float = 1.0
) -> LedgerBenchReport:
    """Writers = `processes` × `threads` (PostgreSQL default: one process per core, 8 threads each,
    as a deployment runs several worker processes; SQLite: one writer, it has one write lock)."""
    backend = make_url(url).get_backend_name()
    pg = backend == "postgresql"
    processes = processes or ((os.cpu_count() or 1) if pg else 1)
    threads = threads or (8 if pg else 1)
    with scratch_engine(url, pool_size=threads) as engine:
        if processes == 1:
            _threads(engine, f"bench:warmup:{uuid.uuid4().hex[:6]}", threads, warmup)
            total, elapsed = _threads(engine, f"bench:run:{uuid.uuid4().hex[:6]}", threads, seconds)
        else:
            ctx = multiprocessing.get_context("spawn")  # no forked engines or threads
            barrier, results = ctx.Barrier(processes), ctx.Queue()
            scratch_url = engine.url.render_as_string(hide_password=False)
            procs = [
                ctx.Process(target=_process, args=(scratch_url, n, threads, seconds, warmup, barrier, results))
                for n in range(processes)
            ]
            for proc in procs:
                proc.start()
            outcomes = [results.get(timeout=seconds + warmup + 120) for _ in procs]
            for proc in procs:
                proc.join()
            failed = [o[1] for o in outcomes if isinstance(o[1], BaseException)]
            if failed:
                raise failed[0]
            total = sum(o[1] for o in outcomes)
            elapsed = max(o[2] for o in outcomes)
        with session_scope(engine) as session:
            verified = ledger.verify(session).ok
    return LedgerBenchReport(
        database=make_url(url).render_as_string(hide_password=True).split("@")[-1],
        backend=backend,
        processes=processes,
        threads=threads,
        transactions=total,
        seconds=elapsed,
        tx_per_s=total / elapsed if elapsed else 0.0,
        floor=FLOOR_PG_TX_PER_S if pg else None,
        verified=verified,
    )
