"""Stuck, dropped and displaced transactions; the balance floor; the chain-id and key guards; the
Temporal activity face of the relayer."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
from eth_account import Account
from sqlmodel import Session, select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment
from web3.exceptions import TransactionNotFound

from activities.relayer import RelayerActivities, relayer_activities
from contracts.rpc import connect
from core.devchain import anvil_accounts
from core.errors import DomainError
from models import ledger
from models.chain import ChainTx, ChainTxAttempt, ContractCall, SubmitTx, TxOutcome, TxStatus
from relayer.engine import Relayer
from relayer.errors import BalanceTooLow, Misconfigured, SimulatedCrash
from relayer.status import check_relayer, relayer_status
from temporal.interceptors import to_application_error
from tests.helpers.chain import ETH, Chain
from tests.helpers.relayer import make_settings

DEADLINE = 60  # seconds; only a guard against hanging, never an assertion about speed


def run_in_worker(env: ActivityEnvironment, fn, *args):
    """Run an activity as the worker does: a DomainError leaves it through the worker's interceptor."""
    try:
        return env.run(fn, *args)
    except DomainError as exc:
        raise to_application_error(exc) from None


def attempts(engine, key: str) -> list[ChainTxAttempt]:
    with Session(engine) as s:
        tx = s.exec(select(ChainTx).where(ChainTx.key == key)).one()
        return list(
            s.exec(select(ChainTxAttempt).where(ChainTxAttempt.tx_id == tx.id).order_by(ChainTxAttempt.id)).all()
        )


def poll_until(relayer: Relayer, key: str, predicate) -> None:
    end = time.monotonic() + DEADLINE
    while not predicate():
        assert time.monotonic() < end, "condition not reached"
        relayer.poll(key)
        time.sleep(0.05)


@pytest.fixture
def manual_chain(anvil_factory, tmp_path, db_url):
    """A private anvil that mines only on `evm_mine`, and a funded relayer key for it."""
    node = anvil_factory(automine=False)
    account = Account.create()
    node.rpc("anvil_setBalance", [account.address, hex(10 * ETH)])

    def settings(**overrides):
        return make_settings(tmp_path / "home", db_url, node, account.key.hex(), **overrides)

    return node, account, settings


def transfer(key: str) -> SubmitTx:
    return SubmitTx(key=key, to=Account.create().address, value=1, label="transfer")


def test_stuck_transaction_is_replaced_with_higher_fees_and_one_is_mined(manual_chain, db_engine):
    node, account, settings = manual_chain
    relayer = Relayer(settings(relayer_replace_after_seconds=0.2), db_engine)
    ref = relayer.submit(transfer("stuck"))
    assert ref.status == TxStatus.BROADCAST
    poll_until(relayer, "stuck", lambda: len(attempts(db_engine, "stuck")) >= 2)
    first, second = attempts(db_engine, "stuck")[:2]
    assert first.nonce == second.nonce == 0 and first.tx_hash == ref.hash != second.tx_hash
    # both fee fields raised by at least 10 % (geth's rule; anvil would take less, so check ours)
    assert second.max_fee_per_gas * 100 >= first.max_fee_per_gas * 110
    assert second.max_priority_fee_per_gas * 100 >= first.max_priority_fee_per_gas * 110
    assert first.status == "replaced"

    node.rpc("evm_mine")
    outcome = relayer.wait_final("stuck", timeout=DEADLINE)
    assert outcome.status == "confirmed" and outcome.nonce == 0
    hashes = [a.tx_hash for a in attempts(db_engine, "stuck")]
    w3 = connect([node.rpc_url])
    mined = []
    for h in hashes:
        with contextlib.suppress(TransactionNotFound):
            mined.append(w3.eth.get_transaction_receipt(h)["transactionHash"].to_0x_hex())
    assert mined == [outcome.hash]  # exactly one of the attempts made it
    assert w3.eth.get_transaction_count(account.address, "latest") == 1
    statuses = {a.tx_hash: a.status for a in attempts(db_engine, "stuck")}
    assert statuses[outcome.hash] == "mined"
    assert all(s == "replaced" for h, s in statuses.items() if h != outcome.hash)


