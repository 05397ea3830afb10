"""The checklist's gauges, computed when Prometheus scrapes the operator port (issue 12): flows by state
(the intent success rate's inputs), stuck flows and transactions, the relayer's balance and nonce per
address (from the chain, cached briefly), gas spent (from the outbox's receipts), the Temporal task
queue's backlog (from the server's own task-queue stats) and this process's database pool.

Every query is one aggregate or a primary-key-sized read; a part that fails leaves its last values and
is logged by the caller, the others still refresh.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import defaultdict
from datetime import timedelta
from typing import Any

import httpx
from prometheus_client import Gauge
from sqlalchemy import func, select
from sqlmodel import Session
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from web3 import Web3

from core.db import is_postgres, table_of
from models.chain import ChainNonce, ChainTx
from models.monitoring import stuck_flows_count, stuck_txs_count
from models.onboarding import Onboarding

FLOWS = Gauge("sge_flows", "Onboarding flows by state (success rate: completed / all terminal states)", ["state"])
STUCK_FLOWS = Gauge("sge_stuck_flows", "Flows in a working state for more than 10 minutes (not awaiting the payer)")
STUCK_TXS = Gauge("sge_stuck_relayer_txs", "Relayer transactions pending longer than the replacement window")
RELAYER_BALANCE = Gauge("sge_relayer_balance_wei", "ETH held by each relayer address the outbox has used", ["address"])
RELAYER_FOREIGN_NONCES = Gauge(
    "sge_relayer_unexpected_nonces",
    "Transactions mined from a relayer address that the outbox did not sign (> 0: the key is used elsewhere)",
    ["address"],
)
RELAYER_THRESHOLD = Gauge(
    "sge_relayer_threshold_wei", "The relayer's configured thresholds: floor, alert, topup, target", ["level"]
)
GAS_SPENT = Gauge(
    "sge_relayer_gas_spent_wei", "Fees paid by mined relayer transactions, by purpose (label)", ["purpose"]
)
TASK_QUEUE_BACKLOG = Gauge(
    "sge_temporal_task_queue_backlog",
    "Approximate backlog of the worker's task queue, from the Temporal server's task-queue stats",
    ["task_queue", "type"],
)
DB_POOL_CHECKED_OUT = Gauge("sge_db_pool_checked_out", "Database connections in use in this process's pool")
REFRESH_OK = Gauge(
    "sge_metrics_refresh_ok",
    "1 when the last scrape could read this source (database, chain, temporal), else 0",
    ["part"],
)
DB_POOL_SIZE = Gauge("sge_db_pool_size", "Database pool size of this process (connections kept open)")

_TX = table_of(ChainTx)
_FLOW = table_of(Onboarding)
_NONCE = table_of(ChainNonce)
_chain_lock = threading.Lock()
_chain_read_at = float("-inf")


def refresh_db(state: Any) -> None:
    settings = state.settings
    with Session(state.engine) as session:
        conn = session.connection()
        by_state = {
            row[0]: int(row[1]) for row in conn.execute(select(_FLOW.c.state, func.count()).group_by(_FLOW.c.state))
        }
        STUCK_FLOWS.set(stuck_flows_count(session))
        STUCK_TXS.set(stuck_txs_count(session, settings))
        gas = _gas_by_purpose(conn, settings.chain_id)
    for flow_state, count in by_state.items():
        FLOWS.labels(str(getattr(flow_state, "value", flow_state))).set(count)
    for purpose, wei in gas.items():
        GAS_SPENT.labels(purpose or "-").set(wei)
    for level, wei in (
        ("floor", settings.relayer_min_balance_wei),
        ("alert", settings.relayer_alert_below_wei),
        ("topup", settings.relayer_topup_below_wei),
        ("target", settings.relayer_target_wei),
    ):
        RELAYER_THRESHOLD.labels(level).set(wei)
    pool = state.engine.pool
    if hasattr(pool, "checkedout") and hasattr(pool, "size"):  # QueuePool (PostgreSQL); SQLite's pools differ
        DB_POOL_CHECKED_OUT.set(pool.checkedout())
        DB_POOL_SIZE.set(pool.size())


def _gas_by_purpose(conn: Any, chain_id: int) -> dict[str, int]:
    mined = (_TX.c.chain_id == chain_id, _TX.c.fee_wei.is_not(None))
    if is_postgres(conn.engine):
        rows = conn.execute(select(_TX.c.label, func.sum(_TX.c.fee_wei)).where(*mined).group_by(_TX.c.label))
        return {label: int(total) for label, total in rows}
    totals: dict[str, int] = defaultdict(int)  # SQLite stores wide amounts as text: sum in Python
    for label, fee in conn.execute(select(_TX.c.label, _TX.c.fee_wei).where(*mined)):
        totals[label] += int(fee)
    return dict(totals)


async def refresh_chain(state: Any) -> None:
    """Balance and nonce of every relayer address, at most every `metrics_chain_cache_seconds`; the
    first configured endpoint that answers on the expected chain is read (plain JSON-RPC over the
    process's HTTP client: the API holds no web3 connection)."""
    global _chain_read_at
    settings = state.settings
    with _chain_lock:
        if time.monotonic() - _chain_read_at < settings.metrics_chain_cache_seconds:
            return
    outbox = await asyncio.to_thread(_outbox_nonces, state.engine, settings.chain_id)
    addresses = set(outbox) | ({settings.relayer_public_address} if settings.relayer_public_address else set())
    if not addresses:
        return
    url = await _answering_endpoint(state)
    for address in sorted(addresses):
        checksum = Web3.to_checksum_address(address)
        balance = int(await _rpc(state.http, url, "eth_getBalance", [checksum, "latest"]), 16)
        RELAYER_BALANCE.labels(checksum).set(balance)
        if address in outbox:
            mined = int(await _rpc(state.http, url, "eth_getTransactionCount", [checksum, "latest"]), 16)
            RELAYER_FOREIGN_NONCES.labels(checksum).set(max(0, mined - outbox[address]))
    with _chain_lock:  # only a complete read is cached: a failed one is retried at the next scrape
        _chain_read_at = time.monotonic()


def _outbox_nonces(engine: Any, chain_id: int) -> dict[str, int]:
    """{sender: next nonce} of every address the outbox has signed with on this chain."""
    with engine.connect() as conn:
        rows = conn.execute(select(_NONCE.c.address, _NONCE.c.next_nonce).where(_NONCE.c.chain_id == chain_id))
        return {address: int(next_nonce) for address, next_nonce in rows}


async def _answering_endpoint(state: Any) -> str:
    problems = []
    for url in state.settings.eth_rpc_urls:
        try:
            chain_id = int(await _rpc(state.http, url, "eth_chainId"), 16)
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            problems.append(type(exc).__name__)
            continue
        if chain_id != state.settings.chain_id:
            raise RuntimeError(f"an RPC endpoint serves chain {chain_id}, expected {state.settings.chain_id}")
        return url
    raise RuntimeError("no RPC endpoint answered: " + ", ".join(problems or ["none configured"]))


async def _rpc(http: httpx.AsyncClient, url: str, method: str, params: list | None = None) -> Any:
    resp = await http.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []})
    resp.raise_for_status()
    body = resp.json()
    if "error" in body:
        raise ValueError(body["error"].get("message", "rpc error"))
    return body["result"]


async def refresh_temporal(state: Any) -> None:
    """The task queue's backlog per type, as the server reports it (DescribeTaskQueue, report_stats)."""
    client = getattr(state, "temporal", None)
    if client is None:
        return
    queue = state.settings.temporal_task_queue
    for kind, name in (
        (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, "workflow"),
        (TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY, "activity"),
    ):
        response = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=queue),
                task_queue_type=kind,
                report_stats=True,
            ),
            timeout=timedelta(seconds=3),
        )
        TASK_QUEUE_BACKLOG.labels(queue, name).set(response.stats.approximate_backlog_count)
