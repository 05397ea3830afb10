"""The relayer on anvil through JSON-RPC, with a real database: sending, idempotency, nonces, reverts."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlmodel import Session, select
from web3.exceptions import TransactionNotFound

from contracts import abi
from models.chain import ChainTx, ContractCall, SubmitTx, TxStatus
from relayer.engine import Relayer
from relayer.errors import IdempotencyConflict, SimulatedCrash
from tests.helpers.chain import KIT_PROGRAM, Chain
from tests.helpers.relayer import attempts, chain_nonce, mint, new_wallet, rows

KIT_KEY = abi.hexstr(abi.program_id(KIT_PROGRAM))  # active on every kit deployment


def test_mint_through_the_relayer(chain: Chain, relayer: Relayer, db_engine):
    wallet = new_wallet()
    start = chain_nonce(chain, relayer)
    ref = relayer.submit(mint("mint:prog:w1", wallet))
    assert ref.status == TxStatus.BROADCAST and ref.nonce == start and ref.hash
    outcome = relayer.wait_final(ref.key, timeout=30)
    assert outcome.status == "confirmed" and outcome.hash == ref.hash and outcome.nonce == start
    receipt = chain.w3.eth.get_transaction_receipt(ref.hash)
    assert receipt["status"] == 1 and outcome.block_number == receipt["blockNumber"]
    # gas accounting for the ledger: exact wei
    assert outcome.gas_used == receipt["gasUsed"] and outcome.effective_gas_price == receipt["effectiveGasPrice"]
    assert outcome.fee_wei == receipt["gasUsed"] * receipt["effectiveGasPrice"] > 0
    minted = outcome.event("SGEID", "Transfer")
    assert minted is not None and minted.args["to"] == wallet
    assert chain.view("SGEID", "tokenOf", wallet) == minted.args["tokenId"]
    (row,) = rows(db_engine)
    assert row.status == TxStatus.CONFIRMED and row.from_address == relayer.address and row.final_at
    (attempt,) = attempts(db_engine)
    assert attempt.tx_hash == ref.hash and attempt.status == "mined"
    # the stored raw bytes are exactly what was mined
    assert chain.w3.keccak(hexstr=attempt.raw_tx).hex() == ref.hash.removeprefix("0x")


def test_calldata_helpers_match_contract_calls(chain: Chain, relayer: Relayer):
    wallet, referrer = new_wallet(), new_wallet()
    payment = "charge:XYZ"
    program = abi.program_id(KIT_PROGRAM)
    cases = [
        (abi.mint_identity(wallet), ContractCall(contract="SGEID", function="mint", args=[wallet])),
        (
            abi.register_referral(program, wallet, referrer),
            ContractCall(
                contract="AffiliateRegistry", function="registerReferral", args=[abi.hexstr(program), wallet, referrer]
            ),
        ),
        (
            abi.deliver_claim(program, wallet, payment),
            ContractCall(contract="SGEClaim", function="deliverClaim", args=[abi.hexstr(program), wallet, payment]),
        ),
    ]
    for n, (data, call) in enumerate(cases):
        to = chain.addr(call.contract)
        by_data = relayer.submit(SubmitTx(key=f"raw-{n}", to=to, data_hex="0x" + data.hex()))
        outcome = relayer.wait_final(by_data.key, timeout=30)
        assert outcome.status == "confirmed", outcome.revert_reason
        # the same call described as a ContractCall has the same content: it is the same request
        with pytest.raises(IdempotencyConflict):
            relayer.submit(
                SubmitTx(key=f"raw-{n}", call=ContractCall(contract="SGEID", function="mint", args=[new_wallet()]))
            )
        assert relayer.submit(SubmitTx(key=f"raw-{n}", call=call)).hash == by_data.hash
    claimed = relayer.outcome(rows(relayer.engine)[-1]).event("SGEClaim", "Claimed")
    assert claimed.args["wallet"] == wallet and claimed.args["paymentRef"] == "0x" + abi.ref_to_bytes32(payment).hex()
    assert claimed.args["amount"] == 1000 * 10**18 and claimed.args["fee"] == 0


def test_fifty_concurrent_requests_get_fifty_consecutive_nonces(chain: Chain, relayer: Relayer, db_engine):
    wallets = [new_wallet() for _ in range(50)]
    start = chain_nonce(chain, relayer)
    with ThreadPoolExecutor(max_workers=50) as pool:
        refs = list(pool.map(lambda w: relayer.submit(mint(f"mint:{w}", w)), wallets))
        outcomes = list(pool.map(lambda r: relayer.wait_final(r.key, timeout=60), refs))
    assert sorted(r.nonce for r in refs) == list(range(start, start + 50))  # no gap, no duplicate
    assert all(o.status == "confirmed" for o in outcomes)
    assert chain_nonce(chain, relayer) == start + 50
    assert len({o.hash for o in outcomes}) == 50
    assert all(chain.view("SGEID", "tokenOf", w) > 0 for w in wallets)
    assert len(attempts(db_engine)) == 50


def test_the_same_request_twice_is_one_transaction(chain: Chain, relayer: Relayer, db_engine):
    wallet = new_wallet()
    start = chain_nonce(chain, relayer)
    req = mint("mint:prog:dup", wallet)
    first = relayer.submit(req)
    second = relayer.submit(req)
    with ThreadPoolExecutor(max_workers=8) as pool:  # and a burst of concurrent repeats
        burst = list(pool.map(lambda _: relayer.submit(req), range(8)))
    assert {r.hash for r in [first, second, *burst]} == {first.hash}
    assert {r.nonce for r in [first, second, *burst]} == {start}
    assert relayer.wait_final(req.key, timeout=30).status == "confirmed"
    assert relayer.submit(req).hash == first.hash  # still the same after it is final
    assert chain_nonce(chain, relayer) == start + 1
    assert len(rows(db_engine)) == 1 and len(attempts(db_engine)) == 1


def test_concurrent_first_submissions_of_one_key_sign_once(chain: Chain, relayer: Relayer, db_engine):
    req = mint("mint:race", new_wallet())
    start = chain_nonce(chain, relayer)
    with ThreadPoolExecutor(max_workers=10) as pool:
        refs = list(pool.map(lambda _: relayer.submit(req), range(10)))
    assert len({r.hash for r in refs}) == 1 and refs[0].nonce == start
    relayer.wait_final(req.key, timeout=30)
    assert len(attempts(db_engine)) == 1 and chain_nonce(chain, relayer) == start + 1


def test_same_key_with_different_content_is_an_error(relayer: Relayer, db_engine):
    relayer.submit(mint("mint:prog:w9", new_wallet()))
    with pytest.raises(IdempotencyConflict, match="different transaction"):
        relayer.submit(mint("mint:prog:w9", new_wallet()))
    with pytest.raises(IdempotencyConflict):
        relayer.submit(mint("mint:prog:w9", rows(db_engine)[0].data and new_wallet(), gas_limit=300_000))
    assert len(rows(db_engine)) == 1


def test_crash_between_signed_and_broadcast_resends_the_same_bytes(chain: Chain, make_relayer, db_engine):
    first = make_relayer()

    def die(_key: str) -> None:
        raise SimulatedCrash

    first.after_persist = die
    req = mint("mint:prog:crash", new_wallet())
    start = chain_nonce(chain, first)
    with pytest.raises(SimulatedCrash):
        first.submit(req)
    (row,) = rows(db_engine)
    assert row.status == TxStatus.SIGNED and row.nonce == start
    with pytest.raises(TransactionNotFound):  # it never reached the node
        chain.w3.eth.get_transaction(row.tx_hash)

    restarted = make_relayer()  # a new process: nothing in memory
    ref = restarted.submit(req)
    assert (ref.hash, ref.nonce) == (row.tx_hash, start)
    outcome = restarted.wait_final(req.key, timeout=30)
    assert outcome.status == "confirmed" and outcome.hash == row.tx_hash
    assert chain_nonce(chain, restarted) == start + 1
    assert len(attempts(db_engine)) == 1


def test_wait_final_alone_recovers_a_request_that_was_never_sent(chain: Chain, make_relayer, db_engine):
    """A worker that died after signing: the waiting activity (retried elsewhere) finishes the job."""
    first = make_relayer()
    first.after_persist = lambda _k: (_ for _ in ()).throw(SimulatedCrash())
    req = mint("mint:prog:crash2", new_wallet())
    with pytest.raises(SimulatedCrash):
        first.submit(req)
    signed_hash = rows(db_engine)[0].tx_hash
    outcome = make_relayer().wait_final(req.key, timeout=30)
    assert outcome.status == "confirmed" and outcome.hash == signed_hash


def test_call_that_would_revert_is_answered_without_sending_or_spending_the_key(
    chain: Chain, relayer: Relayer, db_engine
):
    wallet = new_wallet()
    relayer.wait_final(relayer.submit(mint("mint:a", wallet)).key, timeout=30)
    token_id = chain.view("SGEID", "tokenOf", wallet)
    start = chain_nonce(chain, relayer)
    ref = relayer.submit(mint("mint:b", wallet))
    expected = f"AlreadyHasToken(wallet={wallet}, tokenId={token_id})"
    assert ref.status == TxStatus.FAILED and ref.nonce is None and ref.revert_reason == expected
    outcome = relayer.send_and_wait(mint("mint:b", wallet), timeout=5)
    assert outcome.status == "failed" and outcome.revert_reason == expected and outcome.hash is None
    assert outcome.revert_kind == "permanent"
    assert chain_nonce(chain, relayer) == start
    with Session(db_engine) as s:  # nothing stored: a later retry of the same key is free to send
        assert s.exec(select(ChainTx).where(ChainTx.key == "mint:b")).first() is None


def test_a_temporary_revert_does_not_block_the_same_request_later(chain: Chain, relayer: Relayer, db_engine):
    """A paused contract makes the call revert before sending; once unpaused, the *same* key goes through."""
    wallet = new_wallet()
    chain.tx(chain.deployer, "SGEID", "pause")
    try:
        paused = relayer.send_and_wait(mint("mint:paused", wallet), timeout=5)
        assert paused.status == "failed" and paused.revert_kind == "temporary" and paused.hash is None
    finally:
        chain.tx(chain.deployer, "SGEID", "unpause")
    outcome = relayer.send_and_wait(mint("mint:paused", wallet), timeout=30)
    assert outcome.status == "confirmed" and chain.view("SGEID", "tokenOf", wallet) > 0


def test_reverted_transaction_ends_failed_with_its_reason(chain: Chain, relayer: Relayer, db_engine):
    """Sent with a fixed gas limit (no simulation), mined with status 0: failed, reason decoded."""
    payment = "0x" + os.urandom(32).hex()
    wallet_a, wallet_b = new_wallet(), new_wallet()
    relayer.wait_final(
        relayer.submit(
            SubmitTx(
                key="claim:a",
                call=ContractCall(contract="SGEClaim", function="deliverClaim", args=[KIT_KEY, wallet_a, payment]),
            )
        ).key,
        timeout=30,
    )
    start = chain_nonce(chain, relayer)
    req = SubmitTx(
        key="claim:b",
        call=ContractCall(contract="SGEClaim", function="deliverClaim", args=[KIT_KEY, wallet_b, payment]),
        gas_limit=200_000,
    )
    ref = relayer.submit(req)
    assert ref.nonce == start
    outcome = relayer.wait_final(req.key, timeout=30)
    assert outcome.status == "failed"
    assert outcome.revert_reason == f"PaymentAlreadyUsed(paymentId={payment})"
    receipt = chain.w3.eth.get_transaction_receipt(ref.hash)
    assert receipt["status"] == 0 and outcome.fee_wei == receipt["gasUsed"] * receipt["effectiveGasPrice"]
    # final: waiting again or resubmitting sends nothing new
    assert relayer.wait_final(req.key).revert_reason == outcome.revert_reason
    relayer.submit(req)
    assert chain_nonce(chain, relayer) == start + 1


def test_key_is_never_stored(relayer: Relayer, relayer_settings, db_engine):
    relayer.wait_final(relayer.submit(mint("mint:k", new_wallet())).key, timeout=30)
    key = relayer_settings.require_relayer_key().removeprefix("0x")
    for obj in [*rows(db_engine), *attempts(db_engine)]:
        assert key not in repr(obj.model_dump()).lower()
    assert key not in repr(relayer).lower()


def test_nothing_is_signed_while_the_platform_is_halted(chain: Chain, relayer: Relayer, db_engine):
    """The relayer reads the halt switch just before signing: a request that raced the switch waits."""
    from core.db import session_scope
    from models.halt import set_halt
    from models.operators import Actor
    from relayer.errors import PlatformHalted

    start, wallet = chain_nonce(chain, relayer), new_wallet()
    with session_scope(db_engine) as s:
        set_halt(s, Actor(name="test"), True, "incident")
    try:
        with pytest.raises(PlatformHalted) as err:
            relayer.submit(mint("mint:halted", wallet))  # recorded, not signed: it waits
        assert err.value.retryable and err.value.code == "platform_halted"
        assert chain_nonce(chain, relayer) == start
    finally:
        with session_scope(db_engine) as s:
            set_halt(s, Actor(name="test"), False, "over")
    assert relayer.send_and_wait(mint("mint:halted", wallet), timeout=30).status == "confirmed"
