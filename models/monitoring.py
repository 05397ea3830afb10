"""The periodic checks' rules: where the relayer's balance stands against the checklist's thresholds,
what the relayer monitor does with the pre-payment chain gate, and what counts as stuck.

The monitor closes the gate's audited switch at the balance floor (minting pauses instead of failing
transactions) and opens it again once the balance is back above the floor — only when the monitor
itself closed it: an operator's close is never overridden.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel
from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from core.columns import utcnow
from core.settings import Settings
from models.chain import ChainTx, TxStatus
from models.chain_gate import CHAIN_GATE_CLOSED, set_chain_gate
from models.onboarding import STUCK_AFTER, TERMINAL_STATES, WAITING_ON_OTHERS, Onboarding
from models.operators import Actor
from models.switches import read_switch

# Activity names (workflows call these by name).
RELAYER_CHECK = "monitor.relayer_check"
STUCK_CHECK = "monitor.stuck_check"

MONITOR = Actor(name="relayer-monitor")
STUCK_LISTED = 20  # ids a stuck report names; the counts are complete
# A transaction is waiting on the chain in these states (requested ones wait for funds or the gate).
TX_WAITING = (TxStatus.SIGNED.value, TxStatus.BROADCAST.value)


class BalanceLevel(StrEnum):
    FLOOR = "floor"  # at or below the floor: the gate closes
    ALERT = "alert"  # below the P1 alert threshold
    TOPUP = "topup"  # below the top-up threshold: a top-up is due
    OK = "ok"
    ABOVE_CAP = "above_cap"  # above the target (the cap): a warning, hot-wallet exposure


def balance_level(balance: int, settings: Settings) -> BalanceLevel:
    if balance <= settings.relayer_min_balance_wei:
        return BalanceLevel.FLOOR
    if balance < settings.relayer_alert_below_wei:
        return BalanceLevel.ALERT
    if balance < settings.relayer_topup_below_wei:
        return BalanceLevel.TOPUP
    if balance > settings.relayer_target_wei:
        return BalanceLevel.ABOVE_CAP
    return BalanceLevel.OK


def topup_amount(balance: int, settings: Settings) -> int:
    """Wei that brings the balance back to the target (0 when at or above it)."""
    return max(0, settings.relayer_target_wei - balance)


class RelayerReading(BaseModel):
    address: str
    balance_wei: int
    level: BalanceLevel
    topup_wei: int
    gate: str = ""  # "closed" / "reopened" when the monitor flipped the switch now, else ""


def gate_for_balance(session: Session, settings: Settings, balance: int) -> str:
    """Close the gate's switch at the floor; reopen it above the floor if the monitor closed it.
    Returns "closed", "reopened" or "" (nothing changed). Runs in the caller's transaction."""
    switch = read_switch(session, CHAIN_GATE_CLOSED)
    if balance <= settings.relayer_min_balance_wei:
        if switch.on:
            return ""  # already closed (by us, or by an operator whose reason stands)
        reason = f"relayer balance {balance} wei at or below the floor {settings.relayer_min_balance_wei} wei"
        set_chain_gate(session, settings, MONITOR, True, reason)
        return "closed"
    if switch.on and switch.updated_by == MONITOR.name:
        set_chain_gate(session, settings, MONITOR, False, f"relayer balance {balance} wei is back above the floor")
        return "reopened"
    return ""


class StuckTx(BaseModel):
    key: str
    label: str
    status: str
    nonce: int | None
    tx_hash: str | None
    waiting_seconds: float


class StuckReport(BaseModel):
    flows: int
    txs: int
    flow_ids: list[str] = []
    tx_keys: list[str] = []


def stuck_flows_count(session: Session, now: datetime | None = None) -> int:
    """Flows in a working state (not waiting for the payer or the halt) for more than 10 minutes."""
    idle = [s.value for s in TERMINAL_STATES | WAITING_ON_OTHERS]
    query = sa_select(func.count()).where(
        col(Onboarding.state).not_in(idle), col(Onboarding.state_since) < (now or utcnow()) - STUCK_AFTER
    )
    return int(session.connection().execute(query).scalar_one())


def stuck_txs(session: Session, settings: Settings, *, now: datetime | None = None, limit: int = 50) -> list[StuckTx]:
    """Relayer transactions signed or broadcast and not mined for longer than the replacement window
    (the relayer would have replaced them by now), oldest first."""
    now = now or utcnow()
    cutoff = now - timedelta(seconds=settings.relayer_replace_after_seconds)
    since = func.coalesce(col(ChainTx.broadcast_at), col(ChainTx.signed_at), col(ChainTx.created_at))
    query = (
        select(ChainTx)
        .where(col(ChainTx.status).in_(TX_WAITING), since < cutoff)
        .order_by(col(ChainTx.id))
        .limit(limit)
    )
    rows = session.exec(query).all()
    result = []
    for row in rows:
        at = row.broadcast_at or row.signed_at or row.created_at
        result.append(
            StuckTx(
                key=row.key,
                label=row.label,
                status=row.status,
                nonce=row.nonce,
                tx_hash=row.tx_hash,
                waiting_seconds=(now - at).total_seconds(),
            )
        )
    return result


def stuck_txs_count(session: Session, settings: Settings, now: datetime | None = None) -> int:
    cutoff = (now or utcnow()) - timedelta(seconds=settings.relayer_replace_after_seconds)
    since = func.coalesce(col(ChainTx.broadcast_at), col(ChainTx.signed_at), col(ChainTx.created_at))
    query = sa_select(func.count()).where(col(ChainTx.status).in_(TX_WAITING), since < cutoff)
    return int(session.connection().execute(query).scalar_one())


def stuck_report(session: Session, settings: Settings, now: datetime | None = None) -> StuckReport:
    now = now or utcnow()
    idle = [s.value for s in TERMINAL_STATES | WAITING_ON_OTHERS]
    flow_ids = session.exec(
        select(Onboarding.flow_id)
        .where(col(Onboarding.state).not_in(idle), col(Onboarding.state_since) < now - STUCK_AFTER)
        .order_by(col(Onboarding.id))
        .limit(STUCK_LISTED)
    ).all()
    return StuckReport(
        flows=stuck_flows_count(session, now),
        txs=stuck_txs_count(session, settings, now),
        flow_ids=[str(f) for f in flow_ids],
        tx_keys=[t.key for t in stuck_txs(session, settings, now=now, limit=STUCK_LISTED)],
    )
