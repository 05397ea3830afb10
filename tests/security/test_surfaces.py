"""Finding 4 and 11: two surfaces. The public app serves no operator routes, docs or metrics, and its
`/readyz` says only ok/fail and which components fail; the operator app serves the rest."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import httpx
import pytest

from api import health
from api.app import SurfaceDispatcher, create_app, create_apps
from core.db import make_engine
from tests.helpers.surfaces import on_operator_surface

RPC_KEY = "0123456789abcdef0123456789abcdef"
DB_PASSWORD = "Db-Passw0rd-planted"


async def _get(app, path: str) -> httpx.Response:
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            return await client.get(path)


@pytest.mark.parametrize(
    "path", ["/v1/ops/me", "/v1/ops/operators", "/metrics", "/docs", "/openapi.json", "/redoc", "/ops/login"]
)
async def test_the_public_app_has_no_operator_routes_docs_or_metrics(local_settings, db_engine, path):
    resp = await _get(create_app(local_settings(), engine=db_engine), path)
    assert resp.status_code == 404, resp.text


@pytest.mark.parametrize("path", ["/v1/status?program=x&wallet=0x0", "/v1/webhooks/coinbase-commerce"])
async def test_the_operator_app_has_no_public_routes(local_settings, db_engine, path):
    resp = await _get(create_app(local_settings(), surface="operator", engine=db_engine), path)
    assert resp.status_code in (404, 405), resp.text


async def test_public_readiness_leaks_nothing(local_settings, tmp_path):
    """Finding 4: a down RPC with a key in its URL, a database with a password, Temporal down: the public
    answer names the failing components and nothing else."""
    rpc = f"https://127.0.0.1:1/v3/{RPC_KEY}?apikey=query-key-planted"
    db = f"postgresql+psycopg://sge:{DB_PASSWORD}@127.0.0.1:1/sge"
    settings = local_settings(eth_rpc_urls=[rpc], database_url=db, relayer_address="0x" + "11" * 20)
    engine = make_engine(db)
    try:
        resp = await _get(create_app(settings, engine=engine), "/readyz")
        operator = await _get(create_app(settings, surface="operator", engine=engine), "/readyz")
    finally:
        engine.dispose()
    assert resp.status_code == 503
    assert resp.json() == {"status": "fail", "failing": ["database", "temporal", "rpc", "relayer"]}
    for planted in (RPC_KEY, "query-key-planted", DB_PASSWORD, "127.0.0.1", "0x" + "11" * 20):
        assert planted not in resp.text
    # The operator port has the details, with the URLs redacted.
    report = operator.json()
    assert report["checks"]["rpc"]["status"] == "down" and "/v3/***" in report["checks"]["rpc"]["error"]
    for planted in (RPC_KEY, "query-key-planted", DB_PASSWORD):
        assert planted not in operator.text


async def test_public_readiness_runs_the_checks_once_for_a_crowd():
    runs = 0

    async def slow(_state):
        nonlocal runs
        runs += 1
        await asyncio.sleep(0.05)

    state = SimpleNamespace(readiness_checks={"slow": slow})
    shared = health.SharedReadiness(ttl_s=60)
    answers = await asyncio.gather(*(shared.summary(state) for _ in range(50)))
    assert runs == 1 and all(a == {"status": "ok", "failing": []} for a in answers)


async def test_the_dispatcher_sends_each_port_to_its_app(local_settings, db_engine):
    settings = local_settings(api_port=18000, operator_port=18001)
    public_app, operator_app = create_apps(settings, engine=db_engine)
    dispatcher = SurfaceDispatcher(public_app, operator_app, settings.operator_port)
    seen = []

    async def public(scope, receive, send):
        seen.append(("public", scope["server"]))

    async def operator(scope, receive, send):
        seen.append(("operator", scope["server"]))

    dispatcher.public, dispatcher.operator = public, operator  # type: ignore[assignment]
    for server in [("127.0.0.1", 18000), ("10.0.0.5", 18001), None, ("/tmp/sock", None)]:
        await dispatcher({"type": "http", "server": server}, None, None)
    assert [name for name, _ in seen] == ["public", "operator", "public", "public"]


async def test_the_dispatcher_runs_both_lifespans(local_settings, db_engine):
    public_app, operator_app = create_apps(local_settings(), engine=db_engine)
    dispatcher = SurfaceDispatcher(public_app, operator_app, 1)
    inbox = asyncio.Queue()
    for message in ("lifespan.startup", "lifespan.shutdown"):
        inbox.put_nowait({"type": message})
    sent = []

    async def send(message):
        sent.append(message["type"])
        if message["type"] == "lifespan.startup.complete":
            assert public_app.state.engine is db_engine and operator_app.state.engine is db_engine
            assert public_app.state.http is operator_app.state.http is not None  # shared

    await dispatcher({"type": "lifespan"}, inbox.get, send)
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


async def test_the_public_api_schema_is_served_on_the_operator_port(surfaces):
    schema = (await surfaces.get("/docs/public/openapi.json")).json()
    assert "/v1/register" in schema["paths"] and not any(p.startswith("/v1/ops") for p in schema["paths"])
    operator_schema = (await surfaces.get("/openapi.json")).json()
    assert "/v1/ops/me" in operator_schema["paths"] and "/v1/register" not in operator_schema["paths"]
    assert (await surfaces.get("/docs/public")).status_code == 200


def test_the_test_client_splits_paths_like_the_ports():
    assert on_operator_surface("/v1/ops/me") and on_operator_surface("/ops/") and on_operator_surface("/metrics")
    assert not on_operator_surface("/v1/opsx") and not on_operator_surface("/readyz")
    assert not on_operator_surface("/v1/register") and not on_operator_surface("/healthz")


def test_the_ports_must_differ(local_settings):
    from core.settings import ConfigError, load_settings

    with pytest.raises(ConfigError) as err:
        load_settings(_env_file=None, api_port=9000, operator_port=9000)
    assert err.value.setting == "SGE_OPERATOR_PORT"
