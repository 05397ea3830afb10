"""contracts.merkle and the EIP-712 side of contracts.payouts, without a chain (test_payout.py checks the
same values against the deployed contract)."""

from __future__ import annotations

import json
import os
import random

import pytest
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from contracts import merkle, payouts
from contracts.abi import program_id
from contracts.payouts import PayoutLine, plan_batch

# The tree of @openzeppelin/merkle-tree's own snapshot test ("dump (with seed=0)", sorted leaves):
# the whole array must come out node for node from its 12 leaves.
OZ_SNAPSHOT_TREE = """
157e9c38a2614a4493a0e4c38e84a1b43a932665e4d42fa2bf345824b9f101b7 cd255af645cd649e62c7e56d324bc8b525a39bd311e05a1a5de00d73ff1fe253
cdf36ec033d7950f6d6e01f9a66a67c3940ea15650a1300a5015d068c4543cf3 276d63ffce14279caf791d010be5c715c64ec407dba2857628a9741fcd18bcd4
f1e0e7f88a5f498d37d5a40af968ad629eabc52b908b9575f3a9735b3cf3a28b cd9fc8f6b33a02d7a601b0c77e7d36f230bc7871623435fe9aecb52887efefc1
70ce5864fbf25654a2d3319cab6df02731e260754370f6444c03678b7e5b616a c9487ccb1a15e20f708fd5d6a93b049034d1ec516624b927b5f88ab37f20d06d
ada38b6fdf007666bf5b19773191f484c99c249e44e1b07d5218f9eefb5ff9b3 0b592340f8a37b1fd772c131d85d1fe11f5b5a14ff1575163be1f48cdb569b60
18c5e1f567b176b912f504943387285ba231aba9fab91569f5d90e3d72e881ba fff0acc0b7c7dd4dca88db8b9ea4cb251797946d4bf09314f9487d079cbc8168
f37f0986a1809cffdf18075f7ff12bdfbc6b46ac4966cbc1dbecf50e59b8146f c141a2c1fa419824b43dbded51a5087ffe99d20964d995f96fb619781a6662d2
b2ec04776c599a72b9b1d2dfdee91560dc9f479643e201020ded568f68c06a80 a596ffee17c3519d0311edb25ac6d28e08407856a2c6fd1db81a9260295f2851
8cf4ffe7174807707948cd21858ba8360b8f37a69e12696a722c9a500970b7dd 6de05019198fcc90ba19896fca48ba0c8f9dd00b7264c7a22284351f3652ea5c
67c6abdc93cb48b54a8f8e02762d6582ba99455b1112824fa2913e51c14610a3 53e63148bd7b5c974996c9469d0fcc9e764d34ddafec28eabb4a93399eb8b882
53722a4093d3d803b22250c797e0d4fdda3aebfd9c151c8c775ffa8b440f4629 4bda3fa8b7e83fdab2048e0faa3fc2edc803df4f2df2996309c71d9d560ea667
02ad059b3cbe14ca74695645b9287bab95865054a44f35870ccb3224d57ae497
"""
CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def test_tree_matches_openzeppelin_merkle_tree_node_for_node():
    nodes = [bytes.fromhex(h) for h in OZ_SNAPSHOT_TREE.split()]
    leaves = nodes[11:]
    random.Random(7).shuffle(leaves)  # input order does not matter: leaves are sorted
    tree = merkle.MerkleTree.of(leaves)
    assert list(tree.nodes) == nodes
    for leaf in leaves:
        assert merkle.verify(tree.proof(leaf), tree.root, leaf)


def test_standard_leaf_hash_matches_the_openzeppelin_readme_example():
    """README of @openzeppelin/merkle-tree: two (address, uint256) values and their root."""
    values = [
        ("0x1111111111111111111111111111111111111111", 5 * 10**18),
        ("0x2222222222222222222222222222222222222222", 25 * 10**17),
    ]
    leaves = [keccak(keccak(abi_encode(["address", "uint256"], list(v)))) for v in values]
    assert merkle.MerkleTree.of(leaves).root.hex() == "d4dee0beab2d53f2cc83e567171bd2820e49898130a22622b10ead383e90bd77"


def test_payout_leaf_is_double_hashed_abi_encoding():
    pid, to, amount = os.urandom(32), Account.create().address, 123
    inner = keccak(abi_encode(["bytes32", "address", "uint256"], [pid, to, amount]))
    assert merkle.payout_leaf(pid, to, amount) == keccak(inner)
    assert PayoutLine.of("0x" + pid.hex(), to.lower(), amount).leaf == keccak(inner)


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 8, 13, 33])
def test_every_proof_verifies_and_a_tampered_one_does_not(size):
    leaves = [os.urandom(32) for _ in range(size)]
    tree = merkle.MerkleTree.of(leaves)
    for leaf in leaves:
        proof = tree.proof(leaf)
        assert merkle.verify(proof, tree.root, leaf)
        assert len(proof) <= size.bit_length()
        assert not merkle.verify(proof, tree.root, os.urandom(32))
        if proof:
            assert not merkle.verify([os.urandom(32), *proof[1:]], tree.root, leaf)
    # an inner node is never accepted as a leaf of a payout (leaves are hashed twice)
    if size > 1:
        assert tree.root not in leaves


