"""The monthly archive: one activity moving ended flows older than SGE_ARCHIVE_OLDER_THAN_DAYS out of
the hot tables (models/archive.py). Started by the Temporal Schedule `sge-monthly-archive`. Not a
money-moving step. A retried attempt is safe: one attempt either removes its rows with its file, or
neither (a later attempt then archives the same rows into a new file)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from models.archive import ArchiveResult
    from models.archive_io import RUN_ARCHIVE


@workflow.defn(name="MonthlyArchive")
class MonthlyArchiveWorkflow:
    @workflow.run
    async def run(self) -> ArchiveResult:
        result = await workflow.execute_activity(
            RUN_ARCHIVE,
            result_type=ArchiveResult,
            start_to_close_timeout=timedelta(hours=2),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=10), maximum_attempts=3),
        )
        workflow.logger.info("archive: %s %s", result.path, result.counts)
        return result
