"""The on-chain rail of the public API: the unsigned steps to pay the claim contract from the user's own
wallet (a workflow update: the flow starts watching the chain), and reporting the claim transaction
(a signal with a hint; the flow verifies it on chain and never trusts it). Both are wallet-scoped
writes: they need the wallet's session, and count against its limit only once the request is valid."""

from __future__ import annotations

import asyncio
import re
from typing import Literal

from fastapi import APIRouter, Depends
from pydantic import Field
from temporalio.client import Client, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.deps import LimiterDep, TemporalDep
from api.errors import ApiError
from api.public import TX_HASH_RE, UPDATE_TIMEOUT, WALLET_WRITE, FlowRef, _temporal_error, require_json
from api.wallet import WalletSession, same_wallet
from models.onboarding import SIGNAL_ONCHAIN, UPDATE_PREPARE_ONCHAIN, flow_id
from models.onboarding_io import OnchainClaimHint, OnchainSteps

router = APIRouter(prefix="/v1", tags=["public"])


class PrepareRequest(FlowRef):
    token: Literal["USDC", "USDT"]


class RecordRequest(FlowRef):
    tx_hash: str = Field(description="The user's claim transaction; verified on chain, never trusted.")


async def _update(temporal: Client, body: FlowRef, wallet: str, update: str, arg=None, result_type=None):
    handle = temporal.get_workflow_handle(flow_id(body.program, wallet))
    try:
        args = [] if arg is None else [arg]
        call = handle.execute_update(update, args=args, result_type=result_type, rpc_timeout=UPDATE_TIMEOUT)
        return await asyncio.wait_for(call, UPDATE_TIMEOUT.total_seconds())
    except (WorkflowUpdateRPCTimeoutOrCancelledError, TimeoutError):
        # No worker answered in time (e.g. one is restarting): nothing changed, the client retries.
        raise ApiError(
            503, "flow_busy", "the flow did not answer in time; retry shortly", headers={"Retry-After": "2"}
        ) from None
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        code = cause.type if isinstance(cause, ApplicationError) and cause.type else "update_failed"
        raise ApiError(409, _snake(code), str(cause.message if isinstance(cause, ApplicationError) else exc)) from None
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND and "completed" in str(exc).lower():
            raise ApiError(409, "flow_ended", "this flow has ended; see GET /v1/status") from None
        raise _temporal_error(exc) from None


@router.post(
    "/claims/prepare",
    response_model=OnchainSteps,
    responses=WALLET_WRITE,
    dependencies=[Depends(require_json)],
    summary="Unsigned steps to pay on chain with USDC or USDT (includes the USDT approve-0 reset)",
)
async def prepare_claim(body: PrepareRequest, temporal: TemporalDep, limiter: LimiterDep, signed: WalletSession):
    wallet = same_wallet(signed, body.wallet)
    await limiter.hit_wallet("claims_wallet", wallet)
    return await _update(temporal, body, wallet, UPDATE_PREPARE_ONCHAIN, body.token, result_type=OnchainSteps)


@router.post(
    "/claims/record",
    status_code=202,
    responses=WALLET_WRITE,
    dependencies=[Depends(require_json)],
    summary="Report the claim transaction (verified on chain; speeds up detection)",
)
async def record_claim(body: RecordRequest, temporal: TemporalDep, limiter: LimiterDep, signed: WalletSession) -> dict:
    wallet = same_wallet(signed, body.wallet)
    if not TX_HASH_RE.match(body.tx_hash):
        raise ApiError(422, "invalid_tx_hash", "tx_hash must be 0x followed by 64 hex digits")
    await limiter.hit_wallet("claims_wallet", wallet)
    fid = flow_id(body.program, wallet)
    handle = temporal.get_workflow_handle(fid)
    try:
        await handle.signal(SIGNAL_ONCHAIN, OnchainClaimHint(tx_hash=body.tx_hash.lower()))
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise ApiError(409, "no_open_flow", "no flow is waiting for a payment from this wallet") from None
        raise _temporal_error(exc) from None
    return {"flow_id": fid, "accepted": True}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
