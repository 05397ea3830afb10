"""SGEClaim (per-program claims: users pay USDC/USDT, the relayer delivers by payment id), SGEToken
and the test stablecoins (TestUSDT behaves like mainnet USDT)."""

from __future__ import annotations

import os

import pytest

from contracts.abi import is_temporary_revert, program_id, ref_to_bytes32
from contracts.deploy import DeployError, sync_program
from contracts.reads import claim_ref_of, find_claim, find_claims, find_claims_by_ref
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
    program = chain.program()
    fee = chain.view("SGEClaim", "feeOf", program, usdc)
    assert fee == 100 * USD and chain.view("SGEClaim", "programs", program) == [1000 * SGE, True]
    wallet = payer(chain, "TestUSDC")
    treasury_before = chain.view("TestUSDC", "balanceOf", treasury)
    inventory_before = chain.view("SGEToken", "balanceOf", claim)
    chain.tx(wallet, "TestUSDC", "approve", claim, fee)
    payment_ref = ref()
    receipt = chain.tx(wallet, "SGEClaim", "claim", program, usdc, payment_ref)
    assert chain.event(receipt, "SGEClaim", "Claimed") == {
        "wallet": wallet.address,
        "programId": program,
        "paymentRef": payment_ref,
        "token": usdc,
        "fee": fee,
        "amount": 1000 * SGE,
    }
    assert chain.view("TestUSDC", "balanceOf", treasury) == treasury_before + fee
    assert chain.view("TestUSDC", "balanceOf", wallet.address) == 400 * USD
    assert chain.view("SGEToken", "balanceOf", wallet.address) == 1000 * SGE
    assert chain.view("SGEToken", "balanceOf", claim) == inventory_before - 1000 * SGE
    assert chain.view("SGEClaim", "claimRefOf", program, wallet.address) == payment_ref
    assert chain.view("SGEClaim", "claimed", program, wallet.address) is True
    # the user's ref is not a delivery payment id: nobody can burn one by front-running a delivery
    assert chain.view("SGEClaim", "paymentUsed", payment_ref) is False


def test_claim_with_usdt_from_a_non_zero_allowance(chain: Chain):
    """USDT refuses non-zero → non-zero approvals: the wallet must approve 0 first (the reset path)."""
    usdt, claim = chain.addr("TestUSDT"), chain.addr("SGEClaim")
    program = chain.program()
    fee = chain.view("SGEClaim", "feeOf", program, usdt)
    wallet = payer(chain, "TestUSDT")
    chain.tx(wallet, "TestUSDT", "approve", claim, 5 * USD)  # a stale, too-small allowance
    assert (
        chain.revert(wallet, "TestUSDT", "approve", claim, fee)
        == f"AllowanceNotZero(spender={claim}, current={5 * USD})"
    )
    assert chain.revert(wallet, "SGEClaim", "claim", program, usdt, ref()) == (
        f"InsufficientAllowance(spender={claim}, allowance={5 * USD}, needed={fee})"
    )
    chain.tx(wallet, "TestUSDT", "approve", claim, 0)
    chain.tx(wallet, "TestUSDT", "approve", claim, fee)
    receipt = chain.tx(wallet, "SGEClaim", "claim", program, usdt, ref())
    event = chain.event(receipt, "SGEClaim", "Claimed")
    assert (event["wallet"], event["programId"], event["token"], event["fee"]) == (wallet.address, program, usdt, fee)
    assert chain.view("TestUSDT", "balanceOf", wallet.address) == 400 * USD
    assert chain.view("TestUSDT", "allowance", wallet.address, claim) == 0


