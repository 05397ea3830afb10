"""The relayer benchmark runs end to end (its figures are printed by `sge bench relayer`, not asserted)."""

from __future__ import annotations

import pytest

from ops.bench.relayer import run

pytestmark = pytest.mark.integration  # the benchmark starts its own anvil


def test_bench_runs_every_mode_and_checks_correctness():
    report = run(transactions=10, concurrency=3, progress=lambda _m: None)
    assert [r.mode for r in report.results] == [
        "raw web3 sequential",
        "relayer sequential",
        "raw web3 concurrent",
        "relayer concurrent",
    ]
    assert all(r.transactions == 10 and r.tx_per_s > 0 for r in report.results)
    assert report.checks == {
        "relayer sequential": {"all_confirmed": True, "consecutive_nonces": True},
        "relayer concurrent": {"all_confirmed": True, "consecutive_nonces": True},
    }
