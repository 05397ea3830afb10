"""Finding 10: secrets are never printed. Planted secrets (a database password, a Redis password, an RPC
key in a URL path, a webhook secret) appear neither in `sge config`, nor in the API's JSON logs, nor in
its error bodies (a 500, a domain error, a readiness failure)."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys

import httpx
import pytest
import structlog

from api.app import create_apps
from api.errors import ApiError
from core.db import make_engine
from core.logs import configure_logging
from core.redact import REDACTED, SecretMasker, redact, redact_url, url_credentials

DB_PASSWORD = "Db-Passw0rd-planted"
REDIS_PASSWORD = "Redis-Passw0rd-planted"
RPC_KEY = "fedcba9876543210fedcba9876543210"
WEBHOOK_SECRET = "whsec-Planted-Webhook-Secret"
QUERY_KEY = "query-Key-planted"
PLANTED = (DB_PASSWORD, REDIS_PASSWORD, RPC_KEY, WEBHOOK_SECRET, QUERY_KEY)

DB_URL = f"postgresql+psycopg://sge:{DB_PASSWORD}@127.0.0.1:1/sge"
REDIS_URL = f"redis://:{REDIS_PASSWORD}@127.0.0.1:1/0"
RPC_URL = f"https://127.0.0.1:1/v3/{RPC_KEY}"
PROVIDER_URL = f"https://api.example.com/?api_key={QUERY_KEY}"


def _clean(text: str) -> None:
    for planted in PLANTED:
        assert planted not in text, f"{planted} leaked:\n{text[:3000]}"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (DB_URL, "postgresql+psycopg://sge:***@127.0.0.1:1/sge"),
        (REDIS_URL, "redis://:***@127.0.0.1:1/0"),
        (RPC_URL, "https://127.0.0.1:1/v3/***"),
        ("https://eth-mainnet.g.alchemy.com/v2/Ab3dEfGhIjKlMnOpQrStUv", "https://eth-mainnet.g.alchemy.com/v2/***"),
        ("https://x.quiknode.pro/0123456789abcdef0123456789abcdef01234567/", "https://x.quiknode.pro/***/"),
        ("https://eth-mainnet.blastapi.io/3f1c7c7e-5a4b-4c1e-9f0a-1b2c3d4e5f60", "https://eth-mainnet.blastapi.io/***"),
        (
            "https://rpc.example.com/?apikey=k1&chain=1&Token=t2",
            "https://rpc.example.com/?apikey=***&chain=1&Token=***",
        ),
        ("wss://tok3nXYZ@rpc.example.com/ws", "wss://***@rpc.example.com/ws"),
        ("postgresql+psycopg://postgres@db.example/sge", "postgresql+psycopg://postgres@db.example/sge"),
        # What is not a credential stays readable.
        ("https://api.commerce.coinbase.com/charges", "https://api.commerce.coinbase.com/charges"),
        ("https://etherscan.io/tx/0x" + "ab" * 32, "https://etherscan.io/tx/0x" + "ab" * 32),
        ("http://127.0.0.1:8000/v1/webhooks/coinbase-commerce", "http://127.0.0.1:8000/v1/webhooks/coinbase-commerce"),
        ("sqlite:////var/sge/sge.db", "sqlite:////var/sge/sge.db"),
        ("not a url", "not a url"),
    ],
)
def test_redact_url(url, shown):
    assert redact_url(url) == shown


def test_url_credentials_and_masking():
    assert url_credentials(DB_URL) == [DB_PASSWORD]
    assert url_credentials(RPC_URL) == [RPC_KEY]
    masker = SecretMasker()
    masker.add(["0x" + "ab" * 32, "a b/c", "abc"])  # "abc" is too short to mask anything
    text = f"key {'AB' * 32} and {'ab' * 32} in a%20b%2Fc or a b/c, abc"
    assert masker.mask(text) == f"key {REDACTED} and {REDACTED} in {REDACTED} or {REDACTED}, abc"
    assert redact(f"boom at {DB_URL}: refused") == "boom at postgresql+psycopg://sge:***@127.0.0.1:1/sge: refused"


@pytest.fixture
def json_logs():
    """The process's logging as `sge api` configures it (JSON lines), captured; restored afterwards."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, structlog.get_config())
    configure_logging("INFO", "json", process="api", cache_loggers=False)
    captured = io.StringIO()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(captured)
    yield captured.getvalue
    root.handlers[:], level, config = saved
    root.setLevel(level)
    structlog.configure(**config)


