"""/v1/ops/payouts over HTTP (the operator app in-process) against the dev server, the real activities,
anvil and the DB: roles enforced, every action audited, approvals answered at once by the Update."""

from __future__ import annotations

import httpx
from sqlmodel import Session

from api.app import create_apps
from models import approval_policy as policy
from models.operators import audit_entries
from tests.payouts.conftest import earn

USD = 10**6


async def _client(payouts):
    settings = payouts.settings.model_copy(update={"temporal_task_queue": payouts.queue})
    _public, operator = create_apps(settings, temporal_client=payouts.client, engine=payouts.engine)
    return operator


def auth(payouts, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {payouts.operator_keys[who]}"}


async def test_create_approve_and_pay_through_the_api(payouts, db_engine):
    earn(db_engine)
    app = await _client(payouts)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://operator") as http:
            refused = await http.post("/v1/ops/payouts", json={"program": "demo"}, headers=auth(payouts, "alice"))
            assert refused.status_code == 403  # approvers do not create
            created = await http.post("/v1/ops/payouts", json={"program": "demo"}, headers=auth(payouts, "dave"))
            assert created.status_code == 202, created.text
            bid = created.json()["batch_id"]
            assert bid == "payout:demo:batch-1"
            handle = payouts.client.get_workflow_handle(bid)
            await payouts.until(handle, "awaiting_approval")
            again = await http.post(
                "/v1/ops/payouts", json={"program": "demo", "period": "batch-1"}, headers=auth(payouts, "dave")
            )
            assert again.status_code == 409 and again.json()["error"]["code"] == "payout_exists"

            detail = (await http.get(f"/v1/ops/payouts/{bid}", headers=auth(payouts, "bob"))).json()
            assert (detail["total"], detail["line_count"], detail["required_approvals"]) == (15 * USD, 2, 2)
            typed = detail["typed_data"]

            def sign(who: str) -> str:
                return policy.sign_typed(payouts.signers[who].key, typed)

            own = await http.post(
                f"/v1/ops/payouts/{bid}/approve", json={"signature": sign("dave")}, headers=auth(payouts, "dave")
            )
            assert own.status_code == 409 and own.json()["error"]["details"]["reason"] == policy.CREATOR
            bad = await http.post(
                f"/v1/ops/payouts/{bid}/approve", json={"signature": "0x1234"}, headers=auth(payouts, "alice")
            )
            assert bad.status_code == 422
            ok = await http.post(
                f"/v1/ops/payouts/{bid}/approve", json={"signature": sign("alice")}, headers=auth(payouts, "alice")
            )
            assert ok.status_code == 200 and ok.json()["outcome"] == "accepted"
            twice = await http.post(
                f"/v1/ops/payouts/{bid}/approve", json={"signature": sign("alice")}, headers=auth(payouts, "bob")
            )
            assert twice.status_code == 409 and twice.json()["error"]["details"]["reason"] == policy.ALREADY
            ok = await http.post(
                f"/v1/ops/payouts/{bid}/approve", json={"signature": sign("bob")}, headers=auth(payouts, "bob")
            )
            assert ok.status_code == 200
            assert (await handle.result())["state"] == "paid"
            listed = (await http.get("/v1/ops/payouts", headers=auth(payouts, "carol"))).json()
            assert [(b["batch_id"], b["state"], b["approvals"]) for b in listed] == [(bid, "paid", 2)]
            detail = (await http.get(f"/v1/ops/payouts/{bid}", headers=auth(payouts, "carol"))).json()
            assert {ln["state"] for ln in detail["lines"]} == {"paid"} and detail["created_by"] == "dave"
    with Session(db_engine) as s:
        actions = sorted(e.action for e in audit_entries(s, target_type="payout_batch"))
    assert actions.count("payout.approve") == 2 and actions.count("payout.approve.failed") == 2
    assert "payout.create" in actions and "payout.create.requested" in actions


async def test_reject_and_cancel_through_the_api(payouts, db_engine):
    earn(db_engine)
    app = await _client(payouts)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://operator") as http:
            # Explicit periods: workflow ids are unique on the test session's shared Temporal server.
            first = (
                await http.post(
                    "/v1/ops/payouts", json={"program": "demo", "period": "rej-1"}, headers=auth(payouts, "dave")
                )
            ).json()
            handle = payouts.client.get_workflow_handle(first["batch_id"])
            await payouts.until(handle, "awaiting_approval")
            detail = (await http.get(f"/v1/ops/payouts/{handle.id}", headers=auth(payouts, "bob"))).json()
            reason = "wrong wallet on line 1"
            signature = policy.sign_typed(
                payouts.signers["carol"].key, policy.rejection_typed_data(detail["typed_data"], reason)
            )
            resp = await http.post(
                f"/v1/ops/payouts/{handle.id}/reject",
                json={"signature": signature, "reason": reason},
                headers=auth(payouts, "carol"),
            )
            assert resp.status_code == 202
            assert (await handle.result())["state"] == "rejected"

            second = (
                await http.post(
                    "/v1/ops/payouts", json={"program": "demo", "period": "can-1"}, headers=auth(payouts, "dave")
                )
            ).json()
            handle = payouts.client.get_workflow_handle(second["batch_id"])
            await payouts.until(handle, "awaiting_approval")
            denied = await http.post(
                f"/v1/ops/payouts/{handle.id}/cancel", json={"reason": "not today"}, headers=auth(payouts, "bob")
            )
            assert denied.status_code == 403
            resp = await http.post(
                f"/v1/ops/payouts/{handle.id}/cancel", json={"reason": "not today"}, headers=auth(payouts, "dave")
            )
            assert resp.status_code == 202
            assert (await handle.result())["state"] == "cancelled"
