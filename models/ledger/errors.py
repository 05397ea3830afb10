"""Ledger refusals: requests that can never succeed as given. Nothing of the request is written."""

from __future__ import annotations

from core.errors import DomainError


class LedgerError(DomainError):
    """A ledger request that can never succeed as given (invalid key, zero leg, bad reference...)."""

    code = "ledger_error"
    status = 422


class LedgerUnbalanced(LedgerError):
    code = "ledger_unbalanced"


class LedgerConflict(LedgerError):
    """The key is taken by a transaction with other content. Nothing was written."""

    code = "ledger_conflict"
    status = 409


class LedgerNegativeBalance(LedgerError):
    """A never-negative account would go past zero: the current balance refuses it."""

    code = "ledger_negative_balance"
    status = 409


class UnknownAccount(LedgerError):
    """Not in the chart of accounts. Invalid input when posted to; `statement` reports it as 404."""

    code = "unknown_account"


class PendingNotFound(LedgerError):
    code = "pending_not_found"
    status = 404


class PendingAlreadyResolved(LedgerError):
    code = "pending_already_resolved"
    status = 409
