"""The periodic checks' activities: thin shells over `models.monitoring` plus one chain read."""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio import activity
from web3 import Web3

from contracts.rpc import connect
from core.db import session_scope
from core.logs import get_logger
from core.settings import Settings
from models.monitoring import (
    RELAYER_CHECK,
    STUCK_CHECK,
    BalanceLevel,
    RelayerReading,
    StuckReport,
    balance_level,
    gate_for_balance,
    stuck_report,
    topup_amount,
)

log = get_logger(__name__)


class MonitorActivities:
    def __init__(self, settings: Settings, engine: Engine):
        self.settings = settings
        self.engine = engine
        self._w3: Web3 | None = None

    def _balance(self, address: str) -> int:
        if self._w3 is None:  # lazy: the worker starts while the node is down
            self._w3 = connect(self.settings.eth_rpc_urls, expected_chain_id=self.settings.chain_id, timeout=5)
        try:
            return int(self._w3.eth.get_balance(Web3.to_checksum_address(address)))
        except Exception:
            self._w3 = None  # the next attempt fails over to another endpoint
            raise

    @activity.defn(name=RELAYER_CHECK)
    def relayer_check(self) -> RelayerReading:
        """Read the relayer's balance, close or reopen the chain gate by it, and log its level."""
        address = self.settings.relayer_public_address
        if address is None:
            raise RuntimeError("relayer address unknown: set SGE_RELAYER_ADDRESS or the relayer key")
        balance = self._balance(address)
        with session_scope(self.engine) as session:
            gate = gate_for_balance(session, self.settings, balance)
        level = balance_level(balance, self.settings)
        reading = RelayerReading(
            address=address,
            balance_wei=balance,
            level=level,
            topup_wei=topup_amount(balance, self.settings),
            gate=gate,
        )
        if gate:
            log.warning(f"relayer_monitor.gate_{gate}", address=address, balance_wei=balance)
        if level == BalanceLevel.ABOVE_CAP:  # exposure, not an outage: the P3 alert carries it
            log.info("relayer_monitor.balance", address=address, balance_wei=balance, level=level.value)
        elif level != BalanceLevel.OK:
            log.warning("relayer_monitor.balance", address=address, balance_wei=balance, level=level.value)
        return reading

    @activity.defn(name=STUCK_CHECK)
    def stuck_check(self) -> StuckReport:
        with Session(self.engine) as session:
            report = stuck_report(session, self.settings)
        if report.flows or report.txs:
            log.warning("stuck_check.found", **report.model_dump())
        return report

    def all(self) -> list:
        return [self.relayer_check, self.stuck_check]
