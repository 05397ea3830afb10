"""Payout batches on the real parts: anvil with the contracts (this module's relayer key holds the payer
role), the DB, the Temporal dev server and a worker running the real activities in-process."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy
from temporalio.worker import Worker

from activities.payouts import PayoutActivities
from activities.platform import PlatformActivities
from activities.relayer import relayer_activities
from contracts import payouts as onchain
from contracts.abi import program_id
from contracts.deploy import DeployParams
from contracts.manifest import manifest_path
from core.columns import utcnow
from core.db import session_scope
from core.settings import Settings
from models import affiliates as aff
from models import approval_policy as policy
from models import commissions as com
from models.ledger import Accounts
from models.payouts import io
from models.payouts import selection as sel
from models.payouts.approvers import register_address
from ops.devstack.chain import post_funding
from temporal.interceptors import DomainErrorInterceptor
from tests.helpers.chain import Chain, deploy_chain
from tests.helpers.ledger import CLI, make_operator, make_program, register
from tests.helpers.relayer import RELAYER_FUNDS, make_settings
from tests.helpers.stack import HISTORIES
from workflows.payout_schedule import WeeklyPayoutsWorkflow
from workflows.payouts import PayoutBatchWorkflow

FEE = 100_000_000  # 100 USD: level 1 earns 10 USD, level 2 5 USD
HIGH_VALUE = 50_000_000
FUNDING = DeployParams().payout_funding


@pytest.fixture(scope="module")
def relayer_account() -> LocalAccount:
    return Account.from_key("0x" + os.urandom(32).hex())


@pytest.fixture(scope="module")
def chain(anvil, tmp_path_factory, relayer_account) -> Chain:
    # Batches of 50 USD or more need three approvals (the tests' batches are 15 or 60 USD).
    params = DeployParams(payout_high_value_total=HIGH_VALUE)
    return deploy_chain(anvil, tmp_path_factory.mktemp("deployments"), relayer=relayer_account, params=params)


@pytest.fixture(scope="module")
def signers(chain: Chain) -> dict[str, LocalAccount]:
    """Approver keys in the contract's approver set (once per module); `outsider` is in no set."""
    keys = {name: Account.create() for name in ("alice", "bob", "carol", "dave", "outsider")}
    for name in ("alice", "bob", "carol", "dave"):
        chain.tx(chain.deployer, "AffiliatePayout", "setApprover", keys[name].address, True)
    return keys


@dataclass
class Payouts:
    """Drives batches: data in the DB, the workflow on the dev server, reads of both."""

    client: Client
    queue: str
    engine: Engine
    chain: Chain
    signers: dict[str, LocalAccount]
    operator_ids: dict[str, int] = field(default_factory=dict)
    operator_keys: dict[str, str] = field(default_factory=dict)
    settings: Settings | None = None

    async def start(self, created_by: str | None = "dave", period: str | None = None) -> WorkflowHandle:
        period = period or f"t-{uuid.uuid4().hex[:10]}"
        return await self.client.start_workflow(
            PayoutBatchWorkflow.run,
            io.PayoutInput(program="demo", period=period, created_by=self.operator_ids.get(created_by or "")),
            id=io.batch_id("demo", period),
            task_queue=self.queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )

    async def status(self, handle: WorkflowHandle) -> io.PayoutStatus:
        return await handle.query(io.QUERY_STATUS, result_type=io.PayoutStatus)

    async def until(self, handle: WorkflowHandle, *states: str, timeout: float = 60) -> io.PayoutStatus:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            status = await self.status(handle)
            if status.state in states:
                return status
            if loop.time() > end:
                raise AssertionError(f"batch is {status.state} ({status.reason}), wanted {states}")
            await asyncio.sleep(0.1)

    def typed(self, handle: WorkflowHandle) -> dict:
        """The EIP-712 message of the batch, rebuilt from the DB the way an approver's tool does."""
        with Session(self.engine) as s:
            row = sel.batch_row(s, handle.id)
            lines = sel.batch_lines(s, row.id)
        plan = onchain.plan_batch(
            row.id,
            program_id("demo"),
            row.token,
            [onchain.PayoutLine.of(ln.payout_id, ln.wallet, ln.amount) for ln in lines],
            deadline=int(row.deadline.timestamp()),
        )
        return onchain.typed_data(plan.batch, chain_id=row.chain_id, contract=row.payout_contract)

    def sign(self, handle: WorkflowHandle, who: str) -> str:
        return policy.sign_typed(self.signers[who].key, self.typed(handle))

    def sign_rejection(self, handle: WorkflowHandle, who: str, reason: str) -> str:
        return policy.sign_typed(self.signers[who].key, policy.rejection_typed_data(self.typed(handle), reason))

    async def approve(self, handle: WorkflowHandle, who: str) -> None:
        await handle.signal(io.SIGNAL_APPROVE, io.ApproveSignal(signature=self.sign(handle, who), operator=who))

    async def keep(self, handle: WorkflowHandle, name: str) -> None:
        """With SGE_RECORD_HISTORIES=1, save the run as tests/histories/<name>.json (replayed by
        tests/onboarding/test_replay.py against the current workflow code)."""
        if os.environ.get("SGE_RECORD_HISTORIES"):
            history = await handle.fetch_history()
            (HISTORIES / f"{name}.json").write_text(history.to_json())

    def usdc(self, wallet: str) -> int:
        return int(self.chain.view("TestUSDC", "balanceOf", wallet))