def test_a_wallet_claims_once_per_program(chain: Chain):
    usdc, claim = chain.addr("TestUSDC"), chain.addr("SGEClaim")
    first, second = chain.program(), chain.program()
    wallet = payer(chain, "TestUSDC")
    chain.tx(wallet, "TestUSDC", "approve", claim, 300 * USD)
    ref_first, ref_second = ref(), ref()
    chain.tx(wallet, "SGEClaim", "claim", first, usdc, ref_first)
    # the same wallet claims again in another program ...
    chain.tx(wallet, "SGEClaim", "claim", second, usdc, ref_second)
    assert chain.view("SGEToken", "balanceOf", wallet.address) == 2000 * SGE
    assert chain.view("SGEClaim", "claimRefOf", first, wallet.address) == ref_first
    assert chain.view("SGEClaim", "claimRefOf", second, wallet.address) == ref_second
    # ... but never twice in the same one, neither by itself nor by a relayer delivery
    assert chain.revert(wallet, "SGEClaim", "claim", first, usdc, ref()) == (
        f"AlreadyClaimed(programId={first}, wallet={wallet.address}, paymentRef={ref_first})"
    )
    assert chain.revert(chain.relayer, "SGEClaim", "deliverClaim", second, wallet.address, ref()) == (
        f"AlreadyClaimed(programId={second}, wallet={wallet.address}, paymentRef={ref_second})"
    )
    # a delivered claim blocks an on-chain claim in that program too
    other = payer(chain, "TestUSDC")
    delivery = ref()
    chain.tx(chain.relayer, "SGEClaim", "deliverClaim", first, other.address, delivery)
    chain.tx(other, "TestUSDC", "approve", claim, 100 * USD)
    assert chain.revert(other, "SGEClaim", "claim", first, usdc, ref()) == (
        f"AlreadyClaimed(programId={first}, wallet={other.address}, paymentRef={delivery})"
    )


def test_fee_and_claim_amount_are_per_program(chain: Chain):
    usdc, usdt, claim = chain.addr("TestUSDC"), chain.addr("TestUSDT"), chain.addr("SGEClaim")
    cheap = chain.program(amount=10 * SGE, fee=5 * USD)
    dear = chain.program(amount=2000 * SGE, fee=250 * USD)
    chain.tx(chain.deployer, "SGEClaim", "setProgramFee", dear, usdt, 0)  # dear accepts USDC only
    assert chain.view("SGEClaim", "feeOf", cheap, usdc) == 5 * USD
    assert chain.view("SGEClaim", "feeOf", dear, usdc) == 250 * USD
    wallet = payer(chain, "TestUSDC")
    treasury = chain.manifest.treasury
    before = chain.view("TestUSDC", "balanceOf", treasury)
    chain.tx(wallet, "TestUSDC", "approve", claim, 255 * USD)
    cheap_event = chain.event(chain.tx(wallet, "SGEClaim", "claim", cheap, usdc, ref()), "SGEClaim", "Claimed")
    dear_event = chain.event(chain.tx(wallet, "SGEClaim", "claim", dear, usdc, ref()), "SGEClaim", "Claimed")
    assert (cheap_event["fee"], cheap_event["amount"]) == (5 * USD, 10 * SGE)
    assert (dear_event["fee"], dear_event["amount"]) == (250 * USD, 2000 * SGE)
    assert chain.view("TestUSDC", "balanceOf", treasury) == before + 255 * USD
    assert chain.view("SGEToken", "balanceOf", wallet.address) == 2010 * SGE
    usdt_payer = payer(chain, "TestUSDT")
    assert (
        chain.revert(usdt_payer, "SGEClaim", "claim", dear, usdt, ref())
        == f"TokenNotAccepted(programId={dear}, token={usdt})"
    )
    # a delivery pays out the program's own amount
    delivered = chain.event(
        chain.tx(chain.relayer, "SGEClaim", "deliverClaim", cheap, usdt_payer.address, ref()), "SGEClaim", "Claimed"
    )
    assert delivered["amount"] == 10 * SGE


