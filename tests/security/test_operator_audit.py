"""Issue 10, finding 12: an operator action that calls Temporal is audited before the call (the intent,
committed) and after it (the outcome, or the failure); the ledger scan is not a free-for-all.

The Temporal calls here fail on purpose: a client whose every call answers UNAVAILABLE (and which
checks, when called, that the intent is already committed).
"""

from __future__ import annotations

import uuid

import pytest
from eth_account import Account
from sqlmodel import Session, select
from temporalio.service import RPCError, RPCStatusCode

import temporal.flows
from core.db import session_scope
from models import ledger
from models.audit import AuditLog, audited_call
from models.ledger import Accounts, credit, debit
from models.onboarding import Onboarding, flow_id
from models.operators import Actor, create_operator
from models.payments import Payment, PaymentStatus
from models.platform import Program
from models.subjects import find_subject_ref
from models.suspense import SuspenseItem
from temporal import payments as payment_actions
from tests.helpers.books import RAIL, SLUG, apply, paid, referral_tree
from tests.helpers.payments import FEE

ALICE = Actor(name="alice", operator_id=7, request_id="req-9")


def _log(engine, prefix: str = "") -> list[AuditLog]:
    with Session(engine) as s:
        rows = s.exec(select(AuditLog).where(AuditLog.action.startswith(prefix)).order_by(AuditLog.id)).all()
        return list(rows)


class UnavailableTemporal:
    """Every call fails as an unreachable frontend does; each first checks the intent is committed."""

    namespace = "default"

    def __init__(self, engine, intent: str):
        self.engine, self.intent, self.calls = engine, intent, 0

    def _fail(self):
        self.calls += 1
        assert self.intent in [row.action for row in _log(self.engine)], "the intent must be committed first"
        raise RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b"")

    def get_workflow_handle(self, _workflow_id: str):
        client = self

        class Handle:
            async def describe(self):
                client._fail()

            async def signal(self, *_args, **_kwargs):
                client._fail()

            async def terminate(self, *_args, **_kwargs):
                client._fail()

        return Handle()

    async def start_workflow(self, *_args, **_kwargs):
        self._fail()


async def test_audited_call_writes_intent_then_outcome_or_failure(db_engine):
    async def works() -> str:
        assert [r.action for r in _log(db_engine)] == ["halt.on.requested"]
        return "done"

    assert (
        await audited_call(db_engine, ALICE, "halt.on", "platform_flag", "halt", None, {"reason": "r"}, works) == "done"
    )

    async def fails() -> str:
        raise temporal.flows.FlowActionError("not now", code="flow_running")

    with pytest.raises(temporal.flows.FlowActionError):
        await audited_call(db_engine, ALICE, "flow.retry", "flow", "f", {"state": "x"}, {"reason": "r"}, fails)
    rows = _log(db_engine)
    assert [(r.action, r.after) for r in rows] == [
        ("halt.on.requested", {"reason": "r"}),
        ("halt.on", {"reason": "r", "result": "done"}),
        ("flow.retry.requested", {"reason": "r"}),
        ("flow.retry.failed", {"reason": "r", "error": "flow_running", "message": "not now"}),
    ]
    assert all((r.actor, r.operator_id, r.request_id) == ("alice", 7, "req-9") for r in rows)


async def test_a_refund_whose_temporal_call_fails_is_audited_as_intent_and_failure(db_engine):
    tree = referral_tree(db_engine)
    fid = flow_id(SLUG, tree.user)
    key = f"{fid}:payment:0"  # payment keys carry the flow id, so the wallet
    with session_scope(db_engine) as s:
        s.add(
            Payment(
                key=key,
                program_id=tree.program_id,
                wallet=tree.user,
                wallet_lower=tree.user.lower(),
                provider=RAIL,
                provider_ref="CH-R",
                amount_minor=FEE,
                currency="USD",
                status=PaymentStatus.OPEN.value,
                flow_id=fid,
            )
        )
    client = UnavailableTemporal(db_engine, "payment.refund.requested")
    with pytest.raises(RPCError):
        await payment_actions.record_refund(client, db_engine, "sge", key, "refunded in the dashboard", ALICE)  # type: ignore[arg-type]
    assert client.calls == 1
    rows = _log(db_engine)
    assert [r.action for r in rows] == ["payment.refund.requested", "payment.refund.failed"]
    assert rows[1].after == {
        "reason": "refunded in the dashboard",
        "error": "rpc_unavailable",
        "message": "connection refused",
    }
    with Session(db_engine) as s:
        subject = find_subject_ref(s, tree.user)
    assert {r.target_id for r in rows} == {f"onboarding:{SLUG}:{subject}:payment:0"}


