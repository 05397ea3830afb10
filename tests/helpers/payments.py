"""Payment test helpers: credentials and programs, the sandbox's configuration, and real HTTP servers
(the sandbox and a webhook receiver, each uvicorn on a free port)."""

from __future__ import annotations

import base64
import threading
import time
import uuid
from dataclasses import dataclass, field

import httpx
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine

from core.db import session_scope
from models.payments import PaymentEvent
from models.platform import PaymentProvider, Program
from ops.devstack.processes import free_port
from payments.business import parse_business_webhook, verify_hook0_signature
from payments.commerce import parse_commerce_webhook, verify_commerce_signature
from sandbox.store import SandboxConfig

COMMERCE_API_KEY = "test-commerce-api-key"
COMMERCE_WEBHOOK_SECRET = "test-commerce-webhook-secret"
BUSINESS_KEY_ID = "organizations/test-org/apiKeys/test-key"
BUSINESS_WEBHOOK_SECRET = "test-business-webhook-secret"
BUSINESS_KEY_PEM = (
    ec.generate_private_key(ec.SECP256R1())
    .private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    .decode()
)
# CDP's Ed25519 key format: base64 of seed + public key (64 bytes).
_ed = ed25519.Ed25519PrivateKey.generate()
BUSINESS_KEY_ED25519 = base64.b64encode(
    _ed.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    + _ed.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
).decode()

FEE = 100_000_000  # 100 USD at 6 decimals
WALLET = "0x52908400098527886E0F7030069857D2E4169EE7"  # an EIP-55 test vector address


def make_program(engine: Engine, provider: PaymentProvider, slug: str | None = None, fee: int = FEE) -> Program:
    with session_scope(engine) as session:
        program = Program(
            slug=slug or f"p-{uuid.uuid4().hex[:8]}",
            name="Test program",
            treasury_address=WALLET,
            fee_usd_minor=fee,
            claim_amount_minor=1000 * 10**18,
            commission_bps=[1000, 500],
            payment_provider=provider,
        )
        session.add(program)
    return program


def sandbox_config(port: int, webhook_base: str | None, **overrides) -> SandboxConfig:
    config = SandboxConfig(
        public_url=f"http://127.0.0.1:{port}",
        commerce_api_key=COMMERCE_API_KEY,
        commerce_webhook_secret=COMMERCE_WEBHOOK_SECRET,
        commerce_webhook_url=f"{webhook_base}/v1/webhooks/coinbase-commerce" if webhook_base else None,
        business_key_id=BUSINESS_KEY_ID,
        business_key_secret=BUSINESS_KEY_PEM,
        business_webhook_secret=BUSINESS_WEBHOOK_SECRET,
        business_webhook_url=f"{webhook_base}/v1/webhooks/coinbase-business" if webhook_base else None,
        # Compressed retry schedule: 10 ms, 20 ms, 40 ms ... so retries are tested without waiting.
        retry_base_seconds=0.01,
        retry_max_seconds=0.05,
        max_attempts=4,
    )
    for name, value in overrides.items():
        setattr(config, name, value)
    return config


class ServerThread:
    """uvicorn serving `app` in a background thread (its own event loop), until the block ends."""

    def __init__(self, app, port: int | None = None):
        self.app = app
        self.port = port or free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", log_config=None, lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"server on port {self.port} did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class ReceiverState:
    requests: list[Received] = field(default_factory=list)
    fail_next: int = 0  # answer 500 to this many requests, then 200
    lock: threading.Lock = field(default_factory=threading.Lock)

    def by_path(self, suffix: str) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.path.endswith(suffix)]


def receiver_app() -> FastAPI:
    """Records every webhook as delivered (raw body and headers); fails on demand."""
    app = FastAPI()
    state = ReceiverState()
    app.state.receiver = state

    @app.post("/{path:path}")
    async def receive(path: str, request: Request):
        body = await request.body()
        headers = {k.decode().lower(): v.decode() for k, v in request.headers.raw}
        with state.lock:
            state.requests.append(Received("/" + path, headers, body))
            if state.fail_next > 0:
                state.fail_next -= 1
                return JSONResponse({"error": "try later"}, status_code=500)
        return {"ok": True}

    return app


def wait_for(predicate, timeout: float = 10.0, what: str = "condition"):
    """Polls a cheap predicate (no fixed sleeps standing in for backoff)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def settled_deliveries(sandbox_url: str, ref: str, count: int, timeout: float = 10.0) -> list[dict]:
    """The charge's deliveries, once `count` of them exist and none is still pending."""

    def ready():
        rows = httpx.get(f"{sandbox_url}/sandbox/deliveries", params={"ref": ref}).json()
        if len(rows) >= count and all(r["state"] != "pending" for r in rows):
            return rows
        return None

    return wait_for(ready, timeout, f"{count} settled deliveries for {ref}")


def act(sandbox, ref: str, action: str, **params) -> dict:
    resp = httpx.post(f"{sandbox.url}/sandbox/charges/{ref}/{action}", params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()


def received_events(receiver, provider: PaymentProvider) -> list[PaymentEvent]:
    """Every webhook the receiver got, verified with the platform's verifier, parsed to PaymentEvents."""
    events = []
    for req in receiver.app.state.receiver.by_path(provider.value.replace("_", "-")):
        if provider == PaymentProvider.COINBASE_COMMERCE:
            verify_commerce_signature(COMMERCE_WEBHOOK_SECRET, req.body, req.headers.get("x-cc-webhook-signature"))
            events.append(parse_commerce_webhook(req.body))
        else:
            sig = verify_hook0_signature(
                BUSINESS_WEBHOOK_SECRET, req.body, req.headers.get("x-hook0-signature"), req.headers
            )
            events.append(parse_business_webhook(req.body, req.headers, sig.header_names))
    return events