def test_claim_rejects_bad_input(chain: Chain):
    usdc, sge = chain.addr("TestUSDC"), chain.addr("SGEToken")
    program = chain.program()
    wallet = payer(chain, "TestUSDC")
    assert (
        chain.revert(wallet, "SGEClaim", "claim", program, sge, ref())
        == f"TokenNotAccepted(programId={program}, token={sge})"
    )
    assert chain.revert(wallet, "SGEClaim", "claim", program, usdc, "0x" + "00" * 32) == "ZeroPaymentRef()"
    unknown = "0x" + program_id("no-such-program").hex()
    assert chain.revert(wallet, "SGEClaim", "claim", unknown, usdc, ref()) == f"ProgramNotActive(programId={unknown})"
    claim = chain.addr("SGEClaim")
    assert chain.revert(wallet, "SGEClaim", "claim", program, usdc, ref()) == (
        f"ERC20InsufficientAllowance(spender={claim}, allowance=0, needed={100 * USD})"
    )


def test_an_inactive_program_takes_no_claims(chain: Chain):
    usdc, claim = chain.addr("TestUSDC"), chain.addr("SGEClaim")
    slug = f"closing-{os.urandom(4).hex()}"
    program = chain.program(slug)
    wallet = payer(chain, "TestUSDC")
    chain.tx(wallet, "TestUSDC", "approve", claim, 100 * USD)
    chain.program(slug, active=False)
    assert chain.view("SGEClaim", "programs", program) == [1000 * SGE, False]
    assert chain.revert(wallet, "SGEClaim", "claim", program, usdc, ref()) == f"ProgramNotActive(programId={program})"
    assert chain.revert(chain.relayer, "SGEClaim", "deliverClaim", program, wallet.address, ref()) == (
        f"ProgramNotActive(programId={program})"
    )
    chain.program(slug)  # reopened
    chain.tx(wallet, "SGEClaim", "claim", program, usdc, ref())


def test_relayer_delivers_a_claim_once_per_payment_id(chain: Chain):
    wallet, other = chain.new_account(0), chain.new_account(0)
    program, elsewhere = chain.program(), chain.program()
    payment_id = "coinbase:charge:ABCD1234"  # hashed to bytes32 by the encoder
    payment_hex = "0x" + ref_to_bytes32(payment_id).hex()
    receipt = chain.tx(chain.relayer, "SGEClaim", "deliverClaim", program, wallet.address, payment_id)
    assert chain.event(receipt, "SGEClaim", "Claimed") == {
        "wallet": wallet.address,
        "programId": program,
        "paymentRef": payment_hex,
        "token": ZERO,
        "fee": 0,
        "amount": 1000 * SGE,
    }
    assert chain.view("SGEToken", "balanceOf", wallet.address) == 1000 * SGE
    assert chain.view("SGEClaim", "paymentUsed", ref_to_bytes32(payment_id)) is True
    assert chain.view("SGEClaim", "claimRefOf", program, wallet.address) == payment_hex
    # a payment id delivers once, whatever the wallet or the program
    for prog, who in ((program, other.address), (elsewhere, other.address), (elsewhere, wallet.address)):
        assert chain.revert(chain.relayer, "SGEClaim", "deliverClaim", prog, who, payment_id) == (
            f"PaymentAlreadyUsed(paymentId={payment_hex})"
        )
    assert chain.revert(chain.relayer, "SGEClaim", "deliverClaim", program, ZERO, ref()) == "ZeroAddress()"
    assert (
        chain.revert(chain.relayer, "SGEClaim", "deliverClaim", program, other.address, "0x" + "00" * 32)
        == "ZeroPaymentRef()"
    )


def test_delivery_is_relayer_only(chain: Chain):
    other, stranger = chain.new_account(0), chain.new_account()
    program = chain.program()
    for sender in (stranger, chain.deployer):
        assert chain.revert(sender, "SGEClaim", "deliverClaim", program, other.address, ref()) == unauthorized(
            sender.address, "RELAYER_ROLE"
        )


