"""Reconciliation against the real stack (`sge dev up`'s processes: Temporal dev server, anvil with the
contracts, the payment sandbox, the worker, the API) after real flows: the books and the world agree."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from core.db import make_engine
from models.recon.report import get_report, report_view
from ops.devstack.demo import run_flows
from temporal.client import connect
from temporal.reconciliation import run_reconciliation
from tests.helpers.stack import running_stack

pytestmark = pytest.mark.integration  # starts the whole platform as processes


async def test_after_real_flows_every_check_is_zero(tmp_path, test_database):
    async with running_stack(tmp_path / "var", test_database.fresh_url()) as (settings, _sup):
        flows = await run_flows(settings, 3, lambda *_a, **_k: None)
        assert flows.ok, [(f.wallet, f.state, f.reason) for f in flows.flows]
        summary = await run_reconciliation(await connect(settings), settings.temporal_task_queue)
        engine = make_engine(settings.db_url)
        with Session(engine) as s:
            report = report_view(s, get_report(s, summary.id))
        engine.dispose()
    off = [(c["name"], c["difference"], c["items"][:3]) for c in report["checks"] if c["difference"] != "0"]
    assert summary.ok and not off, off
    counted = {c["name"]: c["actual"] for c in report["checks"]}
    assert int(counted["claims_vs_deliveries"]) >= 3 and int(counted["mints_vs_requests"]) >= 3
    assert int(counted["onchain_receipts"]) == 1  # the demo pays one flow on chain (TestUSDT)
    assert int(counted["processor_coinbase_commerce"]) > 0  # the others paid in the sandbox