def test_dropped_transaction_is_resent_at_the_fee_ceiling(manual_chain, db_engine):
    """The node forgets our transaction; fees cannot rise (ceiling reached), so the same signed bytes
    are broadcast again and mined under the original hash."""
    node, _account, settings = manual_chain
    probe = Relayer(settings(), db_engine)
    ceiling = probe.market_fees().max_fee  # the first attempt is already at the ceiling
    relayer = Relayer(settings(relayer_replace_after_seconds=0.2, relayer_max_fee_per_gas_wei=ceiling), db_engine)
    assert relayer.bumped_fees(ceiling, relayer.market_fees().tip) is None
    ref = relayer.submit(transfer("dropped"))
    node.rpc("anvil_dropTransaction", [ref.hash])
    w3 = connect([node.rpc_url])
    with pytest.raises(TransactionNotFound):
        w3.eth.get_transaction(ref.hash)

    def back_in_pool() -> bool:
        try:
            return w3.eth.get_transaction(ref.hash) is not None
        except TransactionNotFound:
            return False

    poll_until(relayer, "dropped", back_in_pool)
    node.rpc("evm_mine")
    outcome = relayer.wait_final("dropped", timeout=DEADLINE)
    assert outcome.status == "confirmed" and outcome.hash == ref.hash
    assert len(attempts(db_engine, "dropped")) == 1


def test_nonce_taken_by_another_transaction_is_reassigned(chain: Chain, make_relayer, relayer_account, db_engine):
    """Someone used the relayer key outside the relayer while our signed bytes were unsent: the nonce
    is gone, none of our attempts can ever be mined, so the request is signed again with a new nonce."""
    first = make_relayer()

    def crash(_key: str) -> None:
        raise SimulatedCrash

    first.after_persist = crash
    req = SubmitTx(
        key="mint:displaced", call=ContractCall(contract="SGEID", function="mint", args=[Account.create().address])
    )
    with pytest.raises(SimulatedCrash):
        first.submit(req)
    (old,) = attempts(db_engine, req.key)
    chain.send_raw(relayer_account, relayer_account.address, b"", gas=21_000)  # takes nonce `old.nonce`
    relayer = make_relayer()
    relayer.submit(req)  # the node answers "nonce too low"
    outcome = relayer.wait_final(req.key, timeout=DEADLINE)
    assert outcome.status == "confirmed" and outcome.nonce == old.nonce + 1 and outcome.hash != old.tx_hash
    statuses = [a.status for a in attempts(db_engine, req.key)]
    assert statuses == ["dropped", "mined"]


def test_balance_floor_makes_callers_wait(
    chain: Chain, relayer_settings, relayer: Relayer, relayer_account, db_engine, anvil
):
    anvil.rpc("anvil_setBalance", [relayer_account.address, hex(relayer_settings.relayer_min_balance_wei - 1)])
    req = SubmitTx(
        key="mint:poor", call=ContractCall(contract="SGEID", function="mint", args=[Account.create().address])
    )
    with pytest.raises(BalanceTooLow):
        relayer.submit(req)
    with Session(db_engine) as s:
        assert s.exec(select(ChainTx)).one().status == TxStatus.REQUESTED  # recorded, nothing signed
    # through Temporal: a *retryable* error, so the workflow waits instead of failing
    env = ActivityEnvironment()
    activities = RelayerActivities(relayer_settings, db_engine)
    with pytest.raises(ApplicationError) as info:
        run_in_worker(env, activities.send, req)
    assert info.value.type == "relayer_balance_low" and info.value.non_retryable is False
    assert info.value.next_retry_delay == timedelta(seconds=30)
    status = relayer_status(relayer_settings, db_engine)
    assert status["ok"] is False and status["balance_ok"] is False and status["pending"] == 1
    assert "below floor" in status["error"]
    ready_state = SimpleNamespace(settings=relayer_settings, engine=db_engine)  # what /readyz hands its checks
    with pytest.raises(RuntimeError, match="below floor"):
        asyncio.run(check_relayer(ready_state))

    anvil.rpc("anvil_setBalance", [relayer_account.address, hex(100 * ETH)])
    outcome = relayer.send_and_wait(req, timeout=DEADLINE)
    assert outcome.status == "confirmed"
    status = relayer_status(relayer_settings, db_engine)
    assert status["ok"] is True and status["pending"] == 0 and status["address"] == relayer_account.address
    assert asyncio.run(check_relayer(ready_state))["address"] == relayer_account.address


def test_chain_id_is_checked_before_signing(relayer_settings, db_engine):
    wrong = relayer_settings.model_copy(update={"chain_id": 1337})  # local, but not what anvil serves
    relayer = Relayer(wrong, db_engine)
    with pytest.raises(Misconfigured, match="chain id"):
        relayer.submit(SubmitTx(key="x", to=Account.create().address, value=1))
    with Session(db_engine) as s:
        assert s.exec(select(ChainTxAttempt)).all() == []
    assert relayer_status(wrong)["ok"] is False


def test_anvil_dev_keys_are_refused_off_local_chains(tmp_path, db_url, anvil, db_engine):
    dev_key = anvil_accounts()[3].key.hex()
    with pytest.raises(Misconfigured, match="published dev keys"):
        Relayer(make_settings(tmp_path, db_url, anvil, dev_key, chain_id=11155111), db_engine)
    assert "dev key" in relayer_status(make_settings(tmp_path, db_url, anvil, dev_key, chain_id=11155111))["error"]
    assert Relayer(make_settings(tmp_path, db_url, anvil, dev_key), db_engine).address == anvil_accounts()[3].address


