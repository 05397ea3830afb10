"""Group commit of new requests (Relayer._create): requests that arrive while another transaction
holds the nonce section queue up and are committed by the next leader in one DB transaction with
consecutive nonces. On anvil with a real database.

To get a batch deterministically, the first request's leader is held just before its transaction
(`hold_first_leader`); the requests submitted meanwhile all queue, and the test opens the gate once
they are all in the queue: the next leader then takes them as one batch."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from models.chain import SubmitTx, TxStatus
from relayer.engine import Relayer
from relayer.errors import IdempotencyConflict
from relayer.outbox import NC
from tests.helpers.relayer import (
    attempts,
    chain_nonce,
    mint,
    new_wallet,
    rows,
)

DEADLINE = 60  # seconds; only a guard against hanging, never an assertion about speed


def wait_for(condition, what: str) -> None:
    end = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < end, f"not reached: {what}"
        time.sleep(0.01)


def queued(relayer: Relayer) -> int:
    return len(relayer._group._queue)


def spy_batches(relayer: Relayer) -> list[tuple[int, BaseException | None]]:
    """Records each multi-request transaction: (requests in it, the error that rolled it back)."""
    seen: list[tuple[int, BaseException | None]] = []
    real = relayer._create_many

    def spy(batch):
        try:
            real(batch)
        except Exception as exc:
            seen.append((len(batch), exc))
            raise
        seen.append((len(batch), None))

    relayer._create_many = spy  # type: ignore[method-assign]
    return seen


def hold_first_leader(relayer: Relayer) -> tuple[threading.Event, threading.Event]:
    """(entered, release): the first single-request transaction waits for `release` before it starts."""
    entered, release = threading.Event(), threading.Event()
    real = relayer._create_one

    def gated(new, prepared):
        if not entered.is_set():
            entered.set()
            release.wait(DEADLINE)
        return real(new, prepared)

    relayer._create_one = gated  # type: ignore[method-assign]
    return entered, release


def db_next_nonce(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(NC.c.next_nonce)).scalar_one()


def burst(relayer: Relayer, requests: list[SubmitTx], *, last: SubmitTx | None = None):
    """Submit `requests` (then `last`) while the first leader is held, so they form one batch.
    Returns the gate request's future, the futures of `requests` and of `last`."""
    entered, release = hold_first_leader(relayer)
    pool = ThreadPoolExecutor(max_workers=len(requests) + 2)
    try:
        gate = pool.submit(relayer.submit, mint("gate", new_wallet()))
        wait_for(entered.is_set, "the first leader is in its transaction")
        futures = [pool.submit(relayer.submit, req) for req in requests]
        wait_for(lambda: queued(relayer) == len(requests), "every request queued")
        last_future = None
        if last is not None:  # queued after all the others: it comes last in the batch
            last_future = pool.submit(relayer.submit, last)
            wait_for(lambda: queued(relayer) == len(requests) + 1, "the last request queued")
    finally:
        release.set()
        pool.shutdown(wait=False)
    return gate, futures, last_future


def test_requests_queued_behind_a_busy_leader_are_one_transaction(chain, relayer: Relayer, db_engine):
    batches = spy_batches(relayer)
    start = chain_nonce(chain, relayer)
    distinct = [mint(f"batch:{i}", new_wallet()) for i in range(12)]
    twice = distinct[3]
    conflicting = mint(twice.key, new_wallet())  # same key, another wallet: a different transaction
    gate, futures, conflict = burst(relayer, [*distinct, twice, twice], last=conflicting)

    refs = [f.result(timeout=DEADLINE) for f in futures]
    gate_ref = gate.result(timeout=DEADLINE)
    with pytest.raises(IdempotencyConflict, match="different transaction"):
        conflict.result(timeout=DEADLINE)
    assert batches == [(15, None)]  # all queued requests, duplicates included, in one transaction

    # the key given three times in the burst is one transaction
    assert refs[12].hash == refs[13].hash == refs[3].hash and refs[12].nonce == refs[3].nonce
    # one nonce per distinct key, consecutive after the gate's, no gap
    assert gate_ref.nonce == start
    assert sorted(r.nonce for r in refs[:12]) == list(range(start + 1, start + 13))
    outcomes = [relayer.wait_final(r.key, timeout=DEADLINE) for r in [gate_ref, *refs[:12]]]
    assert all(o.status == "confirmed" for o in outcomes)
    assert chain_nonce(chain, relayer) == db_next_nonce(db_engine) == start + 13
    assert len(rows(db_engine)) == len(attempts(db_engine)) == 13
    # each stored attempt is exactly what was mined
    by_key = {r.key: r for r in rows(db_engine)}
    assert all(by_key[o.key].tx_hash == o.hash for o in outcomes)


