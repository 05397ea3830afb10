"""A production configuration that passes every posture rule (core/settings/posture.py): tests of one
refusal change one setting of it."""

from __future__ import annotations

from typing import Any

SECRET = "s" * 48


def safe_production(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = dict(
        _env_file=None,
        environment="production",
        database_url="postgresql+psycopg://sge@db.example/sge",
        chain_id=1,
        confirmations=12,
        eth_rpc_urls=["https://rpc.example.com"],
        temporal_address="temporal.example.com:7233",
        temporal_api_key="temporal-api-key",
        operator_host="10.0.0.5",
        operator_session_secret=SECRET,
        public_host="app.example.com",
        session_secret=SECRET,
    )
    values.update(overrides)
    return values
