"""Every payment outcome, end to end on the real stack (dev server, anvil, sandbox, database, worker and
API as processes): each ends in its state, with its exact ledger entries, a books check that passes,
at most one delivery on chain, and what an operator sees (suspense items, the flow's row).
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from contracts.admin import deployer_key
from core.db import session_scope
from models.commissions import PaymentSettlement
from models.halt import set_halt
from models.onboarding import FlowState
from models.operators import Actor
from tests.helpers.stack import StackClient, running_stack

pytestmark = pytest.mark.integration

FEE = 100_000_000  # the demo program's fee, USD at 6 decimals
SGE = 1000 * 10**18
OPERATOR = Actor(name="test operator")


@pytest.fixture(scope="module")
async def stack(tmp_path_factory, test_database):
    home = tmp_path_factory.mktemp("outcomes") / "var"
    async with running_stack(
        home,
        test_database.fresh_url(),
        payment_expiry_seconds=12,
        flow_expiry_grace_seconds=2,
        flow_halt_poll_seconds=0.5,
        flow_retry_initial_seconds=0.5,
        flow_retry_max_seconds=2,
        flow_history_limit=300,
    ) as (settings, sup):
        yield settings, sup


@pytest.fixture
async def client(stack):
    settings, _sup = stack
    async with httpx.AsyncClient(timeout=30) as http:
        c = StackClient(settings, http)
        try:
            yield c
        finally:
            c.close()


def halt(client: StackClient, on: bool) -> None:
    with session_scope(client.engine) as session:
        set_halt(session, OPERATOR, on, "test")


async def paid_flow(client: StackClient, action: str = "pay", **params: str) -> tuple[str, dict]:
    wallet = await client.register()
    charge = await client.charge(wallet)
    await client.act(charge["provider_ref"], action, **params)
    return wallet, charge


async def test_both_rails_complete(client: StackClient):
    from eth_account import Account

    wallet, _charge = await paid_flow(client)
    await client.wait_state(wallet, FlowState.COMPLETED)
    assert client.purposes(wallet) == ["claim", "mint"] and client.suspense(wallet) == []
    await client.record(wallet, "coinbase")
    user = Account.create()
    done = await client.demo.pay_on_chain(user, None)  # TestUSDT from a stale allowance: the approve-0 reset
    assert done["state"] == "completed" and done["paid"]["rail"] == "onchain"
    assert client.purposes(user.address) == ["mint"] and client.sge_balance(user.address) == SGE
    client.books_ok()
    await client.record(user.address, "onchain")


async def test_overpayment_settles_the_fee_and_parks_the_excess(client: StackClient):
    wallet, charge = await paid_flow(client, amount="100.05")
    done = await client.wait_state(wallet, FlowState.COMPLETED)
    ref = f"coinbase_commerce:{charge['provider_ref']}"
    assert done["paid"]["payment_ref"] == ref and done["paid"]["amount_minor"] == FEE
    [item] = client.suspense(wallet)
    assert (item.reason, int(item.amount_minor), item.status) == ("overpayment", 50_000, "open")
    assert client.ledger_kinds(ref)[:2] == ["payment.settle", "suspense"] and "claim.delivery" in client.ledger_kinds(
        ref
    )
    assert client.purposes(wallet) == ["claim", "mint"] and client.sge_balance(wallet) == SGE
    client.books_ok()
    await client.record(wallet, "overpaid")


async def test_underpayment_ends_underpaid_and_an_operator_can_apply_it(client: StackClient):
    wallet, _charge = await paid_flow(client, "underpay", amount="60")
    await client.wait_state(wallet, FlowState.UNDERPAID)
    [item] = client.suspense(wallet)
    assert (item.reason, int(item.amount_minor)) == ("underpayment", 60_000_000)
    assert client.purposes(wallet) == ["mint"] and client.sge_balance(wallet) == 0  # nothing delivered
    client.books_ok()
    # The operator accepts the shortfall: the money settles the fee and a new run delivers.
    resp = await client.demo.http.post(
        f"{client.settings.operator_base_url}/v1/ops/suspense/{item.id}/apply",
        json={"reason": "customer called", "accept_shortfall": True},
        headers=await _admin(client),
    )
    assert resp.status_code == 200, resp.text
    done = await client.wait_state(wallet, FlowState.COMPLETED)
    assert done["paid"]["amount_minor"] == 60_000_000
    assert client.purposes(wallet) == ["claim", "mint"] and client.sge_balance(wallet) == SGE
    assert len(client.payments(wallet)) == 1  # no second charge
    client.books_ok()
    await client.record(wallet, "underpaid-applied")


async def test_wrong_asset_parks_the_money_and_a_refund_releases_it(client: StackClient):
    wallet, _charge = await paid_flow(client, currency="ETH", amount="0.05")
    row = await client.wait_state(wallet, FlowState.SUSPENSE)
    assert "does not accept" in row["reason"]
    [item] = client.suspense(wallet)
    assert (item.reason, item.asset, int(item.amount_minor)) == ("wrong_asset", "ETH", 5 * 10**16)
    resp = await client.demo.http.post(
        f"{client.settings.operator_base_url}/v1/ops/suspense/{item.id}/refund",
        json={"reason": "sent back", "external_ref": "refund-1"},
        headers=await _admin(client),
    )
    assert resp.status_code == 200 and resp.json()["status"] == "refunded"
    client.books_ok()
    await client.record(wallet, "wrong-asset")


async def test_a_failed_event_with_money_attached_is_a_payment(client: StackClient):
    """Commerce reports two payments as charge:failed, timeline UNRESOLVED MULTIPLE, money attached."""
    wallet, _charge = await paid_flow(client, "multiple", amounts="60,50")
    await client.wait_state(wallet, FlowState.COMPLETED)
    [item] = client.suspense(wallet)
    assert (item.reason, int(item.amount_minor)) == ("overpayment", 10_000_000)
    client.books_ok()
    await client.record(wallet, "failed-with-money")


async def test_failed_without_money_ends_failed_and_books_nothing(client: StackClient):
    wallet, charge = await paid_flow(client, "fail")
    await client.wait_state(wallet, FlowState.FAILED)
    assert client.suspense(wallet) == [] and client.ledger_kinds(f"coinbase_commerce:{charge['provider_ref']}") == []
    client.books_ok()
    await client.record(wallet, "failed")


async def test_expiry_then_late_money_is_booked_and_applied_without_a_second_charge(client: StackClient):
    wallet = await client.register()
    charge = await client.charge(wallet)
    await client.wait_state(wallet, FlowState.EXPIRED, timeout=60)  # the sandbox expires it, the flow asks first
    await client.act(charge["provider_ref"], "pay")  # paid after expiry: Commerce UNRESOLVED / DELAYED
    [item] = await client.until(lambda: client.suspense(wallet), "the late payment in suspense")
    assert item.reason == "late_payment" and int(item.amount_minor) == FEE
    assert client.row(wallet).state == FlowState.EXPIRED  # booked by payment aftercare; the flow stays ended
    resp = await client.demo.http.post(
        f"{client.settings.operator_base_url}/v1/ops/suspense/{item.id}/apply",
        json={"reason": "paid late, deliver"},
        headers=await _admin(client),
    )
    assert resp.status_code == 200, resp.text
    await client.wait_state(wallet, FlowState.COMPLETED)
    assert len(client.payments(wallet)) == 1 and client.sge_balance(wallet) == SGE
    client.books_ok()
    await client.record(wallet, "expired-late-applied")


async def test_refund_before_delivery_reverses_and_delivers_nothing(client: StackClient):
    wallet = await client.register()
    charge = await client.charge(wallet)
    halt(client, True)  # the flow settles, then waits before delivering
    try:
        await client.act(charge["provider_ref"], "pay")
        await client.until(lambda: client.payments(wallet)[0].settled, "the settlement")
        await client.act(charge["provider_ref"], "refund")
        await client.until(
            lambda: len(client.ledger_kinds(f"coinbase_commerce:{charge['provider_ref']}")) >= 1, "the refund event"
        )
    finally:
        halt(client, False)
    await client.wait_state(wallet, FlowState.REFUNDED)
    ref = f"coinbase_commerce:{charge['provider_ref']}"
    assert client.ledger_kinds(ref) == ["payment.settle", "payment.reverse"]
    assert client.purposes(wallet) == ["mint"] and client.sge_balance(wallet) == 0
    client.books_ok()
    await client.record(wallet, "refunded-before-delivery")


async def test_refund_after_delivery_reverses_claws_back_and_books_the_sge_lost(client: StackClient):
    wallet, charge = await paid_flow(client)
    await client.wait_state(wallet, FlowState.COMPLETED)
    await client.act(charge["provider_ref"], "refund")  # the flow has ended: payment aftercare books it
    await client.wait_state(wallet, FlowState.REFUNDED)
    ref = f"coinbase_commerce:{charge['provider_ref']}"
    assert client.ledger_kinds(ref) == ["payment.settle", "claim.delivery", "payment.reverse", "claim.loss"]
    with session_scope(client.engine) as s:
        assert s.get(PaymentSettlement, ref).status == "reversed"
    assert client.sge_balance(wallet) == SGE  # nothing is taken back on chain: the loss is booked
    client.books_ok()
    await client.record(wallet, "refunded-after-delivery")


async def test_operator_records_a_dashboard_refund(client: StackClient):
    wallet, _charge = await paid_flow(client)
    await client.wait_state(wallet, FlowState.COMPLETED)
    key = client.payments(wallet)[0].key
    resp = await client.demo.http.post(
        f"{client.settings.operator_base_url}/v1/ops/payments/{key}/refund",
        json={"reason": "refunded in the dashboard"},
        headers=await _admin(client),
    )
    assert resp.status_code == 200 and resp.json()["handed_to"] == "aftercare"
    await client.wait_state(wallet, FlowState.REFUNDED)
    client.books_ok()
    await client.record(wallet, "operator-refund")


async def test_paused_claim_contract_is_waited_out(client: StackClient):
    from eth_account import Account

    from ops.devstack.processes import send_signed

    admin = Account.from_key(deployer_key(client.settings))
    claim = client.manifest.address("SGEClaim")
    from contracts.abi import encode_call, hexstr

    send_signed(client.w3, admin, claim, hexstr(encode_call("SGEClaim", "pause")))
    try:
        wallet, _charge = await paid_flow(client)
        row = await client.until(
            lambda: (r := client.row(wallet)).reason.startswith("waiting: EnforcedPause") and r,
            "the flow waiting on the paused contract",
        )
        assert row.state == FlowState.CLAIMING
    finally:
        send_signed(client.w3, admin, claim, hexstr(encode_call("SGEClaim", "unpause")))
    await client.wait_state(wallet, FlowState.COMPLETED)
    assert client.purposes(wallet) == ["claim", "mint"]
    client.books_ok()
    await client.record(wallet, "paused-contract")


async def test_an_older_runs_charge_pays_the_flow_and_a_second_payment_is_a_duplicate(client: StackClient):
    wallet = await client.register()
    first = await client.charge(wallet)
    await client.wait_state(wallet, FlowState.EXPIRED, timeout=60)
    await client.register(wallet)  # a new run: a new charge (the first expired)
    second = await client.until(
        lambda: len(client.payments(wallet)) == 2 and client.payments(wallet)[1], "the second charge"
    )
    await client.wait_state(wallet, FlowState.AWAITING_PAYMENT)
    await client.act(first["provider_ref"], "pay")  # the old charge is paid late: it pays this flow
    done = await client.wait_state(wallet, FlowState.COMPLETED)
    assert done["paid"]["payment_ref"] == f"coinbase_commerce:{first['provider_ref']}"
    await client.act(second.provider_ref, "pay")  # and then the new one: one flow, one settlement
    [item] = await client.until(lambda: client.suspense(wallet), "the duplicate payment in suspense")
    assert (item.reason, int(item.amount_minor)) == ("duplicate_payment", FEE)
    assert client.purposes(wallet) == ["claim", "mint"] and client.sge_balance(wallet) == SGE
    client.books_ok()
    await client.record(wallet, "older-charge")


async def test_a_payment_that_can_never_be_delivered_is_reversed_into_suspense(client: StackClient):
    """Paid through Coinbase, but the wallet claims on chain first (its one claim in the program): the
    Coinbase settlement is reversed and that money parked for a refund, the on-chain payment settles the
    flow instead; nothing is delivered twice, every cent is booked."""
    from eth_account import Account

    user = Account.create()
    wallet = await client.register(user)
    charge = await client.charge(wallet)
    halt(client, True)
    try:
        await client.act(charge["provider_ref"], "pay")
        await client.until(lambda: client.payments(wallet)[0].settled, "the settlement")
        await __import__("asyncio").to_thread(_claim_on_chain_directly, client, user)
    finally:
        halt(client, False)
    row = await client.wait_state(wallet, FlowState.COMPLETED)
    assert row["paid"]["rail"] == "onchain" and row["paid"]["amount_minor"] == FEE
    [item] = client.suspense(wallet)
    assert (item.reason, int(item.amount_minor)) == ("undeliverable", FEE)
    ref = f"coinbase_commerce:{charge['provider_ref']}"
    assert client.ledger_kinds(ref) == ["payment.settle", "payment.reverse", "suspense"]
    assert client.ledger_kinds(row["paid"]["payment_ref"]) == ["payment.settle", "claim.delivery"]
    assert client.purposes(wallet) == ["mint"]  # the relayer delivered nothing
    assert client.sge_balance(wallet) == SGE  # one claim's SGE: the user's own on-chain claim
    client.books_ok()
    await client.record(wallet, "undeliverable-onchain")


async def test_a_long_halt_is_survived_with_bounded_history(stack, client: StackClient):
    """Halted before minting: the flow waits, polling the switch, and continues as new whenever its
    history reaches the limit (300 events here), carrying its state; after the halt it completes."""
    from models.onboarding import flow_id
    from temporal.client import connect

    settings, _sup = stack
    temporal = await connect(settings)
    halt(client, True)
    try:
        wallet = await client.register()
        fid = flow_id("demo", wallet)
        await client.wait_state(wallet, FlowState.HALTED)

        async def runs() -> list:
            return [w async for w in temporal.list_workflows(f'WorkflowId = "{fid}"')]

        deadline = 120
        while len(await runs()) < 3 and deadline > 0:  # two continue-as-new at least
            await __import__("asyncio").sleep(1)
            deadline -= 1
        assert len(await runs()) >= 3
        for run in await runs():
            events = [e async for e in temporal.get_workflow_handle(fid, run_id=run.run_id).fetch_history_events()]
            assert len(events) <= settings.flow_history_limit + 50  # the check runs once per poll
        assert client.purposes(wallet) == []  # nothing minted while halted
    finally:
        halt(client, False)
    await client.wait_state(wallet, FlowState.AWAITING_PAYMENT)
    charge = await client.charge(wallet)
    await client.act(charge["provider_ref"], "pay")
    await client.wait_state(wallet, FlowState.COMPLETED)
    assert client.purposes(wallet) == ["claim", "mint"]  # one mint, one delivery across every run
    await client.record(wallet, "long-halt")


async def test_a_forged_payment_signal_moves_no_money(stack, client: StackClient):
    """Security finding 8: someone who reaches Temporal (the frontend, the Web UI's signal button) sends
    the flow a `payment_event` saying its charge was paid in full. The flow asks the provider, which
    has seen no payment: nothing is booked, nothing delivered, the flow still waits for its payer."""
    from models.onboarding import flow_id
    from models.onboarding_io import APPLY_PAYMENT_EVENT
    from models.payments import PAYMENT_EVENT_SIGNAL, PaymentEvent, PaymentEventKind
    from models.platform import PaymentProvider
    from temporal.client import connect

    settings, _sup = stack
    wallet = await client.register()
    charge = await client.charge(wallet)
    forged = PaymentEvent(
        provider=PaymentProvider.COINBASE_COMMERCE,
        event_id="forged-1",
        event_type="charge:confirmed",
        kind=PaymentEventKind.CONFIRMED,
        provider_ref=charge["provider_ref"],
        payment_key=client.payments(wallet)[0].key,
        provider_status="COMPLETED",
        amount_minor=FEE,
        currency="USD",
        paid_minor=FEE,
        paid_currency="USDC",
    )
    temporal = await connect(settings)
    handle = temporal.get_workflow_handle(flow_id("demo", wallet))
    await handle.signal(PAYMENT_EVENT_SIGNAL, forged)

    async def applied() -> bool:  # the flow has run the event through its provider check
        events = [e async for e in handle.fetch_history_events()]
        ids = {
            e.event_id
            for e in events
            if e.activity_task_scheduled_event_attributes.activity_type.name == APPLY_PAYMENT_EVENT
        }
        return any(e.activity_task_completed_event_attributes.scheduled_event_id in ids for e in events)

    for _ in range(150):
        if await applied():
            break
        await asyncio.sleep(0.2)
    assert await applied(), "the forged event never reached the payment activity"
    assert client.row(wallet).state == FlowState.AWAITING_PAYMENT
    assert (
        not client.payments(wallet)[0].settled
        and client.ledger_kinds(f"coinbase_commerce:{charge['provider_ref']}") == []
    )
    assert client.purposes(wallet) == ["mint"] and client.sge_balance(wallet) == 0
    client.books_ok()


async def test_a_closed_chain_gate_holds_new_flows_before_any_gas_is_spent(client: StackClient):
    """An operator closes the pre-payment chain gate (as the spend budget or the balance monitor would):
    a new flow waits in `gated` with nothing sent; opened, it mints and completes."""
    gate_url = f"{client.settings.operator_base_url}/v1/ops/chain-gate"
    admin = await _admin(client)
    resp = await client.demo.http.post(gate_url, json={"closed": True, "reason": "budget drill"}, headers=admin)
    assert resp.status_code == 200 and resp.json()["open"] is False, resp.text
    try:
        wallet = await client.register()
        await client.wait_state(wallet, FlowState.GATED)
        reason = client.row(wallet).reason
        assert (
            reason.startswith("waiting: pre-payment chain gate closed (closed by admin-") and "budget drill" in reason
        )
        assert client.purposes(wallet) == []
    finally:
        resp = await client.demo.http.post(gate_url, json={"closed": False, "reason": "drill over"}, headers=admin)
        assert resp.status_code == 200 and resp.json()["open"] is True, resp.text
    await client.wait_state(wallet, FlowState.AWAITING_PAYMENT)
    charge = await client.charge(wallet)
    await client.act(charge["provider_ref"], "pay")
    await client.wait_state(wallet, FlowState.COMPLETED)
    assert client.purposes(wallet) == ["claim", "mint"]
    client.books_ok()
    await client.record(wallet, "chain-gate")


async def test_a_delivery_no_retry_can_fix_parks_the_flow_until_an_operator_resumes_it(client: StackClient):
    """Paid and settled, then the delivery fails for good (here: its key was taken by another transaction,
    an idempotency conflict): the flow parks in delivery_blocked, listed as stuck, never failed; the
    operator's `retry` resumes it under a fresh key and it completes once."""
    from pydantic import SecretStr

    from models.chain import SubmitTx
    from models.onboarding import flow_id
    from relayer.engine import Relayer

    wallet = await client.register()
    charge = await client.charge(wallet)
    fid = flow_id("demo", wallet)
    key = (client.settings.home / "dev" / "relayer.key").read_text().strip()
    relayer = Relayer(client.settings.model_copy(update={"relayer_private_key": SecretStr(key)}), client.engine)
    taken = f"{fid}:claim:coinbase_commerce:{charge['provider_ref']}"
    await __import__("asyncio").to_thread(relayer.send_and_wait, SubmitTx(key=taken, to=wallet, value=1), timeout=60)
    await client.act(charge["provider_ref"], "pay")
    row = await client.wait_state(wallet, FlowState.DELIVERY_BLOCKED)
    assert row["reason"].startswith("idempotency_conflict")
    resp = await client.demo.http.post(
        f"{client.settings.operator_base_url}/v1/ops/flows/{fid}/retry",
        json={"reason": "key freed"},
        headers=await _admin(client),
    )
    assert resp.status_code == 200 and resp.json()["result"] == "resumed", resp.text
    await client.wait_state(wallet, FlowState.COMPLETED)
    assert client.sge_balance(wallet) == SGE
    assert [t.key.rsplit(":", 1)[-1] for t in client.txs(wallet) if ":claim:" in t.key] == [charge["provider_ref"], "1"]
    client.books_ok()
    await client.record(wallet, "delivery-blocked")


def _claim_on_chain_directly(client: StackClient, user) -> None:
    """The user pays the claim contract itself, outside the platform (its own reference)."""
    from contracts.abi import encode_call, hexstr, program_id

    client.demo._fund_user(user)  # gas, the fee in TestUSDT, and a stale allowance of 1
    usdt, claim = client.manifest.address("TestUSDT"), client.manifest.address("SGEClaim")
    client.demo._send(user, usdt, hexstr(encode_call("TestUSDT", "approve", claim, 0)))
    client.demo._send(user, usdt, hexstr(encode_call("TestUSDT", "approve", claim, FEE)))
    client.demo._send(
        user, claim, hexstr(encode_call("SGEClaim", "claim", program_id("demo"), usdt, b"outside".ljust(32, b"\0")))
    )


async def _admin(client: StackClient) -> dict:
    from models.operators import create_operator

    if not hasattr(client, "_admin_key"):
        with session_scope(client.engine) as session:
            _view, key = create_operator(session, OPERATOR, f"admin-{id(client)}", ["admin"])
        client._admin_key = key  # type: ignore[attr-defined]
    return {"Authorization": f"Bearer {client._admin_key}"}  # type: ignore[attr-defined]
