"""The platform's one settings object, read from the environment and an optional `.env`.

Every setting is `SGE_<NAME>` (`DATABASE_URL` is accepted too). A secret can instead be given as
`SGE_<NAME>_FILE=/path` (the file's content, stripped), the usual way to mount secrets. Secrets are
`SecretStr`: they never appear in reprs, logs or error messages.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from limits import parse as parse_rate
from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

ENV_PREFIX = "SGE_"
# Secrets that may come from `<ENV_NAME>_FILE`.
_SECRET_FIELDS = (
    "relayer_private_key",
    "deployer_private_key",
    "temporal_api_key",
    "coinbase_commerce_api_key",
    "coinbase_commerce_webhook_secret",
    "coinbase_business_api_key",
    "coinbase_business_webhook_secret",
)
LOCAL_CHAIN_IDS = frozenset({31337, 1337})


class ConfigError(Exception):
    """A setting is missing or invalid. `str()` is one line naming the setting."""

    def __init__(self, setting: str, problem: str):
        self.setting = setting
        self.problem = problem
        super().__init__(f"{setting}: {problem}")


def _csv(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    # --- runtime state -------------------------------------------------------------------------
    home: Path = Field(Path("var"), description="App home: SQLite DB, Temporal DB, logs, deployment manifests.")
    environment: Literal["dev", "test", "production"] = Field(
        "dev", description="Deployment kind. `production` refuses SQLite and local chain ids."
    )

    # --- database ------------------------------------------------------------------------------
    database_url: str | None = Field(
        None,
        validation_alias=AliasChoices("SGE_DATABASE_URL", "DATABASE_URL"),
        description="SQLAlchemy URL. Default: SQLite file `<home>/sge.db`. PostgreSQL: `postgresql+psycopg://user@host/db`.",
    )
    database_pool_size: int = Field(10, ge=1, le=200, description="Connections per process (PostgreSQL).")

    # --- temporal ------------------------------------------------------------------------------
    temporal_address: str = Field("127.0.0.1:7233", description="Temporal frontend host:port.")
    temporal_namespace: str = Field("default", description="Temporal namespace.")
    temporal_task_queue: str = Field("sge", description="Task queue the worker polls.")
    temporal_tls: bool = Field(False, description="Use TLS to reach Temporal (implied by a client cert).")
    temporal_tls_cert_file: Path | None = Field(None, description="Client certificate (mTLS), PEM.")
    temporal_tls_key_file: Path | None = Field(None, description="Client key (mTLS), PEM.")
    temporal_tls_ca_file: Path | None = Field(None, description="CA bundle for the server certificate, PEM.")
    temporal_api_key: SecretStr | None = Field(None, description="API key (Temporal Cloud). Secret.")
    temporal_ui_port: int = Field(8233, ge=1, le=65535, description="Web UI port of the embedded dev server.")
    temporal_web_url: str = Field("http://127.0.0.1:8233", description="Web UI base URL printed for operators.")
    worker_max_concurrent_activities: int = Field(64, ge=1, le=2000, description="Activity slots per worker.")
    worker_metrics_port: int | None = Field(
        None, ge=1, le=65535, description="Prometheus port for the worker's SDK metrics (off when unset)."
    )

    # --- ethereum ------------------------------------------------------------------------------
    eth_rpc_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["http://127.0.0.1:8545"],
        description="JSON-RPC endpoints, comma separated; the first that answers is used.",
    )
    chain_id: int = Field(31337, ge=1, description="Expected chain id; checked before any transaction is signed.")
    confirmations: int = Field(1, ge=1, le=100, description="Blocks after which a transaction is final.")
    explorer_url: str = Field("", description="Block explorer base URL for links (e.g. https://etherscan.io).")
    relayer_private_key: SecretStr | None = Field(
        None, description="Relayer hot key (hex). Secret; or SGE_RELAYER_PRIVATE_KEY_FILE."
    )
    deployer_private_key: SecretStr | None = Field(
        None, description="Contract deployer key (hex). Secret; or SGE_DEPLOYER_PRIVATE_KEY_FILE."
    )
    relayer_address: str | None = Field(
        None,
        description="The relayer's public address, for processes that must not hold its key "
        "(the API's /readyz balance check).",
    )

    # --- relayer (amounts in wei, integers) ------------------------------------------------------
    relayer_max_fee_per_gas_wei: int = Field(
        200 * 10**9,
        ge=1,
        description="Ceiling on maxFeePerGas (wei); fees from eth_feeHistory and replacements never exceed it.",
    )
    relayer_min_priority_fee_wei: int = Field(
        10**8, ge=0, description="Floor on maxPriorityFeePerGas (wei) when fee history shows lower tips."
    )
    relayer_fee_percentile: int = Field(
        50, ge=1, le=99, description="eth_feeHistory reward percentile used for the tip."
    )
    relayer_fee_history_blocks: int = Field(
        10, ge=1, le=1024, description="Blocks of eth_feeHistory the tip is taken from."
    )
    relayer_replace_after_seconds: float = Field(
        60.0, gt=0, description="A transaction not mined for this long is replaced at the same nonce with higher fees."
    )
    relayer_fee_bump_percent: int = Field(
        12, ge=10, le=200, description="Raise of both fee fields on replacement, percent (nodes require at least 10)."
    )
    relayer_min_balance_wei: int = Field(
        5 * 10**16,
        ge=0,
        description="Relayer ETH floor (wei): below it nothing new is sent, flows wait, /readyz reports it.",
    )
    relayer_poll_interval_seconds: float = Field(
        0.5, gt=0, le=60, description="How often a waiting transaction's receipt is polled."
    )
    relayer_gas_limit_percent: int = Field(
        125, ge=100, le=500, description="Gas limit as a percentage of eth_estimateGas."
    )

    # --- api -----------------------------------------------------------------------------------
    api_host: str = Field("127.0.0.1", description="API bind address.")
    api_port: int = Field(8000, ge=1, le=65535, description="API port.")
    api_public_url: str = Field("", description="Public base URL of the API (default http://<host>:<port>).")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Allowed CORS origins, comma separated (none by default)."
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Proxy IPs/CIDRs whose X-Forwarded-For is trusted, comma separated."
    )
    redis_url: str | None = Field(
        None, description="Redis for shared rate limits across API processes (in-process when unset)."
    )
    max_body_bytes: int = Field(65536, ge=1024, description="Largest request body accepted.")
    rate_limit_register_ip: str = Field(
        "5/hour", description="POST /v1/register per client IP (limits notation, e.g. 5/hour)."
    )
    rate_limit_register_wallet: str = Field("10/day", description="POST /v1/register per wallet.")
    rate_limit_claims_wallet: str = Field("60/hour", description="POST /v1/claims/* per wallet.")

    # --- payments (provider secrets; see the payments section of the README) -----------------
    coinbase_commerce_api_url: str = Field(
        "https://api.commerce.coinbase.com", description="Coinbase Commerce API base URL."
    )
    coinbase_commerce_api_key: SecretStr | None = Field(None, description="Coinbase Commerce API key. Secret.")
    coinbase_commerce_webhook_secret: SecretStr | None = Field(
        None, description="Commerce webhook shared secret. Secret."
    )
    coinbase_business_api_url: str = Field(
        "https://business.coinbase.com", description="Coinbase Business API base URL."
    )
    coinbase_business_api_key: SecretStr | None = Field(
        None, description="Coinbase Business API key (JWT signing). Secret."
    )
    coinbase_business_webhook_secret: SecretStr | None = Field(None, description="Business webhook secret. Secret.")
    coinbase_business_api_key_id: str = Field(
        "",
        description="CDP API key id (`kid`/`sub` of the Business JWT); "
        "the key secret is SGE_COINBASE_BUSINESS_API_KEY.",
    )
    payment_expiry_seconds: int = Field(
        3600,
        ge=60,
        le=7 * 86400,
        description="Lifetime of a Business payment link (Commerce charges expire after 1 h, fixed).",
    )
    payment_http_timeout_seconds: float = Field(
        10.0, gt=0, le=120, description="Timeout of one call to a payment provider."
    )
    sandbox_port: int = Field(8787, ge=1, le=65535, description="Port of the local payment sandbox.")
    sandbox_host: str = Field("127.0.0.1", description="Bind address of the local payment sandbox.")
    sandbox_public_url: str = Field(
        "", description="Base URL of the sandbox's hosted payment pages (default http://<host>:<port>)."
    )
    sandbox_retry_base_seconds: float = Field(
        1.0,
        gt=0,
        le=3600,
        description="Sandbox webhook retry: first delay; doubles per attempt (Coinbase: minutes, over 3 days).",
    )
    sandbox_retry_max_seconds: float = Field(
        60.0, gt=0, le=3600, description="Sandbox webhook retry: longest delay (Coinbase: 1 h)."
    )
    sandbox_retry_max_attempts: int = Field(
        12, ge=1, le=1000, description="Sandbox webhook retry: attempts before a delivery is given up."
    )

    # --- commissions ---------------------------------------------------------------------------
    commission_release_interval_minutes: int = Field(
        60, ge=1, le=1440, description="How often the ReleaseCommissions schedule makes held commissions payable."
    )

    # --- logging ---------------------------------------------------------------------------------
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level.")
    log_format: Literal["json", "console"] = Field("json", description="Log format.")
    otel_exporter: Literal["none", "console", "otlp"] = Field(
        "none",
        description="OpenTelemetry traces: none, console, or otlp "
        "(OTLP/HTTP; endpoint from OTEL_EXPORTER_OTLP_ENDPOINT).",
    )

    # ---------------------------------------------------------------------------------------------
    @model_validator(mode="before")
    @classmethod
    def _secrets_from_files(cls, data: Any) -> Any:
        """`SGE_X_FILE=/path` supplies secret X, unless X itself is set."""
        if not isinstance(data, dict):
            return data
        for name in _SECRET_FIELDS:
            env_name = f"{ENV_PREFIX}{name.upper()}"
            file_path = data.get(f"{name}_file") or os.environ.get(f"{env_name}_FILE")
            if data.get(name) or os.environ.get(env_name) or not file_path:
                continue
            try:
                data[name] = Path(file_path).read_text().strip()
            except OSError as exc:
                raise ValueError(f"{env_name}_FILE: cannot read {file_path}: {exc.strerror}") from None
        return data

    @field_validator("eth_rpc_urls", "cors_origins", "trusted_proxies", mode="before")
    @classmethod
    def _split_csv(cls, value: Any) -> Any:
        return _csv(value)

    @field_validator("eth_rpc_urls")
    @classmethod
    def _check_rpc_urls(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one RPC URL is required")
        for url in value:
            if not url.startswith(("http://", "https://", "ws://", "wss://")):
                raise ValueError(f"not an http(s)/ws(s) URL: {url!r}")
        return value

    @field_validator("rate_limit_register_ip", "rate_limit_register_wallet", "rate_limit_claims_wallet")
    @classmethod
    def _check_rate(cls, value: str) -> str:
        try:
            parse_rate(value)
        except ValueError:
            raise ValueError(f"not a rate like '5/hour': {value!r}") from None
        return value

    @field_validator("relayer_address")
    @classmethod
    def _check_relayer_address(cls, value: str | None) -> str | None:
        if not value:
            return None
        from eth_utils import is_address, to_checksum_address

        if not is_address(value):
            raise ValueError(f"not an Ethereum address: {value[:64]!r}")
        return to_checksum_address(value)

    @field_validator("temporal_address")
    @classmethod
    def _check_temporal_address(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"expected host:port, got {value!r}")
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError(
                "not a database URL (expected sqlite:///path or postgresql+psycopg://user@host/db)"
            ) from None
        if url.get_backend_name() == "postgresql":
            if url.drivername in ("postgresql", "postgres"):
                url = url.set(drivername="postgresql+psycopg")
            if url.drivername != "postgresql+psycopg":
                raise ValueError(f"unsupported driver {url.drivername!r}; use postgresql+psycopg")
            if not url.host and not url.query.get("host"):
                raise ValueError("PostgreSQL URL has no host")
            return url.render_as_string(hide_password=False)
        if url.get_backend_name() == "sqlite":
            return value
        raise ValueError(f"unsupported database {url.get_backend_name()!r}; use sqlite or postgresql+psycopg")

    @field_validator("relayer_private_key", "deployer_private_key")
    @classmethod
    def _check_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        raw = value.get_secret_value().strip()
        hexpart = raw[2:] if raw.startswith("0x") else raw
        if len(hexpart) != 64 or any(c not in "0123456789abcdefABCDEF" for c in hexpart):
            raise ValueError("expected a 32-byte hex private key")  # never echo the value
        return SecretStr("0x" + hexpart.lower())

    @model_validator(mode="after")
    def _production_guards(self) -> Settings:
        if self.environment != "production":
            return self
        if self.database_url is None or self.database_url.startswith("sqlite"):
            raise ValueError("DATABASE_URL: production needs PostgreSQL, not SQLite")
        if self.chain_id in LOCAL_CHAIN_IDS:
            raise ValueError(f"SGE_CHAIN_ID: {self.chain_id} is a local dev chain; production needs a real one")
        return self

    # --- derived ---------------------------------------------------------------------------------
    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'sge.db').resolve()}"

    @property
    def is_local_chain(self) -> bool:
        return self.chain_id in LOCAL_CHAIN_IDS

    @property
    def api_base_url(self) -> str:
        return self.api_public_url or f"http://{self.api_host}:{self.api_port}"

    @property
    def sandbox_base_url(self) -> str:
        return self.sandbox_public_url or f"http://{self.sandbox_host}:{self.sandbox_port}"

    @property
    def deployments_dir(self) -> Path:
        return self.home / "deployments"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def uses_tls(self) -> bool:
        return self.temporal_tls or self.temporal_tls_cert_file is not None or self.temporal_api_key is not None

    @property
    def relayer_public_address(self) -> str | None:
        """The relayer's address: configured, or derived from its key where the key is present (worker)."""
        if self.relayer_address:
            return self.relayer_address
        if self.relayer_private_key is None:
            return None
        from eth_account import Account

        return Account.from_key(self.relayer_private_key.get_secret_value()).address

    def require_relayer_key(self) -> str:
        """The relayer's key as hex, or a ConfigError naming the setting."""
        if self.relayer_private_key is None:
            raise ConfigError(f"{ENV_PREFIX}RELAYER_PRIVATE_KEY", "not set (set it, or SGE_RELAYER_PRIVATE_KEY_FILE)")
        return self.relayer_private_key.get_secret_value()


def env_name(field: str) -> str:
    """The environment variable of a settings field (aliases arrive already spelled as variables)."""
    if field == "SGE_DATABASE_URL" and field not in os.environ:
        return "DATABASE_URL"  # name the variable the user actually set
    if field.isupper():
        return field
    return "DATABASE_URL" if field == "database_url" else f"{ENV_PREFIX}{field.upper()}"


def describe_validation_error(exc: ValidationError) -> ConfigError:
    """The first problem of a ValidationError as a one-line ConfigError naming the env variable."""
    err = exc.errors()[0]
    loc = err.get("loc") or ()
    field = str(loc[0]) if loc else ""
    message = err.get("msg", "invalid").removeprefix("Value error, ")
    if not field and ":" in message:  # raised by a model validator that names its own setting
        setting, _, problem = message.partition(":")
        return ConfigError(setting.strip(), problem.strip())
    return ConfigError(env_name(field) if field else "settings", message)


def load_settings(**overrides: Any) -> Settings:
    """Build Settings, turning validation errors into a one-line ConfigError."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise describe_validation_error(exc) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