def test_send_activity_decodes_events_books_gas_and_refuses_key_reuse(chain: Chain, relayer_settings, db_engine):
    fns = {fn.__temporal_activity_definition.name: fn for fn in relayer_activities(relayer_settings, db_engine)}
    assert set(fns) == {"relayer.send"}
    wallet = Account.create().address
    env = ActivityEnvironment()
    mint = SubmitTx(key="act:mint", label="mint", call=ContractCall(contract="SGEID", function="mint", args=[wallet]))
    outcome = env.run(fns["relayer.send"], mint)
    assert isinstance(outcome, TxOutcome) and outcome.status == "confirmed"
    assert outcome.event("SGEID", "Transfer").args["tokenId"] > 0
    assert env.run(fns["relayer.send"], mint) == outcome  # a retried attempt: the same transaction, not a second
    with Session(db_engine) as s:
        found = ledger.get_transaction(s, "gas:act:mint")
    assert found is not None and sum(p.amount for p in found[1] if p.amount > 0) == outcome.fee_wei
    with pytest.raises(ApplicationError) as info:
        run_in_worker(env, fns["relayer.send"], SubmitTx(key="act:mint", to=wallet, value=1))
    assert info.value.type == "idempotency_conflict" and info.value.non_retryable is True


def test_wait_final_heartbeats_until_mined(manual_chain, db_engine):
    node, _account, settings = manual_chain
    s = settings()
    activities = RelayerActivities(s, db_engine)
    env = ActivityEnvironment()
    beats: list = []

    def on_beat(*details):
        beats.append(details[0])
        if len(beats) == 3:
            node.rpc("evm_mine")  # mined while the activity waits

    env.on_heartbeat = on_beat
    outcome = env.run(activities.send, transfer("beat"))
    assert outcome.status == "confirmed" and len(beats) >= 3
    assert beats[0] == {"key": "beat", "status": "broadcast", "hash": outcome.hash, "nonce": 0}


def test_bumped_fees_respect_the_ceiling(relayer_settings, db_engine):
    relayer = Relayer(relayer_settings.model_copy(update={"relayer_max_fee_per_gas_wei": 1000 * 10**9}), db_engine)
    base_tip = relayer.market_fees().tip
    bumped = relayer.bumped_fees(100 * 10**9, 2 * 10**9)
    assert bumped is not None and bumped.max_fee >= 112 * 10**9 and bumped.tip >= max(2_240_000_000, base_tip)
    assert relayer.bumped_fees(950 * 10**9, 10**9) is None  # 950 × 1.1 > ceiling: cannot replace
    capped = relayer.bumped_fees(900 * 10**9, 10**9)
    assert capped is not None and capped.max_fee == 1000 * 10**9  # capped, still ≥ 10 % up
    fees = relayer.market_fees()
    assert fees.max_fee <= 1000 * 10**9 and fees.tip >= relayer_settings.relayer_min_priority_fee_wei


def test_rpc_failover_and_lost_connection(anvil_factory, tmp_path, db_url, db_engine):
    from ops.devstack.processes import free_port

    node = anvil_factory()
    account = Account.create()
    node.rpc("anvil_setBalance", [account.address, hex(10 * ETH)])
    dead = f"http://127.0.0.1:{free_port()}"
    settings = make_settings(tmp_path / "home", db_url, node, account.key.hex(), eth_rpc_urls=[dead, node.rpc_url])
    activities = RelayerActivities(settings, db_engine)
    env = ActivityEnvironment()
    assert env.run(activities.send, transfer("first")).status == "confirmed"  # the dead endpoint is skipped
    node.stop()
    with pytest.raises(ApplicationError) as info:
        run_in_worker(env, activities.send, transfer("second"))
    assert info.value.type == "chain_unavailable" and info.value.non_retryable is False
    assert activities.relayer._w3 is None  # the next attempt reconnects (to whichever URL answers)


def test_final_only_after_n_confirmations(manual_chain, db_engine):
    node, _account, settings = manual_chain
    relayer = Relayer(settings(confirmations=3), db_engine)
    relayer.submit(transfer("deep"))
    node.rpc("evm_mine")
    row = relayer.poll("deep")
    assert row.status == TxStatus.MINED and row.block_number == 1  # mined, one confirmation of three
    node.rpc("evm_mine")
    assert relayer.poll("deep").status == TxStatus.MINED
    node.rpc("evm_mine")
    outcome = relayer.wait_final("deep", timeout=DEADLINE)
    assert outcome.status == "confirmed" and outcome.block_number == 1
