"""Preflight items decided by the settings and the process environment alone (plus TLS and Prometheus,
reached over the network when configured)."""

from __future__ import annotations

import socket
import ssl
from datetime import UTC, datetime

import httpx
from pydantic import SecretStr

from core.settings import env_name
from core.settings.posture import production_problems
from ops.preflight import Check, Context, failed, manual, passed

TLS_MIN_DAYS = 14


def _secret_fields(settings) -> list[str]:
    return [name for name in type(settings).model_fields if isinstance(getattr(settings, name), SecretStr)]


def check_secrets_from_files(ctx: Context) -> Check:
    name = "secrets read from files, none in the environment"
    in_env = [env_name(field) for field in _secret_fields(ctx.settings) if env_name(field) in ctx.environ]
    if in_env:
        return failed(name, "set in the environment (use <NAME>_FILE): " + ", ".join(sorted(in_env)))
    return passed(name, f"{len(_secret_fields(ctx.settings))} secrets set, none from the environment")


def check_deployer_key_absent(ctx: Context) -> Check:
    name = "deployer key absent from this process"
    present = [v for v in ("SGE_DEPLOYER_PRIVATE_KEY", "SGE_DEPLOYER_PRIVATE_KEY_FILE") if v in ctx.environ]
    if ctx.settings.deployer_private_key is not None or present:
        return failed(name, "the deployer key is configured" + (f" ({', '.join(present)})" if present else ""))
    return passed(name, "SGE_DEPLOYER_PRIVATE_KEY(_FILE) not set")


def check_cors_restricted(ctx: Context) -> Check:
    name = "CORS restricted to the app's origins"
    origins = list(ctx.settings.cors_origins)
    if any(o.strip() in ("*", "null") for o in origins):
        return failed(name, f"SGE_CORS_ORIGINS={origins}")
    return passed(name, f"SGE_CORS_ORIGINS={origins}")


def check_rate_limits_shared(ctx: Context) -> Check:
    name = "rate limits shared through Redis"
    if not ctx.settings.redis_url:
        return failed(name, "SGE_REDIS_URL not set: each API process limits on its own")
    return passed(name, "SGE_REDIS_URL set")


def check_production_posture(ctx: Context) -> Check:
    name = "production posture"
    if ctx.settings.environment != "production":
        return failed(name, f"SGE_ENVIRONMENT={ctx.settings.environment} (the posture rules apply to production)")
    problems = production_problems(ctx.settings)
    return failed(name, "; ".join(problems)) if problems else passed(name, "every posture rule holds")


def _certificate_days(host: str, port: int, timeout: float = 5.0) -> float:
    context = ssl.create_default_context()
    with socket.create_connection((host, port), timeout=timeout) as sock:
        with context.wrap_socket(sock, server_hostname=host) as tls:
            cert = tls.getpeercert() or {}
    expires = datetime.fromtimestamp(ssl.cert_time_to_seconds(str(cert["notAfter"])), UTC)
    return (expires - datetime.now(UTC)).total_seconds() / 86400


def check_tls_certificate(ctx: Context) -> Check:
    name = f"TLS certificate valid for more than {TLS_MIN_DAYS} days"
    target = ctx.settings.preflight_tls_host or ctx.settings.public_host
    if not target:
        return manual(name, "no host configured (SGE_PREFLIGHT_TLS_HOST or SGE_PUBLIC_HOST)")
    host, _, port = target.partition(":")
    days = _certificate_days(host, int(port or 443))
    verdict = passed if days > TLS_MIN_DAYS else failed
    return verdict(name, f"{target}: certificate valid for {days:.1f} more days")


def check_alert_rules_loaded(ctx: Context) -> Check:
    name = "alert rules loaded in Prometheus"
    url = ctx.settings.preflight_prometheus_url
    if not url:
        return manual(name, "SGE_PREFLIGHT_PROMETHEUS_URL not set: check Prometheus' /rules page")
    body = httpx.get(url.rstrip("/") + "/api/v1/rules", params={"type": "alert"}, timeout=5).json()
    rules = [r["name"] for g in body["data"]["groups"] for r in g["rules"]]
    if not rules:
        return failed(name, f"{url}: no alert rules loaded (ops/prometheus/alerts.yml)")
    return passed(name, f"{url}: {len(rules)} alert rules loaded")


CONFIG_CHECKS = [
    check_secrets_from_files,
    check_deployer_key_absent,
    check_cors_restricted,
    check_rate_limits_shared,
    check_production_posture,
    check_tls_certificate,
    check_alert_rules_loaded,
]
