"""SGEClaim (user claims paying USDC/USDT; relayer deliveries by payment id), SGEToken and the test
stablecoins (TestUSDT behaves like mainnet USDT)."""

from __future__ import annotations

import os

from contracts.abi import ref_to_bytes32
from contracts.reads import find_claims
from tests.helpers.chain import Chain, unauthorized

ZERO = "0x0000000000000000000000000000000000000000"
USD = 10**6
SGE = 10**18


def ref() -> str:
    return "0x" + os.urandom(32).hex()


def payer(chain: Chain, token: str, amount: int = 500 * USD):
    wallet = chain.new_account()
    chain.tx(chain.deployer, token, "mint", wallet.address, amount)
    return wallet


def test_claim_paying_usdc(chain: Chain):
    usdc, claim, treasury = chain.addr("TestUSDC"), chain.addr("SGEClaim"), chain.manifest.treasury
    fee, amount = chain.view("SGEClaim", "feeOf", usdc), chain.view("SGEClaim", "claimAmount")
    assert (fee, amount) == (100 * USD, 1000 * SGE)
    wallet = payer(chain, "TestUSDC")
    treasury_before = chain.view("TestUSDC", "balanceOf", treasury)
    inventory_before = chain.view("SGEToken", "balanceOf", claim)
    chain.tx(wallet, "TestUSDC", "approve", claim, fee)
    payment_ref = ref()
    receipt = chain.tx(wallet, "SGEClaim", "claim", usdc, payment_ref)
    assert chain.event(receipt, "SGEClaim", "Claimed") == {
        "wallet": wallet.address,
        "paymentRef": payment_ref,
        "token": usdc,
        "fee": fee,
        "amount": amount,
    }
    assert chain.view("TestUSDC", "balanceOf", treasury) == treasury_before + fee
    assert chain.view("TestUSDC", "balanceOf", wallet.address) == 400 * USD
    assert chain.view("SGEToken", "balanceOf", wallet.address) == amount
    assert chain.view("SGEToken", "balanceOf", claim) == inventory_before - amount
    assert chain.view("SGEClaim", "claimed", wallet.address) is True


def test_claim_with_usdt_from_a_non_zero_allowance(chain: Chain):
    """USDT refuses non-zero → non-zero approvals: the wallet must approve 0 first (the reset path)."""
    usdt, claim = chain.addr("TestUSDT"), chain.addr("SGEClaim")
    fee = chain.view("SGEClaim", "feeOf", usdt)
    wallet = payer(chain, "TestUSDT")
    chain.tx(wallet, "TestUSDT", "approve", claim, 5 * USD)  # a stale, too-small allowance
    assert chain.revert(wallet, "TestUSDT", "approve", claim, fee) == f"AllowanceNotZero(spender={claim}, current={5 * USD})"
    assert chain.revert(wallet, "SGEClaim", "claim", usdt, ref()) == (
        f"InsufficientAllowance(spender={claim}, allowance={5 * USD}, needed={fee})"
    )
    chain.tx(wallet, "TestUSDT", "approve", claim, 0)
    chain.tx(wallet, "TestUSDT", "approve", claim, fee)
    receipt = chain.tx(wallet, "SGEClaim", "claim", usdt, ref())
    event = chain.event(receipt, "SGEClaim", "Claimed")
    assert (event["wallet"], event["token"], event["fee"]) == (wallet.address, usdt, fee)
    assert chain.view("TestUSDT", "balanceOf", wallet.address) == 400 * USD
    assert chain.view("TestUSDT", "allowance", wallet.address, claim) == 0


def test_a_wallet_claims_once(chain: Chain):
    usdc, claim = chain.addr("TestUSDC"), chain.addr("SGEClaim")
    wallet = payer(chain, "TestUSDC")
    chain.tx(wallet, "TestUSDC", "approve", claim, 300 * USD)
    chain.tx(wallet, "SGEClaim", "claim", usdc, ref())
    assert chain.revert(wallet, "SGEClaim", "claim", usdc, ref()) == f"AlreadyClaimed(wallet={wallet.address})"
    # nor can the relayer deliver a second claim to it
    assert chain.revert(chain.relayer, "SGEClaim", "deliverClaim", wallet.address, ref()) == (
        f"AlreadyClaimed(wallet={wallet.address})"
    )


def test_claim_rejects_bad_input(chain: Chain):
    usdc, sge = chain.addr("TestUSDC"), chain.addr("SGEToken")
    wallet = payer(chain, "TestUSDC")
    assert chain.revert(wallet, "SGEClaim", "claim", sge, ref()) == f"TokenNotAccepted(token={sge})"
    assert chain.revert(wallet, "SGEClaim", "claim", usdc, "0x" + "00" * 32) == "ZeroPaymentRef()"
    claim = chain.addr("SGEClaim")
    assert chain.revert(wallet, "SGEClaim", "claim", usdc, ref()) == (
        f"ERC20InsufficientAllowance(spender={claim}, allowance=0, needed={100 * USD})"
    )


