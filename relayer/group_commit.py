"""Group commit in front of the relayer's nonce-locked transaction (leader/followers)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from relayer.errors import ChainUnavailable
from relayer.fees import Fees
from relayer.outbox import AttemptRow, TxRow


class Waiter:
    """One `submit` waiting in the group-commit queue: its new row and prepared (gas, fees), then its
    answer, (row, first attempt), or the error to raise on its own thread."""

    __slots__ = ("done", "error", "new", "prepared", "result", "wake")

    def __init__(self, new: TxRow, prepared: tuple[int, Fees]):
        self.new, self.prepared = new, prepared
        self.result: tuple[TxRow, AttemptRow | None] | None = None
        self.error: BaseException | None = None
        self.done = False
        self.wake = threading.Event()  # set when answered, or when handed the lead

    def answer(self, result: tuple[TxRow, AttemptRow | None] | None = None, error: BaseException | None = None) -> None:
        self.result, self.error, self.done = result, error, True


class GroupCommit:
    """Group commit in front of the nonce-locked transaction (leader/followers).

    A caller that finds nobody committing leads: it runs its own request at once. Callers arriving
    while a batch is being committed queue; when the leader is done, the oldest queued caller leads
    the next batch, taking everyone queued so far. So under load one DB transaction (a few round
    trips, each of which has to win the GIL back from every other thread) serves many requests,
    while a lone request waits for nothing. Only batches within a process: across processes the
    nonce row lock (PostgreSQL) or the write lock (SQLite) still serialises the transactions."""

    def __init__(self, run_batch: Callable[[list[Waiter]], None]):
        self._run_batch = run_batch  # must answer every waiter it is given
        self._lock = threading.Lock()
        self._queue: list[Waiter] = []
        self._leading = False

    def submit(self, new: TxRow, prepared: tuple[int, Fees]) -> tuple[TxRow, AttemptRow | None]:
        me = Waiter(new, prepared)
        with self._lock:
            self._queue.append(me)
            lead, self._leading = not self._leading, True
        if not lead:
            me.wake.wait()
        if not me.done:  # leading (at once, or handed the lead by the previous leader)
            self._lead()
        if me.error is not None:
            raise me.error
        assert me.result is not None
        return me.result

    def _lead(self) -> None:
        with self._lock:
            batch, self._queue = self._queue, []
        try:
            self._run_batch(batch)
        finally:
            with self._lock:
                if self._queue:
                    self._queue[0].wake.set()  # the lead passes on (_leading stays set)
                else:
                    self._leading = False
            for waiter in batch:
                if not waiter.done:  # only if the leader itself died (e.g. KeyboardInterrupt)
                    waiter.answer(error=ChainUnavailable("the batch leader stopped; nothing was committed, retry"))
                waiter.wake.set()
