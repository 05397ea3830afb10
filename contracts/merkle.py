"""Merkle trees as OpenZeppelin builds and checks them.

The layout is that of `@openzeppelin/merkle-tree`'s StandardMerkleTree (leaves sorted by hash, a
complete binary tree stored in one array), so the root equals what the JS library computes for
`StandardMerkleTree.of(values, ["bytes32", "address", "uint256"])`, and a proof verifies with
Solidity's `MerkleProof.verify` (pairs hashed in sorted order). Leaves are hashed twice
(`keccak256(bytes.concat(keccak256(abi.encode(...))))`) so no inner node can pass for a leaf.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address

Hash = bytes  # 32 bytes


class MerkleError(ValueError):
    pass


def payout_leaf(payout_id: bytes, to: str, amount: int) -> Hash:
    """The leaf of one payout line: keccak256(bytes.concat(keccak256(abi.encode(id, to, amount))))."""
    if len(payout_id) != 32:
        raise MerkleError(f"payout id must be 32 bytes, got {len(payout_id)}")
    encoded = abi_encode(["bytes32", "address", "uint256"], [payout_id, to_checksum_address(to), amount])
    return keccak(keccak(encoded))


def hash_pair(a: Hash, b: Hash) -> Hash:
    """OpenZeppelin's commutative node hash: keccak256 of the two children, smaller first."""
    return keccak(a + b if a <= b else b + a)


def process_proof(proof: Sequence[Hash], leaf: Hash) -> Hash:
    computed = leaf
    for sibling in proof:
        computed = hash_pair(computed, sibling)
    return computed


def verify(proof: Sequence[Hash], root: Hash, leaf: Hash) -> bool:
    """What `MerkleProof.verify(proof, root, leaf)` answers on chain."""
    return process_proof(proof, leaf) == root


@dataclass(frozen=True)
class MerkleTree:
    """`nodes[0]` is the root; the leaves fill the end of the array in descending-hash order."""

    nodes: tuple[Hash, ...]
    _index: dict[Hash, int] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, leaves: Sequence[Hash]) -> MerkleTree:
        if not leaves:
            raise MerkleError("a Merkle tree needs at least one leaf")
        if any(len(leaf) != 32 for leaf in leaves):
            raise MerkleError("leaves must be 32-byte hashes")
        if len(set(leaves)) != len(leaves):
            raise MerkleError("duplicate leaf")
        ordered = sorted(leaves)
        size = 2 * len(ordered) - 1
        nodes: list[Hash] = [b""] * size
        for i, leaf in enumerate(ordered):
            nodes[size - 1 - i] = leaf
        for i in range(size - 1 - len(ordered), -1, -1):
            nodes[i] = hash_pair(nodes[2 * i + 1], nodes[2 * i + 2])
        tree = cls(tuple(nodes))
        tree._index.update({leaf: size - 1 - i for i, leaf in enumerate(ordered)})
        return tree

    @property
    def root(self) -> Hash:
        return self.nodes[0]

    def proof(self, leaf: Hash) -> list[Hash]:
        """Siblings from `leaf` up to (not including) the root."""
        try:
            index = self._index[leaf]
        except KeyError:
            raise MerkleError("leaf is not in the tree") from None
        proof = []
        while index > 0:
            proof.append(self.nodes[index + 1 if index % 2 else index - 1])
            index = (index - 1) // 2
        return proof
