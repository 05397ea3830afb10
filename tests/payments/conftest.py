"""Fixtures for the payment tests: credentials, programs, the sandbox and a receiver over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from core.settings import Settings
from models.platform import PaymentProvider, Program
from ops.devstack.processes import free_port
from sandbox.app import create_sandbox_app
from tests.helpers.payments import (
    BUSINESS_KEY_ID,
    BUSINESS_KEY_PEM,
    BUSINESS_WEBHOOK_SECRET,
    COMMERCE_API_KEY,
    COMMERCE_WEBHOOK_SECRET,
    ServerThread,
    make_program,
    receiver_app,
    sandbox_config,
)


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


@pytest.fixture
def sandbox(receiver) -> Iterator[ServerThread]:
    port = free_port()
    with ServerThread(create_sandbox_app(sandbox_config(port, receiver.url)), port) as server:
        yield server


@pytest.fixture
def pay_settings(settings: Settings, sandbox: ServerThread) -> Settings:
    """Settings whose provider base URLs point at the sandbox: the production adapters, unchanged."""
    return settings.model_copy(
        update={"coinbase_commerce_api_url": sandbox.url, "coinbase_business_api_url": sandbox.url}
    )
