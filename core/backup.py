"""Backups of the platform database: create, verify, restore into an empty database.

A backup is a directory `sge-backup-<UTC time>/` holding
- `platform.dump` (PostgreSQL, `pg_dump -Fc`; only the URL's schema when it sets a search_path) or
  `platform.sqlite` (SQLite, a consistent copy through sqlite's online backup API);
- `temporal.sqlite`: the embedded Temporal dev server's database, when there is one in the app home;
- `deployments/`: the contract deployment manifests (`<home>/deployments/<chain_id>.json`);
- `manifest.json`: what each file is, its size and sha256, the schema revision, the creation time.

`pg_dump`/`pg_restore` are PostgreSQL's client binaries (Debian's `postgresql-client-15`); their major
version must not be older than the server's. A password never appears on their command line
(PGPASSWORD in their environment).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.engine import URL, make_url

from core.db import make_engine
from core.errors import DomainError

MANIFEST = "manifest.json"
FORMAT = 1


class BackupError(DomainError):
    """A backup cannot be made, verified or restored; the message says why."""

    code = "backup_error"


@dataclass(frozen=True)
class Target:
    """A database URL split the way the PostgreSQL client tools need it."""

    kind: str  # "postgresql" | "sqlite"
    url: str
    libpq_url: str = ""  # postgresql://user@host:port/db?... without password or driver
    password: str | None = None
    schema: str | None = None  # from `options=-csearch_path=<schema>`
    sqlite_path: Path | None = None

    @classmethod
    def parse(cls, url: str) -> Target:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            if not parsed.database or parsed.database == ":memory:":
                raise BackupError("an SQLite backup needs a database file")
            return cls("sqlite", url, sqlite_path=Path(parsed.database).resolve())
        if parsed.get_backend_name() != "postgresql":
            raise BackupError(f"unsupported database {parsed.get_backend_name()!r}")
        query = dict(parsed.query)
        options = str(query.pop("options", ""))
        schema = None
        for option in options.split():
            if option.startswith("-csearch_path="):
                schema = option.removeprefix("-csearch_path=").split(",")[0].strip('"')
        libpq: URL = parsed.set(drivername="postgresql", password=None, query=query)
        return cls("postgresql", url, libpq.render_as_string(hide_password=False), parsed.password, schema)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.password:
            env["PGPASSWORD"] = str(self.password)
        return env


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _run(args: list[str], target: Target, what: str) -> None:
    if shutil.which(args[0]) is None:
        raise BackupError(f"{args[0]} not found (install Debian's postgresql-client-15)")
    done = subprocess.run(args, env=target.env(), capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupError(f"{what} failed: {done.stderr.strip()[-500:]}")


def _sqlite_copy(source: Path, dest: Path) -> None:
    """A consistent copy of a live SQLite database (online backup API, not a file copy)."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(dest)
    try:
        with dst:
            src.backup(dst)
        # One self-contained file: a WAL-mode copy would grow -wal/-shm files beside it when read.
        dst.execute("PRAGMA journal_mode=DELETE")
    finally:
        src.close()
        dst.close()


def _revision(url: str) -> str | None:
    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()


