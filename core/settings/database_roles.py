"""Settings for the two database roles on PostgreSQL: the one that migrates (owns the tables) and the
one the processes run as (no ownership; SELECT and INSERT only on the journal and the audit log)."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr, field_validator
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError


class DatabaseRoleFields(BaseModel):
    """Who migrates the database and who runs on it."""

    # --- database roles --------------------------------------------------------------------------
    migration_database_url: SecretStr | None = Field(
        None,
        description="URL `sge db upgrade` connects with: the role that owns the tables (default: DATABASE_URL). "
        "Secret; or SGE_MIGRATION_DATABASE_URL_FILE.",
    )
    database_runtime_role: str | None = Field(
        None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$",
        description="PostgreSQL role the API and workers connect as. `sge db upgrade` grants it SELECT/INSERT on "
        "the journal and audit log, SELECT/INSERT/UPDATE/DELETE on the rest, no ownership.",
    )

    @field_validator("migration_database_url")
    @classmethod
    def _check_migration_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        try:
            url = make_url(value.get_secret_value())
        except ArgumentError:
            raise ValueError("not a database URL (expected postgresql+psycopg://user@host/db)") from None
        if url.get_backend_name() == "sqlite":
            return value
        if url.get_backend_name() != "postgresql" or url.drivername not in ("postgresql", "postgresql+psycopg"):
            raise ValueError(f"unsupported driver {url.drivername!r}; use postgresql+psycopg")  # never the password
        return SecretStr(url.set(drivername="postgresql+psycopg").render_as_string(hide_password=False))
