"""Engine and session handling for SQLite (embedded default) and PostgreSQL (psycopg 3), and the typed
helpers for what SQLModel types loosely: a model's Core table, a flushed row's id, a row a foreign key
guarantees, an INSERT's new key."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, TypeVar

from sqlalchemy import Table, event, text
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import CursorResult, Engine, make_url
from sqlmodel import Session, SQLModel, create_engine

_Row = TypeVar("_Row", bound=SQLModel)

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # WAL lets readers run beside the writer; busy_timeout makes concurrent writers wait, not fail.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _sqlite_begin_immediate(conn) -> None:
    # Take the write lock at BEGIN so two transactions never deadlock upgrading read → write locks.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    """A new engine. PostgreSQL URLs may carry `?options=-csearch_path%3D<schema>` (tests do)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30, "isolation_level": None},
            pool_size=pool_size,
            max_overflow=pool_size,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    connect_args: dict = {"connect_timeout": 5}
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args=connect_args,
    )


def get_engine(url: str, *, pool_size: int = 10) -> Engine:
    """The process-wide engine for `url` (one pool per URL)."""
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = make_engine(url, pool_size=pool_size)
        return engine


def dispose_engines() -> None:
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One unit of work: commits on success, rolls back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def table_of(model: type[SQLModel]) -> Table:
    """The Core `Table` behind a SQLModel table class, for Core-level statements (`.c` columns, bulk
    inserts). SQLModel's types don't declare `__table__`; the mapper's `local_table` is that Table."""
    table = sa_inspect(model).local_table
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} is not mapped to a table")
    return table


class _Keyed(Protocol):
    @property
    def id(self) -> int | None: ...


def row_id(row: _Keyed) -> int:
    """The primary key of a row that was loaded or flushed. Tables type `id` as optional because it is
    None until the INSERT; reaching for it before then is a bug, so it raises instead of defaulting."""
    if row.id is None:
        raise RuntimeError(f"{type(row).__name__} has no id yet: it was never flushed")
    return row.id


def inserted_id(result: CursorResult[Any]) -> int:
    """The new primary key of a single-row INSERT (SQLAlchemy types it optional: multi-row INSERTs have none)."""
    key = result.inserted_primary_key
    if key is None:
        raise RuntimeError("the INSERT reported no primary key")
    return key[0]


def get_existing(session: Session, model: type[_Row], ident: Any, *, populate_existing: bool = False) -> _Row:
    """`session.get` for a row known to exist (a foreign key refers to it, or this transaction saw it):
    its absence is a broken invariant, so this raises rather than passing None on."""
    row = session.get(model, ident, populate_existing=populate_existing)
    if row is None:
        raise RuntimeError(f"{model.__name__} {ident!r} should exist but does not")
    return row