def test_relayer_delivers_a_claim_once_per_payment_id(chain: Chain):
    wallet, other = chain.new_account(0), chain.new_account(0)
    payment_id = "coinbase:charge:ABCD1234"  # hashed to bytes32 by the encoder
    receipt = chain.tx(chain.relayer, "SGEClaim", "deliverClaim", wallet.address, payment_id)
    assert chain.event(receipt, "SGEClaim", "Claimed") == {
        "wallet": wallet.address,
        "paymentRef": "0x" + ref_to_bytes32(payment_id).hex(),
        "token": ZERO,
        "fee": 0,
        "amount": 1000 * SGE,
    }
    assert chain.view("SGEToken", "balanceOf", wallet.address) == 1000 * SGE
    assert chain.view("SGEClaim", "paymentUsed", ref_to_bytes32(payment_id)) is True
    assert chain.revert(chain.relayer, "SGEClaim", "deliverClaim", other.address, payment_id) == (
        f"PaymentAlreadyUsed(paymentId=0x{ref_to_bytes32(payment_id).hex()})"
    )
    assert chain.revert(chain.relayer, "SGEClaim", "deliverClaim", ZERO, ref()) == "ZeroAddress()"
    assert chain.revert(chain.relayer, "SGEClaim", "deliverClaim", other.address, "0x" + "00" * 32) == "ZeroPaymentRef()"
    for sender in (other, chain.deployer):
        assert chain.revert(sender, "SGEClaim", "deliverClaim", other.address, ref()) == unauthorized(sender.address, "RELAYER_ROLE")


def test_claim_events_are_found_by_wallet(chain: Chain):
    usdc, claim = chain.addr("TestUSDC"), chain.addr("SGEClaim")
    a, b = payer(chain, "TestUSDC"), chain.new_account(0)
    chain.tx(a, "TestUSDC", "approve", claim, 100 * USD)
    ref_a = ref()
    chain.tx(a, "SGEClaim", "claim", usdc, ref_a)
    chain.tx(chain.relayer, "SGEClaim", "deliverClaim", b.address, ref())
    found = find_claims(chain.w3, claim, a.address, from_block=chain.manifest.deploy_block)
    assert [(e.wallet, e.payment_ref, e.token, e.fee) for e in found] == [(a.address, ref_a, usdc, 100 * USD)]
    assert [e.wallet for e in find_claims(chain.w3, claim, b.address)] == [b.address]


def test_inventory_shortfall_reverts(chain: Chain):
    claim = chain.addr("SGEClaim")
    available = chain.view("SGEToken", "balanceOf", claim)
    chain.tx(chain.deployer, "SGEClaim", "setClaimAmount", available + 1)
    try:
        assert chain.revert(chain.relayer, "SGEClaim", "deliverClaim", chain.new_account(0).address, ref()) == (
            f"InsufficientInventory(available={available}, needed={available + 1})"
        )
    finally:
        chain.tx(chain.deployer, "SGEClaim", "setClaimAmount", 1000 * SGE)


def test_admin_settings_and_their_events(chain: Chain):
    usdc, stranger = chain.addr("TestUSDC"), chain.new_account()
    admin = chain.deployer
    for fn, args in (
        ("setFee", (usdc, 1)),
        ("setClaimAmount", (1,)),
        ("setTreasury", (stranger.address,)),
        ("withdrawInventory", (stranger.address, 1)),
    ):
        assert chain.revert(stranger, "SGEClaim", fn, *args) == unauthorized(stranger.address, "DEFAULT_ADMIN_ROLE")
        assert chain.revert(chain.relayer, "SGEClaim", fn, *args) == unauthorized(chain.relayer.address, "DEFAULT_ADMIN_ROLE")
    assert chain.event(chain.tx(admin, "SGEClaim", "setFee", usdc, 101 * USD), "SGEClaim", "FeeUpdated") == {"token": usdc, "fee": 101 * USD}
    chain.tx(admin, "SGEClaim", "setFee", usdc, 100 * USD)
    assert chain.event(chain.tx(admin, "SGEClaim", "setClaimAmount", 999 * SGE), "SGEClaim", "ClaimAmountUpdated") == {"amount": 999 * SGE}
    chain.tx(admin, "SGEClaim", "setClaimAmount", 1000 * SGE)
    old_treasury = chain.view("SGEClaim", "treasury")
    assert chain.event(chain.tx(admin, "SGEClaim", "setTreasury", stranger.address), "SGEClaim", "TreasuryUpdated") == {"treasury": stranger.address}
    chain.tx(admin, "SGEClaim", "setTreasury", old_treasury)
    assert chain.revert(admin, "SGEClaim", "setFee", ZERO, 1) == "ZeroAddress()"
    assert chain.revert(admin, "SGEClaim", "setClaimAmount", 0) == "ZeroAmount()"
    assert chain.revert(admin, "SGEClaim", "setTreasury", ZERO) == "ZeroAddress()"
    assert chain.revert(admin, "SGEClaim", "withdrawInventory", ZERO, 1) == "ZeroAddress()"
    assert chain.revert(admin, "SGEClaim", "withdrawInventory", stranger.address, 0) == "ZeroAmount()"
    sge, claim = chain.addr("SGEToken"), chain.addr("SGEClaim")
    assert chain.deploy_revert(admin, "SGEClaim", admin.address, ZERO, sge, admin.address, 1) == "ZeroAddress()"
    assert chain.deploy_revert(admin, "SGEClaim", admin.address, admin.address, sge, admin.address, 0) == "ZeroAmount()"
    assert claim


