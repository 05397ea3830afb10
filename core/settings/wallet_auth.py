"""Settings of wallet-signed registration (EIP-4361), wallet sessions, the public endpoints' rate limits
and the housekeeping that keeps their records bounded."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlparse

from limits import parse as parse_rate
from pydantic import BaseModel, Field, SecretStr, field_validator

if TYPE_CHECKING:
    from core.settings import Settings

RATE_FIELDS = (
    "rate_limit_nonce_ip",
    "rate_limit_nonce_wallet",
    "rate_limit_payments_ip",
    "rate_limit_payments_wallet",
    "rate_limit_status_ip",
)


class WalletAuthFields(BaseModel):
    """Wallet-signed registration, wallet sessions, public rate limits and housekeeping."""

    # --- sign-in with ethereum ---------------------------------------------------------------------
    public_host: str = Field(
        "",
        description="Domain (host[:port]) the user's wallet sees in the registration message it signs "
        "(default: host:port of the API's public URL).",
    )
    siwe_nonce_ttl_seconds: int = Field(
        600, ge=60, le=3600, description="Lifetime of a registration message (its Expiration Time)."
    )
    siwe_max_nonces_per_wallet: int = Field(
        5, ge=1, le=1000, description="Outstanding (unused, unexpired) registration messages per wallet."
    )
    siwe_max_nonces_per_ip: int = Field(
        20, ge=1, le=100_000, description="Outstanding registration messages per client IP (IPv6: per /64)."
    )
    auth_nonce_retention_seconds: int = Field(
        86400, ge=60, description="Used or expired registration messages are deleted this long after expiry."
    )

    # --- wallet sessions -----------------------------------------------------------------------------
    session_secret: SecretStr | None = Field(
        None,
        description="HMAC key of wallet sessions (32+ characters). Secret; or SGE_SESSION_SECRET_FILE. "
        "Registration answers 503 without it.",
    )
    session_ttl_seconds: int = Field(3600, ge=60, le=7 * 86400, description="Lifetime of a wallet session.")

    # --- public rate limits (limits notation) --------------------------------------------------------
    rate_limit_nonce_ip: str = Field("60/hour", description="POST /v1/auth/nonce per client IP (IPv6: per /64).")
    rate_limit_nonce_wallet: str = Field("20/hour", description="POST /v1/auth/nonce per wallet.")
    rate_limit_payments_ip: str = Field("600/hour", description="POST /v1/payments per client IP (IPv6: per /64).")
    rate_limit_payments_wallet: str = Field("120/hour", description="POST /v1/payments per wallet.")
    rate_limit_status_ip: str = Field("120/minute", description="GET /v1/status per client IP (IPv6: per /64).")

    # --- housekeeping ----------------------------------------------------------------------------------
    housekeeping_interval_minutes: int = Field(
        60,
        ge=1,
        le=1440,
        description="How often the Housekeeping schedule deletes expired idempotency records and old nonces.",
    )

    @field_validator(*RATE_FIELDS)
    @classmethod
    def _check_public_rate(cls, value: str) -> str:
        try:
            parse_rate(value)
        except ValueError:
            raise ValueError(f"not a rate like '5/hour': {value!r}") from None
        return value

    @field_validator("session_secret")
    @classmethod
    def _check_session_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().strip()) < 32:
            raise ValueError("too short: use at least 32 random characters")  # never echo the value
        return value


def siwe_domain(settings: Settings) -> str:
    """The domain registration messages name: SGE_PUBLIC_HOST, else the API's public host:port."""
    return settings.public_host or urlparse(settings.api_base_url).netloc
