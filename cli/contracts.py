"""`sge contracts`: compile the Solidity sources and deploy them."""

from __future__ import annotations

import json

import typer

from cli.common import fail, out, settings_and_logs
from contracts.admin import deploy_with_settings

app = typer.Typer(help="Smart contracts: build artifacts, deploy, show the deployment.", no_args_is_help=True)


@app.command()
def build(
    check: bool = typer.Option(False, "--check", help="Only compare a fresh compile with the committed artifacts."),
) -> None:
    """Compile contracts/src with the pinned solc-js into contracts/artifacts (needs node + npm ci)."""
    from contracts.build import BuildError
    from contracts.build import build as run_build
    from contracts.build import check as run_check

    settings_and_logs("cli", fmt="console")
    try:
        if check:
            problems = run_check()
            for problem in problems:
                out.print(f"[red]stale:[/] {problem}")
            if problems:
                fail("artifacts do not match the sources; run `sge contracts build`", code=1)
            out.print("artifacts match the sources")
            return
        names = run_build()
    except BuildError as exc:
        fail(str(exc))
        return
    out.print(f"built {len(names)} contracts: {', '.join(names)}")


@app.command()
def deploy(
    confirm_mainnet: bool = typer.Option(False, "--confirm-mainnet", help="Required to deploy on chain id 1."),
    relayer: str = typer.Option(
        None, help="Relayer address to grant roles to (default: the configured relayer key's)."
    ),
    treasury: str = typer.Option(None, help="Treasury for claim fees and SGE supply (default: the deployer)."),
    approvers: list[str] = typer.Option(
        None, "--approver", help="A payout approver's address (repeatable; none: add later)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the manifest as JSON."),
) -> None:
    """Deploy every contract, grant the relayer its roles and fund them; idempotent per chain."""
    from contracts.deploy import DeployError
    from contracts.rpc import RpcError

    settings = settings_and_logs("cli", fmt="console")
    try:
        result = deploy_with_settings(
            settings,
            relayer=relayer,
            treasury=treasury,
            confirm_mainnet=confirm_mainnet,
            approvers=approvers,
            on_tx=None if as_json else lambda label, tx: out.print(f"  {label}: {tx}"),
        )
    except (DeployError, RpcError) as exc:
        fail(str(exc))
        return
    if as_json:
        out.print_json(result.manifest.model_dump_json())
        return
    verb = "deployed" if result.deployed else "already deployed (nothing sent)"
    out.print(f"chain {result.manifest.chain_id}: {verb}; manifest {result.path}")
    for name, address in result.manifest.addresses.items():
        out.print(f"  {name:<18} {address}")


@app.command()
def show() -> None:
    """Print the deployment manifest of the configured chain."""
    from contracts.manifest import ManifestError, load_manifest

    settings = settings_and_logs("cli", fmt="console")
    try:
        manifest = load_manifest(settings.deployments_dir, settings.chain_id)
    except ManifestError as exc:
        fail(str(exc))
        return
    out.print_json(json.dumps(manifest.model_dump()))
