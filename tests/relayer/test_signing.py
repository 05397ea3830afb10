"""The relayer's direct EIP-1559 signer produces exactly eth_account's bytes."""

from __future__ import annotations

import os
import random

from eth_account import Account

from relayer.signing import Eip1559Signer


def test_signer_matches_eth_account_byte_for_byte():
    rng = random.Random(1234)
    for _ in range(300):
        account = Account.from_key(os.urandom(32))
        tx = {
            "type": 2,
            "chainId": rng.choice([1, 5, 31337, 11155111, 2**40]),
            "nonce": rng.randrange(0, 2**32),
            "to": Account.create().address,
            "value": rng.choice([0, 1, rng.randrange(0, 2**200)]),
            "data": "0x" + os.urandom(rng.randrange(0, 300)).hex(),
            "gas": rng.randrange(21_000, 30_000_000),
            "maxFeePerGas": rng.randrange(1, 2**64),
            "maxPriorityFeePerGas": rng.randrange(0, 2**40),
        }
        expected = account.sign_transaction(tx)
        raw, tx_hash = Eip1559Signer(bytes(account.key)).sign(
            chain_id=tx["chainId"],
            nonce=tx["nonce"],
            to=tx["to"],
            value=tx["value"],
            data=bytes.fromhex(tx["data"][2:]),
            gas=tx["gas"],
            max_fee=tx["maxFeePerGas"],
            tip=tx["maxPriorityFeePerGas"],
        )
        assert raw == bytes(expected.raw_transaction)
        assert tx_hash == bytes(expected.hash)


def test_signer_never_shows_its_key():
    key = os.urandom(32)
    assert key.hex() not in repr(Eip1559Signer(key))
