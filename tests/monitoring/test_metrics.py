"""The checklist's series as /metrics serves them on the operator port (DB, chain and Temporal read at
scrape), and the worker's settlement latency observed as a flow completes."""

from __future__ import annotations

import uuid
from datetime import timedelta

from eth_account import Account
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from activities.onboarding import OnboardingActivities
from api import monitor_metrics
from core.columns import utcnow
from core.db import session_scope
from models.chain import ChainNonce, ChainTx, TxStatus
from models.commissions import PaymentSettlement
from models.onboarding import FlowState, Onboarding
from models.onboarding_io import Record
from tests.helpers.ledger import make_program

ETH = 10**18


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_scrape_exports_flows_stuck_relayer_gas_backlog_and_pool(api_client, anvil, settings, db_engine):
    program_id = make_program(db_engine, slug=f"mx-{uuid.uuid4().hex[:6]}")
    relayer = settings.relayer_public_address
    old = utcnow() - timedelta(minutes=20)
    with session_scope(db_engine) as session:
        for i, (state, since) in enumerate(
            [(FlowState.COMPLETED, old), (FlowState.COMPLETED, old), (FlowState.EXPIRED, old), (FlowState.MINTING, old)]
        ):
            session.add(
                Onboarding(
                    program_id=program_id,
                    wallet=Account.create().address,
                    flow_id=f"f{i}",
                    state=state,
                    state_since=since,
                )
            )
        for nonce, (label, fee) in enumerate([("mint", 3 * 10**12), ("mint", 2 * 10**12), ("claim", 7 * 10**12)]):
            session.add(
                ChainTx(
                    key=f"k{nonce}",
                    label=label,
                    chain_id=settings.chain_id,
                    from_address=relayer,
                    to_address=relayer,
                    data="0x",
                    content_hash=f"k{nonce}",
                    status=TxStatus.CONFIRMED.value,
                    nonce=nonce,
                    fee_wei=fee,
                )
            )
        # The outbox has signed 3 transactions; the chain will show 5 mined: 2 foreign ones.
        session.add(ChainNonce(chain_id=settings.chain_id, address=relayer, next_nonce=3))
    anvil.rpc("anvil_setBalance", [relayer, hex(ETH // 4)])
    anvil.rpc("anvil_setNonce", [relayer, hex(5)])
    monitor_metrics._chain_read_at = float("-inf")  # another test's scrape may be cached

    samples = _samples((await api_client.get("/metrics")).text)
    assert samples[("sge_flows", (("state", "completed"),))] == 2
    assert samples[("sge_flows", (("state", "expired"),))] == 1
    assert samples[("sge_stuck_flows", ())] == 1
    assert samples[("sge_stuck_relayer_txs", ())] == 0
    assert samples[("sge_relayer_balance_wei", (("address", relayer),))] == ETH // 4
    assert samples[("sge_relayer_unexpected_nonces", (("address", relayer),))] == 2
    assert samples[("sge_relayer_gas_spent_wei", (("purpose", "mint"),))] == 5 * 10**12
    assert samples[("sge_relayer_gas_spent_wei", (("purpose", "claim"),))] == 7 * 10**12
    assert samples[("sge_relayer_threshold_wei", (("level", "alert"),))] == ETH // 10
    for part in ("database", "chain", "temporal"):
        assert samples[("sge_metrics_refresh_ok", (("part", part),))] == 1, part
    queue = settings.temporal_task_queue
    for kind in ("workflow", "activity"):
        assert samples[("sge_temporal_task_queue_backlog", (("task_queue", queue), ("type", kind)))] >= 0

    # The chain read is cached: a new balance shows after the cache expires.
    anvil.rpc("anvil_setBalance", [relayer, hex(ETH)])
    monitor_metrics._chain_read_at = float("-inf")
    samples = _samples((await api_client.get("/metrics")).text)
    assert samples[("sge_relayer_balance_wei", (("address", relayer),))] == ETH


def test_completing_a_flow_observes_its_settlement_latency_once(settings, db_engine):
    program_id = make_program(db_engine, slug=f"lat-{uuid.uuid4().hex[:6]}")
    wallet = Account.create().address
    with session_scope(db_engine) as session:
        session.add(
            Onboarding(
                program_id=program_id, wallet=wallet, flow_id="lat-1", state=FlowState.CLAIMING, payment_ref="pay-1"
            )
        )
        session.add(
            PaymentSettlement(
                payment_ref="pay-1",
                program_id=program_id,
                wallet=wallet,
                amount=10**6,
                asset="USDC",
                rail="coinbase_commerce",
                created_at=utcnow() - timedelta(seconds=90),
            )
        )

    def count() -> float:
        return REGISTRY.get_sample_value("sge_settlement_latency_seconds_count") or 0.0

    def within_120() -> float:
        return REGISTRY.get_sample_value("sge_settlement_latency_seconds_bucket", {"le": "120.0"}) or 0.0

    before, before_120 = count(), within_120()
    activities = OnboardingActivities(settings, db_engine)
    done = Record(flow_id="lat-1", state=FlowState.COMPLETED, state_since=utcnow(), completed=True)
    activities.record(done)
    assert count() == before + 1 and within_120() == before_120 + 1
    activities.record(done)  # a retry of the same step
    assert count() == before + 1


def test_chain_access_counts_rpc_calls_and_errors_per_provider(anvil):
    from contracts.rpc import connect, provider_label

    label = provider_label(anvil.rpc_url)
    assert label == "127.0.0.1" and provider_label("https://eth.example.com/v2/SECRETKEY") == "eth.example.com"

    def calls(method: str) -> float:
        return REGISTRY.get_sample_value("sge_rpc_calls_total", {"provider": label, "method": method}) or 0.0

    def errors() -> float:
        return REGISTRY.get_sample_value("sge_rpc_errors_total", {"provider": label}) or 0.0

    w3 = connect([anvil.rpc_url], expected_chain_id=anvil.chain_id)
    before_calls, before_errors = calls("eth_getBalance"), errors()
    w3.eth.get_balance(Account.create().address)
    assert calls("eth_getBalance") == before_calls + 1 and errors() == before_errors
    response = w3.provider.make_request("eth_noSuchMethod", [])  # type: ignore[arg-type]
    assert "error" in response and errors() == before_errors + 1
