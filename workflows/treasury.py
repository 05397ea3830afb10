"""TreasuryMovement: book one movement of treasury money once it is final on chain.

One workflow per transaction hash (`treasury-<hash>`), so recording the same hash twice joins the first
run. The activity retries while the transaction is not yet behind the confirmation depth; a mismatch
between the request and the chain fails it at once (nothing is booked). Recording a fact is not blocked
by the halt switch: a halted platform must still know where its money is.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from models.treasury import BOOK_MOVEMENT, MovementRequest, MovementResult


def treasury_workflow_id(tx_hash: str) -> str:
    return f"treasury-{tx_hash.lower()}"


@workflow.defn(name="TreasuryMovement")
class TreasuryMovementWorkflow:
    @workflow.run
    async def run(self, req: MovementRequest) -> MovementResult:
        return await workflow.execute_activity(
            BOOK_MOVEMENT,
            req,
            result_type=MovementResult,
            start_to_close_timeout=timedelta(minutes=1),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30), maximum_attempts=200
            ),
        )
