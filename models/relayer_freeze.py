"""`sge relayer freeze`, for a suspected relayer key compromise: halt on and the chain gate closed in
one audited transaction, then what the relayer sent recently and which flows are mid-transaction.

Revoking the relayer's roles is a Safe transaction (the Safe handover's `sge safe propose
revoke-relayer`), printed as the next step: freezing first stops the platform asking the relayer
for anything, whoever holds the key.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from models.audit import audit
from models.chain import ChainTx, TxStatus
from models.chain_gate import set_chain_gate
from models.halt import set_halt
from models.onboarding import Onboarding
from models.operators import Actor

FINAL = (TxStatus.CONFIRMED.value, TxStatus.FAILED.value)


def _tx(row: ChainTx) -> dict[str, Any]:
    return {
        "key": row.key,
        "label": row.label,
        "from": row.from_address,
        "to": row.to_address,
        "nonce": row.nonce,
        "status": row.status,
        "hash": row.tx_hash,
        "created_at": row.created_at.isoformat(),
    }


def relayer_transactions(session: Session, relayer: str | None, limit: int) -> tuple[list[ChainTx], list[ChainTx]]:
    """(the `limit` most recent, every one not final) of the relayer's transactions (all when unknown)."""
    query = select(ChainTx)
    if relayer:
        query = query.where(col(ChainTx.from_address).in_([relayer, relayer.lower()]))
    recent = session.exec(query.order_by(col(ChainTx.id).desc()).limit(limit)).all()
    open_ = session.exec(query.where(col(ChainTx.status).not_in(FINAL)).order_by(col(ChainTx.id))).all()
    return list(recent), list(open_)


def flows_mid_transaction(session: Session, open_txs: list[ChainTx]) -> list[dict[str, Any]]:
    """The onboarding flows whose transaction is not final (flow transactions are keyed `<flow id>:<step>`)."""
    by_flow: dict[str, ChainTx] = {}
    for tx in open_txs:
        by_flow.setdefault(tx.key.split(":", 1)[0], tx)
    if not by_flow:
        return []
    flows = session.exec(select(Onboarding).where(col(Onboarding.flow_id).in_(list(by_flow)))).all()
    return sorted(
        (
            {
                "flow_id": f.flow_id,
                "state": str(f.state),
                "tx_key": by_flow[f.flow_id].key,
                "tx_status": by_flow[f.flow_id].status,
                "tx_hash": by_flow[f.flow_id].tx_hash,
            }
            for f in flows
        ),
        key=lambda item: item["flow_id"],
    )


def freeze_relayer(session: Session, settings: Any, actor: Actor, reason: str, limit: int = 20) -> dict[str, Any]:
    """Halt on, chain gate closed, audited as `relayer.freeze` (in the caller's transaction); the report."""
    why = f"relayer freeze: {reason}"
    halt = set_halt(session, actor, True, why)
    gate = set_chain_gate(session, settings, actor, True, why)
    relayer = settings.relayer_public_address
    recent, open_txs = relayer_transactions(session, relayer, limit)
    flows = flows_mid_transaction(session, open_txs)
    other_open = [tx for tx in open_txs if tx.key.split(":", 1)[0] not in {f["flow_id"] for f in flows}]
    audit(
        session,
        actor,
        "relayer.freeze",
        "relayer",
        relayer or "unknown",
        None,
        {"reason": reason[:300], "open_txs": len(open_txs), "flows_mid_transaction": len(flows)},
    )
    return {
        "relayer": relayer,
        "halted": halt.halted,
        "chain_gate_open": gate.open,
        "recent_transactions": [_tx(tx) for tx in recent],
        "open_transactions": [_tx(tx) for tx in open_txs],
        "flows_mid_transaction": flows,
        "other_open_transactions": [_tx(tx) for tx in other_open],
        "next_steps": [
            f"sge safe propose revoke-relayer --address {relayer or '<relayer address>'}  "
            "(revoke its roles through the Safe; then sign with the owners and `sge safe execute`)",
            "sge relayer txs --pending  (watch the open transactions settle or be replaced)",
        ],
    }