@pytest.mark.parametrize("failure", ["stored key", "signing error"])
def test_a_failed_batch_is_retried_one_by_one_without_a_gap(failure, chain, relayer: Relayer, db_engine):
    """The batch transaction fails after taking its nonces (a key already stored hits the unique
    index; or one request cannot be signed): nothing of it is committed, each request is run again
    alone, only the offending one gets its stored row or its error, the others their nonces."""
    stored = SubmitTx(key="transfer:stored", to=new_wallet(), value=1)
    stored_ref = relayer.submit(stored)
    assert relayer.wait_final(stored.key, timeout=DEADLINE).status == "confirmed"
    requests = [mint(f"fallback:{i}", new_wallet()) for i in range(10)]
    if failure == "stored key":
        offending = stored  # resubmitted: its estimate passes, its INSERT hits the key's unique index
    else:
        offending = mint("fallback:unsignable", new_wallet())
        real_assign = relayer._assign

        def assign(row, nonce, gas_limit, fees):
            if row.key == offending.key:
                raise ValueError("cannot sign this one")
            return real_assign(row, nonce, gas_limit, fees)

        relayer._assign = assign  # type: ignore[method-assign]
    requests.insert(5, offending)
    batches = spy_batches(relayer)
    start = chain_nonce(chain, relayer)

    gate, futures, _ = burst(relayer, requests)
    gate_ref = gate.result(timeout=DEADLINE)
    results = []
    for future in futures:
        try:
            results.append(future.result(timeout=DEADLINE))
        except Exception as exc:
            results.append(exc)

    ((size, error),) = batches
    assert size == 11 and isinstance(error, IntegrityError if failure == "stored key" else ValueError)
    offending_result = results.pop(5)
    if failure == "stored key":
        assert (offending_result.hash, offending_result.nonce) == (stored_ref.hash, stored_ref.nonce)
        assert offending_result.status == TxStatus.CONFIRMED
    else:
        assert isinstance(offending_result, ValueError)
    # the others: consecutive nonces after the gate's; the rolled-back batch left no gap
    assert gate_ref.nonce == start
    assert sorted(r.nonce for r in results) == list(range(start + 1, start + 11))
    outcomes = [relayer.wait_final(r.key, timeout=DEADLINE) for r in [gate_ref, *results]]
    assert all(o.status == "confirmed" for o in outcomes)
    assert chain_nonce(chain, relayer) == db_next_nonce(db_engine) == start + 11
    assert len(attempts(db_engine)) == 1 + 11  # the stored transfer, the gate, the ten


def test_two_processes_bursting_share_one_gapless_nonce_sequence(chain, make_relayer, db_engine):
    """Two relayers with the same key (two worker processes: separate in-process queues) batch
    their own threads; the nonce row lock (PostgreSQL) or write lock (SQLite) serialises them."""
    first, second = make_relayer(), make_relayer()
    start = chain_nonce(chain, first)
    jobs = [(first if i % 2 else second, mint(f"two:{i}", new_wallet())) for i in range(30)]
    with ThreadPoolExecutor(max_workers=30) as pool:
        refs = list(pool.map(lambda job: job[0].submit(job[1]), jobs))
        outcomes = list(pool.map(lambda ref: first.wait_final(ref.key, timeout=DEADLINE), refs))
    assert sorted(r.nonce for r in refs) == list(range(start, start + 30))
    assert all(o.status == "confirmed" for o in outcomes)
    assert chain_nonce(chain, first) == db_next_nonce(db_engine) == start + 30
