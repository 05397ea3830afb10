"""Two roles on PostgreSQL: the migration role owns the tables; the runtime role only uses them.

A table's owner can ALTER it, DROP its triggers and TRUNCATE it: append-only would be a promise. So
the API and the workers connect as a runtime role that owns nothing and holds, in the schema the
tables live in:

- SELECT, INSERT on the journal and the audit log (`APPEND_ONLY`): no UPDATE, DELETE or TRUNCATE,
  and, not being the owner, no ALTER or DROP TRIGGER;
- SELECT, INSERT, UPDATE, DELETE on every other table (SELECT only on `alembic_version`);
- USAGE on the schema and on its sequences (ids, `nextval` for the audit chain).

`grant_runtime` applies that (`sge db grant-runtime`, and the end of `sge db upgrade` when
SGE_DATABASE_RUNTIME_ROLE is set); it runs as the migration role. `runtime_role_owns_tables` and
`runtime_role_can_rewrite` are the checks production posture runs on the runtime engine.
"""

from __future__ import annotations

import re

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

APPEND_ONLY = ("ledger_tx", "ledger_posting", "audit_log")
READ_ONLY = ("alembic_version",)
_ROLE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class RoleSetupError(Exception):
    """The runtime role cannot be set up as asked (one line, naming the problem)."""


def _quote(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def _tables(conn: Connection) -> list[tuple[str, str]]:
    """(table, owner) of every table in the schema the connection works in."""
    rows = conn.execute(
        text("SELECT tablename, tableowner FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename")
    )
    return [(r[0], r[1]) for r in rows]


def grant_runtime(engine: Engine, role: str) -> list[str]:
    """Give `role` exactly the runtime privileges on this schema's tables and sequences; returns the
    tables it covered. Refuses a role that is the current one, a superuser, or an owner of a table."""
    if engine.dialect.name != "postgresql":
        raise RoleSetupError("database roles exist on PostgreSQL only")
    if not _ROLE_RE.match(role):
        raise RoleSetupError(f"not a role name: {role[:64]!r}")
    with engine.begin() as conn:
        found = conn.execute(
            text("SELECT rolsuper, rolname = current_user FROM pg_roles WHERE rolname = :r"), {"r": role}
        ).first()
        if found is None:
            raise RoleSetupError(f"no role {role!r} (CREATE ROLE {role} LOGIN PASSWORD '...' first)")
        if found[0]:
            raise RoleSetupError(f"{role} is a superuser: it bypasses every privilege and trigger")
        if found[1]:
            raise RoleSetupError(f"{role} is the role migrating (the tables' owner); the runtime role must be another")
        tables = _tables(conn)
        owned = [t for t, owner in tables if owner == role]
        if owned:
            raise RoleSetupError(f"{role} owns {', '.join(owned)}: ALTER TABLE ... OWNER TO the migration role first")
        grantee = _quote(conn, role)
        schema = conn.execute(text("SELECT current_schema()")).scalar_one()
        conn.execute(text(f"GRANT USAGE ON SCHEMA {_quote(conn, schema)} TO {grantee}"))
        for table, _owner in tables:
            name = _quote(conn, table)
            conn.execute(text(f"REVOKE ALL ON TABLE {name} FROM {grantee}"))
            if table in APPEND_ONLY:
                privileges = "SELECT, INSERT"
            elif table in READ_ONLY:
                privileges = "SELECT"
            else:
                privileges = "SELECT, INSERT, UPDATE, DELETE"
            conn.execute(text(f"GRANT {privileges} ON TABLE {name} TO {grantee}"))
        sequences = conn.execute(
            text("SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema() ORDER BY sequencename")
        ).scalars()
        for sequence in sequences:
            name = _quote(conn, sequence)
            conn.execute(text(f"REVOKE ALL ON SEQUENCE {name} FROM {grantee}"))
            conn.execute(text(f"GRANT USAGE ON SEQUENCE {name} TO {grantee}"))
    return [t for t, _owner in tables]


def runtime_role_owns_tables(engine: Engine) -> list[str]:
    """The tables the engine's role owns, or acts as owner of (a member of the owner role, or a
    superuser): each is one it could ALTER, TRUNCATE or strip of its triggers. [] is what production
    wants on the runtime engine. SQLite has no roles: []."""
    if engine.dialect.name != "postgresql":
        return []
    with engine.connect() as conn:
        superuser = conn.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar()
        return [
            table
            for table, owner in _tables(conn)
            if superuser or conn.execute(text("SELECT pg_has_role(current_user, :o, 'USAGE')"), {"o": owner}).scalar()
        ]


def runtime_role_can_rewrite(engine: Engine) -> list[str]:
    """Append-only tables on which the engine's role holds UPDATE, DELETE or TRUNCATE (should be [])."""
    if engine.dialect.name != "postgresql":
        return []
    with engine.connect() as conn:
        present = {t for t, _owner in _tables(conn)}
        return [
            table
            for table in APPEND_ONLY
            if table in present
            and conn.execute(
                text("SELECT has_table_privilege(current_user, :t, 'UPDATE,DELETE,TRUNCATE')"), {"t": table}
            ).scalar()
        ]


def runtime_role_problems(engine: Engine) -> list[str]:
    """What production refuses in the runtime role (one line each; [] when append-only holds)."""
    problems = []
    owned = runtime_role_owns_tables(engine)
    if owned:
        problems.append(
            f"DATABASE_URL: the runtime role owns (or acts as owner of) {len(owned)} tables, e.g. {owned[0]}; "
            "connect as a role granted with `sge db grant-runtime` and migrate as SGE_MIGRATION_DATABASE_URL"
        )
    rewrite = runtime_role_can_rewrite(engine)
    if rewrite:
        problems.append(f"DATABASE_URL: the runtime role may rewrite append-only tables: {', '.join(rewrite)}")
    return problems
