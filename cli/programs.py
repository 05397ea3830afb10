"""`sge programs`: tenants (fee, claim amount, commission levels, depth, hold period). Changes are audited."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError
from rich.table import Table
from sqlmodel import Session

from cli.common import fail, out, settings_and_logs
from cli.operators import cli_actor
from core.db import get_engine, session_scope
from models import programs as prg
from models.documents import DocumentKind, set_document
from models.kyc import KycMode
from models.money import AmountError, Asset, parse_amount
from models.platform import PaymentProvider
from models.terms import document_for

app = typer.Typer(help="Programs (tenants).", no_args_is_help=True)


def _engine():
    settings = settings_and_logs("cli", fmt="console")
    return get_engine(settings.db_url)


def _invalid(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ()))
    return f"{where}: {err.get('msg', 'invalid').removeprefix('Value error, ')}"


def _show(view: prg.ProgramView) -> None:
    out.print(json.dumps(view.model_dump(mode="json"), indent=2))


@app.command()
def create(
    slug: str = typer.Option(..., help="URL-safe id (a-z, 0-9, '-'); never changes."),
    name: str = typer.Option(..., help="Display name."),
    treasury: str = typer.Option(..., help="Treasury address (receives on-chain fees)."),
    fee: str = typer.Option("100", help="Registration fee, USD (exact decimal)."),
    claim: str = typer.Option("1000", help="SGE per claim (exact decimal)."),
    commission_bps: list[int] = typer.Option(
        None, "--commission-bps", help="Per level in basis points, level 1 first (default 1000, 500)."
    ),
    max_depth: int = typer.Option(2, help="Maximum affiliate tree depth (root = 1)."),
    hold_days: int = typer.Option(30, help="Days before a commission becomes payable."),
    provider: PaymentProvider = typer.Option(PaymentProvider.COINBASE_COMMERCE, help="Payment provider."),
) -> None:
    """Create a program."""
    try:
        data = prg.ProgramCreate(
            slug=slug,
            name=name,
            treasury_address=treasury,
            fee_usd=fee,
            claim_amount_sge=claim,
            commission_bps=commission_bps or list(prg.DEFAULT_COMMISSION_BPS),
            max_depth=max_depth,
            hold_days=hold_days,
            payment_provider=provider,
        )
    except ValidationError as exc:
        fail(_invalid(exc))
    with session_scope(_engine()) as session:
        view = prg.program_view(prg.create_program(session, cli_actor(), data))
    _show(view)


@app.command("list")
def list_() -> None:
    """List programs."""
    with Session(_engine()) as session:
        rows = [prg.program_view(p) for p in prg.list_programs(session)]
    table = Table(title="programs")
    for column in ("slug", "name", "fee USD", "claim SGE", "levels (bps)", "depth", "hold", "provider", "active"):
        table.add_column(column)
    for v in rows:
        table.add_row(
            v.slug,
            v.name,
            v.fee_usd,
            v.claim_amount_sge,
            ",".join(map(str, v.commission_bps)),
            str(v.max_depth),
            f"{v.hold_days}d",
            v.payment_provider.value,
            "yes" if v.active else "no",
        )
    out.print(table)


@app.command()
def show(slug: str) -> None:
    """Show one program."""
    with Session(_engine()) as session:
        _show(prg.program_view(prg.require_program(session, slug)))


@app.command()
def update(
    slug: str,
    name: str = typer.Option(None),
    treasury: str = typer.Option(None),
    fee: str = typer.Option(None, help="USD, exact decimal."),
    claim: str = typer.Option(None, help="SGE, exact decimal."),
    commission_bps: list[int] = typer.Option(None, "--commission-bps", help="Replaces all levels."),
    max_depth: int = typer.Option(None),
    hold_days: int = typer.Option(None),
    provider: PaymentProvider = typer.Option(None),
    active: bool = typer.Option(None, "--active/--inactive"),
    blocked_countries: str = typer.Option(
        None, "--blocked-countries", help="ISO codes refused, e.g. 'DE,US' ('' clears)."
    ),
    allowed_countries: str = typer.Option(
        None, "--allowed-countries", help="Only these ISO codes may register and pay ('' clears)."
    ),
    kyc: KycMode = typer.Option(None, "--kyc", help="Who must pass KYC before paying (README: KYC)."),
    kyc_threshold: str = typer.Option(
        None, "--kyc-threshold", help="USD, exact decimal: above_amount's cumulative limit per wallet."
    ),
) -> None:
    """Change a program (only the options given)."""
    given: dict[str, Any] = {
        "name": name,
        "treasury_address": treasury,
        "fee_usd": fee,
        "claim_amount_sge": claim,
        "commission_bps": commission_bps or None,
        "max_depth": max_depth,
        "hold_days": hold_days,
        "payment_provider": provider,
        "active": active,
        "blocked_countries": None if blocked_countries is None else blocked_countries.split(","),
        "allowed_countries": None if allowed_countries is None else allowed_countries.split(","),
    }
    if kyc is not None or kyc_threshold is not None:
        given["flags"] = _with_kyc(slug, kyc, kyc_threshold)
    try:
        changes = prg.ProgramUpdate(**{k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        fail(_invalid(exc))
    with session_scope(_engine()) as session:
        view = prg.program_view(prg.update_program(session, cli_actor(), slug, changes))
    _show(view)


terms_app = typer.Typer(
    help="A program's terms, privacy notice and risk disclosures (versioned).", no_args_is_help=True
)
app.add_typer(terms_app, name="terms")


@terms_app.command("set")
def terms_set(
    slug: str,
    kind: DocumentKind = typer.Option(DocumentKind.TERMS, help="Which document."),
    file: Path = typer.Option(..., exists=True, dir_okay=False, help="UTF-8 text file with the new version."),
) -> None:
    """Publish a new version (terms: users must sign again before their next payment)."""
    text = file.read_text(encoding="utf-8")
    with session_scope(_engine()) as session:
        row = set_document(session, cli_actor(), prg.require_program(session, slug), kind, text)
        shown = {"program": slug, "kind": row.kind, "version": row.version, "sha256": row.sha256}
    out.print(json.dumps(shown, indent=2))


@terms_app.command("show")
def terms_show(slug: str, kind: DocumentKind = typer.Option(DocumentKind.TERMS, help="Which document.")) -> None:
    """The version in force (the built-in default when none was published)."""
    with Session(_engine()) as session:
        doc = document_for(prg.require_program(session, slug), kind, session)
    out.print(json.dumps(doc.model_dump(), indent=2))


def _with_kyc(slug: str, mode: KycMode | None, threshold: str | None) -> dict:
    """The program's flags with its KYC policy changed (the other flags kept)."""
    with Session(_engine()) as session:
        flags = dict(prg.require_program(session, slug).flags or {})
    policy = dict(flags.get("kyc") or {})
    if mode is not None:
        policy["mode"] = mode.value
    if threshold is not None:
        try:
            policy["threshold_usd_minor"] = parse_amount(threshold, Asset.USD.scale)
        except AmountError as exc:
            fail(f"--kyc-threshold: {exc}")
    return {**flags, "kyc": policy}
