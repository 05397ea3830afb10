"""One trace from the HTTP request to the workflow it starts (FastAPI + Temporal interceptor)."""

from __future__ import annotations

import uuid

import httpx
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from api.app import create_app
from core.db import session_scope
from models.platform import Program
from temporal.client import connect
from tests.helpers.temporal import temporal_address
from tests.helpers.wallets import signed_register


async def test_register_request_and_workflow_start_share_a_trace(settings, db_engine, temporal_dev):
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):  # first test to trace in this process
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with session_scope(db_engine) as session:
        program = Program(
            slug=f"p-{uuid.uuid4().hex[:8]}",
            name="P",
            treasury_address="0x" + "11" * 20,
            fee_usd_minor=1,
            claim_amount_minor=1,
            commission_bps=[1000],
        )
        session.add(program)
    # The API's own client (temporal.client.connect) carries the tracing interceptor.
    settings = settings.model_copy(update={"temporal_address": temporal_address(temporal_dev.client)})
    app = create_app(settings, temporal_client=await connect(settings), engine=db_engine)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            resp, _ = await signed_register(client, program.slug)
    assert resp.status_code == 202
    await temporal_dev.client.get_workflow_handle(resp.json()["flow_id"]).terminate("test over")
    spans = exporter.get_finished_spans()
    http = [s for s in spans if s.name.startswith("POST /v1/register")]
    start = [s for s in spans if s.name == "StartWorkflow:Onboarding"]
    assert http and start, [s.name for s in spans]
    assert start[0].context.trace_id == http[0].context.trace_id
