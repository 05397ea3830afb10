"""Reconciliation on real parts: a clean world reports zero on every check; one fault of each kind is
detected, explained by the item that caused it, and switches the halt on with the report's id."""

from __future__ import annotations

import asyncio
import os

from eth_account import Account
from sqlalchemy import text
from sqlmodel import Session

from contracts.deploy import DeployParams
from core.db import session_scope
from models import commissions, ledger
from models.chain import ContractCall, SubmitTx
from models.halt import halt_state
from models.recon.report import get_report, latest_report, report_view
from models.treasury import MovementKind
from ops.devstack.treasury import send_topup
from relayer.engine import Relayer
from tests.helpers.chain import ETH, KIT_CLAIM_AMOUNT, KIT_PROGRAM
from tests.helpers.ledger import make_program

INVENTORY = DeployParams().claim_inventory


def _send(world, key: str, contract: str, function: str, *args, book_gas: bool = True):
    """A relayer transaction through the real outbox; its gas booked as the relayer activity books it."""
    outcome = Relayer(world.settings, world.engine).send_and_wait(
        SubmitTx(key=key, call=ContractCall(contract=contract, function=function, args=list(args)), label=function)
    )
    assert outcome.status == "confirmed", outcome
    if book_gas:
        with session_scope(world.engine) as s:
            ledger.post_gas(s, ledger.GasRequest(key=f"gas:{key}", fee_wei=outcome.fee_wei, chain_tx=outcome.hash))
    return outcome


async def _clean_world(world) -> None:
    """Funding booked through the treasury path, and a mint and a claim delivery booked as the flows do."""
    await world.record(world.deploy_step("fund SGEClaim inventory"), MovementKind.SGE_INVENTORY, INVENTORY)
    await world.record(world.deploy_step("fund AffiliatePayout TestUSDC"), MovementKind.PAYOUT_FUNDING)
    topup = await asyncio.to_thread(send_topup, world.settings, 2 * ETH, world.chain.relayer.address)
    await world.record(topup, MovementKind.RELAYER_TOPUP, 2 * ETH)
    user = Account.create().address
    tag = os.urandom(4).hex()
    await asyncio.to_thread(_send, world, f"test:{tag}:mint", "SGEID", "mint", user)
    payment_ref = f"coinbase_commerce:{tag}"
    program = "0x" + world.chain.program(KIT_PROGRAM)[2:]
    delivered = await asyncio.to_thread(
        _send, world, f"test:{tag}:deliver", "SGEClaim", "deliverClaim", program, user, payment_ref
    )
    with session_scope(world.engine) as s:
        ledger.post_claim_delivery(
            s,
            ledger.ClaimDeliveryRequest(
                key=f"delivery:{payment_ref}",
                program=KIT_PROGRAM,
                wallet=user,
                amount_minor=KIT_CLAIM_AMOUNT,
                payment_ref=payment_ref,
                chain_tx=delivered.hash,
            ),
        )


def _workflow_id(run_key: str) -> str:
    return "reconciliation-" + run_key.replace(":", "-")


def _report(world, report_id: int) -> dict:
    with Session(world.engine) as s:
        return report_view(s, get_report(s, report_id))


def _check(report: dict, name: str) -> dict:
    return next(c for c in report["checks"] if c["name"] == name)


def _halt_reason(world) -> str | None:
    with Session(world.engine) as s:
        state = halt_state(s)
    return state.reason if state.halted else None


async def test_a_clean_world_reports_zero_and_the_next_run_resumes_at_the_cursor(recon_world):
    w = recon_world
    await _clean_world(w)
    first = await w.reconcile()
    report = _report(w, first.id)
    assert first.ok, report
    assert sorted(c["name"] for c in report["checks"] if c["difference"] != "0") == []
    assert _check(report, "sge_inventory")["expected"] == str(INVENTORY - KIT_CLAIM_AMOUNT)
    assert _check(report, "claims_vs_deliveries")["actual"] == "1"
    assert _check(report, "mints_vs_requests")["actual"] == "1"
    assert _check(report, "deliveries_vs_claims")["actual"] == "1"
    names = {c["name"] for c in report["checks"]}
    assert {"processor_coinbase_commerce", "processor_coinbase_business", "webhook_rows", "settlements"} <= names
    assert _halt_reason(w) is None and not first.halted
    await w.keep(_workflow_id(first.run_key), "reconciliation-clean")
    w.chain.anvil.rpc("anvil_mine", ["0x2"])
    second = _report(w, (await w.reconcile()).id)
    assert second["ok"] and second["from_block"] == report["to_block"] + 1
    assert _check(second, "claims_vs_deliveries")["actual"] == "0"  # those blocks were read already


async def test_an_extra_transfer_out_of_the_claim_contract_halts_with_the_transfer_named(recon_world):
    w = recon_world
    await _clean_world(w)
    claim = w.chain.addr("SGEClaim")
    thief = Account.create().address
    anvil = w.chain.anvil
    anvil.rpc("anvil_impersonateAccount", [claim])
    anvil.rpc("anvil_setBalance", [claim, hex(ETH)])
    from contracts.abi import encode_call, hexstr

    data = hexstr(encode_call("SGEToken", "transfer", thief, 7 * ETH))
    tx_hash = anvil.rpc("eth_sendTransaction", [{"from": claim, "to": w.chain.addr("SGEToken"), "data": data}])
    anvil.rpc("anvil_stopImpersonatingAccount", [claim])
    assert w.chain.w3.eth.wait_for_transaction_receipt(tx_hash)["status"] == 1
    summary = await w.reconcile()
    report = _report(w, summary.id)
    check = _check(report, "sge_inventory")
    assert (check["difference"], check["unexplained"], check["ok"]) == (str(-7 * ETH), str(-7 * ETH), False)
    assert [i["ref"] for i in check["items"]] == [tx_hash.lower()]
    assert tx_hash.lower() in summary.first_items[0]
    await w.keep(_workflow_id(summary.run_key), "reconciliation-halt")
    assert summary.halted and f"report {summary.id}" in (_halt_reason(w) or "")


