"""Production posture: every setting that is unsafe with real money, as one line naming the setting.

`Settings` refuses to load with `SGE_ENVIRONMENT=production` while any of these holds (the README's
"Production posture" section lists them). Each rule is a function of the settings only: no DNS, no
network, so a refusal is the same on every machine.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from core.redact import redact_url

MIN_SECRET_CHARS = 32


def host_kind(host: str) -> str:
    """`unspecified`, `loopback`, `private` (also link-local and reserved), `public`, or `name`."""
    host = host.strip().strip("[]").lower()
    if host in ("", "*"):
        return "unspecified"
    if host == "localhost" or host.endswith(".localhost"):
        return "loopback"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "name"
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_private or address.is_link_local or address.is_reserved:
        return "private"
    return "public"


def _url_parts(url: str) -> tuple[str, str]:
    try:
        parts = urlsplit(url)
        return parts.scheme.lower(), parts.hostname or ""
    except ValueError:
        return "", ""


def _temporal(s: Any) -> list[str]:
    cert, key = s.temporal_tls_cert_file is not None, s.temporal_tls_key_file is not None
    if cert != key:
        return ["SGE_TEMPORAL_TLS_KEY_FILE: a client certificate and its key are given together (mTLS)"]
    if s.temporal_api_key is None and not cert:
        return [
            "SGE_TEMPORAL_TLS: production reaches Temporal over TLS with client authentication: set "
            "SGE_TEMPORAL_API_KEY, or SGE_TEMPORAL_TLS_CERT_FILE and SGE_TEMPORAL_TLS_KEY_FILE (mTLS)"
        ]
    return []


def _cors(s: Any) -> list[str]:
    wild = [origin for origin in s.cors_origins if origin.strip() in ("*", "null")]
    if wild:
        return [f"SGE_CORS_ORIGINS: {wild[0]!r} lets any site call the API from a browser; list the app's origins"]
    return []


def _providers(s: Any) -> list[str]:
    problems = []
    for field in ("coinbase_commerce_api_url", "coinbase_business_api_url", "kyc_api_url"):
        url = getattr(s, field)
        scheme, host = _url_parts(url)
        name = f"SGE_{field.upper()}"
        if scheme != "https":
            problems.append(f"{name}: production reaches payment providers over https only, got {redact_url(url)!r}")
        elif host_kind(host) not in ("public", "name"):
            problems.append(
                f"{name}: {host} is a {host_kind(host)} address (the payment sandbox?); production uses the provider"
            )
    return problems


def _rpc(s: Any) -> list[str]:
    for url in s.eth_rpc_urls:
        scheme, host = _url_parts(url)
        if scheme not in ("https", "wss"):
            return [f"SGE_ETH_RPC_URLS: production needs https:// or wss:// endpoints, got {redact_url(url)!r}"]
        if host_kind(host) in ("loopback", "unspecified"):
            return [f"SGE_ETH_RPC_URLS: {redact_url(url)!r} is a loopback endpoint (a local dev chain?)"]
    return []


def _redis(s: Any) -> list[str]:
    if s.api_processes > 1 and not s.redis_url:
        return [
            f"SGE_REDIS_URL: not set while SGE_API_PROCESSES={s.api_processes}; rate limits must be shared "
            "across API processes (each would allow the full rate)"
        ]
    return []


def _operator_port(s: Any) -> list[str]:
    kind = host_kind(s.operator_host)
    if kind in ("loopback", "private"):
        return []
    why = {
        "unspecified": "binds every interface, public ones included",
        "public": "is a public address",
        "name": "is a name, not an address (it could resolve to a public interface)",
    }[kind]
    return [
        f"SGE_OPERATOR_HOST: {s.operator_host!r} {why}; the operator port (/v1/ops, /metrics, docs) "
        "binds a loopback or private address (e.g. the pod IP)"
    ]


def _secrets(s: Any) -> list[str]:
    problems = []
    for field, what in (
        ("operator_session_secret", "signs operator browser sessions"),
        ("session_secret", "signs wallet sessions"),
    ):
        value = getattr(s, field)
        raw = value.get_secret_value() if value is not None else ""
        if not raw:
            problems.append(f"SGE_{field.upper()}: not set; it {what} (32+ random characters)")
        elif len(raw) < MIN_SECRET_CHARS:
            problems.append(f"SGE_{field.upper()}: shorter than {MIN_SECRET_CHARS} characters")
    if not s.public_host:
        problems.append("SGE_PUBLIC_HOST: not set; wallet sign-in messages name the host users sign in to")
    return problems


def _webhook_overlap(s: Any) -> list[str]:
    # An old webhook secret accepted forever is a leaked secret that never expires.
    return [
        f"SGE_{field.upper()}_UNTIL: not set while SGE_{field.upper()} is; a rotation overlap must end"
        for field in ("coinbase_commerce_webhook_secret_previous", "coinbase_business_webhook_secret_previous")
        if getattr(s, field) is not None and getattr(s, f"{field}_until") is None
    ]


def _spend_budget(s: Any) -> list[str]:
    return [
        f"SGE_{field.upper()}: 0 means no limit; production caps what unpaid registrations can make the relayer spend"
        for field in ("relayer_budget_tx_per_hour", "relayer_budget_wei_per_day")
        if getattr(s, field) == 0
    ]


RULES = (_temporal, _cors, _providers, _rpc, _redis, _operator_port, _secrets, _spend_budget, _webhook_overlap)


def production_problems(settings: Any) -> list[str]:
    """Every refusal of the production posture (beyond the database, chain and confirmations rules)."""
    return [problem for rule in RULES for problem in rule(settings)]
