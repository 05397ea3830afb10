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


def kyc_sandbox() -> None:
    """Run the KYC sandbox, a Sumsub stand-in (SGE_KYC_SANDBOX_HOST / SGE_KYC_SANDBOX_PORT), until
    SIGINT/SIGTERM. Refused with SGE_ENVIRONMENT=production.

    It checks requests signed with SGE_KYC_APP_TOKEN / SGE_KYC_SECRET_KEY and sends webhooks signed with
    SGE_KYC_WEBHOOK_SECRET to the API's /v1/webhooks/kyc.
    """
    import uvicorn

    from sandbox.app import refuse_in_production
    from sandbox.kyc_app import create_kyc_sandbox_app
    from sandbox.kyc_store import KycSandboxConfig

    settings = settings_and_logs("kyc-sandbox")
    refuse_in_production(settings.environment)
    app = create_kyc_sandbox_app(KycSandboxConfig.from_settings(settings), environment=settings.environment)
    uvicorn.run(
        app, host=settings.kyc_sandbox_host, port=settings.kyc_sandbox_port, log_config=None, server_header=False
    )
    hard_exit(0)
