"""Contract of the daily backup: the activity's name and result (workflows/backup.py, activities/backup.py)."""

from __future__ import annotations

from pydantic import BaseModel

CREATE_BACKUP = "backup.create"


class BackupMade(BaseModel):
    path: str
    files: int
    bytes: int