def create_backup(db_url: str, home: Path, dest_root: Path, *, now: datetime | None = None) -> Path:
    """Write a backup of `db_url` (and the app home's Temporal DB and contract manifests) under `dest_root`."""
    target = Target.parse(db_url)
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S%fZ")
    final = dest_root / f"sge-backup-{stamp}"
    work = dest_root / f".partial-{stamp}"  # renamed into place only when complete
    work.mkdir(parents=True)
    files: dict[str, dict[str, Any]] = {}
    try:
        if target.kind == "postgresql":
            args = ["pg_dump", "--format=custom", "--no-owner", "--file", str(work / "platform.dump")]
            if target.schema:
                args += ["--schema", target.schema]
            _run([*args, target.libpq_url], target, "pg_dump")
            files["platform.dump"] = {"role": "platform-database"}
        else:
            assert target.sqlite_path is not None
            if not target.sqlite_path.exists():
                raise BackupError(f"no database at {target.sqlite_path}")
            _sqlite_copy(target.sqlite_path, work / "platform.sqlite")
            files["platform.sqlite"] = {"role": "platform-database"}
        temporal_db = home / "temporal.db"
        if temporal_db.exists():
            _sqlite_copy(temporal_db, work / "temporal.sqlite")
            files["temporal.sqlite"] = {"role": "temporal-dev-server"}
        deployments = home / "deployments"
        for manifest in sorted(deployments.glob("*.json")) if deployments.is_dir() else []:
            (work / "deployments").mkdir(exist_ok=True)
            shutil.copy2(manifest, work / "deployments" / manifest.name)
            files[f"deployments/{manifest.name}"] = {"role": "contract-deployment"}
        for name, entry in files.items():
            entry["bytes"] = (work / name).stat().st_size
            entry["sha256"] = _sha256(work / name)
        document = {
            "format": FORMAT,
            "created_at": (now or datetime.now(UTC)).isoformat(),
            "database": {"kind": target.kind, "schema": target.schema, "revision": _revision(db_url)},
            "files": files,
        }
        (work / MANIFEST).write_text(json.dumps(document, indent=2, sort_keys=True))
        work.rename(final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return final


def prune_backups(dest_root: Path, keep: int) -> list[Path]:
    """Remove all but the `keep` newest backups under `dest_root` (and what a crashed run left); returns them."""
    backups = sorted(p for p in dest_root.glob("sge-backup-*") if p.is_dir())  # names sort by time
    removed = backups[: max(len(backups) - keep, 0)]
    newest = backups[-1].name.removeprefix("sge-backup-") if backups else ""
    removed += [p for p in dest_root.glob(".partial-*") if p.name.removeprefix(".partial-") < newest]
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return removed


def read_manifest(backup: Path) -> dict[str, Any]:
    try:
        return json.loads((backup / MANIFEST).read_text())
    except FileNotFoundError:
        raise BackupError(f"{backup}: no {MANIFEST} (not a backup directory)") from None
    except json.JSONDecodeError as exc:
        raise BackupError(f"{backup}/{MANIFEST}: not JSON ({exc.msg})") from None


def verify_backup(backup: Path) -> list[str]:
    """Every problem found (missing file, size or checksum mismatch, unlisted file); empty when intact."""
    manifest = read_manifest(backup)
    problems = []
    for name, entry in sorted(manifest["files"].items()):
        path = backup / name
        if not path.is_file():
            problems.append(f"{name}: missing")
        elif path.stat().st_size != entry["bytes"]:
            problems.append(f"{name}: {path.stat().st_size} bytes, manifest says {entry['bytes']}")
        elif _sha256(path) != entry["sha256"]:
            problems.append(f"{name}: sha256 differs from the manifest")
    listed = set(manifest["files"]) | {MANIFEST}
    extra = sorted(p.relative_to(backup).as_posix() for p in backup.rglob("*") if p.is_file())
    problems += [f"{name}: not in the manifest" for name in extra if name not in listed]
    return problems


def _existing_tables(target: Target) -> list[str]:
    if target.kind == "sqlite":
        assert target.sqlite_path is not None
        if not target.sqlite_path.exists():
            return []
    engine = make_engine(target.url, pool_size=1)
    try:
        with engine.connect() as conn:
            return inspect(conn).get_table_names(schema=target.schema)
    finally:
        engine.dispose()


def restore_backup(backup: Path, to_url: str) -> dict[str, Any]:
    """Restore the platform database of `backup` into the EMPTY database at `to_url`; returns the manifest.

    Refuses a damaged backup, a target of another kind, and a target that already has tables (a
    restore never overwrites). The ledger is verified by the caller on the restored copy.
    """
    problems = verify_backup(backup)
    if problems:
        raise BackupError(f"{backup}: damaged: {'; '.join(problems[:3])}")
    manifest = read_manifest(backup)
    kind = manifest["database"]["kind"]
    target = Target.parse(to_url)
    if target.kind != kind:
        raise BackupError(f"the backup is of a {kind} database; the target is {target.kind}")
    tables = _existing_tables(target)
    if tables:
        where = f"schema {target.schema}" if target.schema else "the target"
        raise BackupError(
            f"{where} is not empty ({len(tables)} tables, e.g. {sorted(tables)[0]}): restore needs an empty database"
        )
    if kind == "sqlite":
        assert target.sqlite_path is not None
        target.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        _sqlite_copy(backup / "platform.sqlite", target.sqlite_path)
    else:
        if target.schema and manifest["database"]["schema"] not in (None, target.schema):
            raise BackupError(
                f"the backup holds schema {manifest['database']['schema']}; restore into that search_path"
            )
        args = ["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "--dbname", target.libpq_url]
        _run([*args, str(backup / "platform.dump")], target, "pg_restore")
    return manifest
