"""Local-stack step: the payment sandbox as a supervised child, with per-home generated credentials."""

from __future__ import annotations

import secrets
import uuid
from pathlib import Path

from core.settings import Settings
from ops.devstack import processes
from ops.devstack.console import console


def dev_secret(path: Path, make) -> Path:
    """A secret generated once per app home (0600), like the dev relayer key."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(make())
    return path


def _ec_private_key_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()


def dev_payment_env(settings: Settings) -> dict[str, str]:
    """Env that points the platform at the sandbox with per-home generated credentials (`<home>/dev/payments/`)."""
    folder = settings.home.resolve() / "dev" / "payments"
    token = lambda: secrets.token_urlsafe(32)  # noqa: E731
    key_id = dev_secret(folder / "business_api_key_id", lambda: f"organizations/sge-dev/apiKeys/{uuid.uuid4()}")
    return {
        "SGE_COINBASE_COMMERCE_API_URL": settings.sandbox_base_url,
        "SGE_COINBASE_BUSINESS_API_URL": settings.sandbox_base_url,
        "SGE_COINBASE_COMMERCE_API_KEY_FILE": str(dev_secret(folder / "commerce_api_key", token)),
        "SGE_COINBASE_COMMERCE_WEBHOOK_SECRET_FILE": str(dev_secret(folder / "commerce_webhook_secret", token)),
        "SGE_COINBASE_BUSINESS_API_KEY_FILE": str(dev_secret(folder / "business_api_key.pem", _ec_private_key_pem)),
        "SGE_COINBASE_BUSINESS_API_KEY_ID": key_id.read_text().strip(),
        "SGE_COINBASE_BUSINESS_WEBHOOK_SECRET_FILE": str(dev_secret(folder / "business_webhook_secret", token)),
        "SGE_SANDBOX_HOST": settings.sandbox_host,
        "SGE_SANDBOX_PORT": str(settings.sandbox_port),
        "SGE_SANDBOX_PUBLIC_URL": settings.sandbox_base_url,
    }


async def start_payments_sandbox(sup, settings: Settings, info) -> None:
    """Dev-stack step (before the worker): the sandbox as a supervised child; its settings go to every later child."""
    console.print("[cyan]…[/] starting payment sandbox")
    info.env.update(dev_payment_env(settings))
    child = sup.start(
        "sandbox", processes.python_module_cmd("cli", "payments-sandbox"), processes.child_env(settings, info.env)
    )
    health = f"http://{settings.sandbox_host}:{settings.sandbox_port}/healthz"
    took = await sup.wait_healthy(child, lambda: processes.http_ok(health), 60.0)
    info.add("payment sandbox", settings.sandbox_base_url, f"Coinbase Commerce + Business stand-in, {took:.1f}s")
    info.add(
        "payment webhooks", f"{settings.api_base_url}/v1/webhooks/coinbase-{{commerce,business}}", "signed, retried"
    )
