"""Backups (core/backup.py, `sge backup`) and the restore drill (ops/bench/restore.py) on real databases:
SQLite files by default, PostgreSQL (pg_dump/pg_restore, a database created for the restore and dropped
after; the machine's `test` database is never dropped) when SGE_TEST_DATABASE_URL is set."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from temporalio.worker import Worker

from activities.backup import BackupActivities
from core import migrate
from core.backup import BackupError, create_backup, restore_backup, verify_backup
from core.db import make_engine
from core.settings import Settings
from models.backup_io import BackupMade
from ops.bench.restore import run as restore_drill
from tests.helpers.database import PG_URL
from workflows.backup import DailyBackupWorkflow

HISTORIES = Path(__file__).resolve().parents[1] / "histories"


def record(history, name: str) -> None:
    """With SGE_RECORD_HISTORIES=1, keep the run as tests/histories/<name>.json (replayed by
    tests/onboarding/test_replay.py against every later version of the workflow)."""
    if os.environ.get("SGE_RECORD_HISTORIES"):
        (HISTORIES / f"{name}.json").write_text(history.to_json())


pytestmark = pytest.mark.integration  # pg_dump / pg_restore / the sge CLI are processes


def _sqlite_db(path: Path) -> str:
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    return url


def test_restore_drill_small_volume_round_trips_and_verifies(tmp_path):
    url = PG_URL or f"sqlite:///{tmp_path / 'sge.db'}"
    report = restore_drill(url, transactions=2000, flows=400, workdir=tmp_path)
    print("restore drill:", json.dumps(report.as_dict()))  # numbers for the log, not asserted on time
    assert report.backend == ("postgresql" if PG_URL else "sqlite")
    assert (report.restored_transactions, report.restored_flows) == (2000, 400)
    assert report.ledger_ok
    assert report.max_tx_within_hour > 0


def test_backup_holds_dev_server_db_and_contract_manifests_with_checksums(tmp_path, db_url):
    home = tmp_path / "home"
    (home / "deployments").mkdir(parents=True)
    (home / "deployments" / "31337.json").write_text('{"chain_id": 31337}')
    temporal = sqlite3.connect(home / "temporal.db")
    temporal.execute("CREATE TABLE t (x)")
    temporal.commit()
    temporal.close()
    backup = create_backup(db_url, home, tmp_path / "backups")
    manifest = json.loads((backup / "manifest.json").read_text())
    expected = {"platform.dump" if PG_URL else "platform.sqlite", "temporal.sqlite", "deployments/31337.json"}
    assert set(manifest["files"]) == expected
    assert manifest["database"]["revision"] == migrate.head()
    assert verify_backup(backup) == []
    assert not list((tmp_path / "backups").glob(".partial-*"))


def test_verify_finds_damage_and_restore_refuses_it(tmp_path):
    url = _sqlite_db(tmp_path / "sge.db")
    backup = create_backup(url, tmp_path / "home", tmp_path / "backups")
    with (backup / "platform.sqlite").open("r+b") as f:
        f.seek(100)
        f.write(b"\x00\xff")
    (backup / "stray.txt").write_text("x")
    problems = verify_backup(backup)
    assert problems == ["platform.sqlite: sha256 differs from the manifest", "stray.txt: not in the manifest"]
    with pytest.raises(BackupError, match="damaged"):
        restore_backup(backup, f"sqlite:///{tmp_path / 'restored.db'}")
    assert not (tmp_path / "restored.db").exists()


def test_restore_refuses_a_non_empty_database_and_another_kind(tmp_path):
    url = _sqlite_db(tmp_path / "sge.db")
    backup = create_backup(url, tmp_path / "home", tmp_path / "backups")
    occupied = _sqlite_db(tmp_path / "occupied.db")
    with pytest.raises(BackupError, match="not empty") as refused:
        restore_backup(backup, occupied)
    assert refused.value.code == "backup_error"
    with pytest.raises(BackupError, match="sqlite database; the target is postgresql"):
        restore_backup(backup, "postgresql+psycopg://nobody@127.0.0.1:1/none")


def test_cli_create_verify_restore(tmp_path):
    url = _sqlite_db(tmp_path / "sge.db")
    env = {**os.environ, "DATABASE_URL": url, "SGE_HOME": str(tmp_path / "home"), "SGE_ENVIRONMENT": "test"}
    sge = [sys.executable, "-m", "cli"]

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*sge, *args], env=env, capture_output=True, text=True, timeout=120)

    created = run("backup", "create", "--to", str(tmp_path / "backups"))
    assert created.returncode == 0, created.stderr
    backup = created.stdout.strip()
    assert run("backup", "verify", backup).returncode == 0
    restored = run("backup", "restore", backup, "--to", f"sqlite:///{tmp_path / 'restored.db'}", "--json")
    assert restored.returncode == 0, restored.stderr
    assert json.loads(restored.stdout) == {"restored": backup, "revision": migrate.head(), "ledger_ok": True}
    again = run("backup", "restore", backup, "--to", f"sqlite:///{tmp_path / 'restored.db'}")
    assert again.returncode == 1 and "backup_error" in again.stderr and "not empty" in again.stderr


async def test_daily_backup_workflow_writes_a_backup(temporal_dev, tmp_path, db_url):
    settings = Settings(_env_file=None, home=tmp_path / "home", database_url=db_url, environment="test")
    queue = f"backup-{uuid.uuid4().hex[:8]}"
    with ThreadPoolExecutor(2) as pool:
        async with Worker(
            temporal_dev.client,
            task_queue=queue,
            workflows=[DailyBackupWorkflow],
            activities=BackupActivities(settings).all(),
            activity_executor=pool,
        ):
            handle = await temporal_dev.client.start_workflow(
                DailyBackupWorkflow.run, id=f"daily-backup-{uuid.uuid4().hex[:8]}", task_queue=queue
            )
            made = await handle.result()
    record(await handle.fetch_history(), "daily-backup")
    assert isinstance(made, BackupMade) and made.files == 1 and made.bytes > 0
    assert Path(made.path).parent == settings.backups_dir
    assert verify_backup(Path(made.path)) == []


def test_prune_keeps_the_newest_and_removes_left_over_partials(tmp_path):
    from datetime import UTC, datetime, timedelta

    from core.backup import prune_backups

    url = _sqlite_db(tmp_path / "sge.db")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    made = [create_backup(url, tmp_path / "home", tmp_path / "b", now=start + timedelta(days=d)) for d in range(4)]
    stale = tmp_path / "b" / ".partial-20251231T000000000000Z"
    stale.mkdir()
    removed = prune_backups(tmp_path / "b", keep=2)
    assert sorted(removed) == sorted([*made[:2], stale])
    assert sorted((tmp_path / "b").iterdir()) == made[2:]
