"""Integer ids beyond 64 bits are a precise 422, never a 500 (schemathesis found
`/v1/ops/affiliates/{id}/suspend|reinstate` answering 500 to one): every integer path or cursor
parameter is bounded to a database row id, 1..MAX_ROW_ID = 2**31-1, PostgreSQL INTEGER (0.. for cursors), and the schema says so."""

from __future__ import annotations

import pytest

from api.deps import MAX_ROW_ID
from tests.helpers.ledger import make_operator

TOO_BIG = 2**64 + 1

MUTATIONS = [
    "/v1/ops/affiliates/{id}/suspend",
    "/v1/ops/affiliates/{id}/reinstate",
    "/v1/ops/operators/{id}/disable",
    "/v1/ops/operators/{id}/enable",
    "/v1/ops/suspense/{id}/write-off",
]
READS = [
    "/v1/ops/affiliates/{id}",
    "/v1/ops/affiliates/{id}/tree",
    "/v1/ops/affiliates/{id}/commissions",
]


@pytest.mark.parametrize("path", MUTATIONS)
@pytest.mark.parametrize("value", [TOO_BIG, 2**63, MAX_ROW_ID + 1, 0, -1])
async def test_an_id_outside_a_row_id_is_a_422_on_writes(surfaces, db_engine, path, value):
    key = make_operator(db_engine, "root", "admin")
    resp = await surfaces.post(
        path.format(id=value), json={"reason": "a reason"}, headers={"Authorization": f"Bearer {key}"}
    )
    assert resp.status_code == 422, resp.text
    assert resp.json()["error"]["code"] == "validation_error"


@pytest.mark.parametrize("path", READS)
async def test_an_id_outside_a_row_id_is_a_422_on_reads(surfaces, db_engine, path):
    key = make_operator(db_engine, "root", "admin")
    resp = await surfaces.get(path.format(id=TOO_BIG), headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 422, resp.text


@pytest.mark.parametrize(
    "path",
    [
        "/v1/ops/programs/p/affiliates?after={v}",
        "/v1/ops/affiliates/1/commissions?after={v}",
        "/v1/ops/audit?before={v}",
    ],
)
async def test_a_cursor_beyond_64_bits_is_a_422(surfaces, db_engine, path):
    key = make_operator(db_engine, "root", "admin")
    resp = await surfaces.get(path.format(v=TOO_BIG), headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 422, resp.text


async def test_the_largest_row_id_is_a_plain_404(surfaces, db_engine):
    key = make_operator(db_engine, "root", "admin")
    resp = await surfaces.post(
        f"/v1/ops/affiliates/{MAX_ROW_ID}/suspend", json={"reason": "x"}, headers={"Authorization": f"Bearer {key}"}
    )
    assert resp.status_code == 404, resp.text


async def test_the_schema_states_the_bounds(surfaces):
    schema = (await surfaces.get("/openapi.json")).json()
    [param] = schema["paths"]["/v1/ops/affiliates/{affiliate_id}/suspend"]["post"]["parameters"]
    assert param["schema"]["minimum"] == 1 and param["schema"]["maximum"] == MAX_ROW_ID


async def test_an_unreachable_temporal_is_a_503_not_a_500(surfaces, db_engine):
    """The API's Temporal client connects lazily: while Temporal is down a call to it is a retryable 503."""
    key = make_operator(db_engine, "root", "admin")
    resp = await surfaces.post("/v1/ops/reconciliation/run", headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 503, resp.text
    assert resp.json()["error"]["code"] == "orchestrator_unavailable" and resp.headers["retry-after"] == "5"
