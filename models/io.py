"""Names and payload types of the platform-level activities (shared by workflows and activities)."""

from __future__ import annotations

from pydantic import BaseModel

NOOP = "platform.noop"
HALT_STATUS = "platform.halt_status"


class HaltStatus(BaseModel):
    halted: bool
    reason: str = ""
    updated_by: str = ""
