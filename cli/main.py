"""`sge`: run the platform's processes and operate it."""

from __future__ import annotations

import os
import sys

import typer
from sqlalchemy.exc import OperationalError

from cli import archive as archive_cli
from cli import audit, bench, contracts, db, demo, dev, flows, levers, money, payouts, relayer
from cli import backup as backup_cli
from cli import ledger as ledger_cli
from cli import operators as operators_cli
from cli import preflight as preflight_cli
from cli import privacy as privacy_cli
from cli import programs as programs_cli
from cli import reconcile as reconcile_cli
from cli import reports as reports_cli
from cli import safe as safe_cli
from cli import sandbox as sandbox_cli
from cli import treasury as treasury_cli
from cli.common import fail, fail_domain, hard_exit, out, run_async, settings_and_logs
from core.errors import DomainError
from core.redact import redact_url
from core.settings import ConfigError, Settings, env_name, load_settings

app = typer.Typer(
    name="sge",
    help="SGE settlement platform: processes, local stack, and operator commands.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(audit.app, name="audit")
app.add_typer(db.app, name="db")
app.add_typer(dev.app, name="dev")
app.add_typer(demo.app, name="demo")
app.add_typer(flows.app, name="flows")
app.add_typer(payouts.app, name="payouts")
app.add_typer(flows.halt_app, name="halt")
app.add_typer(flows.gate_app, name="gate")
app.add_typer(money.suspense_app, name="suspense")
app.add_typer(money.payments_app, name="payments")
app.command("payments-sandbox")(sandbox_cli.payments_sandbox)
app.command("kyc-sandbox")(sandbox_cli.kyc_sandbox)
app.add_typer(contracts.app, name="contracts")
app.add_typer(relayer.app, name="relayer")
app.add_typer(safe_cli.app, name="safe")
app.add_typer(bench.app, name="bench")
app.add_typer(ledger_cli.app, name="ledger")
app.add_typer(operators_cli.app, name="operators")
app.add_typer(programs_cli.app, name="programs")
app.add_typer(privacy_cli.app, name="privacy")
app.add_typer(treasury_cli.app, name="treasury")
app.add_typer(reconcile_cli.app, name="reconcile")
app.add_typer(reports_cli.app, name="reports")
app.add_typer(backup_cli.app, name="backup")
app.add_typer(archive_cli.app, name="archive")
app.add_typer(levers.workers_app, name="workers")
relayer.app.command("freeze")(levers.relayer_freeze)
app.add_typer(levers.rpc_app, name="rpc")
app.command("preflight")(preflight_cli.preflight)


@app.command()
def worker() -> None:
    """Run a Temporal worker with every workflow and activity (until SIGINT/SIGTERM)."""
    from temporal.worker import run_worker

    settings = settings_and_logs("worker")
    run_async(run_worker(settings))
    hard_exit(0)


@app.command()
def api(
    workers: int | None = typer.Option(
        None, min=1, max=64, help="API processes (default SGE_API_PROCESSES); each serves both ports."
    ),
) -> None:
    """Serve the public port (SGE_API_HOST:SGE_API_PORT) and the operator port
    (SGE_OPERATOR_HOST:SGE_OPERATOR_PORT) with uvicorn, until SIGINT/SIGTERM."""
    from api.serve import serve

    settings = settings_and_logs("api")
    if workers is not None and workers != settings.api_processes:
        # The posture rules count processes (Redis is required for more than one in production).
        os.environ["SGE_API_PROCESSES"] = str(workers)
        settings = load_settings()
    serve(settings)


@app.command("config")
def show_config(
    markdown: bool = typer.Option(False, "--markdown", help="Print the README's configuration table instead."),
    update_readme: bool = typer.Option(
        False, "--update-readme", help="Rewrite the table in README.md (run in the repo)."
    ),
) -> None:
    """Print the effective configuration (secrets only as set/unset, credentials in URLs as ***)."""
    if markdown:
        print(config_table_markdown())
        return
    if update_readme:
        from pathlib import Path

        readme = Path("README.md")
        text = readme.read_text()
        start = text.index("-->", text.index("<!-- config-table:start")) + 3
        end = text.index("<!-- config-table:end -->")
        readme.write_text(text[:start] + "\n" + config_table_markdown() + "\n" + text[end:])
        out.print("README.md configuration table updated")
        return
    settings = settings_and_logs("cli", fmt="console")
    for name, field in Settings.model_fields.items():
        value = getattr(settings, name)
        shown = ("(set)" if value is not None else "(unset)") if _is_secret(field) else _shown(value)
        out.print(f"{env_name(name):<40} {shown}", markup=False)
    out.print(f"{'(database in use)':<40} {redact_url(settings.db_url)}", markup=False)


def _shown(value: object) -> object:
    """A setting as printed: URLs without their credentials."""
    if isinstance(value, str):
        return redact_url(value)
    if isinstance(value, list):
        return [redact_url(v) if isinstance(v, str) else v for v in value]
    return value


def _is_secret(field) -> bool:
    return "SecretStr" in str(field.annotation)


def config_table_markdown() -> str:
    """The configuration table in the README, generated from the Settings fields (a test keeps it true)."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        if default is None or default == []:
            shown = "—"
        elif isinstance(default, list):
            shown = "`" + ",".join(map(str, default)) + "`"
        else:
            shown = f"`{default}`"
        variable = f"`{env_name(name)}`"
        if name == "database_url":
            variable = "`DATABASE_URL` (or `SGE_DATABASE_URL`)"
        if _is_secret(field):
            variable += f" / `{env_name(name)}_FILE`"
        rows.append(f"| {variable} | {shown} | {field.description or ''} |")
    return "\n".join(rows)


def main() -> None:
    try:
        app()
    except ConfigError as exc:
        fail(str(exc))
    except DomainError as exc:
        fail_domain(exc)
    except OperationalError as exc:
        fail(f"DATABASE_URL: cannot connect ({str(exc.orig).splitlines()[0][:200]})")
    except SystemExit as exc:
        raise exc
    sys.exit(0)


if __name__ == "__main__":
    main()