async def test_a_missing_ledger_leg_halts_with_the_transaction_named(recon_world):
    w = recon_world
    await _clean_world(w)
    unbooked = await asyncio.to_thread(
        _send, w, f"test:{os.urandom(4).hex()}:mint", "SGEID", "mint", Account.create().address, book_gas=False
    )
    summary = await w.reconcile()
    check = _check(_report(w, summary.id), "relayer_eth")
    assert check["difference"] == check["unexplained"] == str(-unbooked.fee_wei)
    assert [(i["ref"], i["amount"]) for i in check["items"]] == [(unbooked.hash, -unbooked.fee_wei)]
    assert summary.unexplained_checks == 1
    assert summary.halted and f"report {summary.id}" in (_halt_reason(w) or "")


async def test_a_deleted_settlement_row_halts_with_its_journal_entry_named(recon_world):
    w = recon_world
    await _clean_world(w)
    make_program(w.engine, "recon")
    ref = f"coinbase_commerce:{os.urandom(4).hex()}"
    with session_scope(w.engine) as s:
        settled = commissions.settle_payment(s, ref, "recon", Account.create().address, 100_000_000, "USD")
    with session_scope(w.engine) as s:
        s.connection().execute(text("DELETE FROM payment_settlement WHERE payment_ref = :r"), {"r": ref})
    summary = await w.reconcile()
    check = _check(_report(w, summary.id), "settlements")
    assert (check["actual"], check["unexplained"]) == ("1", "1")
    assert [i["ref"] for i in check["items"]] == [settled.ledger_tx_id]
    assert summary.halted and _halt_reason(w)


async def test_a_processor_payment_the_books_never_saw_halts_with_the_charge_named(recon_world):
    import httpx

    from payments.commerce import CommerceClient, commerce_charge_body
    from tests.helpers.payments import COMMERCE_API_KEY, FEE

    w = recon_world
    await _clean_world(w)
    with httpx.Client(timeout=10) as http:
        body = commerce_charge_body(
            name="stray", description="made in the sandbox only", amount_minor=FEE, currency="USD", metadata={}
        )
        charge = CommerceClient(w.sandbox_url, COMMERCE_API_KEY, http).create(body)
        paid = http.post(f"{w.sandbox_url}/sandbox/charges/{charge.provider_ref}/pay")
        assert paid.status_code == 200, paid.text
    # Its webhook reached us and was stored as an unknown charge (what api/webhooks.py does for it).
    from models.payments import PaymentEvent, PaymentEventKind, WebhookOutcome, record_webhook_event
    from models.platform import PaymentProvider

    event = PaymentEvent(
        provider=PaymentProvider.COINBASE_COMMERCE,
        event_id=f"evt-{charge.provider_ref}",
        event_type="charge:confirmed",
        kind=PaymentEventKind.CONFIRMED,
        provider_ref=charge.provider_ref,
    )
    record_webhook_event(w.engine, event, WebhookOutcome.UNKNOWN_CHARGE, "0" * 64)
    summary = await w.reconcile()
    report = _report(w, summary.id)
    rows = _check(report, "webhook_rows")
    assert [(i["ref"], i["benign"]) for i in rows["items"]] == [(f"coinbase_commerce:{event.event_id}", False)]
    check = _check(report, "processor_coinbase_commerce")
    assert (check["expected"], check["actual"], check["unexplained"]) == ("0", str(FEE), str(FEE))
    assert [i["ref"] for i in check["items"]] == [f"coinbase_commerce:{charge.provider_ref}"]
    assert _check(report, "processor_coinbase_business")["ok"]
    assert summary.halted and f"report {summary.id}" in (_halt_reason(w) or "")


async def test_the_daily_schedule_runs_reconciliation_and_reports(recon_world):
    from temporal.schedules import RECONCILIATION_SCHEDULE, ensure_schedules, schedules

    w = recon_world
    settings = w.settings.model_copy(update={"temporal_task_queue": w.queue})
    spec = schedules(settings)[RECONCILIATION_SCHEDULE].spec
    assert [r.start for r in spec.calendars[0].hour] == [2] and spec.time_zone_name == "UTC"
    await ensure_schedules(w.client, settings)
    handle = w.client.get_schedule_handle(RECONCILIATION_SCHEDULE)
    try:
        await handle.trigger()
        for _ in range(300):
            with Session(w.engine) as s:
                found = latest_report(s)
            if found is not None and found.halted:  # saved, then the halt activity ran
                break
            await asyncio.sleep(0.1)
        assert found is not None and found.trigger == "schedule" and found.run_key.startswith("schedule:")
        assert not found.ok and found.halted  # the deployment's funding was never booked in this world
    finally:
        for schedule_id in schedules(settings):
            await w.client.get_schedule_handle(schedule_id).delete()
