"""The two HTTP surfaces, built from the same code: the public app and the operator app.

Public (SGE_API_HOST:SGE_API_PORT): the public API under /v1 (register, status, payments, claims,
affiliates), webhooks, `/healthz` and a minimal `/readyz`. No docs, no metrics, no /v1/ops.
Operator (SGE_OPERATOR_HOST:SGE_OPERATOR_PORT, a private address): /v1/ops, the operator pages
(/ops/...), the detailed `/readyz`, `/metrics`, and the OpenAPI docs (`/docs`, `/openapi.json` for the
operator API; `/docs/public` and `/docs/public/openapi.json` for the public one).

`sge api` serves both from one process (per worker): one uvicorn server listening on two sockets, and
`SurfaceDispatcher` hands each connection to the app of the socket it arrived on (the public app unless
it is the operator port). One process means one database pool, one Temporal client, one set of
in-process rate-limit counters and one Prometheus registry — so `/metrics` on the operator port counts
the public port's traffic too; and uvicorn's own worker supervisor (`--workers`) runs it unchanged.
"""

from __future__ import annotations

from contextlib import AsyncExitStack, asynccontextmanager
from enum import StrEnum

import httpx
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from temporalio.client import Client

from api import (
    account,
    affiliates,
    app_pages,
    claims,
    documents,
    flows,
    health,
    kyc_webhooks,
    ledger,
    money,
    ops,
    pages,
    payout_pages,
    payouts,
    privacy,
    public,
    reconciliation,
    registration,
    report_pages,
    webhooks,
)
from api.errors import document_body_errors, install_error_handlers
from api.idempotency import IdempotencyMiddleware
from api.middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from core.db import get_engine
from core.logs import configure_logging
from core.redact import register_secrets
from core.settings import Settings, get_settings
from core.tracing import configure_tracing
from temporal.client import connect


class Surface(StrEnum):
    PUBLIC = "public"
    OPERATOR = "operator"


PUBLIC_ROUTERS = (
    health.public_router,
    public.router,
    registration.router,
    claims.router,
    webhooks.router,
    kyc_webhooks.router,
    affiliates.router,
    account.router,
    app_pages.router,  # the user's app: /app/{program}
    documents.router,  # terms, privacy, risk: /v1/programs/{slug}/documents/{kind}
)
OPERATOR_ROUTERS = (
    health.operator_router,
    ops.router,
    flows.router,
    payouts.router,
    ledger.router,
    money.router,
    reconciliation.router,
    report_pages.api_router,
    privacy.router,
    pages.router,
    report_pages.router,
    payout_pages.router,  # the payout approval pages: /ops/payouts
)
PUBLIC_DOCS = "/docs/public"


class SharedResources:
    """What both surfaces of a process share: the DB engine, the Temporal client and an HTTP client.

    Opened by the first surface's lifespan and closed with the last one's.
    """

    def __init__(self, settings: Settings, *, temporal_client: Client | None = None, engine=None):
        self.settings = settings
        self.engine = engine
        self.temporal = temporal_client
        self.http: httpx.AsyncClient | None = None
        self._users = 0

    @asynccontextmanager
    async def use(self):
        if self._users == 0:
            settings = self.settings
            self.engine = self.engine or get_engine(settings.db_url, pool_size=settings.database_pool_size)
            # Lazy: the API starts even when Temporal is down, and /readyz says so.
            self.temporal = self.temporal or await connect(settings, lazy=True)
            self.http = httpx.AsyncClient(timeout=health.CHECK_TIMEOUT_S)
        self._users += 1
        try:
            yield self
        finally:
            self._users -= 1
            if self._users == 0 and self.http is not None:
                await self.http.aclose()
                self.http = None


