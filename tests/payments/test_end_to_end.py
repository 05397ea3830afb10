"""Sandbox → API → flow over real HTTP: charges created by the production activities, paid in the sandbox,
delivered as signed webhooks (every one twice) to the API served by uvicorn, signalled to a workflow."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from sqlmodel import select
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Worker

from activities.payments import PaymentActivities
from api.app import create_app
from core.db import session_scope
from models.payments import CreateChargeRequest, PaymentEventKind, WebhookEvent
from models.platform import PaymentProvider
from ops.devstack.processes import free_port
from sandbox.app import create_sandbox_app
from tests.helpers.payments import FEE, WALLET, ServerThread, make_program, sandbox_config
from tests.helpers.temporal import temporal_address
from tests.helpers.workflows import PaymentSignalRecorder


async def wait_signals(handle, count: int, timeout: float = 15.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        events = await handle.query(PaymentSignalRecorder.events)
        if len(events) >= count or asyncio.get_running_loop().time() > deadline:
            return events
        await asyncio.sleep(0.05)


async def test_sandbox_webhooks_reach_the_flow_once_each(settings, db_engine, temporal_dev):
    api_port, sandbox_port = free_port(), free_port()
    settings = settings.model_copy(
        update={"temporal_address": temporal_address(temporal_dev.client), "api_port": api_port}
    )
    api = ServerThread(create_app(settings, engine=db_engine), api_port)
    sandbox = ServerThread(create_sandbox_app(sandbox_config(sandbox_port, api.url, duplicate=True)), sandbox_port)
    settings = settings.model_copy(
        update={"coinbase_commerce_api_url": sandbox.url, "coinbase_business_api_url": sandbox.url}
    )
    acts = PaymentActivities(settings, db_engine)
    queue = f"e2e-{uuid.uuid4().hex[:8]}"
    with api, sandbox:
        async with Worker(temporal_dev.client, task_queue=queue, workflows=[PaymentSignalRecorder]):
            flows = {}
            for provider in PaymentProvider:
                program = make_program(db_engine, provider)
                handle = await temporal_dev.client.start_workflow(
                    PaymentSignalRecorder.run, 0, id=f"flow-{uuid.uuid4().hex[:8]}", task_queue=queue
                )
                req = CreateChargeRequest(
                    payment_key=f"{handle.id}:payment", program=program.slug, wallet=WALLET, flow_id=handle.id
                )
                charge = await asyncio.to_thread(ActivityEnvironment().run, acts.create_charge, req)
                async with httpx.AsyncClient() as http:
                    resp = await http.post(f"{sandbox.url}/sandbox/charges/{charge.provider_ref}/pay")
                    assert resp.status_code == 200, resp.text
                flows[provider] = (handle, charge)

            commerce, commerce_charge = flows[PaymentProvider.COINBASE_COMMERCE]
            events = await wait_signals(commerce, 3)
            assert [e.kind for e in events] == [
                PaymentEventKind.CREATED,
                PaymentEventKind.PENDING,
                PaymentEventKind.CONFIRMED,
            ]
            assert events[-1].paid_minor == FEE and all(e.provider_ref == commerce_charge.provider_ref for e in events)

            business, business_charge = flows[PaymentProvider.COINBASE_BUSINESS]
            [event] = await wait_signals(business, 1)
            assert (event.kind, event.paid_minor, event.provider_ref) == (
                PaymentEventKind.CONFIRMED,
                FEE,
                business_charge.provider_ref,
            )

            async with httpx.AsyncClient() as http:  # every second copy answered as a duplicate
                deliveries = (await http.get(f"{sandbox.url}/sandbox/deliveries")).json()
            while any(d["state"] == "pending" for d in deliveries):
                await asyncio.sleep(0.05)
                async with httpx.AsyncClient() as http:
                    deliveries = (await http.get(f"{sandbox.url}/sandbox/deliveries")).json()
            assert len(deliveries) == 8 and all(d["state"] == "delivered" for d in deliveries)
            assert sorted(d["attempts"][-1]["answer"].split('"status":"')[1].split('"')[0] for d in deliveries) == (
                ["duplicate"] * 4 + ["handed_off"] * 4
            )
            assert len(await commerce.query(PaymentSignalRecorder.events)) == 3  # no duplicate reached the flow
            for handle in (commerce, business):
                await handle.signal(PaymentSignalRecorder.finish)

    with session_scope(db_engine) as session:
        rows = list(session.exec(select(WebhookEvent)))
    assert len(rows) == 4 and all(r.outcome == "handed_off" and r.duplicates == 1 for r in rows)