def test_pause_stops_claims_but_not_inventory_withdrawal(chain: Chain):
    usdc, claim = chain.addr("TestUSDC"), chain.addr("SGEClaim")
    wallet = payer(chain, "TestUSDC")
    chain.tx(wallet, "TestUSDC", "approve", claim, 100 * USD)
    assert chain.revert(chain.relayer, "SGEClaim", "pause") == unauthorized(chain.relayer.address, "PAUSER_ROLE")
    chain.tx(chain.deployer, "SGEClaim", "pause")
    try:
        assert chain.revert(wallet, "SGEClaim", "claim", usdc, ref()) == "EnforcedPause()"
        assert chain.revert(chain.relayer, "SGEClaim", "deliverClaim", wallet.address, ref()) == "EnforcedPause()"
        to = chain.new_account(0)
        receipt = chain.tx(chain.deployer, "SGEClaim", "withdrawInventory", to.address, 5 * SGE)
        assert chain.event(receipt, "SGEClaim", "InventoryWithdrawn") == {"to": to.address, "amount": 5 * SGE}
    finally:
        chain.tx(chain.deployer, "SGEClaim", "unpause")
    chain.tx(wallet, "SGEClaim", "claim", usdc, ref())


# --- tokens -----------------------------------------------------------------------------------------


def test_sge_token_has_a_fixed_supply(chain: Chain):
    supply = chain.view("SGEToken", "totalSupply")
    assert supply == 1_000_000_000 * SGE
    assert (chain.view("SGEToken", "decimals"), chain.view("SGEToken", "symbol")) == (18, "SGE")
    assert chain.view("SGEToken", "balanceOf", chain.addr("SGEClaim")) <= 10_000_000 * SGE
    assert "mint" not in {e.get("name") for e in __import__("contracts").load_artifact("SGEToken").abi}
    assert chain.deploy_revert(chain.deployer, "SGEToken", ZERO, 1) == "ZeroAddress()"
    assert chain.deploy_revert(chain.deployer, "SGEToken", chain.deployer.address, 0) == "ZeroSupply()"


def test_test_usdc_is_a_six_decimal_minter_only_token(chain: Chain):
    stranger = chain.new_account()
    assert chain.view("TestUSDC", "decimals") == 6
    assert chain.revert(stranger, "TestUSDC", "mint", stranger.address, 1) == unauthorized(stranger.address, "MINTER_ROLE")
    assert chain.deploy_revert(chain.deployer, "TestUSDC", ZERO) == "ZeroAddress()"


def test_test_usdt_behaves_like_mainnet_usdt(chain: Chain):
    from contracts.abi import encode_call

    usdt = chain.addr("TestUSDT")
    holder, spender, to = payer(chain, "TestUSDT", 50 * USD), chain.new_account(), chain.new_account(0)
    assert chain.view("TestUSDT", "decimals") == 6
    # transfer / approve / transferFrom return no data at all (not even `true`)
    for data in (
        encode_call("TestUSDT", "transfer", to.address, 1),
        encode_call("TestUSDT", "approve", spender.address, 1),
    ):
        assert bytes(chain.w3.eth.call({"from": holder.address, "to": usdt, "data": data})) == b""
    chain.tx(holder, "TestUSDT", "approve", spender.address, 10 * USD)
    assert chain.revert(holder, "TestUSDT", "approve", spender.address, 20 * USD) == (
        f"AllowanceNotZero(spender={spender.address}, current={10 * USD})"
    )
    receipt = chain.tx(spender, "TestUSDT", "transferFrom", holder.address, to.address, 4 * USD)
    assert chain.event(receipt, "TestUSDT", "Transfer") == {"from": holder.address, "to": to.address, "value": 4 * USD}
    assert chain.view("TestUSDT", "allowance", holder.address, spender.address) == 6 * USD
    assert chain.revert(spender, "TestUSDT", "transferFrom", holder.address, to.address, 7 * USD) == (
        f"InsufficientAllowance(spender={spender.address}, allowance={6 * USD}, needed={7 * USD})"
    )
    assert chain.revert(holder, "TestUSDT", "transfer", to.address, 51 * USD) == (
        f"InsufficientBalance(account={holder.address}, balance={46 * USD}, needed={51 * USD})"
    )
    assert chain.revert(holder, "TestUSDT", "transfer", ZERO, 1) == "ZeroAddress()"
    assert chain.revert(holder, "TestUSDT", "approve", ZERO, 1) == "ZeroAddress()"
    assert chain.revert(spender, "TestUSDT", "mint", spender.address, 1) == unauthorized(spender.address, "MINTER_ROLE")
    assert chain.revert(chain.deployer, "TestUSDT", "mint", ZERO, 1) == "ZeroAddress()"
    assert chain.deploy_revert(chain.deployer, "TestUSDT", ZERO) == "ZeroAddress()"
