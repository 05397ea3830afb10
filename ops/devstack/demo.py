"""The demo client: a user's app in code. It drives the main job through the public API (register by
signing the server's Sign-In with Ethereum message with the user's key, pay through the sandbox's
hosted checkout or on chain with a stablecoin, claim) and reads the result back from the chain.
`sge demo`, the onboarding benchmark and the end-to-end tests use it."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from sqlmodel import Session

from contracts.abi import encode_call, program_id
from contracts.manifest import Manifest, load_manifest
from contracts.reads import call_view
from contracts.rpc import connect
from core.db import get_engine, session_scope
from core.devchain import anvil_accounts
from core.settings import Settings
from models import ledger
from models.books import verify_books
from models.money import format_amount
from models.onboarding import FlowState
from models.operators import Actor
from models.platform import PaymentProvider
from models.programs import ProgramCreate, create_program, get_program
from ops.devstack import processes
from ops.devstack.chain import sync_programs

DEMO_PROGRAM = "demo"
FLOW_TIMEOUT_S = 120.0
# 409s that mean "not yet": the request is retried (a flow still minting has no payment to show).
RETRY_CODES = ("idempotency_in_flight", "payment_not_ready")


@dataclass
class FlowReport:
    wallet: str
    rail: str
    referred_by: str | None
    state: str = "not started"
    reason: str = ""
    token_id: int | None = None
    payment_ref: str | None = None
    paid: str | None = None
    claim_tx: str | None = None
    sge_balance: str | None = None
    seconds: float | None = None


@dataclass
class DemoReport:
    ok: bool = False
    api: str = ""
    operator: str = ""  # the operator port: /v1/ops, pages, docs, metrics
    web_ui: str = ""
    app: str = ""  # the user's app for the demo program (a browser with a wallet)
    program: str = DEMO_PROGRAM
    affiliates: list[dict[str, Any]] = field(default_factory=list)
    flows: list[FlowReport] = field(default_factory=list)
    ledger: dict[str, Any] = field(default_factory=dict)
    commissions: list[dict[str, Any]] = field(default_factory=list)
    payout: dict[str, Any] = field(default_factory=dict)  # ops/devstack/demo_payouts.py


class DemoClient:
    """What a user's app does: HTTP to the API, the sandbox's hosted checkout, and the wallet."""

    def __init__(self, settings: Settings, manifest: Manifest, http: httpx.AsyncClient):
        self.settings = settings
        self.manifest = manifest
        self.http = http
        self.api = settings.api_base_url
        self.sandbox = settings.sandbox_base_url
        self.w3 = connect(settings.eth_rpc_urls, expected_chain_id=settings.chain_id)
        self.sessions: dict[str, str] = {}  # wallet (lower case) → the wallet session registration granted

    async def post(self, path: str, body: dict, *, expect: tuple[int, ...] = (200, 201, 202)) -> dict:
        """POST like a careful client: one Idempotency-Key, retried on 503, on "still in flight" and on
        connection errors (the key makes every retry safe). A write for a wallet this client registered
        carries its wallet session."""
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        token = self.sessions.get(str(body.get("wallet", "")).lower())
        if token:
            headers["Authorization"] = f"Wallet {token}"
        deadline = time.monotonic() + FLOW_TIMEOUT_S
        while True:
            try:
                resp = await self.http.post(f"{self.api}{path}", json=body, headers=headers)
            except httpx.TransportError:
                resp = None
            if resp is not None and resp.status_code in expect:
                return resp.json()
            retryable = (
                resp is None
                or resp.status_code == 503
                or (resp.status_code == 409 and resp.json().get("error", {}).get("code") in RETRY_CODES)
            )
            if not retryable or time.monotonic() > deadline:
                detail = f"{resp.status_code}: {resp.text[:300]}" if resp is not None else "no answer"
                raise RuntimeError(f"POST {path} → {detail}")
            await asyncio.sleep(float(resp.headers.get("Retry-After", 1)) if resp is not None else 1.0)

    async def status(self, wallet: str) -> dict | None:
        resp = await self.http.get(f"{self.api}/v1/status", params={"program": DEMO_PROGRAM, "wallet": wallet})
        return resp.json() if resp.status_code == 200 else None

    async def register_affiliate(self, account: LocalAccount, parent_code: str | None) -> dict:
        issued = await self.post("/v1/affiliates/nonce", {"program": DEMO_PROGRAM, "wallet": account.address})
        signature = account.sign_message(encode_defunct(text=issued["message"])).signature.hex()
        return await self.post(
            "/v1/affiliates",
            {
                "program": DEMO_PROGRAM,
                "wallet": account.address,
                "nonce": issued["nonce"],
                "signature": "0x" + signature.removeprefix("0x"),
                "parent_code": parent_code,
            },
        )

    async def register(self, user: LocalAccount, code: str | None = None) -> dict:
        """Sign-In with Ethereum: ask for the registration message, sign it with the user's key, send it
        back. Keeps the wallet session the answer carries for the user's later writes."""
        request = {"program": DEMO_PROGRAM, "wallet": user.address, "referral_code": code}
        issued = await self.post("/v1/auth/nonce", request)
        signature = user.sign_message(encode_defunct(text=issued["message"])).signature.hex()
        signed = {"message": issued["message"], "signature": "0x" + signature.removeprefix("0x")}
        registered = await self.post("/v1/register", signed)  # a retry re-sends the same signature: safe
        self.sessions[user.address.lower()] = registered["session"]["token"]
        return registered

    async def wait_state(self, wallet: str, states: set[str], timeout: float = FLOW_TIMEOUT_S) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            current = await self.status(wallet)
            if current and (current["state"] in states or FlowState(current["state"]).terminal):
                return current
            if time.monotonic() > deadline:
                raise TimeoutError(f"{wallet} still {current and current['state']} after {timeout:.0f}s")
            await asyncio.sleep(0.2)

    # --- the two rails ------------------------------------------------------------------------------
    async def pay_with_coinbase(self, user: LocalAccount, code: str | None) -> dict:
        wallet = user.address
        await self.register(user, code)
        charge = await self.post("/v1/payments", {"program": DEMO_PROGRAM, "wallet": wallet})
        resp = await self.http.post(f"{self.sandbox}/sandbox/charges/{charge['provider_ref']}/pay")
        resp.raise_for_status()  # the payer clicks "Pay" on the hosted checkout
        return await self.wait_state(wallet, {FlowState.COMPLETED.value})

    async def pay_on_chain(self, user: LocalAccount, code: str | None) -> dict:
        await asyncio.to_thread(self._fund_user, user)
        await self.register(user, code)
        await self.wait_state(user.address, {FlowState.AWAITING_PAYMENT.value})
        prepared = await self.post(
            "/v1/claims/prepare", {"program": DEMO_PROGRAM, "wallet": user.address, "token": "USDT"}
        )
        claim_tx = None
        for step in prepared["steps"]:
            claim_tx = await asyncio.to_thread(self._send, user, step["to"], step["data"])
        await self.post("/v1/claims/record", {"program": DEMO_PROGRAM, "wallet": user.address, "tx_hash": claim_tx})
        return await self.wait_state(user.address, {FlowState.COMPLETED.value})

    def _fund_user(self, user: LocalAccount) -> None:
        """Local chain only: gas money, 100 TestUSDT, and a stale non-zero USDT allowance."""
        faucet = anvil_accounts()[0]  # the deployer: admin/minter of the test stablecoins
        self._send(faucet, user.address, "0x", value=10**17)
        usdt = self.manifest.address("TestUSDT")
        fee = int(
            call_view(self.w3, "SGEClaim", self.manifest.address("SGEClaim"), "feeOf", program_id(DEMO_PROGRAM), usdt)[
                0
            ]
        )
        self._send(faucet, usdt, "0x" + encode_call("TestUSDT", "mint", user.address, fee).hex())
        # A leftover allowance below the fee: USDT would refuse approve(fee) on top of it.
        self._send(user, usdt, "0x" + encode_call("TestUSDT", "approve", self.manifest.address("SGEClaim"), 1).hex())

    def _send(self, account: LocalAccount, to: str, data: str, value: int = 0) -> str:
        return processes.send_signed(self.w3, account, to, data, value)

    def sge_balance(self, wallet: str) -> int:
        return int(call_view(self.w3, "SGEToken", self.manifest.address("SGEToken"), "balanceOf", wallet)[0])

    def token_of(self, wallet: str) -> int:
        return int(call_view(self.w3, "SGEID", self.manifest.address("SGEID"), "tokenOf", wallet)[0])


