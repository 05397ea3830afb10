"""Platform-level activities: the probe's no-op and the halt switch every value-moving step checks."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio import activity

from models import io
from models.platform import HALT_FLAG, PlatformFlag


class PlatformActivities:
    def __init__(self, engine: Engine):
        self.engine = engine

    @activity.defn(name=io.NOOP)
    def noop(self, payload: str) -> str:
        return payload

    @activity.defn(name=io.HALT_STATUS)
    def halt_status(self) -> io.HaltStatus:
        with Session(self.engine) as session:
            flag = session.get(PlatformFlag, HALT_FLAG)
        if flag is None or not flag.value:
            return io.HaltStatus(halted=False)
        return io.HaltStatus(halted=True, reason=flag.reason, updated_by=flag.updated_by)

    def all(self) -> list:
        return [self.noop, self.halt_status]
