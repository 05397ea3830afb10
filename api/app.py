"""The FastAPI application factory (`uvicorn --factory api.app:create_app`)."""

from __future__ import annotations

from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from temporalio.client import Client

from api import affiliates, claims, flows, health, ledger, money, ops, public, registration, webhooks
from api.errors import install_error_handlers
from api.idempotency import IdempotencyMiddleware
from api.middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from core.db import get_engine
from core.settings import Settings, get_settings
from core.tracing import configure_tracing
from temporal.client import connect


def create_app(settings: Settings | None = None, *, temporal_client: Client | None = None, engine=None) -> FastAPI:
    settings = settings or get_settings()
    configure_tracing(settings.otel_exporter, "api")

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state = app.state
        state.engine = engine or get_engine(settings.db_url, pool_size=settings.database_pool_size)
        # Lazy: the API starts even when Temporal is down, and /readyz says so.
        state.temporal = temporal_client or await connect(settings, lazy=True)
        state.http = httpx.AsyncClient(timeout=health.CHECK_TIMEOUT_S)
        try:
            yield
        finally:
            await state.http.aclose()

    app = FastAPI(
        title="SGE settlement platform",
        version="0.1.0",
        summary="Register → pay → claim on Ethereum, affiliate commissions and payouts, double-entry ledger.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.readiness_checks = dict(health.DEFAULT_CHECKS)
    install_error_handlers(app)
    # Starlette runs the last-added middleware first: request context → CORS → size cap → idempotency.
    app.add_middleware(IdempotencyMiddleware, get_engine=lambda scope: scope["app"].state.engine)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"],
            expose_headers=["X-Request-ID"],
        )
    app.add_middleware(RequestContextMiddleware)
    app.include_router(health.router)
    app.include_router(public.router)
    app.include_router(registration.router)
    app.include_router(claims.router)
    app.include_router(webhooks.router)
    app.include_router(affiliates.router)
    app.include_router(ops.router)
    app.include_router(flows.router)
    app.include_router(ledger.router)
    app.include_router(money.router)
    FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz,metrics")
    return app