async def test_api_logs_and_error_bodies_hold_no_secret(tmp_path, db_url, db_engine, json_logs):
    from core.settings import Settings

    settings = Settings(
        _env_file=None,
        home=tmp_path / "home",
        environment="test",
        database_url=DB_URL,
        redis_url=REDIS_URL,
        eth_rpc_urls=[RPC_URL],
        coinbase_commerce_webhook_secret=WEBHOOK_SECRET,
        coinbase_commerce_api_url=PROVIDER_URL,
        temporal_address="127.0.0.1:1",
        relayer_address="0x" + "11" * 20,
    )
    down_db = make_engine(DB_URL)
    public_app, operator_app = create_apps(settings, engine=down_db)
    every_secret = f"{DB_URL} {REDIS_URL} {RPC_URL} {PROVIDER_URL} secret={WEBHOOK_SECRET}"

    @public_app.get("/test/crash")
    async def crash():
        raise RuntimeError(f"crashed talking to {every_secret}")

    @public_app.get("/test/refused")
    async def refused():
        raise ApiError(502, "provider_failed", f"provider said no: {every_secret}", details=every_secret)

    bodies = []
    try:
        async with public_app.router.lifespan_context(public_app), operator_app.router.lifespan_context(operator_app):
            public = httpx.ASGITransport(app=public_app, raise_app_exceptions=False)
            operator = httpx.ASGITransport(app=operator_app)
            async with (
                httpx.AsyncClient(transport=public, base_url="http://t") as client,
                httpx.AsyncClient(transport=operator, base_url="http://t") as ops,
            ):
                crashed = await client.get("/test/crash")
                domain = await client.get("/test/refused")
                ready = await ops.get("/readyz")
                public_ready = await client.get("/readyz")
                bodies = [crashed, domain, ready, public_ready]
        # A stdlib logger (uvicorn reporting the same crash) goes through the same redaction.
        try:
            raise RuntimeError(every_secret)
        except RuntimeError:
            logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    finally:
        down_db.dispose()
    assert crashed.status_code == 500 and domain.status_code == 502 and ready.status_code == 503
    assert ready.json()["failing"] == ["database", "temporal", "rpc", "relayer"]
    for resp in bodies:
        _clean(resp.text)
    assert "sge:***@" in domain.text and "/v3/***" in ready.text  # redacted, not dropped
    logs = json_logs()
    assert "unhandled_error" in logs and "crashed talking to" in logs and "Exception in ASGI application" in logs
    _clean(logs)


@pytest.mark.integration  # runs `sge config` as a process
def test_sge_config_prints_no_secret(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SGE_") and k != "DATABASE_URL"}
    env.update(
        SGE_HOME=str(tmp_path / "var"),
        DATABASE_URL=DB_URL,
        SGE_REDIS_URL=REDIS_URL,
        SGE_ETH_RPC_URLS=f"{RPC_URL},http://127.0.0.1:8545",
        SGE_COINBASE_COMMERCE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        SGE_COINBASE_COMMERCE_API_URL=PROVIDER_URL,
    )
    result = subprocess.run(
        [sys.executable, "-m", "cli", "config"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    _clean(output)
    assert "postgresql+psycopg://sge:***@127.0.0.1:1/sge" in output
    assert "redis://:***@127.0.0.1:1/0" in output and "/v3/***" in output and "api_key=***" in output
    assert "SGE_COINBASE_COMMERCE_WEBHOOK_SECRET" in output and "(set)" in output
