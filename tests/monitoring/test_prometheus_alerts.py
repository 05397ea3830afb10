"""A real Prometheus (Debian's binary) scrapes the API's operator port with ops/prometheus/alerts.yml,
scrape and evaluation every second: the relayer-balance alert fires when anvil sets the relayer's
balance under the alert threshold, and resolves when it is topped up again."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import yaml

from api.app import Surface, create_app
from core.settings import Settings
from ops.devstack.processes import free_port
from tests.helpers.payments import ServerThread
from tests.helpers.temporal import temporal_address

ROOT = Path(__file__).resolve().parents[2]
ETH = 10**18
WAIT_S = 45.0  # a liveness guard: each wait returns as soon as its condition holds


def _alerts(prometheus: str, address: str) -> dict[str, str]:
    """{alertname: state} of the alerts Prometheus holds now (pending or firing) about `address`: other
    relayer addresses an outbox in a shared test database has used may have their own alerts."""
    body = httpx.get(f"{prometheus}/api/v1/alerts", timeout=5).json()
    return {
        a["labels"]["alertname"]: a["state"]
        for a in body["data"]["alerts"]
        if a["labels"].get("address", address) == address
    }


async def _until(condition, what: str):
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        await asyncio.sleep(0.25)
    raise AssertionError(f"not seen within {WAIT_S} s: {what}")


def _start_prometheus(tmp_path: Path, target: str) -> tuple[subprocess.Popen, str]:
    binary = shutil.which("prometheus")
    assert binary, "prometheus is missing: apt-get install prometheus (.ci/run does)"
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "900ms"},
        "rule_files": [str(ROOT / "ops" / "prometheus" / "alerts.yml")],
        "scrape_configs": [{"job_name": "sge-api", "static_configs": [{"targets": [target]}]}],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=(tmp_path / "prometheus.log").open("w"),
        stderr=subprocess.STDOUT,
    )
    return proc, f"http://127.0.0.1:{port}"


async def test_relayer_balance_alert_fires_and_resolves(temporal_dev, anvil, settings: Settings, db_engine, tmp_path):
    settings = settings.model_copy(
        update={"temporal_address": temporal_address(temporal_dev.client), "metrics_chain_cache_seconds": 0.0}
    )
    relayer = settings.relayer_public_address
    anvil.rpc("anvil_setBalance", [relayer, hex(ETH // 2)])
    app = create_app(settings, surface=Surface.OPERATOR, engine=db_engine)
    with ServerThread(app) as api:
        proc, prometheus = _start_prometheus(tmp_path, f"127.0.0.1:{api.port}")
        try:
            started = time.monotonic()
            await _until(lambda: _healthy_target(prometheus), "the API scraped (target up)")
            assert "RelayerBalanceLow" not in _alerts(prometheus, relayer)

            anvil.rpc("anvil_setBalance", [relayer, hex(ETH // 20)])  # 0.05 ETH: under the 0.1 ETH alert
            await _until(
                lambda: _alerts(prometheus, relayer).get("RelayerBalanceLow") == "firing", "RelayerBalanceLow firing"
            )
            fired = httpx.get(f"{prometheus}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
            low = next(
                a
                for a in fired
                if a["labels"]["alertname"] == "RelayerBalanceLow" and a["labels"].get("address") == relayer
            )
            assert low["labels"] | {"severity": "P1", "address": relayer} == low["labels"]
            assert low["annotations"]["runbook_url"] == "ops/runbooks/relayer-balance.md"

            anvil.rpc("anvil_setBalance", [relayer, hex(ETH // 2)])  # topped up to the target
            await _until(lambda: "RelayerBalanceLow" not in _alerts(prometheus, relayer), "RelayerBalanceLow resolved")
            print(f"fire and resolve through Prometheus took {time.monotonic() - started:.1f} s")
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def _healthy_target(prometheus: str) -> bool:
    try:
        targets = httpx.get(f"{prometheus}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
    except (httpx.HTTPError, ValueError):  # not listening yet, or "Service Unavailable" while it starts
        return False
    return any(t["health"] == "up" for t in targets)
