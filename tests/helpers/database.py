"""The test database: one migrated database per session, handed out empty to each test (SQLite temp
files by default; PostgreSQL when SGE_TEST_DATABASE_URL is set, in a schema of this run's own); and
the Redis the shared-limit tests use, if there is one."""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine

from core import migrate
from core.db import make_engine

PG_URL = os.environ.get("SGE_TEST_DATABASE_URL")


def _redis_url() -> str | None:
    """SGE_TEST_REDIS_URL (CI sets it, so there the tests must run), else a local Redis if one answers."""
    url = os.environ.get("SGE_TEST_REDIS_URL")
    if url:
        return url
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.3).close()
    except OSError:
        return None
    return "redis://127.0.0.1:6379/15"


REDIS_URL = _redis_url()


class TestDatabase:
    """A migrated database per test session, handed out empty to each test."""

    __test__ = False

    def __init__(self, root: Path):
        self.root = root
        self.schema: str | None = None
        self._pg_engine: Engine | None = None
        if PG_URL:
            self.schema = f"sge_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
            admin = make_engine(PG_URL, pool_size=1)
            with admin.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{self.schema}"'))
            admin.dispose()
            sep = "&" if "?" in PG_URL else "?"
            self.url = f"{PG_URL}{sep}options=-csearch_path%3D{self.schema}"
            self._pg_engine = make_engine(self.url, pool_size=20)
            migrate.upgrade(self._pg_engine)
            with self._pg_engine.connect() as conn:
                self._tables = [
                    row[0]
                    for row in conn.execute(
                        text(
                            "SELECT tablename FROM pg_tables WHERE schemaname = :s AND tablename <> 'alembic_version'"
                        ),
                        {"s": self.schema},
                    )
                ]
        else:
            self.template = root / "template.db"
            template_engine = make_engine(f"sqlite:///{self.template}")
            migrate.upgrade(template_engine)
            template_engine.dispose()
            self.url = f"sqlite:///{self.template}"
        self._count = 0

    @property
    def is_postgres(self) -> bool:
        return self.schema is not None

    def fresh_url(self) -> str:
        """A URL to an empty, migrated database (PostgreSQL: the session schema, truncated)."""
        if self.is_postgres:
            assert self._pg_engine is not None
            if self._tables:
                with self._pg_engine.begin() as conn:
                    quoted = ", ".join(f'"{t}"' for t in self._tables)
                    # The journal and the audit log refuse TRUNCATE (a trigger); the tests' superuser
                    # empties them with triggers off for this transaction (the runtime role cannot).
                    conn.execute(text("SET LOCAL session_replication_role = replica"))
                    conn.execute(text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
            return self.url
        self._count += 1
        path = self.root / f"test-{self._count}.db"
        shutil.copyfile(self.template, path)
        return f"sqlite:///{path}"

    def close(self) -> None:
        if self._pg_engine is not None:
            self._pg_engine.dispose()
            admin = make_engine(PG_URL, pool_size=1)  # type: ignore[arg-type]
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
            admin.dispose()
