"""Ledger activities: what workflows call (by name, see models.ledger) to post money movements.

Each activity is one DB transaction around a function of models/ (the API uses the same functions),
so a retry after a crash either finds the work done (idempotent keys) or does it once. A request that
can never succeed (conflicting replay, unknown program, unbalanced postings...) fails with a
non-retryable ApplicationError whose `type` is the machine-readable code; database outages are
retried by Temporal.

Recording facts that already happened (a confirmed payment, a refund, gas spent, SGE delivered,
unmatched money) is deliberately *not* blocked by the halt switch: a halted platform must still
know where its money is. Releasing commissions (making them payable) is: see
workflows/commissions.py.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager

from sqlalchemy.engine import Engine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from models import commissions, ledger
from models.affiliates import AffiliateError
from core.db import session_scope


@contextmanager
def domain_errors():
    """Domain refusals → non-retryable ApplicationError(type=<code>); anything else is retried."""
    try:
        yield
    except (ledger.LedgerError, AffiliateError) as exc:
        raise ApplicationError(str(exc), type=exc.code, non_retryable=True) from None
    except ValueError as exc:  # bad payload values (e.g. an unknown asset)
        raise ApplicationError(str(exc), type="invalid_request", non_retryable=True) from None


class LedgerActivities:
    def __init__(self, engine: Engine):
        self.engine = engine

    @activity.defn(name=ledger.SETTLE_PAYMENT)
    def settle_payment(self, req: commissions.SettleRequest) -> commissions.SettlementResult:
        with domain_errors(), session_scope(self.engine) as session:
            return commissions.settle_payment(session, req.payment_ref, req.program, req.wallet, req.amount_minor, req.asset)

    @activity.defn(name=ledger.REVERSE_PAYMENT)
    def reverse_payment(self, req: commissions.ReverseRequest) -> commissions.ReversalResult:
        with domain_errors(), session_scope(self.engine) as session:
            return commissions.reverse_payment(session, req.payment_ref, req.reason)

    @activity.defn(name=ledger.POST_SUSPENSE)
    def post_suspense(self, req: ledger.SuspenseRequest) -> ledger.PostResult:
        with domain_errors(), session_scope(self.engine) as session:
            return ledger.post_suspense(session, req.key, req.payment_ref, req.amount_minor, req.asset, req.reason)

    @activity.defn(name=ledger.POST)
    def post(self, req: ledger.PostRequest) -> ledger.PostResult:
        with domain_errors(), session_scope(self.engine) as session:
            return ledger.post_transaction(session, req.key, req.kind, req.refs, req.postings)

    @activity.defn(name=ledger.POST_CLAIM_DELIVERY)
    def post_claim_delivery(self, req: ledger.ClaimDeliveryRequest) -> ledger.PostResult:
        with domain_errors(), session_scope(self.engine) as session:
            return ledger.post_claim_delivery(session, req)

    @activity.defn(name=ledger.POST_GAS)
    def post_gas(self, req: ledger.GasRequest) -> ledger.PostResult:
        with domain_errors(), session_scope(self.engine) as session:
            return ledger.post_gas(session, req)

    @activity.defn(name=ledger.RELEASE_DUE)
    def release_due(self, limit: int) -> commissions.ReleaseResult:
        with domain_errors(), session_scope(self.engine) as session:
            return commissions.release_due(session, limit=max(1, min(limit, 1000)))

    def all(self) -> list[Callable]:
        return [
            self.settle_payment, self.reverse_payment, self.post_suspense, self.post, self.post_claim_delivery,
            self.post_gas, self.release_due,
        ]
