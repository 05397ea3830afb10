"""Operator actions on payout batches, shared by the API (/v1/ops/payouts) and the CLI (`sge payouts`):
start a batch, approve (the Update: an immediate accepted/refused answer), reject, cancel, status."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError

from core.errors import Conflict
from models.payouts import io


class PayoutActionError(Conflict):
    code = "payout_action_refused"


async def start_batch(client: Client, task_queue: str, program: str, period: str, created_by: int | None) -> str:
    """One batch per (program, period), ever: a second start is refused, not joined."""
    bid = io.batch_id(program, period)
    try:
        await client.start_workflow(
            io.WORKFLOW_NAME,
            io.PayoutInput(program=program, period=period, created_by=created_by),
            id=bid,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    except WorkflowAlreadyStartedError:
        raise PayoutActionError(f"batch {bid} exists", code="payout_exists") from None
    return bid


async def approve(client: Client, batch_id: str, signature: str, operator: str) -> io.Decision:
    """Submit an approval; refused ones raise with the policy's reason (and are not recorded)."""
    try:
        return await client.get_workflow_handle(batch_id).execute_update(
            io.UPDATE_APPROVE,
            io.ApproveSignal(signature=signature, operator=operator),
            result_type=io.Decision,
            rpc_timeout=timedelta(seconds=10),
        )
    except WorkflowUpdateFailedError as exc:
        cause = exc.cause
        reason = cause.message if isinstance(cause, ApplicationError) else str(cause)
        raise PayoutActionError(
            f"approval refused: {reason}", code="approval_refused", details={"reason": reason}
        ) from None


async def reject(client: Client, batch_id: str, signature: str, reason: str, operator: str) -> None:
    await client.get_workflow_handle(batch_id).signal(
        io.SIGNAL_REJECT, io.RejectSignal(signature=signature, reason=reason, operator=operator)
    )


async def cancel(client: Client, batch_id: str, operator: str, reason: str) -> None:
    await client.get_workflow_handle(batch_id).signal(
        io.SIGNAL_CANCEL, io.CancelSignal(operator=operator, reason=reason)
    )


async def status(client: Client, batch_id: str) -> io.PayoutStatus:
    return await client.get_workflow_handle(batch_id).query(
        io.QUERY_STATUS, result_type=io.PayoutStatus, rpc_timeout=timedelta(seconds=3)
    )
