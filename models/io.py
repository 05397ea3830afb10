"""Names and payload types of the platform-level activities (shared by workflows and activities)."""

from __future__ import annotations

from pydantic import BaseModel

NOOP = "platform.noop"
HALT_STATUS = "platform.halt_status"
CHAIN_GATE = "platform.chain_gate"


class HaltStatus(BaseModel):
    halted: bool
    reason: str = ""
    updated_by: str = ""


class GateStatus(BaseModel):
    """The pre-payment chain gate (models/chain_gate.py) as a flow sees it."""

    open: bool
    reason: str = ""
