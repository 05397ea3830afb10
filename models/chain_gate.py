"""The pre-payment chain gate: while closed, new flows wait before the relayer spends gas on them
(mint, referral); flows that were paid, and payouts, go on.

It closes for two reasons. An operator or the relayer monitor (at the balance floor) flips its
switch, which stays until someone opens it again (audited). And the relayer's spend budget, in
transactions per trailing hour and wei per trailing day, closes it by itself for as long as the
spend is over: registrations then proceed at the budget's pace, and the metric
`sge_chain_gate_open` (alerted on) says so. Flows check the gate before each pre-payment step and
the relayer refuses new pre-payment transactions while it is closed, so a flow that raced the
check still waits.

The budget is soft by the number of flows that pass the check at the same moment (each then sends
one transaction): bounded by the workers' concurrency.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import case, func, select
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from core.columns import utcnow
from core.db import is_postgres
from core.settings import Settings
from models.chain import ChainTx, TxStatus
from models.operators import Actor
from models.switches import Switch, flip_switch, read_switch

CHAIN_GATE_CLOSED = "chain_gate_closed"  # platform_flag key: on = closed by an operator or a monitor
IN_FLIGHT = (TxStatus.SIGNED.value, TxStatus.BROADCAST.value)  # signed, fee not known yet: worst case


class Spend(BaseModel):
    """What the relayer spent in the trailing windows (every sender on the configured chain)."""

    tx_last_hour: int
    wei_last_day: int
    tx_per_hour_budget: int
    wei_per_day_budget: int

    @property
    def over(self) -> str:
        """Why the spend is over budget, or "" when it is within."""
        if self.tx_per_hour_budget and self.tx_last_hour >= self.tx_per_hour_budget:
            return (
                f"relayer spend budget: {self.tx_last_hour} transactions in the last hour "
                f"(budget {self.tx_per_hour_budget})"
            )
        if self.wei_per_day_budget and self.wei_last_day >= self.wei_per_day_budget:
            return (
                f"relayer spend budget: {self.wei_last_day} wei in the last 24 hours (budget {self.wei_per_day_budget})"
            )
        return ""


class ChainGate(BaseModel):
    open: bool
    reason: str = ""  # why closed ("" when open)
    switch: Switch  # on = closed by an operator or a monitor
    spend: Spend


def measure_spend(conn: Connection, settings: Settings, now: datetime | None = None) -> Spend:
    now = now or utcnow()
    day, hour = now - timedelta(days=1), now - timedelta(hours=1)
    tx = ChainTx.__table__.c  # type: ignore[attr-defined]
    signed = (tx.chain_id == settings.chain_id, tx.created_at >= day, tx.nonce.is_not(None))
    if is_postgres(conn.engine):  # exact NUMERIC sums in SQL
        worst = case((tx.status.in_(IN_FLIGHT), tx.gas_limit * tx.max_fee_per_gas), else_=0)
        count, wei = conn.execute(
            select(
                func.count().filter(tx.created_at >= hour), func.coalesce(func.sum(func.coalesce(tx.fee_wei, worst)), 0)
            ).where(*signed)
        ).one()
        count, wei = int(count), int(wei)
    else:  # SQLite stores wide amounts as text: sum in Python
        count = wei = 0
        rows = conn.execute(
            select(tx.created_at, tx.status, tx.fee_wei, tx.gas_limit, tx.max_fee_per_gas).where(*signed)
        )
        for row in rows:
            created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=now.tzinfo)
            count += created >= hour
            if row.fee_wei is not None:
                wei += int(row.fee_wei)
            elif row.status in IN_FLIGHT and row.gas_limit and row.max_fee_per_gas:
                wei += int(row.gas_limit) * int(row.max_fee_per_gas)
    return Spend(
        tx_last_hour=count,
        wei_last_day=wei,
        tx_per_hour_budget=settings.relayer_budget_tx_per_hour,
        wei_per_day_budget=settings.relayer_budget_wei_per_day,
    )


def chain_gate(
    session: Session, settings: Settings, now: datetime | None = None, spend: Spend | None = None
) -> ChainGate:
    switch = read_switch(session, CHAIN_GATE_CLOSED)
    spend = spend or measure_spend(session.connection(), settings, now)
    reason = f"closed by {switch.updated_by}: {switch.reason}" if switch.on else spend.over
    return ChainGate(open=not reason, reason=reason, switch=switch, spend=spend)


def set_chain_gate(session: Session, settings: Settings, actor: Actor, closed: bool, reason: str) -> ChainGate:
    """Close or open the gate's switch (the spend budget still closes it while over)."""
    flip_switch(session, actor, CHAIN_GATE_CLOSED, closed, reason, "chain_gate")
    return chain_gate(session, settings)


class GateReader:
    """The gate as one process reads it: the switch on every read (one primary-key read, so an
    operator's close holds at once), the spend at most every `chain_gate_cache_seconds` (the budget
    is per hour and per day: a few seconds of staleness do not matter). Thread-safe."""

    def __init__(self, settings: Settings, engine: Engine):
        self.settings, self.engine = settings, engine
        self._lock = threading.Lock()
        self._spend: tuple[float, Spend] | None = None

    def read(self) -> ChainGate:
        with self._lock:
            cached = self._spend
        fresh = cached is None or time.monotonic() - cached[0] >= self.settings.chain_gate_cache_seconds
        with Session(self.engine) as session:
            gate = chain_gate(session, self.settings, spend=None if fresh or cached is None else cached[1])
        if fresh:
            with self._lock:
                self._spend = (time.monotonic(), gate.spend)
        return gate
