"""Liveness, readiness and Prometheus metrics, on both surfaces.

Public port: `/healthz`, and `/readyz` answering only `{"status": "ok"|"fail", "failing": [names]}`
(200 or 503) — no URL, address, balance or error text. Its checks run at most once per
PUBLIC_READINESS_TTL_S however many callers ask (one run in flight, its result shared), so an anonymous
flood cannot turn into a flood of RPC, database and Temporal calls.

Operator port: `/healthz`, `/readyz` with every dependency's status, latency and detail (URLs
redacted, error text redacted), and `/metrics`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

from api import monitor_metrics, platform_metrics
from core.db import ping
from core.db_roles import runtime_role_problems
from core.logs import get_logger
from core.redact import redact, redact_url

public_router = APIRouter(tags=["health"])
NOT_READY: dict[int | str, dict[str, Any]] = {
    503: {"description": "Not ready: `failing` names the components that fail."}
}
operator_router = APIRouter(tags=["health"])

log = get_logger(__name__)
CHECK_TIMEOUT_S = 3.0
PUBLIC_READINESS_TTL_S = 0.25

# A readiness check returns extra detail for the report, or raises to say the dependency is down.
ReadinessCheck = Callable[[Any], Awaitable[dict | None]]


async def check_database(state) -> dict | None:
    await run_in_threadpool(ping, state.engine)
    if state.settings.environment == "production":  # append-only needs a runtime role that cannot rewrite
        problems = await run_in_threadpool(runtime_role_problems, state.engine)
        if problems:
            raise RuntimeError("; ".join(problems))
    return None


async def check_temporal(state) -> dict | None:
    client = state.temporal
    await client.workflow_service.get_system_info(GetSystemInfoRequest(), timeout=timedelta(seconds=CHECK_TIMEOUT_S))
    return {"address": state.settings.temporal_address, "namespace": client.namespace}


async def check_rpc(state) -> dict | None:
    """The first configured RPC that answers, on the expected chain."""
    errors = []
    for url in state.settings.eth_rpc_urls:
        try:
            chain_id, block = await asyncio.gather(
                _rpc(state.http, url, "eth_chainId"), _rpc(state.http, url, "eth_blockNumber")
            )
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            errors.append(f"{redact_url(url)}: {type(exc).__name__}")
            continue
        if int(chain_id, 16) != state.settings.chain_id:
            raise RuntimeError(f"{redact_url(url)} is on chain {int(chain_id, 16)}, expected {state.settings.chain_id}")
        return {"url": redact_url(url), "chain_id": int(chain_id, 16), "block": int(block, 16)}
    raise RuntimeError("; ".join(errors) or "no RPC configured")


async def _rpc(http: httpx.AsyncClient, url: str, method: str, params: list | None = None):
    resp = await http.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []})
    resp.raise_for_status()
    body = resp.json()
    if "error" in body:
        raise ValueError(body["error"].get("message", "rpc error"))
    return body["result"]


async def check_relayer(state) -> dict | None:
    """The relayer's ETH balance against its floor (below it nothing new is sent and flows wait).

    Uses the relayer's public address: the API never needs the hot key.
    """
    settings = state.settings
    address = settings.relayer_public_address
    if address is None:
        raise RuntimeError("relayer address unknown: set SGE_RELAYER_ADDRESS")
    errors = []
    for url in settings.eth_rpc_urls:
        try:
            balance = int(await _rpc(state.http, url, "eth_getBalance", [address, "latest"]), 16)
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            errors.append(f"{redact_url(url)}: {type(exc).__name__}")
            continue
        if balance < settings.relayer_min_balance_wei:
            raise RuntimeError(
                f"relayer {address} balance {balance} wei is below the floor {settings.relayer_min_balance_wei} wei"
            )
        return {"address": address, "balance_wei": balance, "min_balance_wei": settings.relayer_min_balance_wei}
    raise RuntimeError("; ".join(errors) or "no RPC configured")


DEFAULT_CHECKS: dict[str, ReadinessCheck] = {
    "database": check_database,
    "temporal": check_temporal,
    "rpc": check_rpc,
    "relayer": check_relayer,
}


async def _run_check(name: str, check: ReadinessCheck, state) -> dict:
    started = time.perf_counter()
    try:
        detail = await asyncio.wait_for(check(state), CHECK_TIMEOUT_S)
        result: dict[str, Any] = {"status": "up"}
        if detail:
            result.update(detail)
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"; the reason is reported
        message = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
        result = {"status": "down", "error": redact(message)}
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return result


async def readiness_report(state) -> dict:
    """Every check, run now: `{"status", "failing", "checks": {name: detail}}`."""
    checks: dict[str, ReadinessCheck] = state.readiness_checks
    results = await asyncio.gather(*(_run_check(name, fn, state) for name, fn in checks.items()))
    report = dict(zip(checks, results, strict=True))
    failing = [name for name, result in report.items() if result["status"] != "up"]
    return {"status": "fail" if failing else "ok", "failing": failing, "checks": report}


class SharedReadiness:
    """The public answer: one run of the checks at a time, reused for PUBLIC_READINESS_TTL_S."""

    def __init__(self, ttl_s: float = PUBLIC_READINESS_TTL_S):
        self.ttl_s = ttl_s
        self._lock = asyncio.Lock()
        self._at = float("-inf")
        self._summary: dict = {}

    async def summary(self, state) -> dict:
        async with self._lock:
            if time.monotonic() - self._at > self.ttl_s:
                report = await readiness_report(state)
                self._summary = {"status": report["status"], "failing": report["failing"]}
                self._at = time.monotonic()
            return dict(self._summary)


@public_router.get("/healthz", summary="Liveness: the process is serving")
@operator_router.get("/healthz", summary="Liveness: the process is serving")
async def healthz() -> dict:
    return {"status": "ok"}


@public_router.get(
    "/readyz", responses=NOT_READY, summary="Readiness: ok, or which components fail (details on the operator port)"
)
async def public_readyz(request: Request) -> JSONResponse:
    state = request.app.state
    body = await state.public_readiness.summary(state)
    return JSONResponse(body, status_code=503 if body["failing"] else 200)


@operator_router.get(
    "/readyz", responses=NOT_READY, summary="Readiness: database, Temporal, RPC, relayer each up, with latency"
)
async def readyz(request: Request) -> JSONResponse:
    body = await readiness_report(request.app.state)
    return JSONResponse(body, status_code=503 if body["failing"] else 200)


@operator_router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    state = request.app.state
    parts: dict[str, Callable[[], Awaitable[None]]] = {
        "database": lambda: run_in_threadpool(_refresh_db, state),
        "chain": lambda: monitor_metrics.refresh_chain(state),
        "temporal": lambda: monitor_metrics.refresh_temporal(state),
    }
    for part, refresh in parts.items():  # each part alone: the process's own metrics are served even when one is down
        try:
            await asyncio.wait_for(refresh(), CHECK_TIMEOUT_S)
            monitor_metrics.REFRESH_OK.labels(part).set(1)
        except Exception as exc:  # noqa: BLE001 - reported as sge_metrics_refresh_ok{part} = 0 (alerted on)
            monitor_metrics.REFRESH_OK.labels(part).set(0)
            log.warning("metrics.refresh_failed", part=part, error=redact(str(exc))[:200])
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def _refresh_db(state) -> None:
    platform_metrics.refresh(state)
    monitor_metrics.refresh_db(state)
