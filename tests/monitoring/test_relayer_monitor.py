"""The relayer monitor and the stuck check (issue 12): real activities on anvil and the test database,
and the schedules' workflows through a real worker on the dev server."""

from __future__ import annotations

import json
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from eth_account import Account
from pydantic import ValidationError
from sqlmodel import Session, col, select
from temporalio.client import ScheduleActionStartWorkflow
from temporalio.worker import Worker

from activities.monitor import MonitorActivities
from core.columns import utcnow
from core.db import session_scope
from core.settings import Settings
from models.audit import AuditLog
from models.chain import ChainTx, TxStatus
from models.chain_gate import CHAIN_GATE_CLOSED, chain_gate, set_chain_gate
from models.monitoring import BalanceLevel, RelayerReading, StuckReport, balance_level, topup_amount
from models.onboarding import FlowState, Onboarding
from models.operators import Actor
from models.switches import read_switch
from temporal.schedules import RELAYER_MONITOR_SCHEDULE, STUCK_CHECK_SCHEDULE, ensure_schedules, schedules
from tests.helpers.ledger import make_program
from workflows.monitor import RelayerMonitorWorkflow, StuckCheckWorkflow

ETH = 10**18
HISTORIES = Path(__file__).resolve().parents[1] / "histories"


def _set_balance(anvil, settings: Settings, wei: int) -> None:
    anvil.rpc("anvil_setBalance", [settings.relayer_public_address, hex(wei)])


def _switch(engine):
    with Session(engine) as session:
        return read_switch(session, CHAIN_GATE_CLOSED)


def _audit_actions(engine) -> list[tuple[str, str]]:
    with Session(engine) as session:
        rows = session.exec(select(AuditLog).where(col(AuditLog.target_id) == CHAIN_GATE_CLOSED)).all()
        return sorted((r.actor, r.action) for r in rows)


