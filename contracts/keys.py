"""Guards around signing keys. Keys are never logged or stored; only addresses leave this module."""

from __future__ import annotations

from eth_account import Account
from eth_account.signers.local import LocalAccount

# Addresses of the ten keys anvil/hardhat derive from the public "test test ... junk" mnemonic.
# Those keys are published, so anything they sign on a real chain can be stolen. We compare
# addresses rather than embedding the keys themselves.
WELL_KNOWN_DEV_ADDRESSES = frozenset(
    a.lower()
    for a in (
        "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
        "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
        "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65",
        "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc",
        "0x976EA74026E726554dB657fA54763abd0C3a0aa6",
        "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955",
        "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f",
        "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720",
    )
)


class KeyRefused(Exception):
    """A key that must not be used on this chain. The message names the address, never the key."""


def is_well_known_dev_address(address: str) -> bool:
    return address.lower() in WELL_KNOWN_DEV_ADDRESSES


def load_account(private_key_hex: str, *, role: str, local_chain: bool) -> LocalAccount:
    """The account for a key, refusing published dev keys unless the chain is a local one."""
    try:
        account = Account.from_key(private_key_hex)
    except Exception:
        raise KeyRefused(f"{role} key is not a valid secp256k1 private key") from None  # no key echo
    if not local_chain and is_well_known_dev_address(account.address):
        raise KeyRefused(
            f"{role} key {account.address} is one of anvil's published dev keys; refused on a non-local chain"
        )
    return account
