"""The payment sandbox app: a local stand-in for Coinbase Commerce and Coinbase Business (`sge payments-sandbox`).

It speaks the subset of both providers' HTTP APIs the platform's clients use, authenticates them like
the real services, keeps charges in memory, shows a hosted payment page per charge, and delivers
**signed** webhooks to the API with Coinbase-like retries.

Provider API (what the clients in `payments/` call)
    POST /charges, GET /charges, GET /charges/{id|code}            Commerce    sandbox/commerce_api.py
    POST /api/v1/payment-links, GET /api/v1/payment-links[/{id}]   Business    sandbox/business_api.py
Payer / merchant / operator surface
    GET  /pay/{ref}, POST /sandbox/charges/{ref}/{action}                      sandbox/checkout.py
         (pay, underpay, multiple, fail, expire, refund, resolve: the outcome table is there)
    GET  /sandbox/charges[/{ref}], GET /sandbox/deliveries[?ref=]             here
    GET|POST /sandbox/switches   {"duplicate": bool, "out_of_order": bool}    here (delivery: sandbox/webhooks.py)
    GET  /healthz

It never runs in production: its "pay" buttons are unauthenticated and it signs webhooks with whatever
secrets it is given, so `create_sandbox_app` refuses when the environment is production (the explicit
`environment`, else SGE_ENVIRONMENT), and so does `sge payments-sandbox`.

Layering: `core/` and `payments/` formats only.
"""

from __future__ import annotations

import asyncio
import os
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from core.settings import ConfigError
from sandbox.business_api import BusinessApi, business_router
from sandbox.checkout import Checkout, checkout_router
from sandbox.commerce_api import CommerceApi, commerce_router
from sandbox.store import ChargeStore, SandboxConfig, SandboxError
from sandbox.webhooks import WebhookSender


class PaymentSandbox:
    """The parts, wired together; `start`/`stop` run the delivery workers and the expiry sweeper."""

    def __init__(self, config: SandboxConfig):
        self.config = config
        self.store = ChargeStore()
        self.webhooks = WebhookSender(config)
        self.checkout = Checkout(self.store, self.webhooks)
        self.commerce = CommerceApi(config, self.store, self.webhooks)
        self.business = BusinessApi(config, self.store)
        self._sweeper: asyncio.Task | None = None

    async def start(self) -> None:
        await self.webhooks.start()
        self._sweeper = asyncio.create_task(self.checkout.expire_forever())

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
        await self.webhooks.stop()


def refuse_in_production(environment: str | None = None) -> None:
    """ConfigError naming SGE_ENVIRONMENT when it (or the explicit `environment`) is production."""
    if (environment or os.environ.get("SGE_ENVIRONMENT", "")).strip().lower() == "production":
        raise ConfigError(
            "SGE_ENVIRONMENT",
            "production: the payment sandbox is a local stand-in with unauthenticated pay buttons and never runs here",
        )


def create_sandbox_app(config: SandboxConfig, *, environment: str | None = None) -> FastAPI:
    refuse_in_production(environment)
    sandbox = PaymentSandbox(config)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        await sandbox.start()
        try:
            yield
        finally:
            await sandbox.stop()

    app = FastAPI(title="SGE payment sandbox", summary="Coinbase Commerce + Business stand-in", lifespan=lifespan)
    app.state.sandbox = sandbox

    @app.exception_handler(SandboxError)
    async def _error(request: Request, exc: SandboxError):
        if request.url.path.startswith("/api/v1/"):
            return JSONResponse({"errorType": "invalid_request", "errorMessage": exc.message}, status_code=exc.status)
        return JSONResponse({"error": {"type": "invalid_request", "message": exc.message}}, status_code=exc.status)

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok", "charges": len(sandbox.store.charges), "queued": sandbox.webhooks.queue.qsize()}

    app.include_router(commerce_router(sandbox.commerce))
    app.include_router(business_router(sandbox.business))
    app.include_router(checkout_router(sandbox.checkout))

    # Operator surface
    @app.get("/sandbox/charges")
    async def charges():
        return [c.summary() for c in sandbox.store.newest_first()]

    @app.get("/sandbox/charges/{ref}")
    async def one_charge(ref: str):
        return sandbox.store.get(ref).summary()

    @app.get("/sandbox/deliveries")
    async def deliveries(ref: str | None = None):
        return [d.summary() for d in sandbox.webhooks.deliveries if ref is None or d.ref == sandbox.store.get(ref).ref]

    @app.get("/sandbox/switches")
    async def get_switches():
        return config.switches()

    @app.post("/sandbox/switches")
    async def set_switches(request: Request):
        body = await request.json()
        for name in ("duplicate", "out_of_order"):
            if name in body:
                setattr(config, name, bool(body[name]))
        return config.switches()

    return app