def test_thresholds_default_to_the_checklist_and_must_be_in_order(settings):
    assert settings.relayer_min_balance_wei == 5 * ETH // 100
    assert settings.relayer_alert_below_wei == ETH // 10
    assert settings.relayer_topup_below_wei == 2 * ETH // 10
    assert settings.relayer_target_wei == 5 * ETH // 10
    assert balance_level(settings.relayer_min_balance_wei, settings) == BalanceLevel.FLOOR
    assert balance_level(ETH // 10 - 1, settings) == BalanceLevel.ALERT
    assert balance_level(ETH // 10, settings) == BalanceLevel.TOPUP
    assert balance_level(ETH // 2, settings) == BalanceLevel.OK
    assert balance_level(ETH // 2 + 1, settings) == BalanceLevel.ABOVE_CAP
    assert topup_amount(ETH // 10, settings) == 4 * ETH // 10
    assert topup_amount(ETH, settings) == 0
    with pytest.raises(ValidationError, match="SGE_RELAYER_ALERT_BELOW_WEI"):
        settings.model_validate({**settings.model_dump(), "relayer_alert_below_wei": 10**19})


def test_monitor_closes_the_gate_at_the_floor_and_reopens_only_its_own_close(anvil, settings, db_engine):
    monitor = MonitorActivities(settings, db_engine)
    floor = settings.relayer_min_balance_wei

    _set_balance(anvil, settings, floor)
    reading = monitor.relayer_check()
    assert (reading.balance_wei, reading.level, reading.gate) == (floor, BalanceLevel.FLOOR, "closed")
    assert reading.topup_wei == settings.relayer_target_wei - floor
    switch = _switch(db_engine)
    assert switch.on and switch.updated_by == "relayer-monitor" and "floor" in switch.reason
    with Session(db_engine) as session:
        assert not chain_gate(session, settings).open
    assert monitor.relayer_check().gate == ""  # still at the floor: nothing more to do

    _set_balance(anvil, settings, floor + 1)
    assert monitor.relayer_check().gate == "reopened"
    assert not _switch(db_engine).on
    assert _audit_actions(db_engine) == [
        ("relayer-monitor", "chain_gate.off"),
        ("relayer-monitor", "chain_gate.on"),
    ]

    # An operator's close stands, whatever the balance says.
    with session_scope(db_engine) as session:
        set_chain_gate(session, settings, Actor(name="alice"), True, "incident 7")
    _set_balance(anvil, settings, ETH)
    assert monitor.relayer_check().gate == ""
    _set_balance(anvil, settings, 0)
    assert monitor.relayer_check().gate == ""
    switch = _switch(db_engine)
    assert switch.on and switch.updated_by == "alice" and switch.reason == "incident 7"


def _seed_stuck(engine, settings: Settings) -> None:
    program_id = make_program(engine, slug=f"st-{uuid.uuid4().hex[:6]}")
    now, old = utcnow(), utcnow() - timedelta(minutes=11)
    window = timedelta(seconds=settings.relayer_replace_after_seconds + 5)
    flows = {
        "minting-old": (FlowState.MINTING, old),
        "claiming-old": (FlowState.CLAIMING, old),
        "minting-new": (FlowState.MINTING, now),
        "awaiting-old": (FlowState.AWAITING_PAYMENT, old),  # waiting for the payer: not stuck
        "done-old": (FlowState.COMPLETED, old),
    }

    def tx(key: str, status: TxStatus, broadcast_at, nonce: int) -> ChainTx:
        return ChainTx(
            key=key,
            chain_id=settings.chain_id,
            from_address="0x" + "11" * 20,
            to_address="0x" + "22" * 20,
            data="0x",
            content_hash=key,
            status=status.value,
            nonce=nonce,
            broadcast_at=broadcast_at,
        )

    with session_scope(engine) as session:
        for name, (state, since) in flows.items():
            session.add(
                Onboarding(
                    program_id=program_id, wallet=Account.create().address, flow_id=name, state=state, state_since=since
                )
            )
        session.add_all(
            [
                tx("tx-late", TxStatus.BROADCAST, now - window, 1),
                tx("tx-fresh", TxStatus.BROADCAST, now, 2),
                tx("tx-done", TxStatus.CONFIRMED, now - window, 3),
            ]
        )


def test_stuck_check_counts_working_flows_and_late_transactions(settings, db_engine):
    _seed_stuck(db_engine, settings)
    report = MonitorActivities(settings, db_engine).stuck_check()
    assert (report.flows, report.txs) == (2, 1)
    assert sorted(report.flow_ids) == ["claiming-old", "minting-old"]
    assert report.tx_keys == ["tx-late"]


def _record(name: str, history) -> None:
    """`SGE_RECORD_HISTORIES=1`: keep the run's history for tests/onboarding/test_replay.py."""
    if os.environ.get("SGE_RECORD_HISTORIES"):
        (HISTORIES / f"{name}.json").write_text(json.dumps(json.loads(history.to_json()), indent=2) + "\n")


async def test_schedules_run_the_checks_through_a_worker(temporal_dev, anvil, settings, db_engine):
    _seed_stuck(db_engine, settings)
    _set_balance(anvil, settings, settings.relayer_min_balance_wei // 2)
    client = temporal_dev.client
    queue = f"mon-{uuid.uuid4().hex[:8]}"
    settings = settings.model_copy(update={"temporal_task_queue": queue})
    try:
        created = await ensure_schedules(client, settings)
        assert {RELAYER_MONITOR_SCHEDULE, STUCK_CHECK_SCHEDULE} <= set(created)
        for schedule_id, workflow_type in (
            (RELAYER_MONITOR_SCHEDULE, "RelayerMonitor"),
            (STUCK_CHECK_SCHEDULE, "StuckCheck"),
        ):
            desc = await client.get_schedule_handle(schedule_id).describe()
            action = desc.schedule.action
            assert isinstance(action, ScheduleActionStartWorkflow) and action.workflow == workflow_type
            assert desc.schedule.spec.intervals[0].every == timedelta(minutes=1)
        with ThreadPoolExecutor(4) as pool:
            async with Worker(
                client,
                task_queue=queue,
                workflows=[RelayerMonitorWorkflow, StuckCheckWorkflow],
                activities=MonitorActivities(settings, db_engine).all(),
                activity_executor=pool,
            ):
                reading = await client.execute_workflow(
                    "RelayerMonitor", id=f"relayer-monitor-{queue}", task_queue=queue, result_type=RelayerReading
                )
                stuck = await client.execute_workflow(
                    "StuckCheck", id=f"stuck-check-{queue}", task_queue=queue, result_type=StuckReport
                )
        # The schedule may have run the check first (its interval can fall due at once): one of the
        # runs closed the gate, and the reading says the balance is at the floor.
        assert reading.level == BalanceLevel.FLOOR and reading.gate in ("closed", "")
        assert _switch(db_engine).updated_by == "relayer-monitor" and _switch(db_engine).on
        assert (stuck.flows, stuck.txs) == (2, 1)
        _record("relayer-monitor", await client.get_workflow_handle(f"relayer-monitor-{queue}").fetch_history())
        _record("stuck-check", await client.get_workflow_handle(f"stuck-check-{queue}").fetch_history())
    finally:
        for schedule_id in schedules(settings):
            await client.get_schedule_handle(schedule_id).delete()
