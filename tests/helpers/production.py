"""A production configuration that passes every posture rule (core/settings/posture.py): tests of one
refusal change one setting of it."""

from __future__ import annotations

from typing import Any

from core.settings import Settings

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
    )
    # Wallet sign-in settings (core/settings/wallet_auth.py), where this tree has them.
    if "public_host" in Settings.model_fields:
        values["public_host"] = "app.example.com"
    if "session_secret" in Settings.model_fields:
        values["session_secret"] = SECRET
    values.update(overrides)
    return values
