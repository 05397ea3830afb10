"""`sge contracts`: compile the Solidity sources and deploy them."""

from __future__ import annotations

import getpass
import json

import typer
from eth_account import Account

from cli.common import fail, fail_domain, hard_exit, out, settings_and_logs
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


@app.command()
def handover(
    to_safe: bool = typer.Option(False, "--to-safe", help="Required: move every admin/pauser role to the Safe."),
) -> None:
    """Grant every admin and pauser role to the treasury Safe and renounce the deployer's (resumable)."""
    from contracts.admin import deployer_key
    from contracts.deploy import DeployError
    from contracts.manifest import ManifestError, load_manifest
    from contracts.roles import handover_to_safe
    from contracts.rpc import connect
    from contracts.safe import TREASURY_SAFE
    from core.db import get_engine, session_scope
    from models.audit import audit
    from models.operators import Actor

    if not to_safe:
        fail("pass --to-safe (the only handover there is)")
    settings = settings_and_logs("cli", fmt="console")
    try:
        manifest = load_manifest(settings.deployments_dir, settings.chain_id)
        safe = manifest.address(TREASURY_SAFE)
        w3 = connect(settings.eth_rpc_urls, expected_chain_id=settings.chain_id)
        sent = handover_to_safe(
            w3, Account.from_key(deployer_key(settings)), manifest, safe,
            on_tx=lambda label, tx: out.print(f"  {label}: {tx}"),
        )  # fmt: skip
    except (DeployError, ManifestError) as exc:
        fail(str(exc))
    with session_scope(get_engine(settings.db_url)) as session:
        audit(session, Actor(name=f"cli:{getpass.getuser()}"), "contracts.handover", "safe", safe, None, sent)
    out.print(f"handed over to the Safe {safe}: {len(sent)} transaction(s) sent")


@app.command()
def roles(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Every admin/pauser role holder; exit 1 when an externally owned account (a key) holds one."""
    from contracts.manifest import ManifestError, load_manifest
    from contracts.roles import eoa_admins, role_holders
    from contracts.rpc import connect
    from contracts.safe import TREASURY_SAFE, safe_state

    settings = settings_and_logs("cli", fmt="console")
    try:
        manifest = load_manifest(settings.deployments_dir, settings.chain_id)
    except ManifestError as exc:
        fail(str(exc))
    w3 = connect(settings.eth_rpc_urls, expected_chain_id=settings.chain_id)
    holders = role_holders(w3, manifest)
    eoas = eoa_admins(holders)
    report: dict[str, object] = {"holders": [h.as_dict() for h in holders], "eoa_admins": len(eoas)}
    if TREASURY_SAFE in manifest.contracts:  # for the preflight: only the Safe, with the configured threshold
        safe = manifest.address(TREASURY_SAFE)
        state = safe_state(w3, safe)
        report |= {
            "safe": safe,
            "safe_owners": state.owners,
            "safe_threshold": state.threshold,
            "only_safe": bool(holders) and all(h.account == safe for h in holders),
        }
    if as_json:
        print(json.dumps(report), flush=True)
    else:
        for h in holders:
            out.print(f"{h.contract:<18} {h.role:<19} {h.account} {'contract' if h.is_contract else '[red]EOA[/]'}")
        out.print(f"{len(eoas)} admin role(s) held by an externally owned account")
        if "safe" in report:
            out.print(f"treasury Safe {report['safe']}: {report['safe_threshold']} of {len(state.owners)} owners")
    if eoas:
        hard_exit(1)


def _lever(action: str, name: str, as_json: bool) -> None:
    from cli.safe import dev_sign_and_execute, propose
    from contracts.deploy import DeployError
    from core.errors import DomainError

    settings = settings_and_logs("cli", fmt="console")
    try:
        proposed = propose(settings, action, [name])
        if not settings.is_local_chain:
            tx_id = proposed["id"]
            out.print(f"proposed Safe transaction #{tx_id}; owners: `sge safe sign {tx_id} --key-file F`")
            return
        result = dev_sign_and_execute(settings, int(proposed["id"]))
    except DomainError as exc:
        fail_domain(exc)
    except DeployError as exc:
        fail(str(exc), code=1)
    if as_json:
        print(json.dumps(result), flush=True)
    else:
        out.print(f"{action}d {name} through the Safe: {result['executed_tx_hash']}")


@app.command()
def pause(name: str = typer.Argument(..., help="SGEID | AffiliatePayout | SGEClaim"), as_json: bool = False) -> None:
    """Incident lever: pause a contract through the Safe (dev stack: the dev owners sign)."""
    _lever("pause", name, as_json)


@app.command()
def unpause(name: str = typer.Argument(..., help="SGEID | AffiliatePayout | SGEClaim"), as_json: bool = False) -> None:
    """Resume a paused contract through the Safe (dev stack: the dev owners sign)."""
    _lever("unpause", name, as_json)
