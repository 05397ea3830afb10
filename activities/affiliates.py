"""Affiliate activities: attribution at registration (called by name, see models.affiliates)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.engine import Engine
from temporalio import activity

from activities.ledger import domain_errors
from models import affiliates
from core.db import session_scope


class AffiliateActivities:
    def __init__(self, engine: Engine):
        self.engine = engine

    @activity.defn(name=affiliates.ATTRIBUTE)
    def attribute(self, req: affiliates.AttributionRequest) -> affiliates.AttributionResult:
        """Lock the wallet's referrer at its first registration. Refusals are a result, not an error."""
        with domain_errors(), session_scope(self.engine) as session:
            return affiliates.attribute(session, req.program, req.wallet, req.code, req.source)

    def all(self) -> list[Callable]:
        return [self.attribute]
