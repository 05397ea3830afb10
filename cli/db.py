"""`sge db`: Alembic migrations of the platform database, and the runtime role's privileges.

Migrations connect as the tables' owner (SGE_MIGRATION_DATABASE_URL, default DATABASE_URL). On
PostgreSQL the processes run as another role (SGE_DATABASE_RUNTIME_ROLE), granted only what they use:
`sge db upgrade` re-grants it after migrating, `sge db grant-runtime` on its own (core/db_roles.py).
"""

from __future__ import annotations

import typer

from cli.common import fail, out, settings_and_logs
from core import migrate
from core.db import get_engine
from core.db_roles import APPEND_ONLY, RoleSetupError, grant_runtime

app = typer.Typer(help="Database schema (Alembic migrations) and the runtime role.", no_args_is_help=True)


def _migration_engine():
    settings = settings_and_logs("cli", fmt="console")
    return settings, get_engine(settings.migration_db_url)


def _grant(engine, role: str) -> None:
    try:
        tables = grant_runtime(engine, role)
    except RoleSetupError as exc:
        fail(f"SGE_DATABASE_RUNTIME_ROLE: {exc}")
    out.print(f"runtime role {role}: granted on {len(tables)} tables (only SELECT, INSERT on {', '.join(APPEND_ONLY)})")


@app.command()
def upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Migrate the database up to REVISION (default: head), then re-grant the runtime role if one is set."""
    settings, engine = _migration_engine()
    migrate.upgrade(engine, revision)
    out.print(f"database at {migrate.current(engine)}")
    if settings.database_runtime_role and engine.dialect.name == "postgresql":
        _grant(engine, settings.database_runtime_role)


@app.command("grant-runtime")
def grant_runtime_command(
    role: str = typer.Argument(None, help="The runtime role (default: SGE_DATABASE_RUNTIME_ROLE)."),
) -> None:
    """Grant the runtime role exactly what the processes need (PostgreSQL; run as the tables' owner)."""
    settings, engine = _migration_engine()
    role = role or settings.database_runtime_role
    if not role:
        fail("SGE_DATABASE_RUNTIME_ROLE: not set (or pass the role as an argument)")
    _grant(engine, role)


@app.command()
def downgrade(revision: str = typer.Argument(..., help="Target revision, e.g. -1 or 0001_foundation.")) -> None:
    """Migrate the database down to REVISION."""
    _settings, engine = _migration_engine()
    migrate.downgrade(engine, revision)
    out.print(f"database at {migrate.current(engine) or 'base'}")


@app.command()
def current() -> None:
    """Print the database's revision and the code's head."""
    _settings, engine = _migration_engine()
    out.print(f"database: {migrate.current(engine) or 'empty'}\ncode head: {migrate.head()}")