def test_tree_errors():
    with pytest.raises(merkle.MerkleError, match="at least one"):
        merkle.MerkleTree.of([])
    leaf = os.urandom(32)
    with pytest.raises(merkle.MerkleError, match="duplicate"):
        merkle.MerkleTree.of([leaf, leaf])
    with pytest.raises(merkle.MerkleError, match="32-byte"):
        merkle.MerkleTree.of([b"short"])
    with pytest.raises(merkle.MerkleError, match="not in the tree"):
        merkle.MerkleTree.of([leaf]).proof(os.urandom(32))


def _plan(n: int = 3):
    lines = [PayoutLine.of(f"payout:{i}", Account.create().address, (i + 1) * 10**6) for i in range(n)]
    return plan_batch(
        "batch:2025-01", program_id("demo"), "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", lines, deadline=2_000_000_000
    )


def test_plan_batch_totals_and_refusals():
    plan = _plan(3)
    assert (plan.batch.line_count, plan.batch.total) == (3, 6 * 10**6)
    assert plan.batch.program == keccak(text="demo") and plan.batch.batch_id == keccak(text="batch:2025-01")
    for line in plan.lines:
        assert merkle.verify(plan.proof(line), plan.batch.lines_root, line.leaf)
    with pytest.raises(payouts.PayoutError, match="twice"):
        plan_batch("b", program_id("demo"), plan.batch.token, [plan.lines[0], plan.lines[0]], deadline=1)
    with pytest.raises(payouts.PayoutError, match="at least one"):
        plan_batch("b", program_id("demo"), plan.batch.token, [], deadline=1)
    with pytest.raises(payouts.PayoutError, match="positive"):
        PayoutLine.of("x", Account.create().address, 0)


def test_typed_data_is_json_and_signs_the_same_digest():
    plan = _plan()
    typed = payouts.typed_data(plan.batch, chain_id=31337, contract=CONTRACT)
    # what a browser receives for eth_signTypedData_v4: plain JSON, big numbers as decimal strings
    wire = json.loads(json.dumps(typed))
    assert wire == typed and wire["primaryType"] == "PayoutBatch"
    assert wire["domain"] == {
        "name": "SGE AffiliatePayout",
        "version": "1",
        "chainId": 31337,
        "verifyingContract": CONTRACT,
    }
    assert wire["message"]["total"] == str(plan.batch.total)
    signable = encode_typed_data(full_message=wire)
    digest = payouts.batch_digest(plan.batch, chain_id=31337, contract=CONTRACT)
    assert keccak(b"\x19" + signable.version + signable.header + signable.body) == digest
    assert signable.header == payouts.domain_separator(chain_id=31337, contract=CONTRACT)
    assert signable.body == payouts.struct_hash(plan.batch)
    assert payouts.BATCH_TYPE == (
        "PayoutBatch(bytes32 batchId,bytes32 program,address token,bytes32 linesRoot,uint256 lineCount,uint256 total,uint256 deadline)"
    )
    # a different chain or contract is a different digest
    assert payouts.batch_digest(plan.batch, chain_id=1, contract=CONTRACT) != digest


def test_signatures_recover_and_are_ordered_by_signer():
    plan = _plan()
    signers = [Account.create() for _ in range(3)]
    wire = json.loads(json.dumps(payouts.typed_data(plan.batch, chain_id=31337, contract=CONTRACT)))
    # one signs the JSON as a wallet would, the others through the helper: same signatures
    browser_like = bytes(Account.sign_typed_data(signers[0].key, full_message=wire).signature)
    sigs = [browser_like] + [
        payouts.sign_batch(s.key, plan.batch, chain_id=31337, contract=CONTRACT) for s in signers[1:]
    ]
    assert browser_like == payouts.sign_batch(signers[0].key, plan.batch, chain_id=31337, contract=CONTRACT)
    for signer, sig in zip(signers, sigs, strict=True):
        assert (
            payouts.recover_approver(plan.batch, "0x" + sig.hex(), chain_id=31337, contract=CONTRACT) == signer.address
        )
    ordered = payouts.ordered_signatures(plan.batch, sigs, chain_id=31337, contract=CONTRACT)
    recovered = [payouts.recover_approver(plan.batch, s, chain_id=31337, contract=CONTRACT) for s in ordered]
    assert recovered == sorted((s.address for s in signers), key=lambda a: int(a, 16))
