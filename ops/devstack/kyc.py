"""Local-stack step: the KYC sandbox (a Sumsub stand-in) as a supervised child, with per-home credentials."""

from __future__ import annotations

import secrets

from core.settings import Settings
from ops.devstack import processes
from ops.devstack.console import console
from ops.devstack.payments import dev_secret


def dev_kyc_env(settings: Settings) -> dict[str, str]:
    """Env that points the platform's KYC client at the sandbox (`<home>/dev/kyc/` holds the secrets)."""
    folder = settings.home.resolve() / "dev" / "kyc"
    token = lambda: secrets.token_urlsafe(32)  # noqa: E731
    return {
        "SGE_KYC_API_URL": settings.kyc_sandbox_base_url,
        "SGE_KYC_APP_TOKEN_FILE": str(dev_secret(folder / "app_token", lambda: "sbx:" + token())),
        "SGE_KYC_SECRET_KEY_FILE": str(dev_secret(folder / "secret_key", token)),
        "SGE_KYC_WEBHOOK_SECRET_FILE": str(dev_secret(folder / "webhook_secret", token)),
        "SGE_KYC_SANDBOX_HOST": settings.kyc_sandbox_host,
        "SGE_KYC_SANDBOX_PORT": str(settings.kyc_sandbox_port),
        "SGE_KYC_SANDBOX_PUBLIC_URL": settings.kyc_sandbox_base_url,
    }


async def start_kyc_sandbox(sup, settings: Settings, info) -> None:
    """Dev-stack step (before the worker): its settings go to every later child."""
    console.print("[cyan]…[/] starting KYC sandbox")
    info.env.update(dev_kyc_env(settings))
    child = sup.start(
        "kyc-sandbox", processes.python_module_cmd("cli", "kyc-sandbox"), processes.child_env(settings, info.env)
    )
    health = f"http://{settings.kyc_sandbox_host}:{settings.kyc_sandbox_port}/healthz"
    took = await sup.wait_healthy(child, lambda: processes.http_ok(health), 60.0)
    info.add("KYC sandbox", settings.kyc_sandbox_base_url, f"Sumsub applicants stand-in, {took:.1f}s")
    info.add("KYC webhooks", f"{settings.api_base_url}/v1/webhooks/kyc", "X-Payload-Digest signed, retried")
