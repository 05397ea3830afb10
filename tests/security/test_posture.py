"""Findings 8 and 11: `SGE_ENVIRONMENT=production` refuses to start with an unsafe setting, one line
naming the setting each; the payment sandbox refuses to run in production at all."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.settings import ConfigError, load_settings
from core.settings.posture import host_kind
from sandbox.app import create_sandbox_app
from tests.helpers.payments import sandbox_config
from tests.helpers.production import SECRET, safe_production

SHORT_SECRET = "tiny-Secret-9"

# (what is unsafe, the settings that make it so, the setting the refusal names)
REFUSALS = [
    ("temporal without TLS or client auth", {"temporal_api_key": None}, "SGE_TEMPORAL_TLS"),
    ("temporal TLS without client auth", {"temporal_api_key": None, "temporal_tls": True}, "SGE_TEMPORAL_TLS"),
    ("temporal cert without its key", {"temporal_tls_cert_file": "/c.pem"}, "SGE_TEMPORAL_TLS_KEY_FILE"),
    ("CORS wildcard", {"cors_origins": ["https://app.example.com", "*"]}, "SGE_CORS_ORIGINS"),
    ("CORS null origin", {"cors_origins": ["null"]}, "SGE_CORS_ORIGINS"),
    (
        "Commerce over http",
        {"coinbase_commerce_api_url": "http://api.commerce.coinbase.com"},
        "SGE_COINBASE_COMMERCE_API_URL",
    ),
    ("Commerce on loopback", {"coinbase_commerce_api_url": "https://127.0.0.1:8787"}, "SGE_COINBASE_COMMERCE_API_URL"),
    ("Business on localhost", {"coinbase_business_api_url": "https://localhost"}, "SGE_COINBASE_BUSINESS_API_URL"),
    (
        "Business on a private address",
        {"coinbase_business_api_url": "https://10.1.2.3"},
        "SGE_COINBASE_BUSINESS_API_URL",
    ),
    ("RPC over http", {"eth_rpc_urls": ["http://rpc.example.com"]}, "SGE_ETH_RPC_URLS"),
    ("RPC over ws", {"eth_rpc_urls": ["https://rpc.example.com", "ws://rpc.example.com"]}, "SGE_ETH_RPC_URLS"),
    ("RPC on loopback", {"eth_rpc_urls": ["https://127.0.0.1:8545"]}, "SGE_ETH_RPC_URLS"),
    ("RPC on localhost", {"eth_rpc_urls": ["wss://localhost/ws"]}, "SGE_ETH_RPC_URLS"),
    ("several API processes, no Redis", {"api_processes": 2}, "SGE_REDIS_URL"),
    ("operator port on every interface", {"operator_host": "0.0.0.0"}, "SGE_OPERATOR_HOST"),
    ("operator port on every IPv6 interface", {"operator_host": "::"}, "SGE_OPERATOR_HOST"),
    ("operator port on a public address", {"operator_host": "8.8.8.8"}, "SGE_OPERATOR_HOST"),
    ("operator port on a name", {"operator_host": "ops.example.com"}, "SGE_OPERATOR_HOST"),
    ("operator session secret unset", {"operator_session_secret": None}, "SGE_OPERATOR_SESSION_SECRET"),
    ("operator session secret short", {"operator_session_secret": SHORT_SECRET}, "SGE_OPERATOR_SESSION_SECRET"),
    ("SQLite", {"database_url": None}, "DATABASE_URL"),
    ("a local chain", {"chain_id": 31337}, "SGE_CHAIN_ID"),
    ("one confirmation", {"confirmations": 1}, "SGE_CONFIRMATIONS"),
    ("no hourly spend budget", {"relayer_budget_tx_per_hour": 0}, "SGE_RELAYER_BUDGET_TX_PER_HOUR"),
    ("no daily spend budget", {"relayer_budget_wei_per_day": 0}, "SGE_RELAYER_BUDGET_WEI_PER_DAY"),
    ("public host unset", {"public_host": ""}, "SGE_PUBLIC_HOST"),
    ("wallet session secret unset", {"session_secret": None}, "SGE_SESSION_SECRET"),
]


def test_the_safe_configuration_starts():
    settings = load_settings(**safe_production())
    assert settings.environment == "production" and settings.operator_host == "10.0.0.5"


@pytest.mark.parametrize(("unsafe", "overrides", "setting"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_production_refuses(unsafe, overrides, setting):
    with pytest.raises(ConfigError) as err:
        load_settings(**safe_production(**overrides))
    assert err.value.setting == setting, str(err.value)
    lines = str(err.value).splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{setting}: ")
    for value in overrides.values():  # a refusal never echoes a secret
        if value in (SECRET, SHORT_SECRET):
            assert value not in str(err.value)


@pytest.mark.parametrize(("unsafe", "overrides", "setting"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_the_same_settings_are_fine_outside_production(unsafe, overrides, setting):
    dev = {**safe_production(**overrides), "environment": "dev"}
    if setting == "DATABASE_URL":
        dev["database_url"] = None
    load_settings(**dev)


def test_every_refusal_is_reported_at_once_one_line_each():
    with pytest.raises(ConfigError) as err:
        load_settings(
            **safe_production(
                temporal_api_key=None, cors_origins=["*"], operator_host="0.0.0.0", api_processes=3, confirmations=1
            )
        )
    named = [line.split(":", 1)[0] for line in str(err.value).splitlines()]
    assert named == [
        "SGE_CONFIRMATIONS",
        "SGE_TEMPORAL_TLS",
        "SGE_CORS_ORIGINS",
        "SGE_REDIS_URL",
        "SGE_OPERATOR_HOST",
    ]


def test_redis_makes_several_processes_fine():
    load_settings(**safe_production(api_processes=4, redis_url="rediss://redis.example.com:6380/0"))


def test_mtls_is_client_authentication(tmp_path):
    settings = load_settings(
        **safe_production(temporal_api_key=None, temporal_tls_cert_file="/c.pem", temporal_tls_key_file="/k.pem")
    )
    assert settings.uses_tls


@pytest.mark.parametrize(
    ("host", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("localhost", "loopback"),
        ("10.0.0.5", "private"),
        ("192.168.1.2", "private"),
        ("fd00::1", "private"),
        ("169.254.1.1", "private"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("", "unspecified"),
        ("8.8.8.8", "public"),
        ("2001:4860::8888", "public"),
        ("ops.example.com", "name"),
    ],
)
def test_host_kinds(host, kind):
    assert host_kind(host) == kind


# --- the payment sandbox ---------------------------------------------------------------------------


def test_the_sandbox_app_refuses_production(monkeypatch):
    config = sandbox_config(8787, "http://127.0.0.1:8000")
    with pytest.raises(ConfigError) as err:
        create_sandbox_app(config, environment="production")
    assert err.value.setting == "SGE_ENVIRONMENT"
    monkeypatch.setenv("SGE_ENVIRONMENT", "production")
    with pytest.raises(ConfigError):
        create_sandbox_app(config)  # the process environment says production
    monkeypatch.setenv("SGE_ENVIRONMENT", "dev")
    create_sandbox_app(config)


def _production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SGE_") and k != "DATABASE_URL"}
    env.update(
        SGE_HOME=str(tmp_path / "var"),
        SGE_ENVIRONMENT="production",
        DATABASE_URL="postgresql+psycopg://sge@db.example/sge",
        SGE_CHAIN_ID="1",
        SGE_CONFIRMATIONS="12",
        SGE_ETH_RPC_URLS="https://rpc.example.com",
        SGE_TEMPORAL_API_KEY="temporal-api-key",
        SGE_OPERATOR_HOST="10.0.0.5",
        SGE_OPERATOR_SESSION_SECRET=SECRET,
        SGE_PUBLIC_HOST="app.example.com",
        SGE_SESSION_SECRET=SECRET,
    )
    env.update(extra)
    return env


def _sge(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        env=_production_env(tmp_path, **env),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.integration
def test_sge_payments_sandbox_refuses_production(tmp_path):
    result = _sge(tmp_path, "payments-sandbox")
    assert result.returncode == 2, result.stderr
    assert "SGE_ENVIRONMENT" in result.stderr and "sandbox" in result.stderr


@pytest.mark.integration
def test_sge_api_workers_count_for_the_redis_rule(tmp_path):
    """`sge api --workers 3` is SGE_API_PROCESSES=3: refused in production without Redis."""
    result = _sge(tmp_path, "api", "--workers", "3")
    assert result.returncode == 2, result.stderr
    assert "SGE_REDIS_URL" in result.stderr and "SGE_API_PROCESSES=3" in result.stderr


@pytest.mark.integration
def test_sge_refuses_an_unsafe_production_at_start(tmp_path):
    result = _sge(tmp_path, "api", SGE_OPERATOR_HOST="0.0.0.0", SGE_CORS_ORIGINS="*")
    assert result.returncode == 2
    assert "SGE_CORS_ORIGINS" in result.stderr and "SGE_OPERATOR_HOST" in result.stderr
    assert "Traceback" not in result.stderr
