"""Payout approval pages on the operator port, behind the operator browser login (api/pages.py):

    GET  /ops/payouts                  batches, newest first
    GET  /ops/payouts/{id}             one batch: lines, totals, approvals so far, Approve / Reject
    POST /ops/payouts/{id}/approve     form: csrf_token, signature (approver)
    POST /ops/payouts/{id}/reject      form: csrf_token, signature, reason (approver)
    GET  /ops/payouts/static/payouts.js   the page's one script

The approver's browser wallet signs (EIP-1193 `eth_signTypedData_v4`): the page's script asks it to sign
the batch's typed data (or the `PayoutRejection` with the typed reason), puts the signature in the form
and submits it. The server does what /v1/ops/payouts does (temporal/payouts.py, audited) and shows the
batch again with the outcome. The workflow's approval policy decides whether the signature counts.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse
from sqlmodel import Session
from temporalio.service import RPCError

from api.deps import EngineDep, PageViewer, TemporalDep, require_page_role
from api.errors import ApiError
from api.pages import _PAGE_HEADERS, NAV, templates
from api.payouts import SIGNATURE, _act
from api.sessions import OperatorSession
from core.errors import DomainError
from models.approval_policy import MAX_REASON
from models.money import format_amount
from models.operators import Role
from models.payouts.views import BatchDetail, batch_detail, list_batches
from temporal import payouts as batches

router = APIRouter(prefix="/ops/payouts", include_in_schema=False)
PageApprover = Annotated[OperatorSession, Depends(require_page_role(Role.APPROVER, form=True))]
SCRIPT = Path(__file__).parent / "static" / "payouts.js"
USDC_DECIMALS = 6  # batches pay the stablecoin; amounts are minor units
# These pages run one same-origin script (no inline script, no other origin); forms post only here.
HEADERS = {**_PAGE_HEADERS, "Content-Security-Policy": _PAGE_HEADERS["Content-Security-Policy"] + "; script-src 'self'"}


def usd(minor: int) -> str:
    return format_amount(int(minor), USDC_DECIMALS)


def _render(request: Request, name: str, page: OperatorSession, context: dict[str, Any], status: int = 200):
    full = {"nav": NAV, "operator": page.actor, "csrf_token": page.csrf_token, "usd": usd, **context}
    response = templates.TemplateResponse(request, name, full, status_code=status)
    response.headers.update(HEADERS)
    return response


@router.get("/static/payouts.js")
def script(_page: PageViewer) -> FileResponse:
    return FileResponse(
        SCRIPT,
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
    )


@router.get("")
async def index(request: Request, page: PageViewer, engine: EngineDep) -> HTMLResponse:
    def read():
        with Session(engine) as session:
            return list_batches(session, limit=200)

    return _render(request, "payouts.html", page, {"batches": await run_in_threadpool(read)})


async def _live(client: Any, detail: BatchDetail) -> BatchDetail:
    """While a batch waits, its workflow is the fresher source of decisions (the DB row follows it)."""
    try:
        status = await batches.status(client, detail.batch_id)
    except (RPCError, RuntimeError):
        return detail  # the DB's view, a moment older
    return detail.model_copy(
        update={
            "state": status.state,
            "approvals": len(status.approvals),
            "decisions": [d.model_dump(mode="json") for d in status.decisions],
        }
    )


async def _show(
    request: Request,
    page: OperatorSession,
    engine: Any,
    client: Any,
    batch_id: str,
    outcome: dict[str, str] | None = None,
) -> HTMLResponse:
    def read():
        with Session(engine) as session:
            return batch_detail(session, batch_id)

    detail = await run_in_threadpool(read)
    if detail.state == "awaiting_approval":
        detail = await _live(client, detail)
    can_sign = page.actor.has_any(Role.APPROVER) and detail.state == "awaiting_approval"
    context = {"b": detail, "outcome": outcome, "can_sign": can_sign, "max_reason": MAX_REASON}
    status = 200 if outcome is None or outcome["kind"] == "ok" else 409
    return _render(request, "payout.html", page, context, status)


@router.get("/{batch_id}")
async def show(
    request: Request, batch_id: str, page: PageViewer, engine: EngineDep, client: TemporalDep
) -> HTMLResponse:
    return await _show(request, page, engine, client, batch_id)


def _signature(value: str) -> str:
    if not re.fullmatch(SIGNATURE, value):
        raise ApiError(422, "invalid_signature", "the signature is 0x and 130 hex digits (the wallet's answer)")
    return value


@router.post("/{batch_id}/approve")
async def approve(
    request: Request,
    batch_id: str,
    page: PageApprover,
    engine: EngineDep,
    client: TemporalDep,
    signature: Annotated[str, Form(max_length=200)] = "",
) -> HTMLResponse:
    signed = _signature(signature)
    actor = page.actor

    async def run() -> dict:
        return (await batches.approve(client, batch_id, signed, actor.name)).model_dump(mode="json")

    try:
        decision = await _act(engine, actor, batch_id, "approve", {"signature": signed[:20] + "…", "via": "page"}, run)
    except DomainError as exc:
        reason = (exc.details or {}).get("reason") or str(exc)
        return await _show(
            request, page, engine, client, batch_id, {"kind": "error", "text": f"Approval refused: {reason}"}
        )
    text = f"Approval by {decision['signer']} accepted."
    return await _show(request, page, engine, client, batch_id, {"kind": "ok", "text": text})


@router.post("/{batch_id}/reject")
async def reject(
    request: Request,
    batch_id: str,
    page: PageApprover,
    engine: EngineDep,
    client: TemporalDep,
    signature: Annotated[str, Form(max_length=200)] = "",
    reason: Annotated[str, Form(max_length=MAX_REASON)] = "",
) -> HTMLResponse:
    signed = _signature(signature)
    if len(reason.strip()) < 3:
        raise ApiError(422, "invalid_reason", "a rejection needs a reason (3 characters or more)")
    actor = page.actor

    async def run() -> str:
        await batches.reject(client, batch_id, signed, reason, actor.name)
        return "sent"

    await _act(engine, actor, batch_id, "reject", {"reason": reason, "via": "page"}, run)
    text = "Rejection sent; the batch is voided once the workflow has checked the signature."
    return await _show(request, page, engine, client, batch_id, {"kind": "ok", "text": text})
