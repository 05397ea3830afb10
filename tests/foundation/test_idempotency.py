"""Idempotency-Key on the authenticated writes: replay, body mismatch, in flight, 5xx not cached,
scoped by the authenticated operator (every `POST /v1/ops/...`; the test routes live there)."""

import asyncio
import uuid

import httpx
from fastapi import Request
from fastapi.responses import JSONResponse

from api.app import create_app
from core.db import session_scope
from models.operators import Actor, create_operator


def _operator_key(db_engine, name: str) -> dict[str, str]:
    with session_scope(db_engine) as session:
        _, key = create_operator(session, Actor(name="test"), f"{name}-{uuid.uuid4().hex[:6]}", ["viewer"])
    return {"Authorization": f"Bearer {key}"}


def _app(settings, db_engine, temporal_dev):
    app = create_app(settings, temporal_client=temporal_dev.client, engine=db_engine)
    app.state.calls = 0
    app.state.gate = None

    @app.post("/v1/ops/t/count")
    async def count(request: Request) -> dict:
        app.state.calls += 1
        if app.state.gate is not None:
            await app.state.gate.wait()
        return {"calls": app.state.calls, "body": (await request.body()).decode()}

    @app.post("/v1/ops/t/boom")
    async def boom() -> JSONResponse:
        app.state.calls += 1
        return JSONResponse({"error": {"code": "x", "message": "down"}}, status_code=503)

    return app


async def _client(app):
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_replay_mismatch_and_scope(settings, db_engine, temporal_dev):
    app = _app(settings, db_engine, temporal_dev)
    alice, bob = _operator_key(db_engine, "alice"), _operator_key(db_engine, "bob")
    key = {"Idempotency-Key": str(uuid.uuid4()), **alice}
    async with app.router.lifespan_context(app), await _client(app) as client:
        first = await client.post("/v1/ops/t/count", content=b"a", headers=key)
        again = await client.post("/v1/ops/t/count", content=b"a", headers=key)
        other = await client.post("/v1/ops/t/count", content=b"b", headers=key)
        as_someone_else = await client.post("/v1/ops/t/count", content=b"b", headers={**key, **bob})
        no_key = await client.post("/v1/ops/t/count", content=b"a", headers=alice)
        bad_key = await client.post("/v1/ops/t/count", content=b"a", headers={"Idempotency-Key": "has space", **alice})
    assert first.json() == {"calls": 1, "body": "a"}
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_key_reused"
    assert as_someone_else.status_code == 200  # keys are scoped by the authenticated operator
    assert no_key.json()["calls"] == 3
    assert bad_key.status_code == 400 and bad_key.json()["error"]["code"] == "invalid_idempotency_key"
    assert app.state.calls == 3


async def test_a_request_in_flight_is_never_run_twice(settings, db_engine, temporal_dev):
    app = _app(settings, db_engine, temporal_dev)
    app.state.gate = asyncio.Event()
    key = {"Idempotency-Key": str(uuid.uuid4()), **_operator_key(db_engine, "alice")}
    async with app.router.lifespan_context(app), await _client(app) as client:
        first = asyncio.create_task(client.post("/v1/ops/t/count", content=b"a", headers=key))
        while app.state.calls == 0:
            await asyncio.sleep(0.01)
        second = await client.post("/v1/ops/t/count", content=b"a", headers=key)
        app.state.gate.set()
        first = await first
    assert second.status_code == 409 and second.json()["error"]["code"] == "idempotency_in_flight"
    assert first.status_code == 200 and app.state.calls == 1


async def test_server_errors_are_not_cached(settings, db_engine, temporal_dev):
    app = _app(settings, db_engine, temporal_dev)
    key = {"Idempotency-Key": str(uuid.uuid4()), **_operator_key(db_engine, "alice")}
    async with app.router.lifespan_context(app), await _client(app) as client:
        one = await client.post("/v1/ops/t/boom", headers=key)
        two = await client.post("/v1/ops/t/boom", headers=key)
    assert one.status_code == two.status_code == 503
    assert app.state.calls == 2  # the retry ran: 5xx answers are never replayed


def test_abandoned_and_expired_keys_can_be_claimed_again(db_engine):
    from core.columns import utcnow
    from models.idempotency import IN_FLIGHT_LOCK, RECORD_TTL, Claim, claim_key, complete_key, prune_expired

    now = utcnow()
    assert claim_key(db_engine, "s", "k", "h1", now).outcome is Claim.PROCEED
    assert claim_key(db_engine, "s", "k", "h1", now).outcome is Claim.IN_FLIGHT
    # the first holder crashed: after its lock runs out the same request may run
    later = now + IN_FLIGHT_LOCK * 2
    assert claim_key(db_engine, "s", "k", "h2", later).outcome is Claim.BODY_MISMATCH
    assert claim_key(db_engine, "s", "k", "h1", later).outcome is Claim.PROCEED
    complete_key(db_engine, "s", "k", 201, "application/json", b"{}")
    replay = claim_key(db_engine, "s", "k", "h1", later)
    assert (replay.outcome, replay.status_code, replay.body) == (Claim.REPLAY, 201, b"{}")
    # expired records are treated as absent, and pruned
    expired = now + RECORD_TTL * 2
    assert claim_key(db_engine, "s", "k", "h2", expired).outcome is Claim.PROCEED
    assert prune_expired(db_engine, expired + RECORD_TTL * 2) == 1
