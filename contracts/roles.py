"""Who holds the contracts' admin and pauser roles, and handing them to the treasury Safe.

`handover_to_safe` is sent by the current admin (the deployer): for every admin role it grants the
Safe first and renounces its own afterwards, DEFAULT_ADMIN_ROLE last, so no step leaves a contract
without an admin. `role_holders` finds holders by replaying RoleGranted events since the deploy block
(OpenZeppelin AccessControl is not enumerable here) and asking `hasRole` of every account ever
granted; `eoa_admins` lists those without code, which after a handover must be empty.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3 import Web3

from contracts.manifest import Manifest
from contracts.reads import call_view

DEFAULT_ADMIN_ROLE = "DEFAULT_ADMIN_ROLE"
PAUSER_ROLE = "PAUSER_ROLE"
# The contracts' admin and pauser roles (SGEToken is a plain ERC-20: it has no admin).
ADMIN_ROLES: dict[str, tuple[str, ...]] = {
    "SGEID": (PAUSER_ROLE, DEFAULT_ADMIN_ROLE),
    "AffiliateRegistry": (DEFAULT_ADMIN_ROLE,),
    "AffiliatePayout": (PAUSER_ROLE, DEFAULT_ADMIN_ROLE),
    "SGEClaim": (PAUSER_ROLE, DEFAULT_ADMIN_ROLE),
}
PAUSABLE = tuple(name for name, roles in ADMIN_ROLES.items() if PAUSER_ROLE in roles)
ROLE_GRANTED_TOPIC = keccak(text="RoleGranted(bytes32,address,address)")


def role_id(name: str) -> bytes:
    return bytes(32) if name == DEFAULT_ADMIN_ROLE else keccak(text=name)


def has_role(w3: Web3, manifest: Manifest, contract: str, role: str, account: str) -> bool:
    return bool(call_view(w3, contract, manifest.address(contract), "hasRole", role_id(role), account)[0])


def handover_to_safe(
    w3: Web3,
    admin: LocalAccount,
    manifest: Manifest,
    safe: str,
    *,
    on_tx: Callable[[str, str], None] | None = None,
) -> dict[str, str]:
    """Move every admin/pauser role from `admin` to `safe`; only what is still to do is sent (so a
    handover interrupted half-way is finished by running it again). Returns {step: tx hash}."""
    from contracts.deploy import DeployedContract, _Sender

    sender = _Sender(w3, admin, manifest.chain_id, on_tx)
    sent: dict[str, str] = {}
    for contract, roles in ADMIN_ROLES.items():
        target = DeployedContract(address=manifest.address(contract), tx_hash="", block_number=0)
        for role in roles:  # grants first: the admin can still grant until it renounces its admin role
            if not has_role(w3, manifest, contract, role, safe):
                label = f"{contract}: grant {role} to the Safe"
                sent[label] = sender.call(label, target, contract, "grantRole", role_id(role), safe)
        for role in roles:  # DEFAULT_ADMIN_ROLE is last in each tuple
            if has_role(w3, manifest, contract, role, admin.address):
                label = f"{contract}: {admin.address} renounces {role}"
                sent[label] = sender.call(label, target, contract, "renounceRole", role_id(role), admin.address)
    return sent


@dataclass(frozen=True)
class RoleHolder:
    contract: str
    role: str
    account: str
    is_contract: bool  # has code (the Safe); False = an externally owned account (a key)

    def as_dict(self) -> dict[str, Any]:
        return {"contract": self.contract, "role": self.role, "account": self.account, "is_contract": self.is_contract}


def role_holders(w3: Web3, manifest: Manifest) -> list[RoleHolder]:
    """Current holders of every admin/pauser role (from RoleGranted logs, confirmed with hasRole)."""
    holders: list[RoleHolder] = []
    for contract, roles in ADMIN_ROLES.items():
        logs = w3.eth.get_logs(
            {
                "address": Web3.to_checksum_address(manifest.address(contract)),
                "fromBlock": manifest.deploy_block,
                "toBlock": "latest",
                "topics": [Web3.to_hex(ROLE_GRANTED_TOPIC)],
            }
        )
        granted: dict[bytes, set[str]] = {}
        for entry in logs:
            topics = [bytes(t) for t in entry["topics"]]
            granted.setdefault(topics[1], set()).add(Web3.to_checksum_address(topics[2][-20:]))
        for role in roles:
            for account in sorted(granted.get(role_id(role), set())):
                if has_role(w3, manifest, contract, role, account):
                    is_contract = len(w3.eth.get_code(Web3.to_checksum_address(account))) > 0
                    holders.append(RoleHolder(contract, role, account, is_contract))
    return holders


def eoa_admins(holders: list[RoleHolder]) -> list[RoleHolder]:
    return [h for h in holders if not h.is_contract]
