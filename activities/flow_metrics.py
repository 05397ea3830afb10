"""Metrics the worker observes as flows end (served on SGE_WORKER_APP_METRICS_PORT)."""

from __future__ import annotations

from datetime import datetime

from prometheus_client import Histogram
from sqlmodel import Session

from models.commissions import PaymentSettlement

SETTLEMENT_LATENCY = Histogram(
    "sge_settlement_latency_seconds",
    "Payment confirmed (settled in the books) to claim final (flow completed), per completed flow",
    buckets=(5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600),
)


def settlement_latency(session: Session, payment_ref: str | None, completed_at: datetime) -> float | None:
    """Seconds from the payment's settlement to `completed_at`, or None when it was never settled."""
    if not payment_ref:
        return None
    settlement = session.get(PaymentSettlement, payment_ref)
    if settlement is None:
        return None
    return max(0.0, (completed_at - settlement.created_at).total_seconds())
