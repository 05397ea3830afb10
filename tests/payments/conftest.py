"""Fixtures for the payment tests: credentials, programs, the sandbox and a receiver over real HTTP."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from pydantic import SecretStr
from sqlalchemy.engine import Engine

from ops.devstack.processes import free_port
from core.db import session_scope
from models.platform import PaymentProvider, Program
from core.settings import Settings
from sandbox.app import create_sandbox_app
from sandbox.store import SandboxConfig
from tests.payments.support import ServerThread, receiver_app

COMMERCE_API_KEY = "test-commerce-api-key"
COMMERCE_WEBHOOK_SECRET = "test-commerce-webhook-secret"
BUSINESS_KEY_ID = "organizations/test-org/apiKeys/test-key"
BUSINESS_WEBHOOK_SECRET = "test-business-webhook-secret"
BUSINESS_KEY_PEM = (
    ec.generate_private_key(ec.SECP256R1())
    .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption())
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


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The base test settings plus payment credentials (webhook secrets configured: fail-closed is tested separately)."""
    return settings.model_copy(
        update={
            "coinbase_commerce_api_key": SecretStr(COMMERCE_API_KEY),
            "coinbase_commerce_webhook_secret": SecretStr(COMMERCE_WEBHOOK_SECRET),
            "coinbase_business_api_key_id": BUSINESS_KEY_ID,
            "coinbase_business_api_key": SecretStr(BUSINESS_KEY_PEM),
            "coinbase_business_webhook_secret": SecretStr(BUSINESS_WEBHOOK_SECRET),
        }
    )


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


@pytest.fixture
def commerce_program(db_engine) -> Program:
    return make_program(db_engine, PaymentProvider.COINBASE_COMMERCE)


@pytest.fixture
def business_program(db_engine) -> Program:
    return make_program(db_engine, PaymentProvider.COINBASE_BUSINESS)


@pytest.fixture
def receiver() -> Iterator[ServerThread]:
    with ServerThread(receiver_app()) as server:
        yield server


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


@pytest.fixture
def sandbox(receiver) -> Iterator[ServerThread]:
    port = free_port()
    with ServerThread(create_sandbox_app(sandbox_config(port, receiver.url)), port) as server:
        yield server


@pytest.fixture
def pay_settings(settings: Settings, sandbox: ServerThread) -> Settings:
    """Settings whose provider base URLs point at the sandbox: the production adapters, unchanged."""
    return settings.model_copy(update={"coinbase_commerce_api_url": sandbox.url, "coinbase_business_api_url": sandbox.url})
