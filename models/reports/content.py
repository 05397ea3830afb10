"""The operator report's sections, each computed from the rows the platform already keeps.

Every section is plain JSON (amounts as strings of integer minor units). Nothing personal goes into a
report body: networks are named by a short hash, referrers by affiliate id, wallets not at all.
Where the DB holds no record of something the issue asks for, the section says so (`available: false`)
instead of guessing.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, text
from sqlmodel import Session, col, select

from models.affiliates.records import Affiliate, Attribution
from models.auth_nonces import AuthNonce
from models.chain import ChainTx
from models.commissions.records import PaymentSettlement
from models.onboarding import TERMINAL_STATES, FlowState, Onboarding
from models.platform import Program
from models.reports.counters import ATTRIBUTION, OPERATOR_AUTH, SIWE
from models.reports.tables import SecurityEventCount


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of `values`; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil without floats drifting
    return ordered[int(rank) - 1]


def network_label(network: str) -> str:
    """A stable pseudonymous name for a client network (an IPv4 address or an IPv6 /64)."""
    family = "v6/64" if ":" in network else "v4"
    return f"net-{family}:{hashlib.sha256(network.encode()).hexdigest()[:10]}"


def _in(column: Any, start: datetime, end: datetime) -> Any:
    return (col(column) >= start) & (col(column) < end)


def _buckets(start: datetime, end: datetime) -> tuple[timedelta, int]:
    """Chart buckets: hours for a day, days for longer periods."""
    step = timedelta(hours=1) if end - start <= timedelta(days=1) else timedelta(days=1)
    return step, int((end - start) / step)


def _series(times: list[datetime], start: datetime, end: datetime) -> list[int]:
    step, n = _buckets(start, end)
    counts = [0] * n
    for t in times:
        i = int((t - start) / step)
        if 0 <= i < n:
            counts[i] += 1
    return counts


def _program_slugs(session: Session) -> dict[int, str]:
    return {int(p.id or 0): p.slug for p in session.exec(select(Program)).all()}


def activity_section(session: Session, start: datetime, end: datetime) -> dict[str, Any]:
    """New affiliates, registrations (flows started) and settled payments, by program, with series."""
    slugs = _program_slugs(session)
    affiliates = session.exec(select(Affiliate).where(_in(Affiliate.created_at, start, end))).all()
    flows = session.exec(select(Onboarding).where(_in(Onboarding.created_at, start, end))).all()
    paid = session.exec(select(PaymentSettlement).where(_in(PaymentSettlement.created_at, start, end))).all()
    by_program: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"new_affiliates": 0, "registrations": 0, "payments": 0, "paid": defaultdict(int)}
    )
    for a in affiliates:
        by_program[slugs.get(a.program_id, str(a.program_id))]["new_affiliates"] += 1
    for f in flows:
        by_program[slugs.get(f.program_id, str(f.program_id))]["registrations"] += 1
    for p in paid:
        row = by_program[slugs.get(p.program_id, str(p.program_id))]
        row["payments"] += 1
        row["paid"][p.asset] += int(p.amount)
    programs = {
        slug: {**row, "paid": {asset: str(v) for asset, v in sorted(row["paid"].items())}}
        for slug, row in sorted(by_program.items())
    }
    return {
        "new_affiliates": len(affiliates),
        "registrations": len(flows),
        "payments": len(paid),
        "by_program": programs,
        "series": {
            "registrations": _series([f.created_at for f in flows], start, end),
            "payments": _series([p.created_at for p in paid], start, end),
        },
    }


def intents_section(session: Session, start: datetime, end: datetime) -> dict[str, Any]:
    """Intent success rate: flows that ended in the period, completed / ended, and the ends by reason."""
    terminal = [s.value for s in TERMINAL_STATES]
    ended = session.exec(
        select(Onboarding).where(col(Onboarding.state).in_(terminal), _in(Onboarding.state_since, start, end))
    ).all()
    completed = sum(1 for f in ended if f.state == FlowState.COMPLETED)
    reasons = Counter(f"{f.state.value}: {f.reason[:80]}" if f.reason else f.state.value for f in ended)
    return {
        "ended": len(ended),
        "completed": completed,
        "success_rate": round(completed / len(ended), 4) if ended else None,
        "by_reason": dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
    }


def latency_section(session: Session, start: datetime, end: datetime) -> dict[str, Any]:
    """Settlement latency of flows completed in the period: payment settled → claim final (the claim
    transaction's finality, else the flow's completion), seconds."""
    done = session.exec(
        select(Onboarding).where(
            col(Onboarding.completed_at).is_not(None),
            _in(Onboarding.completed_at, start, end),
            col(Onboarding.payment_ref).is_not(None),
        )
    ).all()
    refs = [f.payment_ref for f in done if f.payment_ref]
    settled = {
        s.payment_ref: s.created_at
        for s in session.exec(select(PaymentSettlement).where(col(PaymentSettlement.payment_ref).in_(refs))).all()
    }
    hashes = [f.claim_tx for f in done if f.claim_tx]
    finals = {
        t.tx_hash: t.final_at
        for t in session.exec(select(ChainTx).where(col(ChainTx.tx_hash).in_(hashes))).all()
        if t.final_at is not None
    }
    seconds: list[float] = []
    for f in done:
        paid_at = settled.get(f.payment_ref or "")
        final_at = finals.get(f.claim_tx or "") or f.completed_at
        if paid_at is not None and final_at is not None:
            seconds.append(max(0.0, (final_at - paid_at).total_seconds()))
    p50, p95 = percentile(seconds, 50), percentile(seconds, 95)
    return {
        "count": len(seconds),
        "p50_seconds": None if p50 is None else round(p50, 3),
        "p95_seconds": None if p95 is None else round(p95, 3),
        "max_seconds": round(max(seconds), 3) if seconds else None,
    }


def _counts(session: Session, kind: str, first: date, last: date) -> dict[str, int]:
    rows = session.exec(
        select(SecurityEventCount).where(
            SecurityEventCount.kind == kind, col(SecurityEventCount.day) >= first, col(SecurityEventCount.day) < last
        )
    ).all()
    totals: Counter[str] = Counter()
    for r in rows:
        totals[r.code] += int(r.count)
    return dict(sorted(totals.items()))


def fraud_section(
    session: Session, start: datetime, end: datetime, *, network_threshold: int, referrer_threshold: int
) -> dict[str, Any]:
    nonces = session.exec(select(AuthNonce.client_ip).where(_in(AuthNonce.issued_at, start, end))).all()
    per_network = Counter(nonces)
    network_bursts = [
        {"network": network_label(n), "registration_messages": c}
        for n, c in per_network.most_common()
        if c >= network_threshold
    ]
    referred = session.exec(
        select(Attribution.referrer_id).where(
            col(Attribution.referrer_id).is_not(None), _in(Attribution.created_at, start, end)
        )
    ).all()
    referrer_bursts = [
        {"affiliate_id": rid, "referred": c}
        for rid, c in Counter(referred).most_common()
        if rid is not None and c >= referrer_threshold
    ]
    refusals = _counts(session, ATTRIBUTION, start.date(), end.date())
    siwe = _counts(session, SIWE, start.date(), end.date())
    return {
        "thresholds": {"per_network": network_threshold, "per_referrer": referrer_threshold},
        "registration_bursts_per_network": network_bursts,
        "registration_bursts_per_referrer": referrer_bursts,
        # Old registration messages are deleted by housekeeping: a network burst older than their
        # retention is no longer visible here.
        "network_source": "auth_nonce (registration messages issued; IPv6 counted per /64)",
        "self_referral_attempts": refusals.get("self_referral", 0),
        "tree_cycle_attempts": refusals.get("referral_cycle", 0),
        "attribution_refusals": refusals,
        "failed_signature_attempts": sum(siwe.values()),
        "failed_signatures_by_code": siwe,
        "wallets_per_payer": {
            "available": False,
            "why": "no payer identity is stored: providers' payer ids are not captured, and on the on-chain "
            "rail the claiming wallet pays for itself",
        },
    }


def auth_section(session: Session, start: datetime, end: datetime) -> dict[str, Any]:
    by_reason = _counts(session, OPERATOR_AUTH, start.date(), end.date())
    return {"failed_authentications": sum(by_reason.values()), "by_reason": by_reason}


def gas_section(session: Session, start: datetime, end: datetime) -> dict[str, Any]:
    """Gas the relayer paid for transactions mined in the period (from the outbox receipts)."""
    mined = session.exec(select(ChainTx).where(_in(ChainTx.mined_at, start, end))).all()
    by_label: dict[str, dict[str, int]] = defaultdict(lambda: {"count": 0, "fee_wei": 0, "gas_used": 0})
    for t in mined:
        row = by_label[(t.label or "unlabelled").split(":")[0]]
        row["count"] += 1
        row["fee_wei"] += int(t.fee_wei or 0)
        row["gas_used"] += int(t.gas_used or 0)
    return {
        "transactions": len(mined),
        "reverted": sum(1 for t in mined if t.receipt_status == 0),
        "fee_wei": str(sum(int(t.fee_wei or 0) for t in mined)),
        "gas_used": sum(int(t.gas_used or 0) for t in mined),
        "by_label": {k: {**v, "fee_wei": str(v["fee_wei"])} for k, v in sorted(by_label.items())},
        "replacements": sum(int(t.replacements) for t in mined),
        "rpc_calls": {
            "available": False,
            "why": "RPC calls are counted in the processes' Prometheus counters only, not in the DB",
        },
    }


def slow_queries_section(engine: Engine, limit: int = 10) -> dict[str, Any]:
    """The slowest statements by mean time, from pg_stat_statements when the server has it."""
    if engine.dialect.name != "postgresql":
        return {"available": False, "why": "not available on SQLite"}
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT left(query, 200), calls, mean_exec_time, total_exec_time FROM pg_stat_statements "
                    "ORDER BY mean_exec_time DESC LIMIT :n"
                ),
                {"n": limit},
            ).all()
    except Exception:  # noqa: BLE001 - the extension is optional; its absence is the usual case
        return {
            "available": False,
            "why": "pg_stat_statements is not enabled on this PostgreSQL server (shared_preload_libraries "
            "and CREATE EXTENSION pg_stat_statements)",
        }
    return {
        "available": True,
        "queries": [
            {"query": q, "calls": int(c), "mean_ms": round(float(m), 3), "total_ms": round(float(t), 3)}
            for q, c, m, t in rows
        ],
    }
