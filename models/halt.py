"""The platform halt switch: while on, every value-moving step (mint, claim delivery, payouts) waits.

Set by operators (audited) and, later, by reconciliation when the books disagree with the chain.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlmodel import Session

from models.operators import Actor
from models.platform import HALT_FLAG
from models.switches import Switch, flip_switch, read_switch


class HaltState(BaseModel):
    halted: bool
    reason: str = ""
    updated_by: str = ""
    updated_at: datetime | None = None


def _as_halt(switch: Switch) -> HaltState:
    return HaltState(halted=switch.on, reason=switch.reason, updated_by=switch.updated_by, updated_at=switch.updated_at)


def halt_state(session: Session) -> HaltState:
    return _as_halt(read_switch(session, HALT_FLAG))


def set_halt(session: Session, actor: Actor, halted: bool, reason: str) -> HaltState:
    """Turn the switch on or off, in the caller's transaction, with an audit entry."""
    _, after = flip_switch(session, actor, HALT_FLAG, halted, reason, "halt")
    return _as_halt(after)
