"""The ledger benchmark runs (correctness only: its figure is reported by `sge bench ledger`)."""

import pytest

from ops.bench.ledger import run


def test_bench_threads_in_a_scratch_database(db_engine, db_url):
    report = run(db_url, seconds=0.5, warmup=0.1, processes=1, threads=2)
    assert report.verified and report.transactions > 0 and report.tx_per_s > 0
    assert report.processes == 1 and report.threads == 2
    # nothing was written to the configured database itself
    with db_engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM ledger_tx").scalar_one() == 0


@pytest.mark.integration  # starts worker processes
def test_bench_processes(db_url):
    report = run(db_url, seconds=0.5, warmup=0.1, processes=2, threads=1)
    assert report.verified and report.processes == 2 and report.transactions > 0