def earn(engine: Engine, payments: int = 1) -> tuple[aff.Affiliate, aff.Affiliate, str]:
    """A program without hold, root ← child, and `payments` settled payments by a user child referred,
    released: child has 10 USD per payment payable, root 5."""
    make_program(engine, hold_days=0)
    root = register(engine)
    child = register(engine, parent_code=root.code)
    user = Account.create().address
    with session_scope(engine) as s:
        aff.attribute(s, "demo", user, child.code, "test")
    for i in range(payments):
        pay(engine, f"coinbase_commerce:{uuid.uuid4().hex[:8]}-{i}", user)
    return root, child, user


def pay(engine: Engine, ref: str, user: str) -> None:
    with session_scope(engine) as s:
        com.settle_payment(s, ref, "demo", user, FEE, "USDC", now=utcnow() - timedelta(seconds=1))
    with session_scope(engine) as s:
        com.release_due(s, now=utcnow())


@pytest.fixture
def payout_settings(tmp_path, db_url, anvil, chain: Chain, relayer_account) -> Settings:
    settings = make_settings(
        tmp_path / "home",
        db_url,
        anvil,
        relayer_account.key.hex(),
        payout_approval_seconds=3600,
        flow_halt_poll_seconds=0.5,
        payout_funds_poll_seconds=0.5,
    )
    target = manifest_path(settings.deployments_dir, anvil.chain_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(manifest_path(Path(chain.manifest_dir), anvil.chain_id), target)
    anvil.rpc("anvil_setBalance", [relayer_account.address, hex(RELAYER_FUNDS)])
    # The deployment funded the payout contract: booked as the local stack does (opening balances).
    funding_tx = chain.manifest.role_grants["fund AffiliatePayout TestUSDC"]
    account = Accounts.payout_contract
    post_funding(settings, f"funding:{account}:{funding_tx}", account, "USDC", FUNDING, funding_tx)
    return settings


@pytest.fixture
def overrides() -> dict:
    """Settings a test changes (parametrize `overrides` to set them)."""
    return {}


@pytest.fixture
async def payouts(temporal_dev, db_engine, payout_settings, chain, signers, overrides):
    """A worker with the real activities; operators alice, bob, carol (approvers) and dave (admin and
    approver: creates batches), each with their address registered."""
    settings = payout_settings.model_copy(update=overrides)
    ids: dict[str, int] = {}
    keys: dict[str, str] = {}
    for name in ("alice", "bob", "carol", "dave"):
        keys[name] = make_operator(db_engine, name, *(("admin", "approver") if name == "dave" else ("approver",)))
        with session_scope(db_engine) as s:
            ids[name] = register_address(s, CLI, name, signers[name].address).operator_id
    queue = f"payouts-{uuid.uuid4().hex[:8]}"
    with ThreadPoolExecutor(8) as pool:
        async with Worker(
            temporal_dev.client,
            task_queue=queue,
            workflows=[PayoutBatchWorkflow, WeeklyPayoutsWorkflow],
            activities=PayoutActivities(settings, db_engine).all()
            + relayer_activities(settings, db_engine)
            + PlatformActivities(db_engine, settings).all(),
            activity_executor=pool,
            interceptors=[DomainErrorInterceptor()],
        ):
            yield Payouts(temporal_dev.client, queue, db_engine, chain, signers, ids, keys, settings)
