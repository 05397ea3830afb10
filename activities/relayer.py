"""Temporal face of the relayer (relayer/): send a transaction and wait until it is final, in one
heartbeating activity, and book the gas it cost.

Synchronous, run in the worker's thread pool. The relayer's errors are DomainErrors and leave the
activity through the worker's interceptor (temporal/interceptors.py) as ApplicationErrors typed by
their code: "wait and retry" ones (relayer_balance_low, chain_unavailable, platform_halted,
relayer_misconfigured) are retried, so flows pause rather than fail; the others fail the activity.
A retried attempt (a worker killed mid-wait) submits the same key again, which answers with the
stored transaction: one request is never sent twice.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import requests
from sqlalchemy.engine import Engine
from temporalio import activity
from temporalio.exceptions import ApplicationError, CancelledError

from core.db import session_scope
from core.settings import Settings
from models import ledger
from models.chain import RELAYER_SEND, SubmitTx, TxOutcome
from relayer.engine import Relayer
from relayer.errors import ChainUnavailable


class RelayerActivities:
    """One `Relayer` per worker, created on first use."""

    def __init__(self, settings: Settings, engine: Engine):
        self.settings = settings
        self.engine = engine
        self._relayer: Relayer | None = None
        self._lock = threading.Lock()

    @property
    def relayer(self) -> Relayer:
        # Created on first use so a worker can start (and serve other activities) while the chain
        # is still coming up.
        if self._relayer is None:
            with self._lock:
                if self._relayer is None:
                    self._relayer = Relayer(self.settings, self.engine)
        return self._relayer

    def _run(self, fn: Callable[[Relayer], Any]) -> Any:
        """A lost RPC connection drops the cached client so the retry fails over to the next
        configured URL; a transport error becomes a (retryable) chain_unavailable."""
        try:
            return fn(self.relayer)
        except ChainUnavailable:
            self._reset_connection()
            raise
        except requests.RequestException as exc:
            self._reset_connection()
            raise ChainUnavailable(f"RPC unreachable: {type(exc).__name__}") from None

    def _reset_connection(self) -> None:
        if self._relayer is not None:
            self._relayer.reset_connection()

    @activity.defn(name=RELAYER_SEND)
    def send(self, req: SubmitTx) -> TxOutcome:
        def beat(details: dict[str, Any]) -> None:
            activity.heartbeat(details)
            if activity.is_cancelled():
                raise CancelledError("relayer.send cancelled")
            if activity.is_worker_shutdown():  # let another worker pick the wait up (state is in the DB)
                raise ApplicationError("worker shutting down", type="WorkerShutdown")

        outcome: TxOutcome = self._run(lambda r: r.send_and_wait(req, heartbeat=beat))
        if outcome.fee_wei:  # mined (confirmed or reverted): the relayer paid for it
            with session_scope(self.engine) as session:
                ledger.post_gas(
                    session,
                    ledger.GasRequest(
                        key=f"gas:{req.key}", fee_wei=outcome.fee_wei, chain_tx=outcome.hash or "", purpose=req.label
                    ),
                )
        return outcome

    def all(self) -> list[Callable]:
        return [self.send]


def relayer_activities(settings: Settings, engine: Engine) -> list[Callable]:
    return RelayerActivities(settings, engine).all()
