"""`sge payments-sandbox`: the local Coinbase Commerce + Business stand-in (see sandbox/app.py)."""

from __future__ import annotations

from cli.common import hard_exit, settings_and_logs


def payments_sandbox() -> None:
    """Run the payment sandbox (host/port from SGE_SANDBOX_HOST / SGE_SANDBOX_PORT) until SIGINT/SIGTERM.
    Refused with SGE_ENVIRONMENT=production.

    It authenticates the platform with the same settings the platform uses (SGE_COINBASE_*), and sends
    signed webhooks to the API at SGE_API_PUBLIC_URL (default http://<api host>:<api port>).
    """
    import uvicorn

    from sandbox.app import create_sandbox_app, refuse_in_production
    from sandbox.store import SandboxConfig

    settings = settings_and_logs("sandbox")
    refuse_in_production(settings.environment)  # before anything reads the provider secrets
    app = create_sandbox_app(SandboxConfig.from_settings(settings), environment=settings.environment)
    uvicorn.run(app, host=settings.sandbox_host, port=settings.sandbox_port, log_config=None, server_header=False)
    hard_exit(0)
