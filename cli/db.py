"""`sge db`: Alembic migrations of the platform database."""

from __future__ import annotations

import typer

from cli.common import out, settings_and_logs
from core import migrate
from core.db import get_engine

app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)


def _engine():
    settings = settings_and_logs("cli", fmt="console")
    return get_engine(settings.db_url)


@app.command()
def upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Migrate the database up to REVISION (default: head)."""
    engine = _engine()
    migrate.upgrade(engine, revision)
    out.print(f"database at {migrate.current(engine)}")


@app.command()
def downgrade(revision: str = typer.Argument(..., help="Target revision, e.g. -1 or 0001_foundation.")) -> None:
    """Migrate the database down to REVISION."""
    engine = _engine()
    migrate.downgrade(engine, revision)
    out.print(f"database at {migrate.current(engine) or 'base'}")


@app.command()
def current() -> None:
    """Print the database's revision and the code's head."""
    engine = _engine()
    out.print(f"database: {migrate.current(engine) or 'empty'}\ncode head: {migrate.head()}")
