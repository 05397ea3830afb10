"""Starting the TreasuryMovement workflow (the CLI, the relayer top-up and Safe executions go through it)."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy

from models.treasury import MovementRequest, MovementResult
from workflows.treasury import treasury_workflow_id


async def record_movement(client: Client, task_queue: str, req: MovementRequest) -> MovementResult:
    """Book one movement and wait for the booking. The same hash joins the running workflow; after it has
    finished, a new run finds the booking and returns it (`created=False`)."""
    return await client.execute_workflow(
        "TreasuryMovement",
        req,
        id=treasury_workflow_id(req.tx_hash),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        result_type=MovementResult,
    )
