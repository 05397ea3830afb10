"""Temporal face of the relayer (relayer/): submit, wait for finality, read.

Synchronous activities, run in the worker's thread pool. The relayer's errors are DomainErrors and
leave the activity through the worker's interceptor (temporal/interceptors.py) as ApplicationErrors
typed by their code: "wait and retry" ones (relayer_balance_low, chain_unavailable,
relayer_misconfigured) are retried, so flows pause rather than fail; the others fail the activity.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import requests
from sqlalchemy.engine import Engine
from temporalio import activity
from temporalio.exceptions import ApplicationError, CancelledError

from core.settings import Settings
from models.chain import RELAYER_SUBMIT, RELAYER_WAIT_FINAL, SubmitTx, TxOutcome, TxRef
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

    @activity.defn(name=RELAYER_SUBMIT)
    def submit(self, req: SubmitTx) -> TxRef:
        return self._run(lambda r: r.submit(req))

    @activity.defn(name=RELAYER_WAIT_FINAL)
    def wait_final(self, key: str) -> TxOutcome:
        def beat(details: dict[str, Any]) -> None:
            activity.heartbeat(details)
            if activity.is_cancelled():
                raise CancelledError("relayer.wait_final cancelled")
            if activity.is_worker_shutdown():  # let another worker pick the wait up (state is in the DB)
                raise ApplicationError("worker shutting down", type="WorkerShutdown")

        return self._run(lambda r: r.wait_final(key, heartbeat=beat))

    def all(self) -> list[Callable]:
        return [self.submit, self.wait_final]


def relayer_activities(settings: Settings, engine: Engine) -> list[Callable]:
    return RelayerActivities(settings, engine).all()