def test_claims_are_found_by_program_wallet_and_ref(chain: Chain):
    usdc, claim = chain.addr("TestUSDC"), chain.addr("SGEClaim")
    program, other_program = chain.program(), chain.program()
    a, b = payer(chain, "TestUSDC"), chain.new_account(0)
    chain.tx(a, "TestUSDC", "approve", claim, 200 * USD)
    ref_a, ref_a2, ref_b = ref(), ref(), ref()
    chain.tx(a, "SGEClaim", "claim", program, usdc, ref_a)
    chain.tx(a, "SGEClaim", "claim", other_program, usdc, ref_a2)
    chain.tx(chain.relayer, "SGEClaim", "deliverClaim", program, b.address, ref_b)
    start = chain.manifest.deploy_block
    found = find_claims(chain.w3, claim, a.address, from_block=start)
    assert [(e.program_id, e.payment_ref) for e in found] == [(program, ref_a), (other_program, ref_a2)]
    assert [e.payment_ref for e in find_claims(chain.w3, claim, a.address, program_id=program, from_block=start)] == [
        ref_a
    ]
    assert [e.wallet for e in find_claims(chain.w3, claim, program_id=program, from_block=start)] == [
        a.address,
        b.address,
    ]
    # by (program, wallet): one view call, then the exact log
    one = find_claim(chain.w3, claim, bytes.fromhex(program[2:]), a.address, from_block=start)
    assert one is not None and (one.wallet, one.payment_ref, one.token, one.fee) == (a.address, ref_a, usdc, 100 * USD)
    assert claim_ref_of(chain.w3, claim, bytes.fromhex(program[2:]), b.address) == ref_b
    assert claim_ref_of(chain.w3, claim, bytes.fromhex(other_program[2:]), b.address) is None
    assert find_claim(chain.w3, claim, bytes.fromhex(other_program[2:]), b.address) is None
    # by reference
    (by_ref,) = find_claims_by_ref(chain.w3, claim, ref_b, from_block=start)
    assert (by_ref.wallet, by_ref.program_id, by_ref.token) == (b.address, program, ZERO)


def test_inventory_shortfall_is_the_last_check(chain: Chain):
    """InsufficientInventory is temporary (a top-up cures it), so it is only reported when nothing
    permanent stands in the way."""
    claim = chain.addr("SGEClaim")
    available = chain.view("SGEToken", "balanceOf", claim)
    program = chain.program(amount=available + 1)
    wallet = chain.new_account(0)
    reason = chain.revert(chain.relayer, "SGEClaim", "deliverClaim", program, wallet.address, ref())
    assert reason == f"InsufficientInventory(available={available}, needed={available + 1})"
    assert is_temporary_revert(reason)
    used = ref()
    chain.tx(chain.relayer, "SGEClaim", "deliverClaim", chain.program(), wallet.address, used)
    assert chain.revert(chain.relayer, "SGEClaim", "deliverClaim", program, chain.new_account(0).address, used) == (
        f"PaymentAlreadyUsed(paymentId={used})"
    )
    assert not is_temporary_revert(f"PaymentAlreadyUsed(paymentId={used})")


