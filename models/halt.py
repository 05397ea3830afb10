"""The platform halt switch: while on, every value-moving step (mint, claim delivery, payouts) waits.

Set by operators (audited) and, later, by reconciliation when the books disagree with the chain.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlmodel import Session

from core.columns import utcnow
from models.operators import Actor, audit
from models.platform import HALT_FLAG, PlatformFlag


class HaltState(BaseModel):
    halted: bool
    reason: str = ""
    updated_by: str = ""
    updated_at: datetime | None = None


def halt_state(session: Session) -> HaltState:
    flag = session.get(PlatformFlag, HALT_FLAG)
    if flag is None:
        return HaltState(halted=False)
    return HaltState(
        halted=bool(flag.value), reason=flag.reason, updated_by=flag.updated_by, updated_at=flag.updated_at
    )


def set_halt(session: Session, actor: Actor, halted: bool, reason: str) -> HaltState:
    """Turn the switch on or off, in the caller's transaction, with an audit entry."""
    before = halt_state(session)
    flag = session.get(PlatformFlag, HALT_FLAG, with_for_update=True) or PlatformFlag(key=HALT_FLAG)
    flag.value = halted
    flag.reason = reason[:500]
    flag.updated_by = actor.name[:200]
    flag.updated_at = utcnow()
    session.add(flag)
    session.flush()
    after = halt_state(session)
    audit(
        session,
        actor,
        "halt.on" if halted else "halt.off",
        "platform_flag",
        HALT_FLAG,
        before.model_dump(mode="json"),
        after.model_dump(mode="json"),
    )
    return after
