"""Issue 10, finding 9: the audit log is hash-chained, and a changed, removed or forged row is named.

Tampering is done the way only an owner or superuser could: with the append-only triggers off.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import Session

from core import migrate
from core.db import is_postgres, make_engine, session_scope
from models.audit import GENESIS, AuditLog, audit_entries, row_hash, verify_audit_chain
from models.operators import Actor, audit

ROOT = Path(__file__).resolve().parents[2]
ALICE = Actor(name="alice", operator_id=1, request_id="req-1")


def _append(engine, n: int) -> None:
    for i in range(n):
        with session_scope(engine) as s:
            audit(s, ALICE, "program.update", "program", f"p{i}", {"fee": str(i)}, {"fee": str(i + 1)})


@contextmanager
def _triggers_off(engine):
    """What a superuser (PostgreSQL) or someone with the file (SQLite) can do: edit with the guards off."""
    with engine.begin() as conn:
        if is_postgres(engine):
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
        else:
            for name in ("audit_log_no_update", "audit_log_no_delete", "audit_log_no_rewrite"):
                conn.execute(text(f"DROP TRIGGER {name}"))
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        with engine.begin() as conn:
            if is_postgres(engine):
                conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER USER"))
            else:  # put the guards back as the migrations made them
                for action in ("UPDATE", "DELETE"):
                    conn.execute(
                        text(
                            f"CREATE TRIGGER audit_log_no_{action.lower()} BEFORE {action} ON audit_log "
                            f"BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: {action} refused'); END"
                        )
                    )
                conn.execute(
                    text(
                        "CREATE TRIGGER audit_log_no_rewrite BEFORE INSERT ON audit_log "
                        "WHEN EXISTS (SELECT 1 FROM audit_log WHERE id = NEW.id) "
                        "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: rewrite of an existing id refused'); END"
                    )
                )


def _verify(engine):
    with Session(engine) as s:
        return verify_audit_chain(s)


def test_rows_are_chained_in_id_order(db_engine):
    _append(db_engine, 4)
    with Session(db_engine) as s:
        rows = list(reversed(audit_entries(s)))
    assert [r.id for r in rows] == [1, 2, 3, 4]
    assert rows[0].prev_hash == GENESIS
    for prev, row in itertools.pairwise(rows):
        assert row.prev_hash == prev.hash and row_hash(prev.hash, row) == row.hash
    report = _verify(db_engine)
    assert report.ok and report.rows == 4 and report.first_broken is None and report.tip == rows[-1].hash


def test_a_changed_row_is_reported_exactly(db_engine):
    _append(db_engine, 5)
    with _triggers_off(db_engine) as conn:
        conn.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE id = 3"))
    report = _verify(db_engine)
    assert not report.ok and report.rows == 5
    assert report.first_broken is not None
    assert (report.first_broken.id, report.first_broken.problem) == (3, "content")


def test_a_forged_hash_and_a_removed_row_break_the_next_link(db_engine):
    _append(db_engine, 5)
    with Session(db_engine) as s:
        row = s.get(AuditLog, 2)
        assert row is not None
        row.after = {"fee": "0"}
        forged = row_hash(row.prev_hash, row)  # a forger recomputes the changed row's own hash...
    with _triggers_off(db_engine) as conn:
        conn.execute(
            text("UPDATE audit_log SET after = :a, hash = :h WHERE id = 2"), {"a": '{"fee": "0"}', "h": forged}
        )
    broken = _verify(db_engine).first_broken
    assert broken is not None and (broken.id, broken.problem) == (3, "link")  # ...but row 3 names the old one
    with _triggers_off(db_engine) as conn:
        conn.execute(text("DELETE FROM audit_log WHERE id IN (2, 3)"))
    broken = _verify(db_engine).first_broken
    assert broken is not None and (broken.id, broken.problem) == (4, "link")


@pytest.mark.integration  # runs the `sge` CLI as a process
def test_sge_audit_verify_exits_non_zero_on_a_broken_chain(db_engine, db_url, tmp_path):
    _append(db_engine, 3)
    env = {**os.environ, "DATABASE_URL": db_url, "SGE_HOME": str(tmp_path), "SGE_LOG_FORMAT": "console"}
    env.pop("SGE_DATABASE_URL", None)

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "cli", "audit", "verify", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    good = run("--json")
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["ok"] is True and json.loads(good.stdout)["rows"] == 3
    with _triggers_off(db_engine) as conn:
        conn.execute(text("UPDATE audit_log SET target_id = 'someone-else' WHERE id = 2"))
    bad = run("--json")
    assert bad.returncode == 1
    assert json.loads(bad.stdout)["first_broken"]["id"] == 2
    human = run()
    assert human.returncode == 1 and "BROKEN at row 2" in human.stdout


def test_the_migration_chains_existing_rows_without_their_wallets(db_engine):
    """Rows written before 0007 are brought into the chain (in id order), their wallets as subjects."""
    wallet = "0x52908400098527886E0F7030069857D2E4169EE7"
    migrate.downgrade(db_engine, "0006_payment_outcomes")
    with db_engine.begin() as conn:
        for i, (target, after) in enumerate(
            [
                (f"onboarding:demo:{wallet.lower()}", {"reason": f"asked by {wallet}", "result": "run-1"}),
                ("demo", {"treasury_address": wallet, "name": "Demo"}),
                ("7", None),
            ]
        ):
            conn.execute(
                text(
                    "INSERT INTO audit_log (operator_id, actor, action, target_type, target_id, before, after, "
                    "request_id, created_at) VALUES (NULL, 'cli:ops', 'x', 't', :t, NULL, :a, '', :c)"
                ),
                {"t": target, "a": json.dumps(after), "c": f"2026-01-0{i + 1} 10:00:00.12345{i}"},
            )
    migrate.upgrade(db_engine)
    report = _verify(db_engine)
    assert report.ok and report.rows == 3
    with Session(db_engine) as s:
        first, second, third = reversed(audit_entries(s))
    assert first.target_id == "onboarding:demo:subject:1"
    assert first.after == {"reason": "asked by subject:1", "result": "run-1"}
    assert second.after == {"treasury_address": wallet, "name": "Demo"}  # the platform's own address stays
    assert third.prev_hash == second.hash
    _append(db_engine, 1)  # new rows continue the chain
    assert _verify(db_engine).ok


@pytest.mark.postgres  # concurrent appends: SQLite has one writer at a time
def test_concurrent_appends_keep_one_chain(db_engine, db_url):
    writers = 24
    engine = make_engine(db_url, pool_size=writers)
    barrier = threading.Barrier(writers)

    def one(i: int) -> None:
        barrier.wait()
        with session_scope(engine) as s:
            audit(s, Actor(name=f"op{i}"), "halt.on", "platform_flag", "halt", None, {"n": i})

    try:
        with ThreadPoolExecutor(writers) as pool:
            list(pool.map(one, range(writers)))
    finally:
        engine.dispose()
    report = _verify(db_engine)
    assert report.ok and report.rows == writers, report.first_broken
