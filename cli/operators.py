"""`sge operators`: people who operate the platform, each with their own API key and roles."""

from __future__ import annotations

import getpass

import typer
from rich.table import Table
from sqlmodel import Session

from cli.common import out, settings_and_logs
from core.db import get_engine, session_scope
from models import operators as ops

app = typer.Typer(
    help="Operators: their API keys (stored hashed) and roles (admin, approver, viewer).", no_args_is_help=True
)


def _engine():
    settings = settings_and_logs("cli", fmt="console")
    return get_engine(settings.db_url)


def cli_actor() -> ops.Actor:
    """Changes made from the CLI are audited under the machine user that made them."""
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        user = "unknown"
    return ops.Actor(name=f"cli:{user}")


def _print_key(view: ops.OperatorView, key: str) -> None:
    out.print(f"operator {view.name} (id {view.id}), roles {', '.join(r.value for r in view.roles)}")
    out.print("API key (shown once, store it now):")
    print(key, flush=True)


@app.command()
def create(
    name: str = typer.Argument(..., help="The person's name."),
    role: list[ops.Role] = typer.Option(..., "--role", "-r", help="admin, approver or viewer (repeatable)."),
) -> None:
    """Create an operator and print their API key once."""
    with session_scope(_engine()) as session:
        view, key = ops.create_operator(session, cli_actor(), name, [r.value for r in role])
    _print_key(view, key)


@app.command("list")
def list_() -> None:
    """List operators (keys are never shown, only their first characters)."""
    with Session(_engine()) as session:
        rows = ops.list_operators(session)
    table = Table(title="operators")
    for column in ("id", "name", "roles", "key", "active", "created by"):
        table.add_column(column)
    for v in rows:
        table.add_row(
            str(v.id),
            v.name,
            ",".join(r.value for r in v.roles),
            v.key_hint + "…",
            "yes" if v.active else "no",
            v.created_by,
        )
    out.print(table)


def _change(fn, ident: str, *args):
    with session_scope(_engine()) as session:
        return fn(session, cli_actor(), ident, *args)


@app.command()
def disable(ident: str = typer.Argument(..., help="Operator name or id.")) -> None:
    """Disable an operator: their key stops working at once."""
    view = _change(ops.set_active, ident, False)
    out.print(f"operator {view.name} disabled")


@app.command()
def enable(ident: str = typer.Argument(..., help="Operator name or id.")) -> None:
    """Re-enable an operator."""
    view = _change(ops.set_active, ident, True)
    out.print(f"operator {view.name} enabled")


@app.command("rotate-key")
def rotate_key(ident: str = typer.Argument(..., help="Operator name or id.")) -> None:
    """Replace an operator's key (the old one stops working) and print the new one once."""
    result = _change(ops.rotate_key, ident)
    _print_key(*result)


@app.command("set-roles")
def set_roles(
    ident: str = typer.Argument(..., help="Operator name or id."),
    role: list[ops.Role] = typer.Option(..., "--role", "-r", help="The new roles (repeatable)."),
) -> None:
    """Replace an operator's roles."""
    view = _change(ops.set_roles, ident, [r.value for r in role])
    out.print(f"operator {view.name}: roles {', '.join(r.value for r in view.roles)}")
