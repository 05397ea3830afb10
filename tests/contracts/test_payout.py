"""AffiliatePayout: money leaves only in batches enough distinct approvers signed (EIP-712), each line
proven against the signed Merkle root, each payout id paid once, forever; caps, pause, roles."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from contracts import payouts
from contracts.abi import program_id
from contracts.payouts import BatchPlan, PayoutBatch, PayoutLine, plan_batch, sign_batch
from tests.helpers.chain import Chain, role, unauthorized

ZERO = "0x0000000000000000000000000000000000000000"
USD = 10**6
PROGRAM = program_id("payout-tests")


@pytest.fixture(scope="module")
def approvers(chain: Chain) -> list[LocalAccount]:
    """Three approvers, in ascending address order (the order approveBatch wants)."""
    accounts = sorted((chain.new_account(0) for _ in range(3)), key=lambda a: int(a.address, 16))
    for account in accounts:
        chain.tx(chain.deployer, "AffiliatePayout", "setApprover", account.address, True)
    return accounts


def rid() -> str:
    return "0x" + os.urandom(32).hex()


def now(chain: Chain) -> int:
    return chain.w3.eth.get_block("latest")["timestamp"]


def lines_to(chain: Chain, *amounts: int) -> list[PayoutLine]:
    return [PayoutLine.of(rid(), chain.new_account(0).address, amount) for amount in amounts]


def plan(chain: Chain, lines: list[PayoutLine], *, token: str | None = None, deadline: int | None = None) -> BatchPlan:
    return plan_batch(
        rid(),
        PROGRAM,
        token or chain.addr("TestUSDC"),
        lines,
        deadline=deadline if deadline is not None else now(chain) + 3600,
    )


def sign(chain: Chain, batch: PayoutBatch, *signers: LocalAccount) -> list[bytes]:
    """Signatures in the order given (callers sort, or deliberately don't)."""
    return [
        sign_batch(s.key, batch, chain_id=chain.anvil.chain_id, contract=chain.addr("AffiliatePayout")) for s in signers
    ]


def approve(chain: Chain, batch: PayoutBatch, signatures: list[bytes]):
    return chain.tx(chain.relayer, "AffiliatePayout", "approveBatch", batch.as_abi(), signatures)


def approve_reason(
    chain: Chain, batch: PayoutBatch, signatures: list[bytes], sender: LocalAccount | None = None
) -> str:
    return chain.revert(sender or chain.relayer, "AffiliatePayout", "approveBatch", batch.as_abi(), signatures)


def pay_args(p: BatchPlan, lines: list[PayoutLine] | None = None, proofs: list[list[bytes]] | None = None) -> tuple:
    chosen = list(p.lines) if lines is None else lines
    return (
        p.batch.batch_id,
        [line.as_abi() for line in chosen],
        proofs if proofs is not None else [p.proof(line) for line in chosen],
    )


def usdc_balance(chain: Chain, who: str) -> int:
    return chain.view("TestUSDC", "balanceOf", who)


# --- the happy path ----------------------------------------------------------------------------------


def test_two_approvals_release_a_batch_line_by_line(chain: Chain, approvers):
    a, b, _ = approvers
    usdc, contract = chain.addr("TestUSDC"), chain.addr("AffiliatePayout")
    p = plan(chain, lines_to(chain, 10 * USD, 15 * USD, 20 * USD, 1, 2 * USD, 3 * USD, 4 * USD))
    sigs = sign(chain, p.batch, a, b)
    receipt = approve(chain, p.batch, sigs)
    assert chain.event(receipt, "AffiliatePayout", "BatchApproved") == {
        "batchId": "0x" + p.batch.batch_id.hex(),
        "program": "0x" + PROGRAM.hex(),
        "token": usdc,
        "linesRoot": "0x" + p.batch.lines_root.hex(),
        "lineCount": 7,
        "total": p.batch.total,
        "approvers": [a.address, b.address],
    }
    pool = usdc_balance(chain, contract)
    first, rest = list(p.lines[:2]), list(p.lines[2:])
    receipt = chain.tx(chain.relayer, "AffiliatePayout", "payLines", *pay_args(p, first))
    paid = [e.args for e in chain.events(receipt) if e.event == "PayoutPaid"]
    assert paid == [
        {
            "batchId": "0x" + p.batch.batch_id.hex(),
            "payoutId": "0x" + line.payout_id.hex(),
            "to": line.to,
            "token": usdc,
            "amount": line.amount,
        }
        for line in first
    ]
    chain.tx(chain.relayer, "AffiliatePayout", "payLines", *pay_args(p, rest))
    for line in p.lines:
        assert usdc_balance(chain, line.to) == line.amount
        assert chain.view("AffiliatePayout", "paid", line.payout_id) is True
    assert usdc_balance(chain, contract) == pool - p.batch.total
    batch = chain.view("AffiliatePayout", "batches", p.batch.batch_id)
    assert batch == [
        "0x" + PROGRAM.hex(),
        "0x" + p.batch.lines_root.hex(),
        usdc,
        False,
        7,
        p.batch.total,
        7,
        p.batch.total,
    ]


def test_calldata_helpers_and_a_one_line_batch(chain: Chain, approvers):
    """payouts.approve_batch / pay_lines build the same calls; a one-line tree has an empty proof."""
    a, b, c = approvers
    p = plan(chain, lines_to(chain, 5 * USD))
    assert p.proof(p.lines[0]) == [] and p.batch.lines_root == p.lines[0].leaf
    contract = chain.addr("AffiliatePayout")
    sigs = payouts.ordered_signatures(
        p.batch, sign(chain, p.batch, c, a, b), chain_id=chain.anvil.chain_id, contract=contract
    )
    assert len(sigs) == 3
    assert chain.send_raw(chain.relayer, contract, payouts.approve_batch(p.batch, sigs))["status"] == 1
    assert chain.send_raw(chain.relayer, contract, payouts.pay_lines(p))["status"] == 1
    assert usdc_balance(chain, p.lines[0].to) == 5 * USD


def test_a_usdt_like_token_is_paid_with_safe_transfers(chain: Chain, approvers):
    """TestUSDT's transfer returns nothing: a plain IERC20.transfer call would revert; SafeERC20 works."""
    a, b, _ = approvers
    usdt = chain.addr("TestUSDT")
    chain.tx(chain.deployer, "TestUSDT", "mint", chain.addr("AffiliatePayout"), 100 * USD)
    line = PayoutLine.of("payout:prog:aff-1:2025-01", chain.new_account(0).address, 40 * USD)  # a business id, hashed
    p = plan(chain, [line], token=usdt)
    approve(chain, p.batch, sign(chain, p.batch, a, b))
    chain.tx(chain.relayer, "AffiliatePayout", "payLines", *pay_args(p))
    assert chain.view("TestUSDT", "balanceOf", line.to) == 40 * USD


# --- approvals ---------------------------------------------------------------------------------------


def test_one_signature_is_not_enough(chain: Chain, approvers):
    p = plan(chain, lines_to(chain, 1 * USD))
    assert (
        approve_reason(chain, p.batch, sign(chain, p.batch, approvers[0])) == "NotEnoughApprovals(given=1, required=2)"
    )
    assert approve_reason(chain, p.batch, []) == "NotEnoughApprovals(given=0, required=2)"


def test_a_non_approver_signature_is_refused(chain: Chain, approvers):
    a = approvers[0]
    stranger = chain.new_account(0)
    p = plan(chain, lines_to(chain, 1 * USD))
    sigs = sign(chain, p.batch, *sorted([a, stranger], key=lambda x: int(x.address, 16)))
    assert approve_reason(chain, p.batch, sigs) == f"NotApprover(signer={stranger.address})"
    # nor does the relayer's own signature count, and it can never be made an approver
    relayer_sigs = sign(chain, p.batch, *sorted([a, chain.relayer], key=lambda x: int(x.address, 16)))
    assert approve_reason(chain, p.batch, relayer_sigs) == f"NotApprover(signer={chain.relayer.address})"
    assert chain.revert(chain.deployer, "AffiliatePayout", "setApprover", chain.relayer.address, True) == (
        f"PayerCannotApprove(account={chain.relayer.address})"
    )
    assert chain.revert(chain.deployer, "AffiliatePayout", "grantRole", role("PAYER_ROLE"), a.address) == (
        f"PayerCannotApprove(account={a.address})"
    )


def test_signatures_over_other_lines_are_refused(chain: Chain, approvers):
    a, b, _ = approvers
    contract = chain.addr("AffiliatePayout")
    signed = plan(chain, lines_to(chain, 10 * USD, 20 * USD))
    sigs = sign(chain, signed.batch, a, b)
    # the relayer swaps in other lines (another root) under the same batch id, total and count
    other = plan(chain, lines_to(chain, 10 * USD, 20 * USD))
    forged = replace(signed.batch, lines_root=other.batch.lines_root)
    recovered = payouts.recover_approver(forged, sigs[0], chain_id=chain.anvil.chain_id, contract=contract)
    assert recovered != a.address
    assert approve_reason(chain, forged, sigs) == f"NotApprover(signer={recovered})"
    # any other field changed (total, token, deadline) breaks the signatures just the same
    for change in (
        {"total": signed.batch.total + 1},
        {"token": chain.addr("TestUSDT")},
        {"deadline": signed.batch.deadline + 1},
    ):
        assert approve_reason(chain, replace(signed.batch, **change), sigs).startswith("NotApprover(")
    # a signature for another chain or another contract is refused too
    elsewhere = sign_batch(a.key, signed.batch, chain_id=1, contract=contract)
    assert approve_reason(chain, signed.batch, [elsewhere, sigs[1]]).startswith("NotApprover(")


def test_the_same_approver_counts_once(chain: Chain, approvers):
    a, b, _ = approvers
    p = plan(chain, lines_to(chain, 1 * USD))
    [sig_a] = sign(chain, p.batch, a)
    assert approve_reason(chain, p.batch, [sig_a, sig_a]) == f"SignersNotAscending(signer={a.address})"
    # out of order is refused as well: strictly ascending is what makes the signers distinct
    assert approve_reason(chain, p.batch, sign(chain, p.batch, b, a)) == f"SignersNotAscending(signer={a.address})"
    with pytest.raises(payouts.PayoutError, match="signed twice"):
        payouts.ordered_signatures(
            p.batch, [sig_a, sig_a], chain_id=chain.anvil.chain_id, contract=chain.addr("AffiliatePayout")
        )


def test_malleable_and_malformed_signatures_are_refused(chain: Chain, approvers):
    a, b, _ = approvers
    p = plan(chain, lines_to(chain, 1 * USD))
    sig_a, sig_b = sign(chain, p.batch, a, b)
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    r, s, v = sig_a[:32], int.from_bytes(sig_a[32:64], "big"), sig_a[64]
    high_s = (n - s).to_bytes(32, "big")
    flipped = r + high_s + bytes([55 - v])  # the same signer's other (malleable) signature
    assert approve_reason(chain, p.batch, [flipped, sig_b]) == f"ECDSAInvalidSignatureS(s=0x{high_s.hex()})"
    assert approve_reason(chain, p.batch, [sig_a[:64], sig_b]) == "ECDSAInvalidSignatureLength(length=64)"


def test_an_expired_batch_cannot_be_approved(chain: Chain, approvers):
    a, b, _ = approvers
    deadline = now(chain) - 1
    p = plan(chain, lines_to(chain, 1 * USD), deadline=deadline)
    assert approve_reason(chain, p.batch, sign(chain, p.batch, a, b)) == (
        f"BatchExpired(batchId=0x{p.batch.batch_id.hex()}, deadline={deadline})"
    )


def test_a_batch_is_approved_once(chain: Chain, approvers):
    a, b, c = approvers
    p = plan(chain, lines_to(chain, 1 * USD))
    approve(chain, p.batch, sign(chain, p.batch, a, b))
    assert (
        approve_reason(chain, p.batch, sign(chain, p.batch, a, c))
        == f"BatchAlreadyApproved(batchId=0x{p.batch.batch_id.hex()})"
    )


def test_high_value_batches_need_three_approvals(chain: Chain, approvers):
    a, b, c = approvers
    threshold = chain.view("AffiliatePayout", "highValueTotal")
    assert threshold == 10_000 * USD
    assert chain.view("AffiliatePayout", "requiredApprovals", threshold - 1) == 2
    assert chain.view("AffiliatePayout", "requiredApprovals", threshold) == 3
    below = plan(chain, lines_to(chain, threshold - 1))
    approve(chain, below.batch, sign(chain, below.batch, a, b))
    chain.tx(chain.relayer, "AffiliatePayout", "payLines", *pay_args(below))
    assert usdc_balance(chain, below.lines[0].to) == threshold - 1
    at = plan(chain, lines_to(chain, threshold // 2, threshold // 2))
    assert approve_reason(chain, at.batch, sign(chain, at.batch, a, b)) == "NotEnoughApprovals(given=2, required=3)"
    assert approve_reason(chain, at.batch, sign(chain, at.batch, b, c)) == "NotEnoughApprovals(given=2, required=3)"
    approve(chain, at.batch, sign(chain, at.batch, a, b, c))
    chain.tx(chain.relayer, "AffiliatePayout", "payLines", *pay_args(at))


def test_eip712_digest_matches_the_contract(chain: Chain):
    contract, chain_id = chain.addr("AffiliatePayout"), chain.anvil.chain_id
    p = plan(chain, lines_to(chain, 1, 2, 3))
    digest = payouts.batch_digest(p.batch, chain_id=chain_id, contract=contract)
    assert chain.view("AffiliatePayout", "hashBatch", p.batch.as_abi()) == "0x" + digest.hex()
    signable = encode_typed_data(full_message=payouts.typed_data(p.batch, chain_id=chain_id, contract=contract))
    assert keccak(b"\x19" + signable.version + signable.header + signable.body) == digest
    assert (
        chain.view("AffiliatePayout", "DOMAIN_SEPARATOR")
        == "0x" + payouts.domain_separator(chain_id=chain_id, contract=contract).hex()
    )
    assert chain.view("AffiliatePayout", "PAYOUT_BATCH_TYPEHASH") == "0x" + payouts.BATCH_TYPEHASH.hex()
    fields, name, version, domain_chain, verifying, _salt, _ext = chain.view("AffiliatePayout", "eip712Domain")
    assert (fields, name, version, domain_chain, verifying) == ("0x0f", "SGE AffiliatePayout", "1", chain_id, contract)


# --- paying lines ------------------------------------------------------------------------------------


def test_unapproved_batches_pay_nothing(chain: Chain):
    p = plan(chain, lines_to(chain, 1 * USD))
    assert chain.revert(chain.relayer, "AffiliatePayout", "payLines", *pay_args(p)) == (
        f"BatchNotApproved(batchId=0x{p.batch.batch_id.hex()})"
    )


def test_a_line_with_a_bad_proof_reverts_the_call(chain: Chain, approvers):
    a, b, _ = approvers
    p = plan(chain, lines_to(chain, 10 * USD, 20 * USD, 30 * USD))
    approve(chain, p.batch, sign(chain, p.batch, a, b))
    good, victim = p.lines[0], p.lines[1]
    # another recipient, or another amount, under a genuine line's proof
    for forged in (
        PayoutLine(victim.payout_id, chain.new_account(0).address, victim.amount),
        PayoutLine(victim.payout_id, victim.to, victim.amount - 1),
    ):
        assert chain.revert(
            chain.relayer, "AffiliatePayout", "payLines", *pay_args(p, [good, forged], [p.proof(good), p.proof(victim)])
        ) == (f"InvalidProof(payoutId=0x{victim.payout_id.hex()})")
    # a genuine line with another line's proof, or none
    assert chain.revert(
        chain.relayer, "AffiliatePayout", "payLines", *pay_args(p, [victim], [p.proof(good)])
    ).startswith("InvalidProof(")
    assert chain.revert(chain.relayer, "AffiliatePayout", "payLines", *pay_args(p, [victim], [[]])).startswith(
        "InvalidProof("
    )
    assert chain.view("AffiliatePayout", "paid", good.payout_id) is False  # all or nothing
    assert (
        chain.revert(chain.relayer, "AffiliatePayout", "payLines", *pay_args(p, [good], []))
        == "LengthMismatch(lines=1, proofs=0)"
    )
    assert chain.revert(chain.relayer, "AffiliatePayout", "payLines", *pay_args(p, [], [])) == "EmptyBatch()"


def test_a_line_pays_once_forever(chain: Chain, approvers):
    a, b, _ = approvers
    p = plan(chain, lines_to(chain, 10 * USD, 20 * USD))
    approve(chain, p.batch, sign(chain, p.batch, a, b))
    first = p.lines[0]
    chain.tx(chain.relayer, "AffiliatePayout", "payLines", *pay_args(p, [first]))
    assert chain.revert(chain.relayer, "AffiliatePayout", "payLines", *pay_args(p, [first])) == (
        f"PayoutAlreadyPaid(payoutId=0x{first.payout_id.hex()})"
    )
    # the same payout id in a later batch, even approved by everyone, never pays again
    again = plan(chain, [first])
    approve(chain, again.batch, sign(chain, again.batch, *approvers))
    assert chain.revert(chain.relayer, "AffiliatePayout", "payLines", *pay_args(again)) == (
        f"PayoutAlreadyPaid(payoutId=0x{first.payout_id.hex()})"
    )
    assert usdc_balance(chain, first.to) == first.amount


def test_a_batch_never_pays_more_than_it_was_signed_for(chain: Chain, approvers):
    """Approvers signed a total (or line count) below what the tree holds: the excess never pays."""
    a, b, _ = approvers
    p = plan(chain, lines_to(chain, 10 * USD, 20 * USD))
    short_total = replace(p.batch, total=25 * USD)
    approve(chain, short_total, sign(chain, short_total, a, b))
    plan_short = BatchPlan(short_total, p.lines, p.tree)
    chain.tx(chain.relayer, "AffiliatePayout", "payLines", *pay_args(plan_short, [p.lines[0]]))
    assert chain.revert(chain.relayer, "AffiliatePayout", "payLines", *pay_args(plan_short, [p.lines[1]])) == (
        f"BatchTotalExceeded(batchId=0x{p.batch.batch_id.hex()}, paidTotal={30 * USD}, total={25 * USD})"
    )
    q = plan(chain, lines_to(chain, 1 * USD, 2 * USD))
    one_line = replace(q.batch, line_count=1)
    approve(chain, one_line, sign(chain, one_line, a, b))
    assert chain.revert(
        chain.relayer, "AffiliatePayout", "payLines", *pay_args(BatchPlan(one_line, q.lines, q.tree))
    ) == (f"BatchLineCountExceeded(batchId=0x{q.batch.batch_id.hex()}, paidLines=2, lineCount=1)")


def test_the_per_transaction_cap_splits_a_batch(chain: Chain, approvers):
    a, b, _ = approvers
    usdt, contract = chain.addr("TestUSDT"), chain.addr("AffiliatePayout")
    chain.tx(chain.deployer, "TestUSDT", "mint", contract, 60 * USD)
    cap = chain.view("AffiliatePayout", "capPerTx", usdt)
    chain.tx(chain.deployer, "AffiliatePayout", "setCap", usdt, 30 * USD)
    try:
        p = plan(chain, lines_to(chain, 20 * USD, 20 * USD, 20 * USD), token=usdt)
        approve(chain, p.batch, sign(chain, p.batch, a, b))
        assert chain.revert(chain.relayer, "AffiliatePayout", "payLines", *pay_args(p)) == (
            f"CapExceeded(token={usdt}, amount={60 * USD}, cap={30 * USD})"
        )
        for line in p.lines:
            chain.tx(chain.relayer, "AffiliatePayout", "payLines", *pay_args(p, [line]))
        # a disabled token pays nothing, and cannot be approved
        chain.tx(chain.deployer, "AffiliatePayout", "setCap", usdt, 0)
        q = plan(chain, lines_to(chain, 1 * USD), token=usdt)
        assert approve_reason(chain, q.batch, sign(chain, q.batch, a, b)) == f"TokenNotEnabled(token={usdt})"
    finally:
        chain.tx(chain.deployer, "AffiliatePayout", "setCap", usdt, cap)


def test_more_than_the_balance_reverts(chain: Chain, approvers):
    a, b, _ = approvers
    usdt, contract = chain.addr("TestUSDT"), chain.addr("AffiliatePayout")
    balance = chain.view("TestUSDT", "balanceOf", contract)
    p = plan(chain, lines_to(chain, balance + 1), token=usdt)
    approve(chain, p.batch, sign(chain, p.batch, a, b))
    assert chain.revert(chain.relayer, "AffiliatePayout", "payLines", *pay_args(p)) == (
        f"InsufficientBalance(account={contract}, balance={balance}, needed={balance + 1})"
    )


def test_a_revoked_batch_pays_no_more(chain: Chain, approvers):
    a, b, _ = approvers
    p = plan(chain, lines_to(chain, 1 * USD, 2 * USD))
    approve(chain, p.batch, sign(chain, p.batch, a, b))
    chain.tx(chain.relayer, "AffiliatePayout", "payLines", *pay_args(p, [p.lines[0]]))
    batch_hex = "0x" + p.batch.batch_id.hex()
    assert chain.revert(chain.relayer, "AffiliatePayout", "revokeBatch", p.batch.batch_id) == (
        unauthorized(chain.relayer.address, "DEFAULT_ADMIN_ROLE")
    )
    receipt = chain.tx(chain.deployer, "AffiliatePayout", "revokeBatch", p.batch.batch_id)
    assert chain.event(receipt, "AffiliatePayout", "BatchRevokedBy") == {
        "batchId": batch_hex,
        "admin": chain.deployer.address,
    }
    assert (
        chain.revert(chain.relayer, "AffiliatePayout", "payLines", *pay_args(p, [p.lines[1]]))
        == f"BatchRevoked(batchId={batch_hex})"
    )
    assert (
        chain.revert(chain.deployer, "AffiliatePayout", "revokeBatch", p.batch.batch_id)
        == f"BatchRevoked(batchId={batch_hex})"
    )
    assert chain.revert(chain.deployer, "AffiliatePayout", "revokeBatch", rid()).startswith("BatchNotApproved(")


def test_bad_batches_are_refused(chain: Chain, approvers):
    a, b, _ = approvers
    p = plan(chain, lines_to(chain, 1 * USD))
    for change, reason in (
        ({"batch_id": bytes(32)}, "ZeroBatchId()"),
        ({"lines_root": bytes(32)}, "ZeroLinesRoot()"),
        ({"line_count": 0}, "EmptyBatch()"),
        ({"total": 0}, "EmptyBatch()"),
        ({"token": chain.addr("SGEToken")}, f"TokenNotEnabled(token={chain.addr('SGEToken')})"),
    ):
        bad = replace(p.batch, **change)
        assert approve_reason(chain, bad, sign(chain, bad, a, b)) == reason
    zero_line = PayoutLine(os.urandom(32), chain.new_account(0).address, 0)  # PayoutLine.of refuses this
    with pytest.raises(payouts.PayoutError):
        PayoutLine.of(zero_line.payout_id, zero_line.to, 0)
    q = plan(chain, [zero_line, *lines_to(chain, 1 * USD)])
    approve(chain, q.batch, sign(chain, q.batch, a, b))
    assert chain.revert(chain.relayer, "AffiliatePayout", "payLines", *pay_args(q, [zero_line])) == "ZeroAmount()"


# --- administration ----------------------------------------------------------------------------------


def test_only_the_admin_changes_approvers_and_policy(chain: Chain, approvers):
    stranger, newcomer = chain.new_account(), chain.new_account(0)
    for sender in (stranger, chain.relayer, approvers[0]):
        for fn, args in (
            ("setApprover", (newcomer.address, True)),
            ("setApprovalPolicy", (2, 4, 1)),
            ("setCap", (chain.addr("TestUSDC"), 1)),
            ("withdraw", (chain.addr("TestUSDC"), stranger.address, 1)),
        ):
            assert chain.revert(sender, "AffiliatePayout", fn, *args) == unauthorized(
                sender.address, "DEFAULT_ADMIN_ROLE"
            )
    count = chain.view("AffiliatePayout", "approverCount")
    receipt = chain.tx(chain.deployer, "AffiliatePayout", "setApprover", newcomer.address, True)
    assert chain.event(receipt, "AffiliatePayout", "ApproverUpdated") == {"approver": newcomer.address, "enabled": True}
    assert chain.view("AffiliatePayout", "isApprover", newcomer.address) is True
    assert chain.view("AffiliatePayout", "approverCount") == count + 1
    assert (
        chain.events(chain.tx(chain.deployer, "AffiliatePayout", "setApprover", newcomer.address, True)) == []
    )  # no change
    assert chain.view("AffiliatePayout", "approverCount") == count + 1
    chain.tx(chain.deployer, "AffiliatePayout", "setApprover", newcomer.address, False)
    assert chain.view("AffiliatePayout", "isApprover", newcomer.address) is False
    assert chain.view("AffiliatePayout", "approverCount") == count
    assert chain.revert(chain.deployer, "AffiliatePayout", "setApprover", ZERO, True) == "ZeroAddress()"
    # a removed approver's signature no longer counts
    a, _b, _ = approvers
    p = plan(chain, lines_to(chain, 1 * USD))
    signers = sorted([a, newcomer], key=lambda x: int(x.address, 16))
    assert approve_reason(chain, p.batch, sign(chain, p.batch, *signers)) == f"NotApprover(signer={newcomer.address})"


def test_the_approval_policy(chain: Chain, approvers):
    a, b, c = approvers
    assert (chain.view("AffiliatePayout", "baseApprovals"), chain.view("AffiliatePayout", "highApprovals")) == (2, 3)
    old = chain.view("AffiliatePayout", "highValueTotal")
    for base, high in ((1, 3), (0, 0), (3, 2)):
        assert chain.revert(chain.deployer, "AffiliatePayout", "setApprovalPolicy", base, high, old) == (
            f"BadApprovalPolicy(baseApprovals={base}, highApprovals={high})"
        )
    receipt = chain.tx(chain.deployer, "AffiliatePayout", "setApprovalPolicy", 3, 3, old)
    try:
        assert chain.event(receipt, "AffiliatePayout", "ApprovalPolicyUpdated") == {
            "baseApprovals": 3,
            "highApprovals": 3,
            "highValueTotal": old,
        }
        p = plan(chain, lines_to(chain, 1 * USD))
        assert approve_reason(chain, p.batch, sign(chain, p.batch, a, b)) == "NotEnoughApprovals(given=2, required=3)"
        approve(chain, p.batch, sign(chain, p.batch, a, b, c))
    finally:
        chain.tx(chain.deployer, "AffiliatePayout", "setApprovalPolicy", 2, 3, old)


def test_roles_and_constructor(chain: Chain, approvers):
    stranger = chain.new_account()
    p = plan(chain, lines_to(chain, 1 * USD))
    sigs = sign(chain, p.batch, *approvers[:2])
    for sender in (stranger, chain.deployer, approvers[0]):
        assert approve_reason(chain, p.batch, sigs, sender) == unauthorized(sender.address, "PAYER_ROLE")
        assert chain.revert(sender, "AffiliatePayout", "payLines", *pay_args(p)) == unauthorized(
            sender.address, "PAYER_ROLE"
        )
    assert chain.revert(chain.relayer, "AffiliatePayout", "pause") == unauthorized(chain.relayer.address, "PAUSER_ROLE")
    assert chain.deploy_revert(chain.deployer, "AffiliatePayout", chain.deployer.address, ZERO, 1) == "ZeroAddress()"
    assert chain.deploy_revert(chain.deployer, "AffiliatePayout", ZERO, chain.relayer.address, 1) == "ZeroAddress()"


def test_pause_stops_payments_but_not_admin_withdrawal(chain: Chain, approvers):
    a, b, _ = approvers
    usdc, to = chain.addr("TestUSDC"), chain.new_account(0)
    p = plan(chain, lines_to(chain, 1 * USD))
    chain.tx(chain.deployer, "AffiliatePayout", "pause")
    try:
        approve(chain, p.batch, sign(chain, p.batch, a, b))  # recording consent moves no money
        assert chain.revert(chain.relayer, "AffiliatePayout", "payLines", *pay_args(p)) == "EnforcedPause()"
        receipt = chain.tx(chain.deployer, "AffiliatePayout", "withdraw", usdc, to.address, 3 * USD)
        assert chain.event(receipt, "AffiliatePayout", "Withdrawn") == {
            "token": usdc,
            "to": to.address,
            "amount": 3 * USD,
        }
        assert usdc_balance(chain, to.address) == 3 * USD
    finally:
        chain.tx(chain.deployer, "AffiliatePayout", "unpause")
    chain.tx(chain.relayer, "AffiliatePayout", "payLines", *pay_args(p))
    assert chain.revert(chain.deployer, "AffiliatePayout", "withdraw", ZERO, to.address, 1) == "ZeroAddress()"
    assert chain.revert(chain.deployer, "AffiliatePayout", "withdraw", usdc, ZERO, 1) == "ZeroAddress()"
    assert chain.revert(chain.deployer, "AffiliatePayout", "withdraw", usdc, to.address, 0) == "ZeroAmount()"


def test_set_cap_enables_and_limits_a_token(chain: Chain):
    sge = chain.addr("SGEToken")
    receipt = chain.tx(chain.deployer, "AffiliatePayout", "setCap", sge, 7 * USD)
    try:
        assert chain.event(receipt, "AffiliatePayout", "CapUpdated") == {"token": sge, "cap": 7 * USD}
        assert chain.view("AffiliatePayout", "capPerTx", sge) == 7 * USD
        assert chain.revert(chain.deployer, "AffiliatePayout", "setCap", ZERO, 1) == "ZeroAddress()"
    finally:
        chain.tx(chain.deployer, "AffiliatePayout", "setCap", sge, 0)  # disabled again
