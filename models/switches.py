"""Platform-wide switches operators flip (the halt switch, the pre-payment chain gate): one
`platform_flag` row each, changed in the caller's transaction with an audit entry."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlmodel import Session

from core.columns import utcnow
from models.audit import audit
from models.operators import Actor
from models.platform import PlatformFlag


class Switch(BaseModel):
    on: bool
    reason: str = ""
    updated_by: str = ""
    updated_at: datetime | None = None


def read_switch(session: Session, key: str) -> Switch:
    flag = session.get(PlatformFlag, key)
    if flag is None:
        return Switch(on=False)
    return Switch(on=bool(flag.value), reason=flag.reason, updated_by=flag.updated_by, updated_at=flag.updated_at)


def flip_switch(session: Session, actor: Actor, key: str, on: bool, reason: str, action: str) -> tuple[Switch, Switch]:
    """Set switch `key`, audited as `<action>.on|off`; returns (before, after)."""
    before = read_switch(session, key)
    flag = session.get(PlatformFlag, key, with_for_update=True) or PlatformFlag(key=key)
    flag.value = on
    flag.reason = reason[:500]
    flag.updated_by = actor.name[:200]
    flag.updated_at = utcnow()
    session.add(flag)
    session.flush()
    after = read_switch(session, key)
    audit(
        session,
        actor,
        f"{action}.on" if on else f"{action}.off",
        "platform_flag",
        key,
        before.model_dump(mode="json"),
        after.model_dump(mode="json"),
    )
    return before, after
