"""The settings fields, grouped by concern. `core.settings.Settings` combines the groups; a new
concern adds its own group here (each field documents itself: the README table is generated)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr
from pydantic_settings import NoDecode


class PlatformFields(BaseModel):
    """Where the platform keeps its state, and its database."""

    # --- runtime state -------------------------------------------------------------------------
    home: Path = Field(Path("var"), description="App home: SQLite DB, Temporal DB, logs, deployment manifests.")
    environment: Literal["dev", "test", "production"] = Field(
        "dev", description="Deployment kind. `production` refuses every unsafe setting (README: Production posture)."
    )

    # --- database ------------------------------------------------------------------------------
    database_url: str | None = Field(
        None,
        validation_alias=AliasChoices("SGE_DATABASE_URL", "DATABASE_URL"),
        description="SQLAlchemy URL. Default: SQLite file `<home>/sge.db`. PostgreSQL: `postgresql+psycopg://user@host/db`.",
    )
    database_pool_size: int = Field(10, ge=1, le=200, description="Connections per process (PostgreSQL).")


class TemporalFields(BaseModel):
    """Reaching Temporal and running workers."""

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
    temporal_web_url: str = Field(
        "", description="Web UI base URL printed for operators (default: http://127.0.0.1:SGE_TEMPORAL_UI_PORT)."
    )
    worker_max_concurrent_activities: int = Field(64, ge=1, le=2000, description="Activity slots per worker.")
    worker_graceful_shutdown_seconds: int = Field(
        50,  # under the worker pod's terminationGracePeriodSeconds (60)
        ge=1,
        le=3600,
        description="On drain or SIGTERM: how long running activities may finish before they are cancelled.",
    )
    worker_drain_poll_seconds: float = Field(
        5.0, gt=0, le=300, description="How often a worker reads the drain switch (`sge workers drain`)."
    )
    worker_metrics_port: int | None = Field(
        None, ge=1, le=65535, description="Prometheus port for the worker's SDK metrics (off when unset)."
    )
    worker_app_metrics_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="Prometheus port for the worker's own metrics (settlement latency, RPC calls; off when unset).",
    )
    worker_metrics_host: str = Field(
        "127.0.0.1", description="Bind address of both worker metrics ports (0.0.0.0 to let Prometheus reach them)."
    )


class ChainFields(BaseModel):
    """The Ethereum endpoints and the relayer (amounts in wei, integers)."""

    # --- ethereum ------------------------------------------------------------------------------
    eth_rpc_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["http://127.0.0.1:8545"],
        description="JSON-RPC endpoints, comma separated; the first that answers is used.",
    )
    chain_id: int = Field(31337, ge=1, description="Expected chain id; checked before any transaction is signed.")
    confirmations: int = Field(
        1, ge=1, le=1000, description="Blocks after which a transaction (and a user's on-chain claim) is final."
    )
    production_min_confirmations: int = Field(
        12,
        ge=1,
        le=1000,
        description="Production refuses SGE_CONFIRMATIONS below this (12 blocks: past the usual reorg depth on "
        "chain 1; Ethereum finalizes in about 64).",
    )
    explorer_url: str = Field("", description="Block explorer base URL for links (e.g. https://etherscan.io).")
    relayer_private_key: SecretStr | None = Field(
        None, description="Relayer hot key (hex). Secret; or SGE_RELAYER_PRIVATE_KEY_FILE."
    )
    deployer_private_key: SecretStr | None = Field(
        None, description="Contract deployer key (hex). Secret; or SGE_DEPLOYER_PRIVATE_KEY_FILE."
    )
    safe_owners: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Owner addresses of the treasury Safe, comma separated. Empty on a local chain: 5 dev owner "
        "keys are generated under `<home>/dev/safe-owner-{1..5}.key` and used.",
    )
    safe_threshold: int = Field(3, ge=1, description="Owner signatures a treasury Safe transaction needs.")
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
        description="Relayer ETH floor (wei): below it nothing new is sent, flows wait, /readyz reports it, and "
        "the relayer monitor closes the pre-payment chain gate.",
    )
    # The checklist's thresholds (floor < alert < top-up < target); see the README's Monitoring section.
    relayer_alert_below_wei: int = Field(
        10**17, ge=0, description="Relayer ETH below which the P1 alert `RelayerBalanceLow` fires (wei)."
    )
    relayer_topup_below_wei: int = Field(
        2 * 10**17, ge=0, description="Relayer ETH below which a top-up is due (`sge relayer topup`; wei)."
    )
    relayer_target_wei: int = Field(
        5 * 10**17,
        ge=0,
        description="Relayer ETH target and cap (wei): top-ups bring it back here; above it a warning fires.",
    )
    relayer_poll_interval_seconds: float = Field(
        0.5, gt=0, le=60, description="How often a waiting transaction's receipt is polled."
    )
    relayer_gas_limit_percent: int = Field(
        125, ge=100, le=500, description="Gas limit as a percentage of eth_estimateGas."
    )
    # The spend budget brakes gas drain by registrations nobody pays for: over it, the pre-payment
    # chain gate closes (new flows wait before mint and referral; paid flows and payouts go on).
    relayer_budget_tx_per_hour: int = Field(
        3600,
        ge=0,
        description="Relayer spend budget: transactions signed in any trailing hour (0 = no limit; "
        "refused in production). Over it, the pre-payment chain gate closes until the window slides.",
    )
    relayer_budget_wei_per_day: int = Field(
        10**18,
        ge=0,
        description="Relayer spend budget: wei spent in any trailing 24 hours, fees of mined transactions plus "
        "the worst case of those in flight (0 = no limit; refused in production).",
    )
    chain_gate_cache_seconds: float = Field(
        5.0, ge=0, le=300, description="How long a process reuses its measurement of the relayer's spend."
    )


class ApiFields(BaseModel):
    """The HTTP API: binding, CORS, proxies, limits."""

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


class PaymentFields(BaseModel):
    """Payment providers and the local payment sandbox."""

    # --- payments (provider secrets; see the payments section of the README) -----------------
    coinbase_commerce_api_url: str = Field(
        "https://api.commerce.coinbase.com", description="Coinbase Commerce API base URL."
    )
    coinbase_commerce_api_key: SecretStr | None = Field(None, description="Coinbase Commerce API key. Secret.")
    coinbase_commerce_webhook_secret: SecretStr | None = Field(
        None, description="Commerce webhook shared secret. Secret."
    )
    coinbase_commerce_webhook_secret_previous: SecretStr | None = Field(
        None,
        description="Commerce webhook secret being rotated out: also accepted until "
        "SGE_COINBASE_COMMERCE_WEBHOOK_SECRET_PREVIOUS_UNTIL (no event lost during a rotation). Secret.",
    )
    coinbase_commerce_webhook_secret_previous_until: datetime | None = Field(
        None, description="End of the Commerce secret rotation overlap (ISO 8601 with time zone)."
    )
    coinbase_business_api_url: str = Field(
        "https://business.coinbase.com", description="Coinbase Business API base URL."
    )
    coinbase_business_api_key: SecretStr | None = Field(
        None, description="Coinbase Business API key (JWT signing). Secret."
    )
    coinbase_business_webhook_secret: SecretStr | None = Field(None, description="Business webhook secret. Secret.")
    coinbase_business_webhook_secret_previous: SecretStr | None = Field(
        None,
        description="Business webhook secret being rotated out: also accepted until "
        "SGE_COINBASE_BUSINESS_WEBHOOK_SECRET_PREVIOUS_UNTIL. Secret.",
    )
    coinbase_business_webhook_secret_previous_until: datetime | None = Field(
        None, description="End of the Business secret rotation overlap (ISO 8601 with time zone)."
    )
    coinbase_business_api_key_id: str = Field(
        "",
        description="CDP API key id (`kid`/`sub` of the Business JWT); "
        "the key secret is SGE_COINBASE_BUSINESS_API_KEY.",
    )
    payment_expiry_seconds: int = Field(
        3600,
        ge=10,
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


class OperationsFields(BaseModel):
    """Schedules, logging and tracing."""

    # --- commissions ---------------------------------------------------------------------------
    commission_release_interval_minutes: int = Field(
        60, ge=1, le=1440, description="How often the ReleaseCommissions schedule makes held commissions payable."
    )

    # --- monitoring ----------------------------------------------------------------------------
    relayer_monitor_interval_seconds: int = Field(
        60, ge=5, le=3600, description="How often the RelayerMonitor schedule reads the relayer's balance."
    )
    stuck_check_interval_seconds: int = Field(
        60, ge=5, le=3600, description="How often the StuckCheck schedule counts stuck flows and transactions."
    )
    metrics_chain_cache_seconds: float = Field(
        10.0, ge=0, le=600, description="How long /metrics reuses a relayer balance read from the chain."
    )

    # --- backups -------------------------------------------------------------------------------
    backup_dir: Path | None = Field(
        None, description="Where `sge backup create` and the daily backup write (default `<home>/backups`)."
    )
    backup_hour_utc: int = Field(3, ge=0, le=23, description="Hour (UTC) of the daily backup schedule.")
    backup_keep: int = Field(
        14, ge=1, le=3650, description="The daily backup keeps this many newest backups in SGE_BACKUP_DIR."
    )

    # --- preflight (`sge preflight`) -------------------------------------------------------------
    preflight_prometheus_url: str | None = Field(
        None, description="Prometheus whose loaded alert rules `sge preflight` checks (manual item when unset)."
    )
    preflight_tls_host: str | None = Field(
        None, description="host[:port] whose TLS certificate `sge preflight` checks (default: SGE_PUBLIC_HOST)."
    )
    preflight_backup_max_age_hours: int = Field(
        26, ge=1, le=24 * 30, description="`sge preflight` fails when the newest backup is older."
    )

    # --- archive -------------------------------------------------------------------------------
    archive_dir: Path | None = Field(
        None, description="Where `sge archive run` and the monthly archive write (default `<home>/archive`)."
    )
    archive_older_than_days: int = Field(
        180, ge=30, le=3650, description="The monthly archive moves ended flows older than this many days."
    )

    # --- ledger --------------------------------------------------------------------------------
    ledger_verify_cache_seconds: int = Field(
        60,
        ge=0,
        le=3600,
        description="GET /v1/ops/ledger/verify serves a report this recent from cache (a full scan); "
        "`?fresh=true` (admin) recomputes. 0: no cache.",
    )

    # --- logging ---------------------------------------------------------------------------------
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level.")
    log_format: Literal["json", "console"] = Field("json", description="Log format.")
    otel_exporter: Literal["none", "console", "otlp"] = Field(
        "none",
        description="OpenTelemetry traces: none, console, or otlp "
        "(OTLP/HTTP; endpoint from OTEL_EXPORTER_OTLP_ENDPOINT).",
    )


class FlowFields(BaseModel):
    """How long onboarding flows wait, and how their history stays bounded (read by each flow once)."""

    flow_halt_poll_seconds: float = Field(
        30.0, gt=0, le=3600, description="How often a flow held by the halt switch checks it again."
    )
    flow_expiry_grace_seconds: float = Field(
        300.0, ge=0, description="Past a charge's expiry before the flow asks the provider once more and gives up."
    )
    flow_pending_grace_seconds: float = Field(
        3600.0, ge=0, description="A payment seen but not final extends the flow's deadline by this much..."
    )
    flow_pending_max_seconds: float = Field(86400.0, ge=0, description="...up to this much in all.")
    flow_onchain_window_seconds: float = Field(
        3600.0, gt=0, description="How long a flow watches the chain after the payer prepared an on-chain claim."
    )
    flow_retry_initial_seconds: float = Field(
        5.0, gt=0, description="First wait before retrying a temporary revert (paused contract, empty inventory)."
    )
    flow_retry_max_seconds: float = Field(300.0, gt=0, description="Longest wait between those retries.")
    flow_history_limit: int = Field(
        10_000,
        ge=50,
        le=50_000,
        description="Events in one workflow run before it continues as new (Temporal's hard limit is 51,200).",
    )
