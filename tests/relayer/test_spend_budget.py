"""The relayer's spend budget and the pre-payment chain gate, on anvil with a real database."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from core.db import session_scope
from models.chain_gate import chain_gate, set_chain_gate
from models.operators import Actor, AuditLog
from relayer.errors import ChainGateClosed
from tests.helpers.chain import Chain
from tests.helpers.relayer import chain_nonce, mint, new_wallet, rows


def gated(key: str, wallet: str):
    return mint(key, wallet).model_copy(update={"gated": True})


def test_over_the_hourly_budget_new_pre_payment_requests_wait_and_the_rest_goes_on(
    chain: Chain, make_relayer, db_engine
):
    relayer = make_relayer(relayer_budget_tx_per_hour=2, chain_gate_cache_seconds=0)
    wallet = new_wallet()
    first = relayer.send_and_wait(gated("mint:b1", wallet), timeout=30)
    assert first.status == "confirmed"
    assert relayer.send_and_wait(mint("claim:b2", new_wallet()), timeout=30).status == "confirmed"

    start = chain_nonce(chain, relayer)
    with pytest.raises(ChainGateClosed) as err:
        relayer.submit(gated("mint:b3", new_wallet()))
    assert err.value.retryable and "2 transactions in the last hour (budget 2)" in str(err.value)
    assert "mint:b3" not in {row.key for row in rows(db_engine)}  # not recorded: nothing waits to be signed
    assert chain_nonce(chain, relayer) == start
    # Paid flows' deliveries and payouts are not gated; a gated request already recorded goes on.
    assert relayer.send_and_wait(mint("claim:b4", new_wallet()), timeout=30).status == "confirmed"
    assert relayer.send_and_wait(gated("mint:b1", wallet), timeout=30).hash == first.hash

    with Session(db_engine) as session:
        gate = chain_gate(session, relayer.settings)
    assert not gate.open and gate.spend.tx_last_hour == 3 and not gate.switch.on


def test_the_daily_wei_budget_counts_mined_fees_and_the_worst_case_in_flight(chain: Chain, make_relayer, db_engine):
    relayer = make_relayer(chain_gate_cache_seconds=0)
    outcome = relayer.send_and_wait(mint("mint:w1", new_wallet()), timeout=30)
    assert outcome.fee_wei
    with Session(db_engine) as session:
        spend = chain_gate(session, relayer.settings).spend
    assert spend.wei_last_day == outcome.fee_wei and spend.tx_last_hour == 1

    chain.w3.provider.make_request("evm_setAutomine", [False])
    try:
        ref = relayer.submit(mint("mint:w2", new_wallet()))  # signed and broadcast, not mined
        (pending,) = [row for row in rows(db_engine) if row.key == ref.key]
        with Session(db_engine) as session:
            spend = chain_gate(session, relayer.settings).spend
        assert spend.wei_last_day == outcome.fee_wei + pending.gas_limit * pending.max_fee_per_gas
    finally:
        chain.w3.provider.make_request("evm_setAutomine", [True])

    tight = make_relayer(relayer_budget_wei_per_day=outcome.fee_wei, chain_gate_cache_seconds=0)
    with pytest.raises(ChainGateClosed, match="wei in the last 24 hours"):
        tight.submit(gated("mint:w3", new_wallet()))


def test_an_operator_closes_and_opens_the_gate_audited(chain: Chain, make_relayer, db_engine):
    relayer, wallet = make_relayer(chain_gate_cache_seconds=0), new_wallet()
    with session_scope(db_engine) as session:
        gate = set_chain_gate(session, relayer.settings, Actor(name="alice"), True, "balance floor drill")
    assert not gate.open and gate.reason == "closed by alice: balance floor drill"
    with pytest.raises(ChainGateClosed, match="balance floor drill"):
        relayer.submit(gated("mint:o1", wallet))
    with session_scope(db_engine) as session:
        assert set_chain_gate(session, relayer.settings, Actor(name="bob"), False, "drill over").open
    assert relayer.send_and_wait(gated("mint:o1", wallet), timeout=30).status == "confirmed"
    with Session(db_engine) as session:
        actions = [a.action for a in session.exec(select(AuditLog)).all()]
    assert actions == ["chain_gate.on", "chain_gate.off"]
