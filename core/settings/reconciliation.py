"""Settings of reconciliation (the daily comparison of the books with the chain and the processors)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ReconciliationFields(BaseModel):
    reconciliation_hour_utc: int = Field(
        2, ge=0, le=23, description="Hour (UTC) of the daily Reconciliation schedule (`sge reconcile run` any time)."
    )
    reconciliation_log_chunk_blocks: int = Field(
        2000, ge=1, le=100_000, description="Blocks per eth_getLogs request when reconciliation reads the chain."
    )
    reconciliation_grace_seconds: int = Field(
        600,
        ge=0,
        le=86_400,
        description="A relayer transaction changed this recently whose booking is missing counts as in flight "
        "(explained), not as a difference.",
    )
