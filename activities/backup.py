"""The daily backup's activity: a thin shell over `core.backup.create_backup`."""

from __future__ import annotations

from temporalio import activity

from core.backup import create_backup, prune_backups, read_manifest
from core.settings import Settings
from models.backup_io import CREATE_BACKUP, BackupMade


class BackupActivities:
    def __init__(self, settings: Settings):
        self.settings = settings

    @activity.defn(name=CREATE_BACKUP)
    def create(self) -> BackupMade:
        path = create_backup(self.settings.db_url, self.settings.home, self.settings.backups_dir)
        # Only after a new backup exists: a failing run never removes the last good one.
        prune_backups(self.settings.backups_dir, self.settings.backup_keep)
        files = read_manifest(path)["files"]
        return BackupMade(path=str(path), files=len(files), bytes=sum(f["bytes"] for f in files.values()))

    def all(self) -> list:
        return [self.create]
