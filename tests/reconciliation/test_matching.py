"""The pure parts: which booking a receipt supports (models/treasury.plan_movement) and how a check's
difference splits into explained and unexplained (models/recon/checks)."""

from __future__ import annotations

import pytest

from core.errors import DomainError
from models.ledger import Accounts
from models.recon.checks import CheckResult, Item, unmatched
from models.recon.report import first_items
from models.treasury import Endpoints, MovementKind, MovementRequest, ObservedTx, TokenTransfer, plan_movement

SGE, CLAIM, PAYOUT, USDC = ("0x" + c * 40 for c in "1234")
OLD, NEW, TREASURY = ("0x" + c * 40 for c in "abc")
ENDS = Endpoints(
    sge_token=SGE, claim_contract=CLAIM, payout_contract=PAYOUT, stablecoins={"USDC": USDC}, relayers=[OLD, NEW]
)
HASH = "0x" + "ab" * 32


def observed(**kw) -> ObservedTx:
    base = dict(
        tx_hash=HASH,
        status=1,
        block_number=10,
        confirmations=3,
        from_address=TREASURY,
        to_address=None,
        value_wei=0,
        gas_wei=21_000 * 10**9,
        transfers=[],
    )
    return ObservedTx(**(base | kw))


def req(kind: MovementKind, amount: int | None = None) -> MovementRequest:
    return MovementRequest(tx_hash=HASH, kind=kind, amount_minor=amount)


def legs(plan) -> list[tuple[str, int]]:
    return sorted((p.account, p.amount) for p in plan.postings)


def test_funding_the_claim_contract_needs_that_transfer_to_it():
    tx = observed(transfers=[TokenTransfer(token=SGE, from_address=TREASURY, to_address=CLAIM, amount=500)])
    plan = plan_movement(req(MovementKind.SGE_INVENTORY, 500), tx, ENDS, confirmations=3)
    assert legs(plan) == sorted([(Accounts.capital, -500), (Accounts.sge_inventory, 500)])
    with pytest.raises(DomainError) as wrong:
        plan_movement(req(MovementKind.SGE_INVENTORY, 501), tx, ENDS, confirmations=3)
    assert wrong.value.code == "treasury_mismatch"
    elsewhere = observed(transfers=[TokenTransfer(token=SGE, from_address=TREASURY, to_address=PAYOUT, amount=500)])
    with pytest.raises(DomainError, match="0 transfers"):
        plan_movement(req(MovementKind.SGE_INVENTORY), elsewhere, ENDS, confirmations=3)


def test_not_final_is_retried_and_reverted_is_refused():
    tx = observed(transfers=[TokenTransfer(token=USDC, from_address=TREASURY, to_address=PAYOUT, amount=7)])
    with pytest.raises(DomainError) as early:
        plan_movement(req(MovementKind.PAYOUT_FUNDING), tx, ENDS, confirmations=4)
    assert early.value.retryable and early.value.code == "treasury_tx_not_final"
    with pytest.raises(DomainError) as reverted:
        plan_movement(req(MovementKind.PAYOUT_FUNDING), observed(status=0), ENDS, confirmations=1)
    assert not reverted.value.retryable


def test_a_sweep_to_another_relayer_key_books_only_its_gas():
    gas = 21_000 * 10**9
    internal = plan_movement(
        req(MovementKind.RELAYER_SWEEP), observed(from_address=OLD, to_address=NEW, value_wei=10**18), ENDS, 1
    )
    assert legs(internal) == sorted([(Accounts.gas, gas), (Accounts.relayer_eth, -gas)])
    out = plan_movement(
        req(MovementKind.RELAYER_SWEEP), observed(from_address=OLD, to_address=TREASURY, value_wei=10**18), ENDS, 1
    )
    assert legs(out) == sorted([(Accounts.capital, 10**18), (Accounts.gas, gas), (Accounts.relayer_eth, -gas - 10**18)])
    with pytest.raises(DomainError, match="not by a relayer"):
        plan_movement(req(MovementKind.RELAYER_SWEEP), observed(to_address=NEW, value_wei=1), ENDS, 1)


def test_a_malformed_hash_is_refused_with_its_code():
    with pytest.raises(DomainError) as bad:
        MovementRequest(tx_hash="0x12", kind=MovementKind.RELAYER_TOPUP)
    assert bad.value.code == "invalid_tx_hash"


def test_benign_items_explain_part_of_a_difference_and_the_rest_is_named_first():
    check = CheckResult(
        name="relayer_eth",
        family="chain",
        asset="ETH",
        expected=100,
        actual=70,
        items=[Item(ref="0xa", what="in flight", amount=-10, benign=True), Item(ref="0xb", what="lost", amount=-20)],
    )
    assert (check.difference, check.explained, check.unexplained, check.ok) == (-30, -10, -20, False)
    counted = unmatched("mints_vs_requests", "chain", [Item(ref="0xc", what="stray mint")], total=4)
    assert (counted.expected, counted.actual, counted.unexplained) == (3, 4, 1)
    clean = CheckResult(name="sge_inventory", family="chain", asset="SGE", expected=5, actual=5)
    assert first_items([counted, check, clean]) == ["relayer_eth: 0xb — lost", "mints_vs_requests: 0xc — stray mint"]
