"""Finding 1: stored idempotent responses were replayed before authentication and kept new operators'
API keys in plaintext. Now: only matched routes, only for an authenticated principal (scope `op:<id>` or
`wallet:<address>`), secrets stored redacted, anonymous requests never stored."""

from __future__ import annotations

import uuid

from sqlmodel import Session, select

from api.idempotency import REDACTED
from core.db import session_scope
from models.idempotency import IdempotencyRecord
from models.operators import Actor, Operator, create_operator, set_active
from tests.helpers.ledger import make_program
from tests.helpers.wallets import nonce, signed_register


def _records(engine) -> list[IdempotencyRecord]:
    with Session(engine) as session:
        return list(session.exec(select(IdempotencyRecord)).all())


def _admin(engine) -> tuple[int, str]:
    with session_scope(engine) as session:
        view, key = create_operator(session, Actor(name="cli:test"), "root-admin", ["admin"])
    return view.id, key


async def test_finding_1_a_disabled_admin_resending_create_operator_gets_401_never_the_key(api_client, db_engine):
    admin_id, admin_key = _admin(db_engine)
    headers = {"Authorization": f"Bearer {admin_key}", "Idempotency-Key": str(uuid.uuid4())}
    body = {"name": "carol", "roles": ["viewer"]}
    created = await api_client.post("/v1/ops/operators", json=body, headers=headers)
    assert created.status_code == 201, created.text
    carol_key = created.json()["api_key"]
    assert carol_key.startswith("sgeop_")

    [record] = _records(db_engine)  # stored under the operator, never the raw header, and without the key
    assert record.scope == f"op:{admin_id}" and admin_key not in record.scope
    assert carol_key.encode() not in (record.response_body or b"") and record.redacted == "api_key"

    replay = await api_client.post("/v1/ops/operators", json=body, headers=headers)  # still an active admin
    assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
    assert replay.headers["idempotent-redacted"] == "api_key"
    assert replay.json()["api_key"] == REDACTED and replay.json()["operator"] == created.json()["operator"]
    assert carol_key not in replay.text

    with session_scope(db_engine) as session:
        set_active(session, Actor(name="cli:test"), admin_id, False)
    again = await api_client.post("/v1/ops/operators", json=body, headers=headers)
    assert again.status_code == 401 and again.json()["error"]["code"] == "invalid_api_key"
    assert carol_key not in again.text and "idempotent-replayed" not in again.headers
    with Session(db_engine) as session:
        assert sorted(op.name for op in session.exec(select(Operator))) == ["carol", "root-admin"]  # created once


async def test_finding_1_anonymous_and_unmatched_requests_are_never_stored(api_client, db_engine, settings):
    slug = f"p-{uuid.uuid4().hex[:6]}"
    make_program(db_engine, slug=slug)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    no_auth = await api_client.post("/v1/ops/operators", json={"name": "x", "roles": ["viewer"]}, headers=key)
    bad_key = await api_client.post(
        "/v1/ops/operators", json={"name": "x", "roles": ["viewer"]}, headers={**key, "Authorization": "Bearer sgeop_x"}
    )
    assert no_auth.status_code == bad_key.status_code == 401
    no_session = await api_client.post("/v1/payments", json={"program": slug, "wallet": "0x" + "ab" * 20}, headers=key)
    assert no_session.status_code == 401 and no_session.json()["error"]["code"] == "wallet_session_required"
    unknown = await api_client.post("/v1/nothing-here", json={}, headers=key)
    assert unknown.status_code == 404
    # Anonymous clients do not share one key space: the same key from two of them runs twice.
    one = await nonce(api_client, slug, "0x" + "12" * 20, **key)
    two = await nonce(api_client, slug, "0x" + "34" * 20, **key)
    assert one.status_code == two.status_code == 201 and one.json()["nonce"] != two.json()["nonce"]
    assert _records(db_engine) == []


async def test_finding_1_a_wallet_write_is_scoped_by_the_signed_wallet(api_client, db_engine, temporal_dev):
    slug = f"p-{uuid.uuid4().hex[:6]}"
    make_program(db_engine, slug=slug)
    registered, account = await signed_register(api_client, slug)
    token = registered.json()["session"]["token"]
    resp = await api_client.post(
        "/v1/claims/record",
        json={"program": slug, "wallet": account.address, "tx_hash": "0x" + "ab" * 32},
        headers={"Authorization": f"Wallet {token}", "Idempotency-Key": str(uuid.uuid4())},
    )
    assert resp.status_code == 202, resp.text
    [record] = _records(db_engine)
    assert record.scope == f"wallet:{account.address.lower()}" and token not in record.scope
    await temporal_dev.client.get_workflow_handle(registered.json()["flow_id"]).terminate("test over")
