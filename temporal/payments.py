"""Handing payment events to the workflow that books them, shared by the webhooks, the API and the CLI.

A running flow gets the event as a signal. Once the flow has ended, payment aftercare (keyed by the
payment) is started with the event, or joined if it runs (signal-with-start): late money, refunds and
chargebacks after the flow ended are booked, never just stored.
"""

from __future__ import annotations

import contextlib

from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from core.db import session_scope
from core.errors import NotFound
from models.audit import audited_call
from models.onboarding_io import AFTERCARE_WORKFLOW, AftercareInput, aftercare_id
from models.operators import Actor
from models.payment_books import CannotApply, apply_to_fee
from models.payments import PAYMENT_EVENT_SIGNAL, PaymentEvent, PaymentEventKind, get_payment
from models.platform import PaymentProvider, Program
from models.suspense import get_item
from temporal import flows
from temporal.flows import FlowActionError


class PaymentNotFound(NotFound):
    code = "payment_not_found"


async def hand_event(client: Client, task_queue: str, flow_id: str, payment_key: str, event: PaymentEvent) -> str:
    """'flow' when the running flow got it, 'aftercare' when its flow had ended. RPC errors other
    than "no such running workflow" propagate (the caller answers 503 and the provider retries)."""
    try:
        await client.get_workflow_handle(flow_id).signal(PAYMENT_EVENT_SIGNAL, event)
        return "flow"
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
    await client.start_workflow(
        AFTERCARE_WORKFLOW,
        AftercareInput(flow_id=flow_id, payment_key=payment_key),
        id=aftercare_id(payment_key),
        task_queue=task_queue,
        start_signal=PAYMENT_EVENT_SIGNAL,
        start_signal_args=[event],
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
    )
    return "aftercare"


def refund_event(engine: Engine, payment_key: str, reason: str) -> tuple[str, PaymentEvent]:
    """An operator's record of a refund made in the provider's dashboard, as the event the flow (or
    aftercare) books without asking the provider (Coinbase announces no refunds)."""
    with Session(engine) as session:
        payment = get_payment(session, payment_key)
    if payment is None or payment.provider_ref is None:
        raise PaymentNotFound(f"no payment {payment_key!r} with a provider charge")
    return payment.flow_id, PaymentEvent(
        provider=PaymentProvider(payment.provider),
        event_id=f"operator_refund:{payment_key}",
        event_type="operator_refund",
        kind=PaymentEventKind.REFUNDED,
        provider_ref=payment.provider_ref,
        payment_key=payment_key,
        context=reason[:200],
    )


async def record_refund(
    client: Client, engine: Engine, task_queue: str, payment_key: str, reason: str, actor: Actor
) -> str:
    """`sge payments refund`: book a refund made in the provider's dashboard (`payment.refund.requested`
    audited before the event goes to Temporal, `payment.refund` or `payment.refund.failed` after)."""
    flow_id, event = refund_event(engine, payment_key, reason)
    return await audited_call(
        engine,
        actor,
        "payment.refund",
        "payment",
        payment_key,
        None,
        {"reason": reason},
        lambda: hand_event(client, task_queue, flow_id, payment_key, event),
    )


async def apply_suspense(
    client: Client, engine: Engine, task_queue: str, item_id: int, actor: Actor, *, accept_shortfall: bool = False
) -> str:
    """Use suspense money to settle its flow's fee, then start the flow again to deliver. The flow
    must not be running (it could be creating its own charge meanwhile). Audited: `suspense.apply.requested`
    first, `suspense.applied` with the money's move (same DB transaction), then `suspense.apply` with the
    new run, or `suspense.apply.failed`."""

    async def apply() -> str:
        with Session(engine) as session:
            item = get_item(session, item_id)
            fid = item.flow_id
        if fid is None:
            raise CannotApply(f"suspense item {item_id} belongs to no flow: refund or write it off")
        with contextlib.suppress(RPCError):  # no run at all is fine
            if (await flows.describe(client, fid)).status == WorkflowExecutionStatus.RUNNING:
                raise FlowActionError(
                    f"{fid} is running: wait for it to end (or terminate it) first", code="flow_running"
                )
        with session_scope(engine) as session:
            payment = apply_to_fee(
                session, get_item(session, item_id, lock=True), actor, accept_shortfall=accept_shortfall
            )
            wallet, program = payment.wallet, session.get(Program, payment.program_id)
            assert program is not None
            slug = program.slug
        return await flows.retry(client, fid, slug, wallet, task_queue)

    details = {"accept_shortfall": accept_shortfall}
    return await audited_call(engine, actor, "suspense.apply", "suspense_item", item_id, None, details, apply)
