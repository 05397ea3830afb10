"""The platform's one settings object, read from the environment and an optional `.env`.

Every setting is `SGE_<NAME>` (`DATABASE_URL` is accepted too). Any setting can instead be given as
`SGE_<NAME>_FILE=/path` (`DATABASE_URL_FILE` too; the file's content, stripped), the usual way to
mount secrets and URLs holding credentials. Secrets are `SecretStr`: they never appear in reprs,
logs or error messages.
"""

from __future__ import annotations

import itertools
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from limits import parse as parse_rate
from pydantic import SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from core.settings.compliance import ComplianceFields, RetentionFields
from core.settings.database_roles import DatabaseRoleFields
from core.settings.fields import (
    ApiFields,
    ChainFields,
    FlowFields,
    OperationsFields,
    PaymentFields,
    PlatformFields,
    TemporalFields,
)
from core.settings.kyc import KycFields
from core.settings.payouts import PayoutFields
from core.settings.posture import production_problems
from core.settings.reconciliation import ReconciliationFields
from core.settings.reports import ReportFields
from core.settings.surface import SurfaceFields
from core.settings.wallet_auth import WalletAuthFields

ENV_PREFIX = "SGE_"
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


class Settings(
    PayoutFields,
    ReportFields,
    RetentionFields,
    ComplianceFields,
    KycFields,
    ReconciliationFields,
    WalletAuthFields,
    DatabaseRoleFields,
    FlowFields,
    OperationsFields,
    PaymentFields,
    SurfaceFields,
    ApiFields,
    ChainFields,
    TemporalFields,
    PlatformFields,
    BaseSettings,
):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    # ---------------------------------------------------------------------------------------------
    @model_validator(mode="before")
    @classmethod
    def _settings_from_files(cls, data: Any) -> Any:
        """`SGE_X_FILE=/path` supplies setting X, unless X itself is set (Kubernetes mounts Secrets as files)."""
        if not isinstance(data, dict):
            return data
        for name in cls.model_fields:
            env_name = f"{ENV_PREFIX}{name.upper()}"
            file_path = data.get(f"{name}_file") or os.environ.get(f"{env_name}_FILE")
            if name == "database_url":  # the unprefixed spelling, as DATABASE_URL itself
                file_path = file_path or os.environ.get("DATABASE_URL_FILE")
                if os.environ.get("DATABASE_URL"):
                    continue
            key = "DATABASE_URL" if name == "database_url" else name  # its validation alias
            if data.get(name) or data.get(key) or os.environ.get(env_name) or not file_path:
                continue
            try:
                data[key] = Path(file_path).read_text().strip()
            except OSError as exc:
                raise ValueError(f"{env_name}_FILE: cannot read {file_path}: {exc.strerror}") from None
        return data

    @field_validator("eth_rpc_urls", "cors_origins", "trusted_proxies", "safe_owners", mode="before")
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

    @field_validator(
        "coinbase_commerce_webhook_secret_previous_until", "coinbase_business_webhook_secret_previous_until"
    )
    @classmethod
    def _check_overlap_end(cls, value: Any) -> Any:
        if value is not None and value.tzinfo is None:
            raise ValueError("give a time zone (e.g. 2026-12-31T00:00:00Z): the overlap end must be unambiguous")
        return value

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
    def _distinct_ports(self) -> Settings:
        if self.operator_port == self.api_port:
            raise ValueError("SGE_OPERATOR_PORT: must differ from SGE_API_PORT (the surfaces are told apart by port)")
        return self

    @model_validator(mode="after")
    def _relayer_thresholds_in_order(self) -> Settings:
        """floor ≤ alert ≤ top-up ≤ target: otherwise the monitor would close the gate above the
        alert, or a top-up would stop short of the level that asks for it."""
        levels = [
            ("SGE_RELAYER_MIN_BALANCE_WEI", self.relayer_min_balance_wei),
            ("SGE_RELAYER_ALERT_BELOW_WEI", self.relayer_alert_below_wei),
            ("SGE_RELAYER_TOPUP_BELOW_WEI", self.relayer_topup_below_wei),
            ("SGE_RELAYER_TARGET_WEI", self.relayer_target_wei),
        ]
        for (low_name, low), (high_name, high) in itertools.pairwise(levels):
            if low > high:
                raise ValueError(f"{low_name}: {low} is above {high_name} {high} (floor ≤ alert ≤ top-up ≤ target)")
        return self

    @model_validator(mode="after")
    def _production_guards(self) -> Settings:
        """Production refuses every unsafe setting at once, one line naming each (core/settings/posture.py)."""
        if self.environment != "production":
            return self
        problems = []
        if self.database_url is None or self.database_url.startswith("sqlite"):
            problems.append("DATABASE_URL: production needs PostgreSQL, not SQLite")
        if self.chain_id in LOCAL_CHAIN_IDS:
            problems.append(f"SGE_CHAIN_ID: {self.chain_id} is a local dev chain; production needs a real one")
        if self.confirmations < self.production_min_confirmations:
            problems.append(
                f"SGE_CONFIRMATIONS: {self.confirmations} is below {self.production_min_confirmations} "
                "(SGE_PRODUCTION_MIN_CONFIRMATIONS); a reorg could undo what the platform settled"
            )
        problems += production_problems(self)
        if problems:
            raise ValueError("\n".join(problems))
        return self

    # --- derived ---------------------------------------------------------------------------------
    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'sge.db').resolve()}"

    @property
    def migration_db_url(self) -> str:
        """What `sge db upgrade` connects with: the tables' owner (SGE_MIGRATION_DATABASE_URL, else DATABASE_URL)."""
        if self.migration_database_url is not None:
            return self.migration_database_url.get_secret_value()
        return self.db_url

    @property
    def is_local_chain(self) -> bool:
        return self.chain_id in LOCAL_CHAIN_IDS

    @property
    def api_base_url(self) -> str:
        return self.api_public_url or f"http://{self.api_host}:{self.api_port}"

    @property
    def operator_base_url(self) -> str:
        return self.operator_public_url or f"http://{self.operator_host}:{self.operator_port}"

    @property
    def sandbox_base_url(self) -> str:
        return self.sandbox_public_url or f"http://{self.sandbox_host}:{self.sandbox_port}"

    @property
    def temporal_ui_url(self) -> str:
        """The Web UI's address: SGE_TEMPORAL_WEB_URL, else the embedded dev server's UI port."""
        return (self.temporal_web_url or f"http://127.0.0.1:{self.temporal_ui_port}").rstrip("/")

    @property
    def app_url(self) -> str:
        """The user's app on the public port; a program's page is `{app_url}/{program}`."""
        return f"{self.api_base_url.rstrip('/')}/app"

    @property
    def deployments_dir(self) -> Path:
        return self.home / "deployments"

    @property
    def backups_dir(self) -> Path:
        return self.backup_dir or self.home / "backups"

    @property
    def archives_dir(self) -> Path:
        return self.archive_dir or self.home / "archive"

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
