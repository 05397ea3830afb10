"""The relayer's health, for operators (`sge relayer status`) and readiness checks.

It needs the key only to learn the relayer's address, and never signs: a relayer that is down still
reports why. (The API's own /readyz check uses the public `SGE_RELAYER_ADDRESS` and does not import
this package: the API never holds the hot key.)
"""

from __future__ import annotations

import asyncio
from datetime import UTC
from typing import Any

from eth_account import Account
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from web3 import Web3

from core.columns import utcnow
from core.devchain import is_anvil_dev_key
from core.settings import Settings
from models.chain import TxStatus
from relayer.outbox import TX

PENDING_STATUSES = (TxStatus.REQUESTED, TxStatus.SIGNED, TxStatus.BROADCAST, TxStatus.MINED)


def relayer_status(settings: Settings, engine: Engine | None = None) -> dict[str, Any]:
    """Relayer health; never raises. `ok` is False when the key is missing or refused, no RPC answers
    on the configured chain, or the ETH balance is below the floor (new transactions then wait).
    With `engine`, also the outbox's pending count and the age of the oldest pending request."""
    result: dict[str, Any] = {
        "ok": False,
        "chain_id": settings.chain_id,
        "min_balance_wei": settings.relayer_min_balance_wei,
    }
    try:
        key = settings.require_relayer_key()
        if not settings.is_local_chain and is_anvil_dev_key(key):
            result["error"] = "relayer key is a published anvil dev key on a non-local chain"
            return result
        address = Account.from_key(key).address
        result["address"] = address
        balance, problems = None, []
        for url in settings.eth_rpc_urls:
            if not url.startswith(("http://", "https://")):
                continue
            try:
                w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 3}))
                chain_id = w3.eth.chain_id
                if chain_id != settings.chain_id:
                    problems.append(f"{url} serves chain id {chain_id}")
                    break
                balance = w3.eth.get_balance(address)
                break
            except Exception as exc:  # noqa: BLE001 - try the next endpoint
                problems.append(f"{url}: {type(exc).__name__}")
        if balance is None:
            result["error"] = "; ".join(problems) or "no http(s) RPC endpoint configured"
            return result
        result.update(balance_wei=balance, balance_ok=balance >= settings.relayer_min_balance_wei)
        if engine is not None:
            with engine.connect() as conn:
                pending, oldest = conn.execute(
                    select(func.count(), func.min(TX.c.created_at)).where(TX.c.status.in_(PENDING_STATUSES))
                ).one()
            result["pending"] = int(pending)
            if oldest is not None:
                oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=UTC)
                result["oldest_pending_seconds"] = (utcnow() - oldest).total_seconds()
            else:
                result["oldest_pending_seconds"] = None
        result["ok"] = bool(result["balance_ok"])
        if not result["ok"]:
            result["error"] = (
                f"balance {balance} wei below floor {settings.relayer_min_balance_wei} wei: "
                "new transactions wait until the relayer is funded"
            )
    except Exception as exc:  # noqa: BLE001 - readiness reports, it does not raise
        result["error"] = f"{type(exc).__name__}: {str(exc)[:200]}"
    return result


async def check_relayer(state: Any) -> dict[str, Any]:
    """A readiness check in the shape api.health expects (`state.settings`, `state.engine`): detail
    when ready, an exception naming the problem when not."""
    status = await asyncio.to_thread(relayer_status, state.settings, getattr(state, "engine", None))
    if not status["ok"]:
        raise RuntimeError(status.get("error", "relayer not ready"))
    return {k: status[k] for k in ("address", "balance_wei", "min_balance_wei", "pending") if k in status}
