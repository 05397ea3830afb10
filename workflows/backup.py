"""The daily backup: one activity writing a backup directory (core/backup.py).

Started by the Temporal Schedule `sge-daily-backup` (temporal/schedules.py) at SGE_BACKUP_HOUR_UTC. Not a
money-moving step, so it runs while the platform is halted. Each attempt writes a new directory (a
failed attempt leaves only a `.partial-*` that is removed), so a retry never damages an earlier backup.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from models.backup_io import CREATE_BACKUP, BackupMade


@workflow.defn(name="DailyBackup")
class DailyBackupWorkflow:
    @workflow.run
    async def run(self) -> BackupMade:
        made = await workflow.execute_activity(
            CREATE_BACKUP,
            result_type=BackupMade,
            start_to_close_timeout=timedelta(hours=2),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=10), maximum_attempts=3),
        )
        workflow.logger.info("backup written: %s (%s files, %s bytes)", made.path, made.files, made.bytes)
        return made
