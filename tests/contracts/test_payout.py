"""AffiliatePayout: each payout id pays once, forever; caps; SafeERC20 with a USDT-like token."""

from __future__ import annotations

import os

import pytest

from contracts.abi import ref_to_bytes32
from tests.helpers.chain import Chain, unauthorized

ZERO = "0x0000000000000000000000000000000000000000"
USD = 10**6


def pid() -> str:
    return "0x" + os.urandom(32).hex()


def usdc_balance(chain: Chain, who: str) -> int:
    return chain.view("TestUSDC", "balanceOf", who)


def test_pay_moves_funds_once_per_payout_id(chain: Chain):
    to = chain.new_account(0)
    payout_id = pid()
    usdc, payout = chain.addr("TestUSDC"), chain.addr("AffiliatePayout")
    pool = usdc_balance(chain, payout)
    receipt = chain.tx(chain.relayer, "AffiliatePayout", "pay", payout_id, usdc, to.address, 25 * USD)
    assert chain.event(receipt, "AffiliatePayout", "PayoutPaid") == {
        "payoutId": payout_id,
        "token": usdc,
        "to": to.address,
        "amount": 25 * USD,
    }
    assert usdc_balance(chain, to.address) == 25 * USD
    assert usdc_balance(chain, payout) == pool - 25 * USD
    assert chain.view("AffiliatePayout", "paid", payout_id) is True
    # the same id never pays again: not to the same recipient, not to another, not for another amount
    other = chain.new_account(0)
    assert chain.revert(chain.relayer, "AffiliatePayout", "pay", payout_id, usdc, to.address, 25 * USD) == (
        f"PayoutAlreadyPaid(payoutId={payout_id})"
    )
    assert chain.revert(chain.relayer, "AffiliatePayout", "pay", payout_id, usdc, other.address, 1) == (
        f"PayoutAlreadyPaid(payoutId={payout_id})"
    )


def test_pay_rejects_bad_lines(chain: Chain):
    usdc, to = chain.addr("TestUSDC"), chain.new_account(0).address
    r = chain.relayer
    assert chain.revert(r, "AffiliatePayout", "pay", "0x" + "00" * 32, usdc, to, 1) == "ZeroPayoutId()"
    assert chain.revert(r, "AffiliatePayout", "pay", pid(), usdc, ZERO, 1) == "ZeroAddress()"
    assert chain.revert(r, "AffiliatePayout", "pay", pid(), usdc, to, 0) == "ZeroAmount()"
    not_enabled = chain.addr("SGEToken")
    assert chain.revert(r, "AffiliatePayout", "pay", pid(), not_enabled, to, 1) == f"TokenNotEnabled(token={not_enabled})"
    cap = chain.view("AffiliatePayout", "capPerTx", usdc)
    assert chain.revert(r, "AffiliatePayout", "pay", pid(), usdc, to, cap + 1) == (
        f"CapExceeded(token={usdc}, amount={cap + 1}, cap={cap})"
    )


def test_pay_and_admin_functions_need_their_roles(chain: Chain):
    usdc, stranger = chain.addr("TestUSDC"), chain.new_account()
    for sender in (stranger, chain.deployer):
        assert chain.revert(sender, "AffiliatePayout", "pay", pid(), usdc, stranger.address, 1) == (
            unauthorized(sender.address, "PAYER_ROLE")
        )
        assert chain.revert(sender, "AffiliatePayout", "payBatch", usdc, [(pid(), stranger.address, 1)]) == (
            unauthorized(sender.address, "PAYER_ROLE")
        )
    for fn, args in (("setCap", (usdc, 1)), ("withdraw", (usdc, stranger.address, 1))):
        assert chain.revert(chain.relayer, "AffiliatePayout", fn, *args) == unauthorized(chain.relayer.address, "DEFAULT_ADMIN_ROLE")
    assert chain.revert(chain.relayer, "AffiliatePayout", "pause") == unauthorized(chain.relayer.address, "PAUSER_ROLE")
    assert chain.deploy_revert(chain.deployer, "AffiliatePayout", chain.deployer.address, ZERO) == "ZeroAddress()"


