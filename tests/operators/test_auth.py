"""Every operator endpoint: missing key, unknown key, disabled key → 401; a role that is not enough → 403;
and in every refused case nothing is written."""

import pytest

from core.db import session_scope
from models import operators as ops
from tests.helpers.ledger import CLI, make_operator, make_program, register, row_counts

ADMIN, READ = "admin", "read"
PROGRAM_BODY = {"slug": "newprog", "name": "New", "treasury_address": "0x" + "22" * 20}

# (method, path, role needed, JSON body). Paths use the ids created by the `world` fixture.
ENDPOINTS = [
    ("GET", "/v1/ops/me", READ, None),
    ("GET", "/v1/ops/operators", ADMIN, None),
    ("POST", "/v1/ops/operators", ADMIN, {"name": "mallory", "roles": ["admin"]}),
    ("POST", "/v1/ops/operators/{viewer_id}/disable", ADMIN, None),
    ("POST", "/v1/ops/operators/{viewer_id}/enable", ADMIN, None),
    ("GET", "/v1/ops/programs", READ, None),
    ("POST", "/v1/ops/programs", ADMIN, PROGRAM_BODY),
    ("GET", "/v1/ops/programs/demo", READ, None),
    ("PATCH", "/v1/ops/programs/demo", ADMIN, {"hold_days": 1}),
    ("DELETE", "/v1/ops/programs/demo", ADMIN, None),
    ("GET", "/v1/ops/programs/demo/affiliates", READ, None),
    ("GET", "/v1/ops/affiliates/{affiliate_id}", READ, None),
    ("GET", "/v1/ops/affiliates/{affiliate_id}/tree", READ, None),
    ("GET", "/v1/ops/affiliates/{affiliate_id}/commissions", READ, None),
    ("POST", "/v1/ops/affiliates/{affiliate_id}/suspend", ADMIN, {"reason": "x"}),
    ("POST", "/v1/ops/affiliates/{affiliate_id}/reinstate", ADMIN, {"reason": "x"}),
    ("GET", "/v1/ops/commissions?payment_ref=coinbase_commerce:x", READ, None),
    ("GET", "/v1/ops/audit", ADMIN, None),
    ("GET", "/v1/ops/ledger/balances", READ, None),
    ("GET", "/v1/ops/ledger/accounts/revenue:fees:demo/statement?asset=USD", READ, None),
    ("GET", "/v1/ops/ledger/transactions/settle:x", READ, None),
    ("GET", "/v1/ops/ledger/verify", READ, None),
]


def test_the_table_covers_every_operator_route(api_client):
    from api import ledger, ops

    # The operator routes of this module's routers (other routers test their own).
    routes = {
        (method, route.path)
        for router in (ops.router, ledger.router)
        for route in router.routes
        for method in route.methods
    }
    listed = {
        (
            m,
            p.split("?")[0]
            .replace("{viewer_id}", "{operator_id}")
            .replace("revenue:fees:demo", "{account}")
            .replace("settle:x", "{tx_id:path}")
            .replace("/demo", "/{slug}"),
        )
        for m, p, _r, _b in ENDPOINTS
    }
    assert routes == listed


@pytest.fixture
def world(db_engine):
    make_program(db_engine)
    affiliate = register(db_engine)
    keys = {role: make_operator(db_engine, role, role) for role in ("admin", "approver", "viewer")}
    keys["disabled"] = make_operator(db_engine, "gone", "admin")
    with session_scope(db_engine) as s:
        ops.set_active(s, CLI, "gone", False)
        ids = {"viewer_id": ops._get(s, "viewer").id, "affiliate_id": affiliate.id}
    return keys, ids


async def call(client, method, path, body, key=None, raw_header=None):
    headers = {}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    if raw_header:
        headers["Authorization"] = raw_header
    return await client.request(method, path, json=body, headers=headers)


@pytest.mark.parametrize("method, path, role, body", ENDPOINTS, ids=[f"{m} {p}" for m, p, _r, _b in ENDPOINTS])
async def test_operator_endpoint_refuses_and_writes_nothing(api_client, db_engine, world, method, path, role, body):
    keys, ids = world
    path = path.format(**ids)
    before = row_counts(db_engine)
    refusals = [
        (None, None, 401, "missing_api_key"),
        (None, "Basic YWRtaW46YWRtaW4=", 401, "missing_api_key"),
        ("sgeop_" + "A" * 43, None, 401, "invalid_api_key"),
        ("admin", None, 401, "invalid_api_key"),  # a guessable shared secret is not a key
        (keys["disabled"], None, 401, "invalid_api_key"),
    ]
    if role == ADMIN:
        refusals += [
            (keys["viewer"], None, 403, "insufficient_role"),
            (keys["approver"], None, 403, "insufficient_role"),
        ]
    for key, raw, status, code in refusals:
        resp = await call(api_client, method, path, body, key, raw)
        assert resp.status_code == status, (key, resp.text)
        assert resp.json()["error"]["code"] == code
        if status == 401:
            assert resp.headers["www-authenticate"] == "Bearer"
    # a body that does not validate still gets the auth answer first (no hint about the schema)
    if body is not None:
        resp = await api_client.request(method, path, json={"unexpected": [1, 2]})
        assert resp.status_code == 401
    assert row_counts(db_engine) == before
    # ... and the right role gets through
    allowed = keys["admin"] if role == ADMIN else keys["viewer"]
    resp = await call(api_client, method, path, body, allowed)
    assert resp.status_code < 400 or resp.status_code == 404, resp.text


async def test_every_role_can_read(api_client, world):
    keys, _ids = world
    for role in ("admin", "approver", "viewer"):
        resp = await call(api_client, "GET", "/v1/ops/me", None, keys[role])
        assert resp.status_code == 200 and resp.json()["roles"] == [role]