async def test_apply_suspense_whose_restart_fails_is_audited_on_both_sides(db_engine):
    tree = referral_tree(db_engine)
    with session_scope(db_engine) as s:
        s.add(
            Payment(
                key="pay:U",
                program_id=tree.program_id,
                wallet=tree.user,
                wallet_lower=tree.user.lower(),
                provider=RAIL,
                provider_ref="U",
                amount_minor=FEE,
                currency="USD",
                status=PaymentStatus.OPEN.value,
                flow_id="onboarding:U",
            )
        )
    apply(db_engine, "pay:U", paid(FEE - 1_000_000))  # an underpayment: one suspense item
    with Session(db_engine) as s:
        [item_id] = [i.id for i in s.exec(select(SuspenseItem)).all()]
    client = UnavailableTemporal(db_engine, "suspense.apply.requested")
    with pytest.raises(RPCError):
        await payment_actions.apply_suspense(client, db_engine, "sge", item_id, ALICE, accept_shortfall=True)  # type: ignore[arg-type]
    assert [r.action for r in _log(db_engine)] == [
        "suspense.apply.requested",
        "suspense.applied",  # the money's move, in its own transaction with the ledger entry
        "suspense.apply.failed",  # the flow could not be started again: the operator sees it
    ]


# --- through the API ------------------------------------------------------------------------------


@pytest.fixture
def keys(db_engine) -> dict[str, dict[str, str]]:
    out = {}
    with session_scope(db_engine) as session:
        for name, role in (("alice", "admin"), ("victor", "viewer")):
            _, key = create_operator(session, Actor(name="test"), name, [role])
            out[role] = {"Authorization": f"Bearer {key}"}
    return out


async def test_api_flow_action_whose_temporal_call_fails_leaves_intent_and_failure(
    api_client, db_engine, keys, monkeypatch
):
    wallet = Account.create().address
    with session_scope(db_engine) as s:
        program = Program(
            slug=f"p-{uuid.uuid4().hex[:8]}",
            name="P",
            treasury_address="0x" + "11" * 20,
            fee_usd_minor=FEE,
            claim_amount_minor=10**21,
            commission_bps=[1000],
        )
        s.add(program)
        s.flush()
        fid = flow_id(program.slug, wallet)
        s.add(Onboarding(program_id=program.id, wallet=wallet, flow_id=fid, state="failed"))

    async def unavailable(*_args, **_kwargs):
        assert [r.action for r in _log(db_engine, "flow.")] == ["flow.terminate.requested"]  # committed first
        raise RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b"")

    monkeypatch.setattr(temporal.flows, "terminate", unavailable)
    resp = await api_client.post(f"/v1/ops/flows/{fid}/terminate", json={"reason": "stuck"}, headers=keys["admin"])
    assert resp.status_code == 503 and resp.json()["error"]["code"] == "orchestrator_unavailable"
    rows = _log(db_engine, "flow.")
    assert [r.action for r in rows] == ["flow.terminate.requested", "flow.terminate.failed"]
    assert rows[1].after == {"reason": "stuck", "error": "rpc_unavailable", "message": "connection refused"}
    assert rows[0].before == rows[1].before == {"state": "failed"}
    assert all(wallet.lower() not in r.target_id.lower() and r.actor == "alice" and r.request_id for r in rows)


async def test_ledger_verify_is_cached_for_viewers_and_fresh_only_for_admins(api_client, db_engine, keys):
    def post(key: str) -> None:
        with session_scope(db_engine) as s:
            ledger.post_transaction(
                s, key, "funding", {}, [debit(Accounts.treasury, "USD", 1), credit(Accounts.capital, "USD", 1)]
            )

    post("t:1")
    first = await api_client.get("/v1/ops/ledger/verify", headers=keys["viewer"])
    assert first.status_code == 200
    assert (first.json()["cached"], first.json()["transactions"], first.json()["max_age_seconds"]) == (False, 1, 60)
    post("t:2")
    again = await api_client.get("/v1/ops/ledger/verify", headers=keys["viewer"])
    assert again.json()["cached"] is True and again.json()["transactions"] == 1  # no new scan for a viewer
    assert again.json()["checked_at"] == first.json()["checked_at"]  # says when it was computed
    refused = await api_client.get("/v1/ops/ledger/verify?fresh=true", headers=keys["viewer"])
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "insufficient_role"
    fresh = await api_client.get("/v1/ops/ledger/verify?fresh=true", headers=keys["admin"])
    assert fresh.status_code == 200 and fresh.json()["cached"] is False and fresh.json()["transactions"] == 2
    assert fresh.json()["ok"] is True and fresh.json()["checked_at"] > first.json()["checked_at"]
    # The admin's scan refreshed the cache for everyone.
    after = await api_client.get("/v1/ops/ledger/verify", headers=keys["viewer"])
    assert after.json()["cached"] is True and after.json()["transactions"] == 2
