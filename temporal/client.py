"""The one way every process (API, worker, CLI, tests) gets a Temporal client."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import Client, TLSConfig
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime

from core.settings import ConfigError, Settings


def tls_config(settings: Settings) -> TLSConfig | bool:
    if not settings.uses_tls:
        return False

    def read(path, setting):
        if path is None:
            return None
        try:
            return path.read_bytes()
        except OSError as exc:
            raise ConfigError(setting, f"cannot read {path}: {exc.strerror}") from None

    if (settings.temporal_tls_cert_file is None) != (settings.temporal_tls_key_file is None):
        raise ConfigError("SGE_TEMPORAL_TLS_KEY_FILE", "client cert and key must be given together")
    return TLSConfig(
        server_root_ca_cert=read(settings.temporal_tls_ca_file, "SGE_TEMPORAL_TLS_CA_FILE"),
        client_cert=read(settings.temporal_tls_cert_file, "SGE_TEMPORAL_TLS_CERT_FILE"),
        client_private_key=read(settings.temporal_tls_key_file, "SGE_TEMPORAL_TLS_KEY_FILE"),
    )


async def connect(
    settings: Settings,
    *,
    lazy: bool = False,
    runtime: Runtime | None = None,
    connect_timeout: timedelta = timedelta(seconds=5),
) -> Client:
    """A client with the pydantic data converter and tracing. Raises ConfigError when unreachable.

    `lazy=True` (the API) returns at once and connects on first use, so the API can start and report
    Temporal as down in /readyz instead of refusing to start.
    """
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    try:
        return await Client.connect(
            settings.temporal_address,
            namespace=settings.temporal_namespace,
            api_key=api_key,
            tls=tls_config(settings),
            data_converter=pydantic_data_converter,
            interceptors=[TracingInterceptor()],
            lazy=lazy,
            runtime=runtime,
            connect_timeout=connect_timeout,
            identity=None,
        )
    except RuntimeError as exc:  # the core SDK reports connection failures as RuntimeError
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(
            "SGE_TEMPORAL_ADDRESS", f"cannot reach Temporal at {settings.temporal_address} ({first_line[:160]})"
        ) from None
