"""A world for treasury and reconciliation tests: the contracts freshly deployed on the session's anvil
(so their balances are this test's alone), a relayer whose ETH came only through the treasury path, the
worker's treasury and reconciliation workflows on the Temporal dev server, and a migrated database."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account import Account
from sqlalchemy.engine import Engine
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.reconciliation import ReconciliationActivities
from activities.treasury import TreasuryActivities
from contracts.manifest import manifest_path
from core.settings import Settings
from models.recon.report import ReportSummary
from models.treasury import MovementKind, MovementRequest, MovementResult
from ops.devstack.processes import free_port
from sandbox.app import create_sandbox_app
from temporal.interceptors import DomainErrorInterceptor
from temporal.reconciliation import run_reconciliation
from temporal.treasury import record_movement
from tests.helpers.chain import Chain, deploy_chain
from tests.helpers.payments import (
    BUSINESS_KEY_ID,
    BUSINESS_KEY_PEM,
    COMMERCE_API_KEY,
    ServerThread,
    sandbox_config,
)
from tests.helpers.processes import AnvilProcess
from tests.helpers.stack import HISTORIES
from workflows.reconciliation import ReconciliationWorkflow
from workflows.treasury import TreasuryMovementWorkflow


@dataclass
class ReconWorld:
    settings: Settings
    engine: Engine
    chain: Chain
    client: Client
    queue: str
    sandbox_url: str

    async def record(self, tx_hash: str, kind: MovementKind, amount: int | None = None) -> MovementResult:
        req = MovementRequest(tx_hash=tx_hash, kind=kind, amount_minor=amount, actor="test")
        return await record_movement(self.client, self.queue, req)

    async def reconcile(self) -> ReportSummary:
        return await run_reconciliation(self.client, self.queue)

    async def keep(self, workflow_id: str, name: str) -> None:
        """With SGE_RECORD_HISTORIES=1, save this run's history as tests/histories/<name>.json (replayed by
        tests/onboarding/test_replay.py against the current workflow code)."""
        if not os.environ.get("SGE_RECORD_HISTORIES"):
            return
        history = await self.client.get_workflow_handle(workflow_id).fetch_history()
        (HISTORIES / f"{name}.json").write_text(history.to_json())

    def deploy_step(self, name: str) -> str:
        return self.chain.manifest.role_grants[name]


@pytest.fixture
async def recon_world(
    tmp_path: Path, db_url: str, db_engine: Engine, anvil: AnvilProcess, temporal_dev: WorkflowEnvironment
) -> AsyncIterator[ReconWorld]:
    port = free_port()
    with ServerThread(create_sandbox_app(sandbox_config(port, None)), port) as sandbox:
        async for world in _world(tmp_path, db_url, db_engine, anvil, temporal_dev, sandbox.url):
            yield world


async def _world(tmp_path, db_url, db_engine, anvil, temporal_dev, sandbox_url: str) -> AsyncIterator[ReconWorld]:
    relayer = Account.from_key("0x" + os.urandom(32).hex())
    chain = deploy_chain(anvil, tmp_path / "deployments", relayer=relayer)
    anvil.rpc("anvil_setBalance", [relayer.address, "0x0"])  # its ETH comes through the treasury path only
    settings = Settings(
        _env_file=None,
        home=tmp_path / "home",
        environment="test",
        database_url=db_url,
        eth_rpc_urls=[anvil.rpc_url],
        chain_id=anvil.chain_id,
        relayer_private_key=relayer.key.hex(),
        relayer_poll_interval_seconds=0.02,
        relayer_min_balance_wei=10**15,
        reconciliation_grace_seconds=0,
        # Both providers' list APIs are read through the production clients, from the sandbox.
        coinbase_commerce_api_url=sandbox_url,
        coinbase_commerce_api_key=COMMERCE_API_KEY,
        coinbase_business_api_url=sandbox_url,
        coinbase_business_api_key_id=BUSINESS_KEY_ID,
        coinbase_business_api_key=BUSINESS_KEY_PEM,  # nothing counts as "in flight": every difference is one
        log_format="console",
    )
    target = manifest_path(settings.deployments_dir, anvil.chain_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(manifest_path(tmp_path / "deployments", anvil.chain_id), target)
    queue = f"recon-{uuid.uuid4().hex[:10]}"
    client = temporal_dev.client
    activities = TreasuryActivities(settings, db_engine).all() + ReconciliationActivities(settings, db_engine).all()
    with ThreadPoolExecutor(4) as pool:
        async with Worker(
            client,
            task_queue=queue,
            workflows=[TreasuryMovementWorkflow, ReconciliationWorkflow],
            activities=activities,
            activity_executor=pool,
            interceptors=[DomainErrorInterceptor()],
        ):
            yield ReconWorld(settings, db_engine, chain, client, queue, sandbox_url)
