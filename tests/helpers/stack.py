"""The real stack for end-to-end tests: Temporal dev server, anvil with the contracts, the payment
sandbox, the worker and the API as processes (started by the same code as `sge dev up`), and a client
that drives it the way a user's app, a payer and an operator would."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlmodel import Session, col, select

from contracts.manifest import load_manifest
from contracts.reads import call_view
from contracts.rpc import connect
from core.db import make_engine
from core.settings import Settings
from models.books import verify_books
from models.chain import ChainTx
from models.onboarding import FlowState, Onboarding
from models.payments import Payment
from models.suspense import SuspenseItem
from ops.devstack import processes
from ops.devstack.demo import DEMO_PROGRAM, DemoClient, ensure_demo_program
from ops.devstack.stack import LOCAL_IP_LIMITS, bring_up

WAIT_S = 90.0  # a liveness guard only: each wait returns as soon as its condition holds


@asynccontextmanager
async def running_stack(home, db_url: str, **overrides: Any) -> AsyncIterator[tuple[Settings, processes.Supervisor]]:
    free = processes.free_port
    settings = Settings(
        _env_file=None,
        home=home,
        environment="test",
        database_url=db_url,
        temporal_address=f"127.0.0.1:{free()}",
        temporal_ui_port=free(),
        eth_rpc_urls=[f"http://127.0.0.1:{free()}"],
        api_port=free(),
        operator_port=free(),
        sandbox_port=free(),
        kyc_sandbox_port=free(),
        log_format="json",
        **{**LOCAL_IP_LIMITS, "rate_limit_register_ip": "100000/hour", **overrides},
    )
    sup = processes.Supervisor(home)
    try:
        await bring_up(settings, sup)
        yield settings, sup
    finally:
        sup.stop_all()


class StackClient:
    """One user's app, the payer at the sandbox's checkout, and an operator, against a running stack."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient):
        self.settings = settings
        self.manifest = load_manifest(settings.deployments_dir, settings.chain_id)
        ensure_demo_program(settings, self.manifest)
        self.demo = DemoClient(settings, self.manifest, http)
        self.http = http
        self.engine = make_engine(settings.db_url)
        self.w3 = connect(settings.eth_rpc_urls, expected_chain_id=settings.chain_id)
        self.users: dict[str, LocalAccount] = {}  # wallet → its key, to sign a later registration again

    def close(self) -> None:
        self.engine.dispose()

    # --- the user's app and the payer ----------------------------------------------------------------
    async def register(self, user: LocalAccount | str | None = None) -> str:
        """Register (signed by the user's key) a new user, a given account, or a wallet registered before."""
        if isinstance(user, str):
            user = self.users[user]
        user = user or Account.create()
        self.users[user.address] = user
        await self.demo.register(user)
        return user.address

    async def charge(self, wallet: str) -> dict:
        return await self.demo.post("/v1/payments", {"program": DEMO_PROGRAM, "wallet": wallet})

    async def act(self, provider_ref: str, action: str, **params: str) -> dict:
        resp = await self.http.post(
            f"{self.settings.sandbox_base_url}/sandbox/charges/{provider_ref}/{action}", params=params
        )
        assert resp.status_code == 200, resp.text
        return resp.json()

    async def wait_state(self, wallet: str, *states: FlowState, timeout: float = WAIT_S) -> dict:
        deadline = time.monotonic() + timeout
        wanted = {s.value for s in states}
        while True:
            current = await self.demo.status(wallet)
            if current and current["state"] in wanted:
                return current
            if time.monotonic() > deadline:
                raise TimeoutError(f"{wallet} is {current and current['state']}, not {wanted} after {timeout:.0f}s")
            await asyncio.sleep(0.2)

    async def until(self, check, what: str, timeout: float = WAIT_S) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = await asyncio.to_thread(check)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} not seen after {timeout:.0f}s")
            await asyncio.sleep(0.25)

    # --- what the books and the chain show ------------------------------------------------------------
    def row(self, wallet: str) -> Onboarding:
        with Session(self.engine) as s:
            return s.exec(select(Onboarding).where(col(Onboarding.wallet) == wallet)).one()

    def payments(self, wallet: str) -> list[Payment]:
        with Session(self.engine) as s:
            return list(s.exec(select(Payment).where(col(Payment.wallet) == wallet).order_by(col(Payment.id))))

    def suspense(self, wallet: str) -> list[SuspenseItem]:
        keys = [p.key for p in self.payments(wallet)]
        with Session(self.engine) as s:
            return list(
                s.exec(
                    select(SuspenseItem).where(col(SuspenseItem.payment_key).in_(keys)).order_by(col(SuspenseItem.id))
                )
            )

    def txs(self, wallet: str) -> list[ChainTx]:
        """The relayer's transactions for this wallet's flow (keys start with its flow id)."""
        with Session(self.engine) as s:
            return list(s.exec(select(ChainTx).where(col(ChainTx.key).contains(wallet.lower()))))

    def purposes(self, wallet: str) -> list[str]:
        return sorted(tx.key.split(":")[3] for tx in self.txs(wallet) if tx.status == "confirmed")

    def books_ok(self) -> None:
        with Session(self.engine) as s:
            report = verify_books(s)
        assert report.ok, report.problems

    def ledger_kinds(self, payment_ref: str) -> list[str]:
        """The kinds of the ledger transactions that name this payment, in posting order."""
        from models.ledger import LedgerTx

        with Session(self.engine) as s:
            rows = s.exec(select(LedgerTx).order_by(col(LedgerTx.created_at))).all()
        return [tx.kind for tx in rows if (tx.refs or {}).get("payment_ref") == payment_ref]

    async def record(self, wallet: str, name: str) -> None:
        """Keep this flow's histories (and its payments' aftercare) for the replay test."""
        from models.onboarding import flow_id
        from models.onboarding_io import aftercare_id

        await record_history(self.settings, flow_id(DEMO_PROGRAM, wallet), f"onboarding-{name}")
        for n, payment in enumerate(self.payments(wallet)):
            await record_history(self.settings, aftercare_id(payment.key), f"aftercare-{name}-{n}", optional=True)

    def sge_balance(self, wallet: str) -> int:
        return int(call_view(self.w3, "SGEToken", self.manifest.address("SGEToken"), "balanceOf", wallet)[0])


HISTORIES = __import__("pathlib").Path(__file__).resolve().parents[1] / "histories"


async def record_history(settings: Settings, workflow_id: str, name: str, *, optional: bool = False) -> None:
    """With SGE_RECORD_HISTORIES=1, save the workflow's runs as `tests/histories/<name>[-<n>].json`: the
    replay test (tests/onboarding/test_replay.py) replays every committed history against the current
    workflow code, so a change that breaks flows already running fails the suite."""
    import os

    from temporal.client import connect as temporal

    if not os.environ.get("SGE_RECORD_HISTORIES"):
        return
    client = await temporal(settings)
    runs = [w async for w in client.list_workflows(f'WorkflowId = "{workflow_id}"')]
    if not runs and optional:
        return
    assert runs, f"no runs of {workflow_id} to record"
    HISTORIES.mkdir(exist_ok=True)
    for n, run in enumerate(sorted(runs, key=lambda r: r.start_time)):
        history = await client.get_workflow_handle(workflow_id, run_id=run.run_id).fetch_history()
        suffix = f"-{n}" if len(runs) > 1 else ""
        (HISTORIES / f"{name}{suffix}.json").write_text(history.to_json())
