"""anvil's well-known dev accounts (public: derived from the standard test mnemonic).

Used to deploy and fund on local chains, and by the relayer to refuse these keys anywhere else.
"""

from __future__ import annotations

from functools import lru_cache

from eth_account import Account
from eth_account.signers.local import LocalAccount

ANVIL_MNEMONIC = "test test test test test test test test test test test junk"
ANVIL_ACCOUNT_COUNT = 10


@lru_cache(maxsize=1)
def anvil_accounts() -> tuple[LocalAccount, ...]:
    Account.enable_unaudited_hdwallet_features()
    return tuple(
        Account.from_mnemonic(ANVIL_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}") for i in range(ANVIL_ACCOUNT_COUNT)
    )


def is_anvil_dev_key(private_key_hex: str) -> bool:
    key = private_key_hex.lower().removeprefix("0x")
    return any(acct.key.hex().removeprefix("0x") == key for acct in anvil_accounts())
