import httpx
import pytest

from api.app import create_app
from temporal.client import connect


async def test_liveness(api_client):
    resp = await api_client.get("/healthz")
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok"}


def _fund(anvil, settings, wei: int) -> None:
    anvil.rpc("anvil_setBalance", [settings.relayer_public_address, hex(wei)])


async def test_readiness_reports_each_dependency(api_client, anvil, settings):
    _fund(anvil, settings, 10**18)
    resp = await api_client.operator.get("/readyz")
    body = resp.json()
    assert resp.status_code == 200, body
    assert body["status"] == "ok" and body["failing"] == []
    for name in ("database", "temporal", "rpc", "relayer"):
        assert body["checks"][name]["status"] == "up"
        assert body["checks"][name]["latency_ms"] >= 0
    assert body["checks"]["rpc"]["chain_id"] == anvil.chain_id
    assert body["checks"]["relayer"]["balance_wei"] == 10**18


async def test_readiness_503_when_the_relayer_is_below_its_floor(api_client, anvil, settings):
    _fund(anvil, settings, settings.relayer_min_balance_wei - 1)
    body = (await api_client.operator.get("/readyz")).json()
    assert body["failing"] == ["relayer"]
    assert "below the floor" in body["checks"]["relayer"]["error"]


async def test_the_api_needs_only_the_relayer_address(settings, db_engine, temporal_dev, anvil):
    address_only = settings.model_copy(
        update={"relayer_private_key": None, "relayer_address": settings.relayer_public_address}
    )
    _fund(anvil, settings, 10**18)
    resp = await _readyz(address_only, db_engine, temporal_dev.client)
    assert resp.status_code == 200, resp.json()


async def _readyz(settings, engine, temporal_client):
    app = create_app(settings, surface="operator", temporal_client=temporal_client, engine=engine)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            return await client.get("/readyz")


async def test_readiness_503_when_rpc_is_down(settings, db_engine, temporal_dev):
    down = settings.model_copy(update={"eth_rpc_urls": ["http://127.0.0.1:1"]})
    resp = await _readyz(down, db_engine, temporal_dev.client)
    body = resp.json()
    assert resp.status_code == 503
    assert body["failing"] == ["rpc", "relayer"]  # the balance is read over the same RPC
    assert body["checks"]["rpc"]["status"] == "down"


async def test_readiness_503_on_wrong_chain(settings, db_engine, temporal_dev):
    wrong = settings.model_copy(update={"chain_id": 1})
    resp = await _readyz(wrong, db_engine, temporal_dev.client)
    assert resp.status_code == 503
    assert "expected 1" in resp.json()["checks"]["rpc"]["error"]


async def test_readiness_503_when_temporal_is_down(settings, db_engine, anvil):
    _fund(anvil, settings, 10**18)
    down = settings.model_copy(update={"temporal_address": "127.0.0.1:1"})
    lazy_client = await connect(down, lazy=True)
    resp = await _readyz(down, db_engine, lazy_client)
    body = resp.json()
    assert resp.status_code == 503
    assert body["failing"] == ["temporal"]


async def test_errors_are_json_with_a_code(api_client):
    resp = await api_client.get("/nope")
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "not_found"
    resp = await api_client.post("/healthz")
    assert resp.status_code == 405
    assert resp.json()["error"]["code"] == "method_not_allowed"


async def test_request_id_is_kept_or_assigned(api_client):
    resp = await api_client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert resp.headers["x-request-id"] == "abc-123"
    resp = await api_client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert resp.headers["x-request-id"] != "bad id with spaces"
    assert len(resp.headers["x-request-id"]) == 32


@pytest.mark.parametrize("declared", [True, False])
async def test_oversized_bodies_get_413(settings, db_engine, temporal_dev, declared):
    from fastapi import Request

    app = create_app(settings, temporal_client=temporal_dev.client, engine=db_engine)

    @app.post("/echo")
    async def echo(request: Request) -> dict:
        return {"size": len(await request.body())}

    body = b"x" * (settings.max_body_bytes + 1)

    async def stream():  # no Content-Length: the cap must hold while the body is read
        yield body[:1000]
        yield body[1000:]

    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            ok = await client.post("/echo", content=b"small")
            resp = await client.post("/echo", content=body if declared else stream())
    assert ok.json() == {"size": 5}
    assert resp.status_code == 413
    assert resp.json()["error"]["code"] == "payload_too_large"


async def test_openapi_and_metrics(api_client, db_engine, settings):
    from core.db import session_scope
    from models.chain_gate import set_chain_gate
    from models.operators import Actor

    assert (await api_client.get("/openapi.json")).json()["info"]["title"] == "SGE settlement platform"
    assert (await api_client.get("/docs")).status_code == 200
    await api_client.get("/healthz")
    metrics = (await api_client.get("/metrics")).text
    assert 'sge_http_requests_total{method="GET",route="/healthz",status="200"}' in metrics
    # Shared state, read from the database at scrape time (alerts watch the gate).
    assert "sge_chain_gate_open 1.0" in metrics and "sge_relayer_spend_tx_last_hour 0.0" in metrics
    with session_scope(db_engine) as session:
        set_chain_gate(session, settings, Actor(name="ops"), True, "drill")
    metrics = (await api_client.get("/metrics")).text
    assert "sge_chain_gate_open 0.0" in metrics and "sge_chain_gate_switch_closed 1.0" in metrics
