"""`sge backup`: create, verify and restore backups of the platform database (core/backup.py)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from sqlmodel import Session

from cli.common import fail, fail_domain, hard_exit, out, settings_and_logs
from core.backup import BackupError, create_backup, restore_backup, verify_backup
from core.db import make_engine
from models.books import verify_books

app = typer.Typer(
    help="Backups: the platform database, Temporal's dev-server DB, contract manifests.", no_args_is_help=True
)


def verify_restored(url: str) -> tuple[bool, str]:
    """Ledger verification on a restored copy: (balanced?, one-line summary)."""
    engine = make_engine(url, pool_size=1)
    try:
        with Session(engine) as session:
            report = verify_books(session)
    finally:
        engine.dispose()
    state = "balanced" if report.ok else f"NOT BALANCED ({len(report.problems)} problems)"
    return report.ok, f"ledger {state}: {report.transactions} transactions, {report.postings} postings"


@app.command()
def create(
    to: Path = typer.Option(None, "--to", help="Directory to write the backup under (default: SGE_BACKUP_DIR)."),
) -> None:
    """Back up the platform database (pg_dump -Fc / SQLite online copy), Temporal's dev-server DB and the
    contract manifests into a new directory with a checksummed manifest.json."""
    settings = settings_and_logs("cli", fmt="console")
    try:
        path = create_backup(settings.db_url, settings.home, to or settings.backups_dir)
    except BackupError as exc:
        fail_domain(exc)
    out.print(str(path))


@app.command()
def verify(backup: Path = typer.Argument(..., help="A backup directory.")) -> None:
    """Check every file of BACKUP against its manifest's size and sha256. Exit 0 only when intact."""
    try:
        problems = verify_backup(backup)
    except BackupError as exc:
        fail_domain(exc)
    for problem in problems:
        out.print(f"[red]{problem}[/]")
    out.print("backup intact" if not problems else f"backup DAMAGED: {len(problems)} problem(s)")
    hard_exit(0 if not problems else 1)


@app.command()
def restore(
    backup: Path = typer.Argument(..., help="A backup directory."),
    to: str = typer.Option(..., "--to", help="URL of an EMPTY database (same kind as the backup's)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Restore BACKUP into the empty database at --to, then verify the ledger there. Exit 0 only if it balances."""
    settings_and_logs("cli", fmt="console")
    try:
        manifest = restore_backup(backup, to)
    except BackupError as exc:
        fail_domain(exc)
    ok, summary = verify_restored(to)
    if as_json:
        print(json.dumps({"restored": str(backup), "revision": manifest["database"]["revision"], "ledger_ok": ok}))
    else:
        out.print(f"restored {backup.name} (schema revision {manifest['database']['revision']})")
        out.print(summary)
        out.print("next: `sge db grant-runtime` on the restored database (privileges are not restored)")
    if not ok:
        fail("the restored ledger does not verify", code=1)
    hard_exit(0)
