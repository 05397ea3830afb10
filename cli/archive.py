"""`sge archive`: move ended flows older than a cut-off out of the hot tables, and bring them back
(models/archive.py)."""

from __future__ import annotations

import getpass
import json
import re
from datetime import timedelta
from pathlib import Path

import typer

from cli.common import fail, fail_domain, hard_exit, out, settings_and_logs
from core.db import get_engine
from models.archive import ArchiveError, check_file, list_archives, read_rows, restore_archive, run_archive
from models.operators import Actor

app = typer.Typer(
    help="Archive: ended flows, their payments, webhook events, idempotency records.", no_args_is_help=True
)


def _actor() -> Actor:
    return Actor(name=f"cli:{getpass.getuser()}")


def parse_age(value: str) -> timedelta:
    """`180d`, `26w`, or `720h`."""
    match = re.fullmatch(r"(\d+)([dwh])", value.strip())
    if not match:
        fail(f"--older-than: expected e.g. 180d, 26w or 720h, got {value!r}")
    n, unit = int(match.group(1)), match.group(2)
    return {"d": timedelta(days=n), "w": timedelta(weeks=n), "h": timedelta(hours=n)}[unit]


def _file(settings, name: Path) -> Path:
    return name if name.exists() or name.is_absolute() else settings.archives_dir / name


@app.command()
def run(
    older_than: str = typer.Option("180d", "--older-than", help="Cut-off age, e.g. 180d."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document."),
) -> None:
    """Export what is older than the cut-off to a checksummed .jsonl.gz and remove it, in one audited step."""
    settings = settings_and_logs("cli", fmt="console")
    age = parse_age(older_than)
    if age < timedelta(days=30):
        fail("--older-than: at least 30d (recent flows may still receive late payments or refunds)")
    try:
        result = run_archive(get_engine(settings.db_url), settings.archives_dir, age, _actor())
    except ArchiveError as exc:
        fail_domain(exc)
    if as_json:
        print(result.model_dump_json(), flush=True)
    elif result.path is None:
        out.print(f"nothing to archive before {result.cutoff:%Y-%m-%d}")
    else:
        counts = ", ".join(f"{n} {t}" for t, n in result.counts.items())
        out.print(f"archived before {result.cutoff:%Y-%m-%d}: {counts}\n{result.path}")
    hard_exit(0)


@app.command("list")
def list_command() -> None:
    """Archive files, with their cut-off and counts (checksums checked)."""
    settings = settings_and_logs("cli", fmt="console")
    for entry in list_archives(settings.archives_dir):
        if entry["ok"]:
            out.print(f"{entry['file']}  cut-off {entry['cutoff'][:10]}  {json.dumps(entry['counts'])}")
        else:
            out.print(f"[red]{entry['file']}  DAMAGED: {entry['problem']}[/]")


@app.command()
def show(file: Path = typer.Argument(..., help="An archive file (name in SGE_ARCHIVE_DIR, or a path).")) -> None:
    """The file's header and its rows per table (checksum checked)."""
    settings = settings_and_logs("cli", fmt="console")
    path = _file(settings, file)
    try:
        header = check_file(path)
        rows = read_rows(path)
    except ArchiveError as exc:
        fail_domain(exc)
    out.print(json.dumps(header, indent=2))
    for table, row in rows[:20]:
        out.print(f"{table}: {json.dumps(row, default=str)}")
    if len(rows) > 20:
        out.print(f"... {len(rows) - 20} more rows")


@app.command()
def restore(file: Path = typer.Argument(..., help="An archive file (name in SGE_ARCHIVE_DIR, or a path).")) -> None:
    """Put the file's rows back into the hot tables (one audited step; refuses rows already present)."""
    settings = settings_and_logs("cli", fmt="console")
    try:
        counts = restore_archive(get_engine(settings.db_url), _file(settings, file), _actor())
    except ArchiveError as exc:
        fail_domain(exc)
    out.print("restored: " + ", ".join(f"{n} {t}" for t, n in counts.items()))
    hard_exit(0)
