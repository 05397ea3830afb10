"""Ledger activities that workflows call by name (see models.ledger): thin shells, one DB transaction
each around a function of models/ (the API and the CLI use the same functions).

A retry after a crash either finds the work done (idempotent keys) or does it once. A refusal that can
never succeed (a conflicting replay, an unknown program, unbalanced postings...) is a DomainError,
which the worker's interceptor turns into a non-retryable failure; database outages are retried.

Recording facts that already happened (a refund, unmatched money) is deliberately *not* blocked by the
halt switch: a halted platform must still know where its money is. Releasing commissions (making them
payable) is: see workflows/commissions.py.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.engine import Engine
from temporalio import activity

from core.db import session_scope
from models import commissions, ledger
from models.suspense import open_item


class LedgerActivities:
    def __init__(self, engine: Engine):
        self.engine = engine

    @activity.defn(name=ledger.REVERSE_PAYMENT)
    def reverse_payment(self, req: commissions.ReverseRequest) -> commissions.ReversalResult:
        with session_scope(self.engine) as session:
            return commissions.reverse_payment(session, req.payment_ref, req.reason)

    @activity.defn(name=ledger.POST_SUSPENSE)
    def post_suspense(self, req: ledger.SuspenseRequest) -> int:
        """Money into suspense with its item (so an operator can apply, refund or write it off)."""
        with session_scope(self.engine) as session:
            item = open_item(
                session, req.key, req.payment_ref, req.amount_minor, req.asset, ledger.SuspenseReason(req.reason)
            )
            assert item.id is not None
            return item.id

    @activity.defn(name=ledger.RELEASE_DUE)
    def release_due(self, limit: int) -> commissions.ReleaseResult:
        with session_scope(self.engine) as session:
            return commissions.release_due(session, limit=max(1, min(limit, 1000)))

    def all(self) -> list[Callable]:
        return [self.reverse_payment, self.post_suspense, self.release_due]
