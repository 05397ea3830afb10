"""Platform-level activities: the probe's no-op, the halt switch every value-moving step checks, and
the pre-payment chain gate flows check before mint and referral."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio import activity

from core.logs import get_logger
from core.settings import Settings
from models import io
from models.chain_gate import GateReader
from models.platform import HALT_FLAG, PlatformFlag

log = get_logger(__name__)


class PlatformActivities:
    def __init__(self, engine: Engine, settings: Settings):
        self.engine = engine
        self.gate = GateReader(settings, engine)
        self._gate_was_open = True

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

    @activity.defn(name=io.CHAIN_GATE)
    def chain_gate(self) -> io.GateStatus:
        gate = self.gate.read()
        if gate.open != self._gate_was_open:  # one line per change, not one per waiting flow
            self._gate_was_open = gate.open
            if gate.open:
                log.info("chain_gate.open")
            else:
                log.warning("chain_gate.closed", reason=gate.reason)
        return io.GateStatus(open=gate.open, reason=gate.reason)

    def all(self) -> list:
        return [self.noop, self.halt_status, self.chain_gate]
