"""Payout batches: records, selection and line outcomes, approver addresses (issue 11).

The approval rule itself is `models.approval_policy` (pure, shared with other two-person approvals)."""

from models.payouts.records import (
    TERMINAL,
    ApproverAddress,
    BatchState,
    LineState,
    PayoutBatchRow,
    PayoutError,
    PayoutLineRow,
)

__all__ = [
    "TERMINAL",
    "ApproverAddress",
    "BatchState",
    "LineState",
    "PayoutBatchRow",
    "PayoutError",
    "PayoutLineRow",
]
