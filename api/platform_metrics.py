"""Gauges read from the database when Prometheus scrapes the operator port: the state every process
shares (the chain gate, the relayer's spend against its budget), so any API process answers the same.
Counters of one process's own events live with the code that counts them."""

from __future__ import annotations

from typing import Any

from prometheus_client import Gauge
from sqlmodel import Session

from models.chain_gate import chain_gate

CHAIN_GATE_OPEN = Gauge("sge_chain_gate_open", "1 while the pre-payment chain gate is open, 0 while closed")
CHAIN_GATE_SWITCH = Gauge("sge_chain_gate_switch_closed", "1 while an operator or a monitor holds the gate closed")
SPEND_TX = Gauge("sge_relayer_spend_tx_last_hour", "Transactions the relayer signed in the trailing hour")
SPEND_WEI = Gauge("sge_relayer_spend_wei_last_day", "Wei the relayer spent (or may spend, in flight) in 24 hours")
BUDGET_TX = Gauge("sge_relayer_budget_tx_per_hour", "The relayer's transaction budget per hour (0: none)")
BUDGET_WEI = Gauge("sge_relayer_budget_wei_per_day", "The relayer's wei budget per day (0: none)")


def refresh(state: Any) -> None:
    """Set the gauges from the database (run in a thread; a failure leaves the last values)."""
    with Session(state.engine) as session:
        gate = chain_gate(session, state.settings)
    CHAIN_GATE_OPEN.set(1 if gate.open else 0)
    CHAIN_GATE_SWITCH.set(1 if gate.switch.on else 0)
    SPEND_TX.set(gate.spend.tx_last_hour)
    SPEND_WEI.set(gate.spend.wei_last_day)
    BUDGET_TX.set(gate.spend.tx_per_hour_budget)
    BUDGET_WEI.set(gate.spend.wei_per_day_budget)
    from api.reconciliation import refresh_metrics

    refresh_metrics(state)
