"""The relayer's errors, and how it reads the node's error messages.

Every relayer refusal is a `RelayerError`, a `core.errors.DomainError`: its `code` is what a workflow
sees as the activity failure's type (the worker's interceptor translates it), and `retryable` says
whether the same request can succeed later. "Wait and retry" errors (no funds, no chain, a config an
operator can fix) are retryable, so flows pause rather than fail; "this request can never succeed"
errors are not.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.errors import Conflict, DomainError, NotFound, Unavailable


class RelayerError(DomainError):
    """Base of the relayer's domain errors (catch this for "any relayer refusal")."""

    code = "relayer_error"
    status = 503
    retryable = True


class PlatformHalted(RelayerError):
    """The platform halt switch is on: nothing is signed until operators turn it off (checked just
    before signing, so a request that raced the switch still waits)."""

    code = "platform_halted"
    status = 503
    retryable = True
    retry_after_seconds = 10.0


class ChainGateClosed(RelayerError):
    """The pre-payment chain gate is closed (spend budget, balance floor, or an operator): a new
    pre-payment transaction is not recorded; the flow waits and asks again."""

    code = "chain_gate_closed"
    status = 503
    retryable = True
    retry_after_seconds = 30.0


class ChainUnavailable(RelayerError, Unavailable):
    """The node did not answer or refused in a way that may pass (connection lost, estimate or
    broadcast failed, a nonce race the relayer has just repaired). Callers drop their RPC client so
    the retry can fail over to another configured endpoint."""

    code = "chain_unavailable"
    status = 503
    retryable = True


class BalanceTooLow(RelayerError):
    """The relayer holds less ETH than its floor: the request is recorded and waits for funds."""

    code = "relayer_balance_low"
    status = 503
    retryable = True
    retry_after_seconds = 30.0

    def __init__(self, address: str, balance: int, floor: int):
        self.address, self.balance, self.floor = address, balance, floor
        super().__init__(
            f"relayer {address} holds {balance} wei, below the floor of {floor} wei; waiting for funds",
            details={"address": address, "balance_wei": balance, "floor_wei": floor},
        )


class IdempotencyConflict(RelayerError, Conflict):
    """The idempotency key was already used for a different transaction."""

    code = "idempotency_conflict"
    status = 409
    retryable = False


class UnknownTransaction(RelayerError, NotFound):
    """No transaction with this key (a programming error in the caller)."""

    code = "unknown_transaction"
    status = 404
    retryable = False


class BadRequest(RelayerError):
    """The request cannot be turned into a transaction (unknown contract, bad calldata or target)."""

    code = "bad_transaction_request"
    status = 422
    retryable = False


class Misconfigured(RelayerError):
    """Key, chain id or deployment manifest is wrong or missing. Retryable: an operator fixes the
    configuration and the waiting flows continue."""

    code = "relayer_misconfigured"
    status = 503
    retryable = True


# --- not domain errors ---------------------------------------------------------------------------------
class RpcCallError(Exception):
    """A JSON-RPC error response: `message` and, for reverts, `data` (hex revert data)."""

    def __init__(self, error: Mapping[str, Any]):
        self.message = str(error.get("message", "rpc error"))
        data = error.get("data")
        if isinstance(data, dict):  # some nodes nest it
            data = data.get("data")
        self.data = data if isinstance(data, str) and data.startswith("0x") else None
        super().__init__(self.message)


class SimulatedCrash(Exception):
    """Raised by test hooks to stop the relayer between two steps, as a process death would."""


# --- reading node error messages (they differ between clients) ------------------------------------------
def error_text(exc: BaseException) -> str:
    msg = getattr(exc, "message", None) or str(exc)
    rpc = getattr(exc, "rpc_response", None)
    if isinstance(rpc, dict) and isinstance(rpc.get("error"), dict):
        msg = f"{msg} {rpc['error'].get('message', '')}"
    return msg.lower()


def is_already_known(text: str) -> bool:
    return any(s in text for s in ("already known", "known transaction", "already imported", "alreadyknown"))


def is_nonce_too_low(text: str) -> bool:
    return any(s in text for s in ("nonce too low", "nonce has already been used", "oldnonce", "nonce is too low"))


def is_underpriced(text: str) -> bool:
    return "underpriced" in text


def is_insufficient_funds(text: str) -> bool:
    return "insufficient funds" in text or "insufficient balance" in text