def fund_wallet(settings: Settings, address: str, *, eth_wei: int, usd_minor: int) -> dict[str, str]:
    """Local chain only: send a wallet ETH for gas and mint it TestUSDC and TestUSDT (`sge dev fund`),
    so a person can try the app with a wallet extension. Returns each transaction's hash."""
    manifest = load_manifest(settings.deployments_dir, settings.chain_id)
    w3 = connect(settings.eth_rpc_urls, expected_chain_id=settings.chain_id)
    faucet = anvil_accounts()[0]  # the deployer: admin/minter of the test stablecoins
    sent = {"ETH": processes.send_signed(w3, faucet, address, "0x", value=eth_wei)}
    for token in ("TestUSDC", "TestUSDT"):
        data = "0x" + encode_call(token, "mint", address, usd_minor).hex()
        sent[token] = processes.send_signed(w3, faucet, manifest.address(token), data)
    return sent


def ensure_demo_program(settings: Settings, manifest: Manifest) -> None:
    """The demo program in the database and its claim config on chain (amount, fee per stablecoin)."""
    engine = get_engine(settings.db_url)
    with session_scope(engine) as session:
        if get_program(session, DEMO_PROGRAM) is None:
            create_program(
                session,
                Actor(name="sge demo"),
                ProgramCreate(
                    slug=DEMO_PROGRAM,
                    name="SGE demo program",
                    treasury_address=manifest.treasury,
                    payment_provider=PaymentProvider.COINBASE_COMMERCE,
                ),
            )
    sync_programs(settings, [DEMO_PROGRAM])