def test_admin_settings_and_their_events(chain: Chain):
    usdc, stranger = chain.addr("TestUSDC"), chain.new_account()
    admin = chain.deployer
    program = "0x" + program_id(f"admin-{os.urandom(4).hex()}").hex()
    for fn, args in (
        ("setProgram", (program, 1, True)),
        ("setProgramFee", (program, usdc, 1)),
        ("setTreasury", (stranger.address,)),
        ("withdrawInventory", (stranger.address, 1)),
    ):
        assert chain.revert(stranger, "SGEClaim", fn, *args) == unauthorized(stranger.address, "DEFAULT_ADMIN_ROLE")
        assert chain.revert(chain.relayer, "SGEClaim", fn, *args) == unauthorized(
            chain.relayer.address, "DEFAULT_ADMIN_ROLE"
        )
    assert chain.event(
        chain.tx(admin, "SGEClaim", "setProgram", program, 999 * SGE, True), "SGEClaim", "ProgramUpdated"
    ) == {
        "programId": program,
        "claimAmount": 999 * SGE,
        "active": True,
    }
    assert chain.event(
        chain.tx(admin, "SGEClaim", "setProgramFee", program, usdc, 101 * USD), "SGEClaim", "ProgramFeeUpdated"
    ) == {
        "programId": program,
        "token": usdc,
        "fee": 101 * USD,
    }
    old_treasury = chain.view("SGEClaim", "treasury")
    assert chain.event(chain.tx(admin, "SGEClaim", "setTreasury", stranger.address), "SGEClaim", "TreasuryUpdated") == {
        "treasury": stranger.address
    }
    chain.tx(admin, "SGEClaim", "setTreasury", old_treasury)
    assert chain.revert(admin, "SGEClaim", "setProgram", "0x" + "00" * 32, 1, True) == "ZeroProgramId()"
    assert chain.revert(admin, "SGEClaim", "setProgram", program, 0, True) == "ZeroAmount()"
    chain.tx(admin, "SGEClaim", "setProgram", program, 0, False)  # closing a program needs no amount
    assert chain.revert(admin, "SGEClaim", "setProgramFee", "0x" + "00" * 32, usdc, 1) == "ZeroProgramId()"
    assert chain.revert(admin, "SGEClaim", "setProgramFee", program, ZERO, 1) == "ZeroAddress()"
    assert chain.revert(admin, "SGEClaim", "setTreasury", ZERO) == "ZeroAddress()"
    assert chain.revert(admin, "SGEClaim", "withdrawInventory", ZERO, 1) == "ZeroAddress()"
    assert chain.revert(admin, "SGEClaim", "withdrawInventory", stranger.address, 0) == "ZeroAmount()"
    sge = chain.addr("SGEToken")
    assert chain.deploy_revert(admin, "SGEClaim", admin.address, ZERO, sge, admin.address) == "ZeroAddress()"
    assert chain.deploy_revert(admin, "SGEClaim", admin.address, admin.address, sge, ZERO) == "ZeroAddress()"


def test_sync_program_sends_only_what_differs(chain: Chain):
    slug = f"sync-{os.urandom(4).hex()}"
    pid = program_id(slug)
    first = sync_program(chain.w3, chain.deployer, chain.manifest, slug, 500 * SGE, 50 * USD)
    assert len(first) == 3  # setProgram + a fee per stablecoin (USDC, USDT)
    assert sync_program(chain.w3, chain.deployer, chain.manifest, slug, 500 * SGE, 50 * USD) == {}
    changed = sync_program(chain.w3, chain.deployer, chain.manifest, slug, 500 * SGE, 60 * USD)
    assert sorted(changed) == [f"program {slug}: fee {60 * USD} USDC", f"program {slug}: fee {60 * USD} USDT"]
    assert chain.view("SGEClaim", "feeOf", pid, chain.addr("TestUSDT")) == 60 * USD
    with pytest.raises(DeployError, match="AccessControlUnauthorizedAccount"):
        sync_program(chain.w3, chain.new_account(), chain.manifest, slug, 1, 1)


def test_pause_stops_claims_but_not_inventory_withdrawal(chain: Chain):
    usdc, claim = chain.addr("TestUSDC"), chain.addr("SGEClaim")
    program = chain.program()
    wallet = payer(chain, "TestUSDC")
    chain.tx(wallet, "TestUSDC", "approve", claim, 100 * USD)
    assert chain.revert(chain.relayer, "SGEClaim", "pause") == unauthorized(chain.relayer.address, "PAUSER_ROLE")
    chain.tx(chain.deployer, "SGEClaim", "pause")
    try:
        assert chain.revert(wallet, "SGEClaim", "claim", program, usdc, ref()) == "EnforcedPause()"
        reason = chain.revert(chain.relayer, "SGEClaim", "deliverClaim", program, wallet.address, ref())
        assert reason == "EnforcedPause()" and is_temporary_revert(reason)
        to = chain.new_account(0)
        receipt = chain.tx(chain.deployer, "SGEClaim", "withdrawInventory", to.address, 5 * SGE)
        assert chain.event(receipt, "SGEClaim", "InventoryWithdrawn") == {"to": to.address, "amount": 5 * SGE}
    finally:
        chain.tx(chain.deployer, "SGEClaim", "unpause")
    chain.tx(wallet, "SGEClaim", "claim", program, usdc, ref())


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
    assert chain.revert(stranger, "TestUSDC", "mint", stranger.address, 1) == unauthorized(
        stranger.address, "MINTER_ROLE"
    )
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
