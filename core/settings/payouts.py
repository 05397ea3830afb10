"""Settings of payout batches (issue 11): approval window, minimum line, payment chunking, funding wait."""

from __future__ import annotations

from pydantic import BaseModel, Field


class PayoutFields(BaseModel):
    """Payout batches: how long approvers have, what is too small to pay, how lines are sent."""

    payout_approval_seconds: int = Field(
        86400, ge=5, le=30 * 86400, description="Approval window of a payout batch; past it the batch expires, voided."
    )
    payout_min_amount: int = Field(
        1_000_000,
        ge=1,
        description="Smallest payout line (stablecoin units, 6 decimals); smaller ones stay payable for later.",
    )
    payout_lines_per_tx: int = Field(
        50, ge=1, le=500, description="Most payout lines one payLines transaction carries (the token cap also splits)."
    )
    payout_funds_poll_seconds: float = Field(
        600.0, gt=0, le=86400, description="How often a batch waiting for the payout contract's funds looks again."
    )
