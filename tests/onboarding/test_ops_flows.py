"""Operators on flows and the halt switch: roles enforced, actions reach Temporal, everything audited."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from eth_account import Account
from sqlmodel import Session, select
from temporalio.client import WorkflowExecutionStatus

from activities.platform import PlatformActivities
from core.columns import utcnow
from core.db import session_scope
from models.onboarding import FlowState, Onboarding, flow_id
from models.operators import Actor, AuditLog, create_operator
from models.platform import Program
from tests.helpers.wallets import signed_register


@pytest.fixture
def keys(db_engine) -> dict[str, str]:
    with session_scope(db_engine) as session:
        _, admin = create_operator(session, Actor(name="test"), "alice", ["admin"])
        _, viewer = create_operator(session, Actor(name="test"), "victor", ["viewer"])
    return {"admin": f"Bearer {admin}", "viewer": f"Bearer {viewer}"}


@pytest.fixture
def program(db_engine) -> Program:
    with session_scope(db_engine) as session:
        program = Program(
            slug=f"p-{uuid.uuid4().hex[:8]}",
            name="P",
            treasury_address="0x" + "11" * 20,
            fee_usd_minor=100_000_000,
            claim_amount_minor=10**21,
            commission_bps=[1000, 500],
        )
        session.add(program)
    return program


def _audit(engine) -> list[AuditLog]:
    with Session(engine) as session:
        return list(
            session.exec(
                select(AuditLog)
                .where(AuditLog.action.startswith("flow.") | AuditLog.action.startswith("halt."))
                .order_by(AuditLog.id)
            ).all()
        )


async def test_roles_are_enforced_and_refusals_write_nothing(api_client, db_engine, keys, settings):
    assert (await api_client.get("/v1/ops/flows")).status_code == 401
    assert (await api_client.get("/v1/ops/flows", headers={"Authorization": "Bearer nope"})).status_code == 401
    assert (await api_client.get("/v1/ops/flows", headers={"Authorization": keys["viewer"]})).status_code == 200
    for path, body in [
        ("/v1/ops/halt", {"halted": True, "reason": "x" * 5}),
        ("/v1/ops/flows/f/terminate", {"reason": "because"}),
        ("/v1/ops/flows/f/retry", {"reason": "because"}),
        ("/v1/ops/flows/f/reset", {"reason": "because"}),
    ]:
        resp = await api_client.post(path, json=body, headers={"Authorization": keys["viewer"]})
        assert resp.status_code == 403, path
        assert resp.json()["error"]["code"] == "insufficient_role"
        assert (await api_client.post(path, json=body)).status_code == 401
    assert _audit(db_engine) == []
    assert PlatformActivities(db_engine, settings).halt_status().halted is False


async def test_halt_switch_is_audited_and_seen_by_the_flows(api_client, db_engine, keys, settings):
    resp = await api_client.post(
        "/v1/ops/halt", json={"halted": True, "reason": "ledger difference"}, headers={"Authorization": keys["admin"]}
    )
    assert resp.status_code == 200 and resp.json()["halted"] is True
    status = PlatformActivities(db_engine, settings).halt_status()
    assert status.halted and status.reason == "ledger difference" and status.updated_by == "alice"
    resp = await api_client.post(
        "/v1/ops/halt", json={"halted": False, "reason": "reconciled"}, headers={"Authorization": keys["admin"]}
    )
    assert resp.json()["halted"] is False
    assert [a.action for a in _audit(db_engine)] == ["halt.on", "halt.off"]
    assert (await api_client.get("/v1/ops/halt", headers={"Authorization": keys["viewer"]})).json()["halted"] is False


async def test_stuck_flows_are_working_states_older_than_ten_minutes(api_client, db_engine, keys, program):
    old = utcnow() - timedelta(minutes=11)
    states = {
        "claiming-old": (FlowState.CLAIMING, old),
        "claiming-new": (FlowState.CLAIMING, utcnow()),
        "waiting-old": (FlowState.AWAITING_PAYMENT, old),
        "done-old": (FlowState.COMPLETED, old),
    }
    with session_scope(db_engine) as session:
        for name, (state, since) in states.items():
            session.add(
                Onboarding(
                    program_id=program.id, wallet=Account.create().address, flow_id=name, state=state, state_since=since
                )
            )
    resp = await api_client.get("/v1/ops/flows", params={"stuck": "true"}, headers={"Authorization": keys["viewer"]})
    assert [f["flow_id"] for f in resp.json()["flows"]] == ["claiming-old"]
    page = (
        await api_client.get("/v1/ops/flows", params={"limit": 2}, headers={"Authorization": keys["viewer"]})
    ).json()
    assert len(page["flows"]) == 2 and page["next_after_id"] is not None
    rest = (
        await api_client.get(
            "/v1/ops/flows",
            params={"limit": 2, "after_id": page["next_after_id"]},
            headers={"Authorization": keys["viewer"]},
        )
    ).json()
    assert len(rest["flows"]) == 2 and rest["next_after_id"] is None


async def test_terminate_retry_and_reset(api_client, db_engine, keys, program, temporal_dev):
    resp, account = await signed_register(api_client, program.slug)
    wallet = account.address
    fid = resp.json()["flow_id"]
    assert fid == flow_id(program.slug, wallet)
    with Session(db_engine) as session:  # the API wrote the row when it accepted the registration
        assert session.exec(select(Onboarding).where(Onboarding.flow_id == fid)).one().state == FlowState.REGISTERING
    admin = {"Authorization": keys["admin"]}

    resp = await api_client.post(f"/v1/ops/flows/{fid}/reset", json={"reason": "replay"}, headers=admin)
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "nothing_to_reset"
    resp = await api_client.post(f"/v1/ops/flows/{fid}/retry", json={"reason": "again"}, headers=admin)
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "flow_running"

    resp = await api_client.post(f"/v1/ops/flows/{fid}/terminate", json={"reason": "operator test"}, headers=admin)
    assert resp.status_code == 200, resp.text
    handle = temporal_dev.client.get_workflow_handle(fid)
    assert (await handle.describe()).status == WorkflowExecutionStatus.TERMINATED
    resp = await api_client.post(f"/v1/ops/flows/{fid}/terminate", json={"reason": "again"}, headers=admin)
    assert resp.status_code == 409 and resp.json()["error"]["code"] == "flow_not_running"

    resp = await api_client.post(f"/v1/ops/flows/{fid}/retry", json={"reason": "customer asked"}, headers=admin)
    assert resp.status_code == 200, resp.text
    assert (await temporal_dev.client.get_workflow_handle(fid).describe()).status == WorkflowExecutionStatus.RUNNING
    # Each action audited before the Temporal call (intent) and after it (outcome or failure).
    assert [a.action for a in _audit(db_engine)] == [
        "flow.reset.requested",
        "flow.reset.failed",
        "flow.retry.requested",
        "flow.retry.failed",
        "flow.terminate.requested",
        "flow.terminate",
        "flow.terminate.requested",
        "flow.terminate.failed",
        "flow.retry.requested",
        "flow.retry",
    ]
    detail = (await api_client.get(f"/v1/ops/flows/{fid}", headers={"Authorization": keys["viewer"]})).json()
    assert detail["temporal"]["status"] == "RUNNING"
    await temporal_dev.client.get_workflow_handle(fid).terminate("test over")
    missing = await api_client.post("/v1/ops/flows/nope/terminate", json={"reason": "x" * 3}, headers=admin)
    assert missing.status_code == 404
