"""Admin actions as the calls a treasury-Safe transaction makes (`sge safe propose ACTION …`).

Each action names its target contract by manifest name and is encoded with that contract's ABI, so a
proposal is the exact calldata the owners sign. Unknown actions, contracts or roles are refused
before anything is stored.
"""

from __future__ import annotations

from dataclasses import dataclass

from web3 import Web3

from contracts.abi import encode_call
from contracts.manifest import Manifest
from contracts.roles import ADMIN_ROLES, PAUSABLE, role_id

ROLE_NAMES = ("DEFAULT_ADMIN_ROLE", "PAUSER_ROLE", "RELAYER_ROLE", "MINTER_ROLE", "PAYER_ROLE")
ACTIONS = {
    "pause": "pause NAME: stop a pausable contract",
    "unpause": "unpause NAME: resume a paused contract",
    "grant-role": "grant-role NAME ROLE ACCOUNT",
    "revoke-role": "revoke-role NAME ROLE ACCOUNT",
    "transfer-eth": "transfer-eth TO WEI: send the Safe's ETH",
}


class ActionError(ValueError):
    pass


@dataclass(frozen=True)
class SafeCall:
    action: str
    to: str
    value: int
    data: bytes
    description: str


def _arity(action: str, args: list[str], n: int) -> None:
    if len(args) != n:
        raise ActionError(f"{action} takes {n} argument(s): {ACTIONS[action]}")


def _admin_contract(name: str, allowed: tuple[str, ...]) -> str:
    if name not in allowed:
        raise ActionError(f"unknown contract {name!r}; one of {', '.join(allowed)}")
    return name


def build_safe_call(manifest: Manifest, action: str, args: list[str]) -> SafeCall:
    if action in ("pause", "unpause"):
        _arity(action, args, 1)
        name = _admin_contract(args[0], PAUSABLE)
        return SafeCall(action, manifest.address(name), 0, encode_call(name, action), f"{action} {name}")
    if action in ("grant-role", "revoke-role"):
        _arity(action, args, 3)
        name = _admin_contract(args[0], tuple(ADMIN_ROLES))
        role, account = args[1], args[2]
        if role not in ROLE_NAMES:
            raise ActionError(f"unknown role {role!r}; one of {', '.join(ROLE_NAMES)}")
        if not Web3.is_address(account):
            raise ActionError(f"not an address: {account!r}")
        fn = "grantRole" if action == "grant-role" else "revokeRole"
        account = Web3.to_checksum_address(account)
        data = encode_call(name, fn, role_id(role), account)
        return SafeCall(action, manifest.address(name), 0, data, f"{action} {name} {role} {account}")
    if action == "transfer-eth":
        _arity(action, args, 2)
        if not Web3.is_address(args[0]) or not args[1].isdigit():
            raise ActionError("transfer-eth takes an address and an amount in wei (an integer)")
        to = Web3.to_checksum_address(args[0])
        return SafeCall(action, to, int(args[1]), b"", f"transfer {args[1]} wei to {to}")
    raise ActionError(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
