"""Issue 10, finding 9: append-only can no longer be bypassed.

SQLite: `INSERT OR REPLACE` of an existing id is refused on the journal and the audit log (UPDATE and
DELETE stay refused). PostgreSQL: TRUNCATE is refused, and the runtime role (granted by
`core.db_roles.grant_runtime`) can INSERT journal and audit rows but not UPDATE, DELETE, TRUNCATE,
DROP TRIGGER or ALTER them, and owns nothing.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from core.db import make_engine, session_scope
from core.db_roles import (
    APPEND_ONLY,
    RoleSetupError,
    grant_runtime,
    runtime_role_can_rewrite,
    runtime_role_owns_tables,
)
from models import ledger
from models.audit import verify_audit_chain
from models.ledger import Accounts, credit, debit
from models.operators import Actor, audit
from tests.helpers.database import PG_URL


def _seed(engine) -> None:
    with session_scope(engine) as s:
        ledger.post_transaction(
            s, "seed:1", "funding", {}, [debit(Accounts.treasury, "USD", 100), credit(Accounts.capital, "USD", 100)]
        )
        audit(s, Actor(name="alice"), "program.create", "program", "demo", None, {"fee": "1"})


def _snapshot(engine) -> dict[str, list]:
    with engine.connect() as conn:
        return {t: [tuple(r) for r in conn.execute(text(f"SELECT * FROM {t} ORDER BY id"))] for t in APPEND_ONLY}


# A rewrite by INSERT of each append-only table's first row: SQLite's REPLACE (delete + insert, which fires
# no DELETE trigger) and an upsert; PostgreSQL has only the upsert (it fires the UPDATE trigger).
_REWRITES = {
    "audit_log": (
        "INSERT OR REPLACE INTO audit_log (id, operator_id, actor, action, target_type, target_id, before, after, "
        "request_id, created_at, prev_hash, hash) SELECT id, NULL, 'mallory', 'nothing.happened', target_type, "
        "target_id, NULL, NULL, '', created_at, prev_hash, hash FROM audit_log WHERE id = 1",
        "INSERT INTO audit_log (id, actor, action, target_type, target_id, request_id, created_at, prev_hash, hash) "
        "SELECT id, 'mallory', 'x', 'x', 'x', '', created_at, '', '' FROM audit_log WHERE id = 1 "
        "ON CONFLICT (id) DO UPDATE SET action = 'nothing.happened'",
    ),
    "ledger_tx": (
        "INSERT OR REPLACE INTO ledger_tx (id, kind, refs, content_hash, created_at) "
        "SELECT id, 'rewritten', refs, content_hash, created_at FROM ledger_tx WHERE id = 'seed:1'",
        "INSERT INTO ledger_tx (id, kind, refs, content_hash, created_at) SELECT id, kind, refs, content_hash, "
        "created_at FROM ledger_tx WHERE id = 'seed:1' ON CONFLICT (id) DO UPDATE SET kind = 'rewritten'",
    ),
    "ledger_posting": (
        "INSERT OR REPLACE INTO ledger_posting (id, tx_id, account, asset, amount, created_at) "
        "SELECT id, tx_id, account, asset, '999', created_at FROM ledger_posting WHERE id = 1",
        "INSERT INTO ledger_posting (id, tx_id, account, asset, amount, created_at) SELECT id, tx_id, account, "
        "asset, amount, created_at FROM ledger_posting WHERE id = 1 ON CONFLICT (id) DO UPDATE SET account = 'x'",
    ),
}


@pytest.mark.parametrize("table", APPEND_ONLY)
def test_a_rewrite_by_insert_of_an_existing_id_is_refused(db_engine, table):
    _seed(db_engine)
    before = _snapshot(db_engine)
    replace, upsert = _REWRITES[table]
    if db_engine.dialect.name == "sqlite":
        attempts, refusal = [replace, upsert], "append-only: rewrite of an existing id refused"
    else:
        attempts, refusal = [upsert], "append-only: UPDATE refused"
    for sql in attempts:
        with pytest.raises(DBAPIError, match=refusal):
            with db_engine.begin() as conn:
                conn.execute(text(sql))
    assert _snapshot(db_engine) == before
    with Session(db_engine) as s:
        assert ledger.verify(s).ok and verify_audit_chain(s).ok


def test_update_and_delete_stay_refused_and_new_rows_still_go_in(db_engine):
    _seed(db_engine)
    for table, column in (("ledger_tx", "kind"), ("ledger_posting", "account"), ("audit_log", "action")):
        for sql in (f"UPDATE {table} SET {column} = 'x'", f"DELETE FROM {table}"):
            with pytest.raises(DBAPIError, match="append-only"):
                with db_engine.begin() as conn:
                    conn.execute(text(sql))
    # The guard is on existing ids only: the application's own writes (and replays) go through.
    with session_scope(db_engine) as s:
        again = ledger.post_transaction(
            s, "seed:1", "funding", {}, [debit(Accounts.treasury, "USD", 100), credit(Accounts.capital, "USD", 100)]
        )
        assert again.created is False
        audit(s, Actor(name="alice"), "program.update", "program", "demo")
    assert [len(rows) for rows in _snapshot(db_engine).values()] == [1, 2, 2]


# --- PostgreSQL ---------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.parametrize("table", APPEND_ONLY)
def test_postgres_refuses_truncate(db_engine, table):
    _seed(db_engine)
    with pytest.raises(DBAPIError, match=f"{table} is append-only: TRUNCATE refused"):
        with db_engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {table} CASCADE"))
    assert all(_snapshot(db_engine).values())


@pytest.fixture
def runtime_role(db_engine, db_url):
    """A throwaway LOGIN role granted the runtime privileges, and an engine connected as it."""
    role = f"sge_rt_{uuid.uuid4().hex[:10]}"
    with db_engine.begin() as conn:
        conn.execute(text(f"CREATE ROLE {role} LOGIN"))
    runtime = None
    try:
        tables = grant_runtime(db_engine, role)
        assert set(APPEND_ONLY) <= set(tables)
        runtime = make_engine(make_url(db_url).set(username=role).render_as_string(hide_password=False), pool_size=2)
        yield role, runtime
    finally:
        if runtime is not None:
            runtime.dispose()
        with db_engine.begin() as conn:
            conn.execute(text(f"DROP OWNED BY {role}"))
            conn.execute(text(f"DROP ROLE {role}"))


def _refused(engine, sql: str, match: str) -> None:
    with pytest.raises(DBAPIError, match=match):
        with engine.begin() as conn:
            conn.execute(text(sql))


@pytest.mark.postgres
def test_postgres_runtime_role_inserts_but_cannot_rewrite_or_reshape(db_engine, runtime_role):
    _role, runtime = runtime_role
    _seed(db_engine)  # as the owner
    with session_scope(runtime) as s:  # the application's writes, as the runtime role
        posted = ledger.post_transaction(
            s, "rt:1", "funding", {"n": "1"}, [debit(Accounts.treasury, "USD", 5), credit(Accounts.capital, "USD", 5)]
        )
        assert posted.created
        audit(s, Actor(name="alice"), "halt.on", "platform_flag", "halt", None, {"halted": True})
    for table, column in (("ledger_tx", "kind"), ("ledger_posting", "account"), ("audit_log", "action")):
        _refused(runtime, f"UPDATE {table} SET {column} = 'x'", "permission denied")
        _refused(runtime, f"DELETE FROM {table}", "permission denied")
        _refused(runtime, f"TRUNCATE {table} CASCADE", "permission denied")
        _refused(runtime, f"DROP TRIGGER {table}_append_only ON {table}", "must be owner")
        _refused(runtime, f"ALTER TABLE {table} DISABLE TRIGGER ALL", "must be owner")
        _refused(runtime, f"ALTER TABLE {table} ADD COLUMN sneaky text", "must be owner")
    # Mutable tables stay writable (the processes update them); ownership stays with the migration role.
    with runtime.begin() as conn:
        conn.execute(text("UPDATE platform_flag SET reason = reason"))
    _refused(runtime, "ALTER TABLE platform_flag ADD COLUMN sneaky text", "must be owner")
    assert runtime_role_owns_tables(runtime) == [] and runtime_role_can_rewrite(runtime) == []
    assert set(APPEND_ONLY) <= set(runtime_role_owns_tables(db_engine))  # the tests' superuser owns all
    with Session(runtime) as s:
        assert ledger.verify(s).ok and verify_audit_chain(s).rows == 2


@pytest.mark.postgres
def test_production_workers_refuse_a_runtime_role_that_could_rewrite_the_journal(
    db_engine, db_url, runtime_role, settings
):
    """The worker refuses to start, and the API's readiness fails, in production when DATABASE_URL's role
    owns the tables (here the tests' superuser); the granted runtime role passes."""
    from core.db_roles import runtime_role_problems
    from core.settings import ConfigError
    from temporal.worker import check_database

    _role, runtime = runtime_role
    (owner_problem, rewrite_problem) = runtime_role_problems(db_engine)
    assert owner_problem.startswith("DATABASE_URL: the runtime role owns") and "sge db grant-runtime" in owner_problem
    assert "ledger_tx" in rewrite_problem and "audit_log" in rewrite_problem
    assert runtime_role_problems(runtime) == []
    production = settings.model_copy(update={"environment": "production", "database_url": db_url})
    with pytest.raises(ConfigError, match="runtime role owns"):
        check_database(production)
    check_database(production.model_copy(update={"database_url": runtime.url.render_as_string(hide_password=False)}))


@pytest.mark.postgres
def test_grant_runtime_refuses_superusers_the_owner_and_unknown_roles(db_engine):
    owner = make_url(PG_URL or "").username or "postgres"
    with pytest.raises(RoleSetupError, match=r"superuser|migrating"):
        grant_runtime(db_engine, owner)
    with pytest.raises(RoleSetupError, match="no role"):
        grant_runtime(db_engine, f"nobody_{uuid.uuid4().hex[:8]}")
    with pytest.raises(RoleSetupError, match="not a role name"):
        grant_runtime(db_engine, "x; DROP TABLE audit_log")


def test_migrations_connect_as_the_migration_role_the_processes_as_database_url():
    from core.settings import load_settings

    plain = load_settings(_env_file=None, database_url="postgresql://app@db/sge")
    assert plain.migration_db_url == plain.db_url == "postgresql+psycopg://app@db/sge"
    split = load_settings(
        _env_file=None,
        database_url="postgresql://app@db/sge",
        migration_database_url="postgresql://owner:s3cret@db/sge",
        database_runtime_role="app",
    )
    assert split.migration_db_url == "postgresql+psycopg://owner:s3cret@db/sge" and split.db_url.startswith(
        "postgresql+psycopg://app@"
    )
    assert "s3cret" not in repr(split)  # a secret: never in reprs or logs


@pytest.mark.postgres
@pytest.mark.integration  # runs the `sge` CLI as a process
def test_sge_db_upgrade_grants_the_configured_runtime_role(db_engine, db_url, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    role = f"sge_rt_{uuid.uuid4().hex[:10]}"
    with db_engine.begin() as conn:
        conn.execute(text(f"CREATE ROLE {role} LOGIN"))
    runtime = make_engine(make_url(db_url).set(username=role).render_as_string(hide_password=False), pool_size=1)
    env = {**os.environ, "SGE_HOME": str(tmp_path), "SGE_LOG_FORMAT": "console", "COLUMNS": "200"}
    env |= {"DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none", "SGE_MIGRATION_DATABASE_URL": db_url}
    env |= {"SGE_DATABASE_RUNTIME_ROLE": role}
    env.pop("SGE_DATABASE_URL", None)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "cli", "db", "upgrade"],
            cwd=Path(__file__).resolve().parents[2],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert f"runtime role {role}: granted" in done.stdout
        assert runtime_role_owns_tables(runtime) == [] and runtime_role_can_rewrite(runtime) == []
        with runtime.begin() as conn:
            assert conn.execute(text("SELECT count(*) FROM audit_log")).scalar() == 0
    finally:
        runtime.dispose()
        with db_engine.begin() as conn:
            conn.execute(text(f"DROP OWNED BY {role}"))
            conn.execute(text(f"DROP ROLE {role}"))