async def run_flows(settings: Settings, n_flows: int, say) -> DemoReport:
    manifest = load_manifest(settings.deployments_dir, settings.chain_id)
    await asyncio.to_thread(ensure_demo_program, settings, manifest)  # sends transactions: off the loop
    report = DemoReport(
        api=settings.api_base_url,
        operator=settings.operator_base_url,
        web_ui=f"{settings.temporal_ui_url}/namespaces/{settings.temporal_namespace}/workflows",
        app=f"{settings.app_url}/{DEMO_PROGRAM}",
    )
    async with httpx.AsyncClient(timeout=30) as http:
        client = DemoClient(settings, manifest, http)
        root, child = Account.create(), Account.create()
        top = await client.register_affiliate(root, None)
        below = await client.register_affiliate(child, top["code"])
        report.affiliates = [
            {
                "wallet": root.address,
                "code": top["code"],
                "depth": top["depth"],
                "role": "root (earns the 5 % override)",
            },
            {
                "wallet": child.address,
                "code": below["code"],
                "depth": below["depth"],
                "role": "refers the users (earns 10 %)",
            },
        ]
        say(f"affiliates: {top['code']} (root) ← {below['code']}; {n_flows} users referred by {below['code']}")

        users = [Account.create() for _ in range(max(n_flows, 1))]
        onchain_index = 1 if len(users) > 1 else 0

        async def one(i: int, user: LocalAccount) -> FlowReport:
            rail = "onchain (TestUSDT)" if i == onchain_index else "coinbase_commerce (sandbox)"
            flow = FlowReport(wallet=user.address, rail=rail, referred_by=below["code"])
            started = time.monotonic()
            try:
                final = await (
                    client.pay_on_chain(user, below["code"])
                    if i == onchain_index
                    else client.pay_with_coinbase(user, below["code"])
                )
            except Exception as exc:  # noqa: BLE001 - reported per flow; the demo goes on
                flow.state, flow.reason = "error", f"{type(exc).__name__}: {exc}"
                return flow
            flow.seconds = round(time.monotonic() - started, 2)
            flow.state, flow.reason = final["state"], final["reason"]
            flow.token_id = await asyncio.to_thread(client.token_of, user.address) or None
            if final.get("paid"):
                flow.payment_ref = final["paid"]["payment_ref"]
                flow.paid = f"{format_amount(final['paid']['amount_minor'], 6)} {final['paid']['asset']}"
            if final.get("claimed"):
                flow.claim_tx = final["claimed"]["claim"]["tx_hash"]
            flow.sge_balance = format_amount(await asyncio.to_thread(client.sge_balance, user.address), 18)
            say(
                f"{'✓' if flow.state == 'completed' else '✗'} {user.address} {flow.state} via {rail} in {flow.seconds}s"
            )
            return flow

        report.flows = list(await asyncio.gather(*(one(i, u) for i, u in enumerate(users[:n_flows]))))

    engine = get_engine(settings.db_url)
    with Session(engine) as session:
        verified = verify_books(session)
        report.ledger = verified.model_dump(mode="json")
        report.commissions = [b.model_dump(mode="json") for b in ledger.balances(session, prefix="liability:")]
    report.ok = verified.ok and all(f.state == FlowState.COMPLETED.value for f in report.flows)
    return report