def create_app(
    settings: Settings | None = None,
    *,
    surface: Surface | str = Surface.PUBLIC,
    temporal_client: Client | None = None,
    engine=None,
    resources: SharedResources | None = None,
) -> FastAPI:
    """One surface's app (the public one unless `surface="operator"`)."""
    settings = settings or get_settings()
    surface = Surface(surface)
    register_secrets(settings)  # masked in logs and error bodies from here on
    configure_tracing(settings.otel_exporter, "api")
    shared = resources or SharedResources(settings, temporal_client=temporal_client, engine=engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with shared.use():
            app.state.engine, app.state.temporal, app.state.http = shared.engine, shared.temporal, shared.http
            yield

    operator = surface is Surface.OPERATOR
    app = FastAPI(
        title="SGE settlement platform",
        version="0.1.0",
        summary=(
            "Operator API: flows, halt, suspense, ledger, operators, affiliates, programs."
            if operator
            else "Register → pay → claim on Ethereum, affiliate commissions and payouts, double-entry ledger."
        ),
        lifespan=lifespan,
        docs_url="/docs" if operator else None,
        openapi_url="/openapi.json" if operator else None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.surface = surface
    app.state.readiness_checks = dict(health.DEFAULT_CHECKS)
    app.state.public_readiness = health.SharedReadiness()
    install_error_handlers(app)
    if operator:
        pages.install_page_handlers(app)
    # Starlette runs the last-added middleware first: request context → CORS → size cap → idempotency.
    app.add_middleware(IdempotencyMiddleware, get_engine=lambda scope: scope["app"].state.engine)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    if settings.cors_origins and not operator:  # browsers reach the operator port only through its own pages
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"],
            expose_headers=["X-Request-ID"],
        )
    app.add_middleware(RequestContextMiddleware)
    for router in OPERATOR_ROUTERS if operator else PUBLIC_ROUTERS:
        document_body_errors(router)
        app.include_router(router)
    FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz,metrics")
    return app


def create_apps(
    settings: Settings | None = None, *, temporal_client: Client | None = None, engine=None
) -> tuple[FastAPI, FastAPI]:
    """The public and the operator app of one process, sharing their resources."""
    settings = settings or get_settings()
    shared = SharedResources(settings, temporal_client=temporal_client, engine=engine)
    public_app = create_app(settings, surface=Surface.PUBLIC, resources=shared)
    operator_app = create_app(settings, surface=Surface.OPERATOR, resources=shared)
    _serve_public_docs(operator_app, public_app)
    return public_app, operator_app


def _serve_public_docs(operator_app: FastAPI, public_app: FastAPI) -> None:
    """The public API's OpenAPI document and Swagger UI, served on the operator port only."""

    @operator_app.get(f"{PUBLIC_DOCS}/openapi.json", include_in_schema=False)
    async def public_openapi() -> JSONResponse:
        return JSONResponse(public_app.openapi())

    @operator_app.get(PUBLIC_DOCS, include_in_schema=False)
    async def public_docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=f"{PUBLIC_DOCS}/openapi.json", title="SGE public API")


class SurfaceDispatcher:
    """One ASGI app for a server listening on both ports: each connection goes to the app of the
    port it arrived on (anything but the operator port is public). Runs both apps' lifespans."""

    def __init__(self, public_app: FastAPI, operator_app: FastAPI, operator_port: int):
        self.public = public_app
        self.operator = operator_app
        self.operator_port = operator_port

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            return await self._lifespan(receive, send)
        server = scope.get("server")
        on_operator_port = bool(server) and len(server) > 1 and server[1] == self.operator_port
        await (self.operator if on_operator_port else self.public)(scope, receive, send)

    async def _lifespan(self, receive, send) -> None:
        await receive()  # lifespan.startup
        async with AsyncExitStack() as stack:
            try:
                for app in (self.public, self.operator):
                    await stack.enter_async_context(app.router.lifespan_context(app))
            except Exception as exc:  # noqa: BLE001 - reported to the server, which refuses to start
                await send({"type": "lifespan.startup.failed", "message": str(exc)})
                return
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
        await send({"type": "lifespan.shutdown.complete"})


def create_served_app() -> SurfaceDispatcher:
    """`sge api`'s uvicorn factory (also in each `--workers` process): both surfaces, one dispatcher."""
    settings = get_settings()
    register_secrets(settings)
    configure_logging(settings.log_level, settings.log_format, process="api")
    public_app, operator_app = create_apps(settings)
    return SurfaceDispatcher(public_app, operator_app, settings.operator_port)
