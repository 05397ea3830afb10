"""The Housekeeping activity: a thin shell over `models.housekeeping.prune`."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Engine
from temporalio import activity

from core.settings import Settings
from models.housekeeping import PRUNE, PruneCounts, prune


class HousekeepingActivities:
    def __init__(self, settings: Settings, engine: Engine):
        self.settings = settings
        self.engine = engine

    @activity.defn(name=PRUNE)
    def prune(self) -> PruneCounts:
        return prune(
            self.engine,
            timedelta(seconds=self.settings.auth_nonce_retention_seconds),
            ip_retention=timedelta(days=self.settings.retention_ip_address_days),
        )

    def all(self) -> list:
        return [self.prune]
