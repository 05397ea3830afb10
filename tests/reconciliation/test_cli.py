"""`sge treasury` and `sge reconcile` as an operator runs them (subprocesses), against the test worker."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

from models.treasury import MovementKind
from tests.helpers.temporal import temporal_address


def _env(world) -> dict[str, str]:
    s = world.settings
    return {
        **os.environ,
        "SGE_HOME": str(s.home),
        "SGE_DATABASE_URL": s.db_url,
        "SGE_ETH_RPC_URLS": s.eth_rpc_urls[0],
        "SGE_CHAIN_ID": str(s.chain_id),
        "SGE_RELAYER_PRIVATE_KEY": world.chain.relayer.key.hex(),
        "SGE_TEMPORAL_ADDRESS": temporal_address(world.client),
        "SGE_TEMPORAL_TASK_QUEUE": world.queue,
        "SGE_LOG_FORMAT": "console",
        "COLUMNS": "200",  # rich tables at full width
    }


async def sge(world, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "cli", *args]
    return await asyncio.to_thread(subprocess.run, cmd, env=_env(world), capture_output=True, text=True, timeout=180)


async def test_fund_topup_record_and_a_clean_report_from_the_command_line(recon_world):
    w = recon_world
    topup = await sge(w, "treasury", "topup", "0.5", "--json")
    assert topup.returncode == 0, topup.stderr
    booked = json.loads(topup.stdout)
    assert (booked["kind"], booked["amount_minor"], booked["created"]) == ("relayer_topup", 5 * 10**17, True)
    again = await sge(
        w, "treasury", "record", booked["tx_hash"], "--kind", "relayer_topup", "--amount", "0.5", "--json"
    )
    assert again.returncode == 0 and json.loads(again.stdout)["created"] is False
    bad = await sge(w, "treasury", "record", "0x1234", "--kind", "sge_inventory")
    assert bad.returncode == 1 and "invalid_tx_hash" in bad.stderr
    await w.record(w.deploy_step("fund SGEClaim inventory"), MovementKind.SGE_INVENTORY)
    await w.record(w.deploy_step("fund AffiliatePayout TestUSDC"), MovementKind.PAYOUT_FUNDING)
    funded = await sge(w, "treasury", "fund", "sge", "1000", "--json")
    assert funded.returncode == 0 and json.loads(funded.stdout)["kind"] == "sge_inventory", funded.stderr

    ran = await sge(w, "reconcile", "run", "--json")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    summary = json.loads(ran.stdout)
    table = await sge(w, "reconcile", "report")
    assert table.returncode == 0 and f"report {summary['id']} " in table.stdout and "clean" in table.stdout
    assert "sge_inventory" in table.stdout and "relayer_eth" in table.stdout