def test_pay_batch_is_all_or_nothing(chain: Chain):
    usdc = chain.addr("TestUSDC")
    a, b = chain.new_account(0), chain.new_account(0)
    id1, id2, id3 = pid(), pid(), pid()
    receipt = chain.tx(chain.relayer, "AffiliatePayout", "payBatch", usdc, [(id1, a.address, 10 * USD), (id2, b.address, 15 * USD)])
    paid = [e.args for e in chain.events(receipt) if e.event == "PayoutPaid"]
    assert [(p["payoutId"], p["to"], p["amount"]) for p in paid] == [(id1, a.address, 10 * USD), (id2, b.address, 15 * USD)]
    # one already-paid line reverts the whole batch: id3 is not paid either
    assert chain.revert(chain.relayer, "AffiliatePayout", "payBatch", usdc, [(id3, a.address, 1), (id1, a.address, 1)]) == (
        f"PayoutAlreadyPaid(payoutId={id1})"
    )
    assert chain.view("AffiliatePayout", "paid", id3) is False
    # a duplicate inside one batch is caught too
    assert chain.revert(chain.relayer, "AffiliatePayout", "payBatch", usdc, [(id3, a.address, 1), (id3, b.address, 1)]) == (
        f"PayoutAlreadyPaid(payoutId={id3})"
    )
    assert chain.revert(chain.relayer, "AffiliatePayout", "payBatch", usdc, []) == "EmptyBatch()"
    cap = chain.view("AffiliatePayout", "capPerTx", usdc)
    half = cap // 2 + 1
    assert chain.revert(chain.relayer, "AffiliatePayout", "payBatch", usdc, [(pid(), a.address, half), (pid(), b.address, half)]) == (
        f"CapExceeded(token={usdc}, amount={2 * half}, cap={cap})"
    )


def test_pay_works_with_a_usdt_like_token(chain: Chain):
    """TestUSDT's transfer returns nothing: a plain IERC20.transfer call would revert; SafeERC20 works."""
    usdt, payout = chain.addr("TestUSDT"), chain.addr("AffiliatePayout")
    chain.tx(chain.deployer, "TestUSDT", "mint", payout, 100 * USD)
    to = chain.new_account(0)
    payout_id = "payout:prog:aff-1:2025-01"  # a business id, hashed to bytes32
    chain.tx(chain.relayer, "AffiliatePayout", "pay", payout_id, usdt, to.address, 40 * USD)
    assert chain.view("TestUSDT", "balanceOf", to.address) == 40 * USD
    assert chain.view("AffiliatePayout", "paid", ref_to_bytes32(payout_id)) is True


def test_pay_more_than_the_balance_reverts(chain: Chain):
    usdt, payout = chain.addr("TestUSDT"), chain.addr("AffiliatePayout")
    balance = chain.view("TestUSDT", "balanceOf", payout)
    reason = chain.revert(chain.relayer, "AffiliatePayout", "pay", pid(), usdt, chain.new_account(0).address, balance + 1)
    assert reason == f"InsufficientBalance(account={payout}, balance={balance}, needed={balance + 1})"


def test_pause_stops_payouts_but_not_admin_withdrawal(chain: Chain):
    usdc, to = chain.addr("TestUSDC"), chain.new_account(0)
    chain.tx(chain.deployer, "AffiliatePayout", "pause")
    try:
        assert chain.revert(chain.relayer, "AffiliatePayout", "pay", pid(), usdc, to.address, 1) == "EnforcedPause()"
        assert chain.revert(chain.relayer, "AffiliatePayout", "payBatch", usdc, [(pid(), to.address, 1)]) == "EnforcedPause()"
        receipt = chain.tx(chain.deployer, "AffiliatePayout", "withdraw", usdc, to.address, 3 * USD)
        assert chain.event(receipt, "AffiliatePayout", "Withdrawn") == {"token": usdc, "to": to.address, "amount": 3 * USD}
        assert usdc_balance(chain, to.address) == 3 * USD
    finally:
        chain.tx(chain.deployer, "AffiliatePayout", "unpause")
    assert chain.revert(chain.deployer, "AffiliatePayout", "withdraw", ZERO, to.address, 1) == "ZeroAddress()"
    assert chain.revert(chain.deployer, "AffiliatePayout", "withdraw", usdc, ZERO, 1) == "ZeroAddress()"
    assert chain.revert(chain.deployer, "AffiliatePayout", "withdraw", usdc, to.address, 0) == "ZeroAmount()"


@pytest.mark.parametrize("cap", [7 * USD])
def test_set_cap_enables_and_limits_a_token(chain: Chain, cap: int):
    sge = chain.addr("SGEToken")
    receipt = chain.tx(chain.deployer, "AffiliatePayout", "setCap", sge, cap)
    try:
        assert chain.event(receipt, "AffiliatePayout", "CapUpdated") == {"token": sge, "cap": cap}
        assert chain.view("AffiliatePayout", "capPerTx", sge) == cap
        assert chain.revert(chain.deployer, "AffiliatePayout", "setCap", ZERO, 1) == "ZeroAddress()"
    finally:
        chain.tx(chain.deployer, "AffiliatePayout", "setCap", sge, 0)  # disabled again
