"""`sge contracts`: compile the Solidity sources and deploy them (plus the `sge dev up` deploy step)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import typer
from eth_account import Account

from cli.common import fail, out, settings_and_logs
from core.devchain import anvil_accounts, is_anvil_dev_key
from core.settings import ConfigError, Settings

app = typer.Typer(help="Smart contracts: build artifacts, deploy, show the deployment.", no_args_is_help=True)


@app.command()
def build(check: bool = typer.Option(False, "--check", help="Only compare a fresh compile with the committed artifacts.")) -> None:
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


def deployer_key(settings: Settings) -> str:
    """The contracts' admin key: configured, or anvil's funded dev account on a local chain."""
    if settings.deployer_private_key is not None:
        key = settings.deployer_private_key.get_secret_value()
    elif settings.is_local_chain:
        key = anvil_accounts()[0].key.hex()  # anvil's funded account: only ever on a local chain
    else:
        raise ConfigError("SGE_DEPLOYER_PRIVATE_KEY", "not set (required to deploy on a non-local chain)")
    if not settings.is_local_chain and is_anvil_dev_key(key):
        raise ConfigError("SGE_DEPLOYER_PRIVATE_KEY", f"a published anvil dev key; refused on chain {settings.chain_id}")
    return key


def _relayer_address(settings: Settings, relayer: str | None) -> str:
    if relayer:
        return relayer
    return Account.from_key(settings.require_relayer_key()).address


def deploy_with_settings(
    settings: Settings, *, relayer: str | None = None, treasury: str | None = None, confirm_mainnet: bool = False,
    approvers: list[str] | None = None, on_tx: Any = None,
):
    """Deploy (or find) the contracts for `settings`' chain; returns contracts.deploy.DeployResult."""
    from contracts.deploy import DeployParams, deploy_all
    from contracts.rpc import connect

    w3 = connect(settings.eth_rpc_urls, expected_chain_id=settings.chain_id)
    return deploy_all(
        w3,
        Account.from_key(deployer_key(settings)),
        _relayer_address(settings, relayer),
        settings.deployments_dir,
        chain_id=settings.chain_id,
        local_chain=settings.is_local_chain,
        confirm_mainnet=confirm_mainnet,
        params=DeployParams(treasury=treasury, payout_approvers=list(approvers or [])),
        on_tx=on_tx,
    )


@app.command()
def deploy(
    confirm_mainnet: bool = typer.Option(False, "--confirm-mainnet", help="Required to deploy on chain id 1."),
    relayer: str = typer.Option(None, help="Relayer address to grant roles to (default: the configured relayer key's)."),
    treasury: str = typer.Option(None, help="Treasury for claim fees and SGE supply (default: the deployer)."),
    approvers: list[str] = typer.Option(None, "--approver", help="A payout approver's address (repeatable; none: add later)."),
    as_json: bool = typer.Option(False, "--json", help="Print the manifest as JSON."),
) -> None:
    """Deploy every contract, grant the relayer its roles and fund them; idempotent per chain."""
    from contracts.deploy import DeployError
    from contracts.rpc import RpcError

    settings = settings_and_logs("cli", fmt="console")
    try:
        result = deploy_with_settings(
            settings, relayer=relayer, treasury=treasury, confirm_mainnet=confirm_mainnet, approvers=approvers,
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


async def dev_deploy_step(_sup: Any, settings: Settings, info: Any) -> None:
    """`sge dev up` step (after anvil is up and the relayer funded): deploy, or reuse what the
    manifest names when anvil's persisted state still has it."""
    from pathlib import Path

    from pydantic import SecretStr

    key_file = info.env.get("SGE_RELAYER_PRIVATE_KEY_FILE")
    relayer = Account.from_key(Path(key_file).read_text().strip()).address if key_file else None
    deployer = info.env.get("SGE_DEPLOYER_PRIVATE_KEY")
    if deployer and settings.deployer_private_key is None:
        settings = settings.model_copy(update={"deployer_private_key": SecretStr(deployer)})
    result = await asyncio.to_thread(deploy_with_settings, settings, relayer=relayer)
    verb = "deployed" if result.deployed else "reused (already on chain)"
    info.add("contracts", str(result.path), f"{verb}, chain {result.manifest.chain_id}")
    for name, address in result.manifest.addresses.items():
        info.add(f"  {name}", address, "")
