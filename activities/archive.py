"""The monthly archive's activity: a thin shell over `models.archive.run_archive`."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Engine
from temporalio import activity

from core.settings import Settings
from models.archive import ArchiveResult, run_archive
from models.archive_io import RUN_ARCHIVE
from models.operators import Actor


class ArchiveActivities:
    def __init__(self, settings: Settings, engine: Engine):
        self.settings = settings
        self.engine = engine

    @activity.defn(name=RUN_ARCHIVE)
    def run(self) -> ArchiveResult:
        age = timedelta(days=self.settings.archive_older_than_days)
        return run_archive(self.engine, self.settings.archives_dir, age, Actor(name="system:archive"))

    def all(self) -> list:
        return [self.run]
