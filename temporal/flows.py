"""Operator actions on onboarding flows, shared by the API (/v1/ops/flows) and the CLI (`sge flows`).

Safe by construction: every world-changing activity is keyed by the business key, so retrying a flow
(a new run) or resetting it (replaying from an earlier workflow task) never mints, claims or posts
twice; the relayer and the ledger answer a repeated key with the original result.
"""

from __future__ import annotations

import uuid

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)

from core.columns import utcnow
from core.errors import Conflict
from models.flow import FLOW_STATE, PROGRAM, STATE_SINCE, WALLET
from models.onboarding import (
    SIGNAL_RESUME,
    WORKFLOW_NAME,
    FlowState,
    OnboardingInput,
)


class FlowActionError(Conflict):
    """An operator action that does not fit the flow's current state (e.g. retry while running)."""


async def describe(client: Client, flow_id: str):
    return await client.get_workflow_handle(flow_id).describe()


async def terminate(client: Client, flow_id: str, reason: str) -> None:
    desc = await describe(client, flow_id)
    if desc.status != WorkflowExecutionStatus.RUNNING:
        raise FlowActionError(f"{flow_id} is {desc.status.name.lower()}, not running", code="flow_not_running")
    await client.get_workflow_handle(flow_id).terminate(reason=reason)


async def retry(client: Client, flow_id: str, program: str, wallet: str, task_queue: str) -> str:
    """Start a new run of a flow that ended without completing (expired, failed, terminated...), or let
    a running flow parked in DELIVERY_BLOCKED try its delivery again."""
    try:
        desc = await describe(client, flow_id)
        if desc.status == WorkflowExecutionStatus.RUNNING:
            if desc.typed_search_attributes.get(FLOW_STATE) == FlowState.DELIVERY_BLOCKED.value:
                await client.get_workflow_handle(flow_id).signal(SIGNAL_RESUME)
                return "resumed"
            raise FlowActionError(f"{flow_id} is still running: reset it instead", code="flow_running")
    except FlowActionError:
        raise
    except Exception:  # noqa: BLE001 - no run at all: starting one is what retry means
        pass
    handle = await client.start_workflow(
        WORKFLOW_NAME,
        OnboardingInput(program=program, wallet=wallet, source="operator-retry"),
        id=flow_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(FLOW_STATE, FlowState.REGISTERING.value),
                SearchAttributePair(WALLET, wallet),
                SearchAttributePair(PROGRAM, program),
                SearchAttributePair(STATE_SINCE, utcnow()),
            ]
        ),
    )
    return handle.result_run_id or ""


async def reset(client: Client, flow_id: str, reason: str, *, to: str = "last") -> str:
    """Replay the current (or last) run from its first or last completed workflow task; returns the new run id."""
    handle = client.get_workflow_handle(flow_id)
    desc = await handle.describe()
    completed = [
        e.event_id
        async for e in handle.fetch_history_events()
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    ]
    if not completed:
        raise FlowActionError(f"{flow_id} has no completed workflow task yet", code="nothing_to_reset")
    point = completed[0] if to == "first" else completed[-1]
    resp = await client.workflow_service.reset_workflow_execution(
        ResetWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=flow_id, run_id=desc.run_id),
            reason=reason,
            workflow_task_finish_event_id=point,
            request_id=str(uuid.uuid4()),
        )
    )
    return resp.run_id
