"""Two-person approval, as one pure rule: who may sign, how many must, until when.

A `Snapshot` is taken when the thing to approve is created (a payout batch; later an erasure request):
the eligible signer addresses, the creator's addresses (never eligible for their own request), how
many distinct signers are required and the deadline. `check_approval` recovers the signer of an
EIP-712 signature over the request's typed data and decides, with no I/O, so the same function serves
a workflow's signal handler, an Update validator and the API.

A rejection is signed too: `rejection_typed_data` wraps the request id and the reason in a
`PayoutRejection` message in the same EIP-712 domain, so nobody can reject in an approver's name.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_keys.exceptions import BadSignature
from eth_keys.exceptions import ValidationError as KeyValidationError
from eth_utils import to_checksum_address
from pydantic import BaseModel, field_validator

REJECTION_FIELDS = [{"name": "batchId", "type": "bytes32"}, {"name": "reason", "type": "string"}]
MAX_REASON = 500

# Refusal reasons (machine-readable; the status query and the API show them as is).
BAD_SIGNATURE = "bad_signature"
NOT_ELIGIBLE = "not_an_approver"
CREATOR = "creator_cannot_approve"
ALREADY = "already_approved"
EXPIRED = "deadline_passed"
NO_REASON = "reason_required"
# Malformed hex, wrong length, a point not on the curve: all mean "not a signature".
_UNRECOVERABLE = (ValueError, TypeError, IndexError, BadSignature, KeyValidationError)


class Snapshot(BaseModel):
    """Who may approve one request, fixed when it is created (checksummed addresses)."""

    eligible: frozenset[str]
    excluded: frozenset[str] = frozenset()  # the creator's own addresses
    required: int
    deadline: datetime

    @field_validator("eligible", "excluded", mode="before")
    @classmethod
    def _checksum(cls, value: Iterable[str]) -> frozenset[str]:
        return frozenset(to_checksum_address(a) for a in value)

    @field_validator("required")
    @classmethod
    def _at_least_two(cls, value: int) -> int:
        if value < 2:
            raise ValueError("two-person approval needs at least 2 approvers")
        return value

    @property
    def approvers(self) -> frozenset[str]:
        """The addresses that may actually approve (eligible minus the creator's)."""
        return self.eligible - self.excluded

    def reachable(self) -> bool:
        """Enough eligible signers exist for this request to be approved at all."""
        return len(self.approvers) >= self.required


class Decision(BaseModel):
    outcome: Literal["accepted", "refused"]
    signer: str = ""  # the recovered address ("" when the signature does not recover)
    reason: str = ""  # why refused

    @property
    def accepted(self) -> bool:
        return self.outcome == "accepted"


def recover_signer(typed_data: dict[str, Any], signature: str | bytes) -> str:
    """The checksummed address that signed `typed_data` (EIP-712, as `eth_signTypedData_v4`)."""
    raw = bytes.fromhex(signature.removeprefix("0x")) if isinstance(signature, str) else bytes(signature)
    message = encode_typed_data(full_message=typed_data)
    return to_checksum_address(Account.recover_message(message, signature=raw))


def check_approval(
    snapshot: Snapshot,
    typed_data: dict[str, Any],
    signature: str | bytes,
    already: Iterable[str],
    now: datetime,
) -> Decision:
    """Accept a signature over `typed_data` as one more approval, or say why not.

    Rules, in this order: the signature recovers; not past the deadline; the signer is not the
    creator; the signer is in the eligible set; the signer has not already been counted."""
    try:
        signer = recover_signer(typed_data, signature)
    except _UNRECOVERABLE:
        return Decision(outcome="refused", reason=BAD_SIGNATURE)
    return _judge(snapshot, signer, already, now)


def check_rejection(
    snapshot: Snapshot, typed_rejection: dict[str, Any], signature: str | bytes, now: datetime
) -> Decision:
    """A rejection counts when signed by an approver who may approve, before the deadline, with a reason.
    (An approver who already approved may still reject: a second look found something.)"""
    reason = str(typed_rejection.get("message", {}).get("reason", "")).strip()
    if not reason:
        return Decision(outcome="refused", reason=NO_REASON)
    try:
        signer = recover_signer(typed_rejection, signature)
    except _UNRECOVERABLE:
        return Decision(outcome="refused", reason=BAD_SIGNATURE)
    return _judge(snapshot, signer, (), now)


def _judge(snapshot: Snapshot, signer: str, already: Iterable[str], now: datetime) -> Decision:
    if now > snapshot.deadline:
        return Decision(outcome="refused", signer=signer, reason=EXPIRED)
    if signer in snapshot.excluded:
        return Decision(outcome="refused", signer=signer, reason=CREATOR)
    if signer not in snapshot.eligible:
        return Decision(outcome="refused", signer=signer, reason=NOT_ELIGIBLE)
    if signer in {to_checksum_address(a) for a in already}:
        return Decision(outcome="refused", signer=signer, reason=ALREADY)
    return Decision(outcome="accepted", signer=signer)


def rejection_typed_data(approval_typed_data: dict[str, Any], reason: str) -> dict[str, Any]:
    """The EIP-712 `PayoutRejection {batchId, reason}` in the same domain as the approval message."""
    reason = reason.strip()[:MAX_REASON]
    return {
        "types": {"EIP712Domain": approval_typed_data["types"]["EIP712Domain"], "PayoutRejection": REJECTION_FIELDS},
        "primaryType": "PayoutRejection",
        "domain": dict(approval_typed_data["domain"]),
        "message": {"batchId": approval_typed_data["message"]["batchId"], "reason": reason},
    }


def sign_typed(private_key: Any, typed_data: dict[str, Any]) -> str:
    """A 0x-hex signature with a local key (CLI key files, tests, the demo)."""
    return "0x" + bytes(Account.sign_typed_data(private_key, full_message=typed_data).signature).hex()


def required_approvals(total: int, *, base: int, high: int, high_value_total: int) -> int:
    """The contract's `requiredApprovals(total)` rule, off chain (values read from the contract)."""
    return high if total >= high_value_total else base
