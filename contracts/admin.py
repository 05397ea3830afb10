"""The contracts' admin key and deployment from the platform settings (used by `sge contracts deploy`
and the local stack). On a non-local chain the admin key must be configured and may not be a
published anvil key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eth_account import Account
from web3 import Web3

from core.devchain import anvil_accounts, is_anvil_dev_key
from core.settings import ConfigError, Settings


def deployer_key(settings: Settings) -> str:
    """The contracts' admin key: configured, or anvil's funded dev account on a local chain."""
    if settings.deployer_private_key is not None:
        key = settings.deployer_private_key.get_secret_value()
    elif settings.is_local_chain:
        key = anvil_accounts()[0].key.hex()  # anvil's funded account: only ever on a local chain
    else:
        raise ConfigError("SGE_DEPLOYER_PRIVATE_KEY", "not set (required to deploy on a non-local chain)")
    if not settings.is_local_chain and is_anvil_dev_key(key):
        raise ConfigError(
            "SGE_DEPLOYER_PRIVATE_KEY", f"a published anvil dev key; refused on chain {settings.chain_id}"
        )
    return key


DEV_SAFE_OWNERS = 5


def dev_safe_owner_keys(settings: Settings) -> list[Path]:
    """Local chain: the 5 dev owner key files of the treasury Safe, generated once per app home (0600)."""
    paths = [settings.home / "dev" / f"safe-owner-{i}.key" for i in range(1, DEV_SAFE_OWNERS + 1)]
    for path in paths:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(Account.create().key.hex())
    return paths


def safe_owners(settings: Settings) -> list[str]:
    """The treasury Safe's owners: configured, or the dev owners on a local chain (else none: the
    deploy refuses, after its chain checks)."""
    if settings.safe_owners:
        return [Web3.to_checksum_address(a) for a in settings.safe_owners]
    if settings.is_local_chain:
        return [Account.from_key(p.read_text().strip()).address for p in dev_safe_owner_keys(settings)]
    return []


def _relayer_address(settings: Settings, relayer: str | None) -> str:
    if relayer:
        return relayer
    return Account.from_key(settings.require_relayer_key()).address


def deploy_with_settings(
    settings: Settings,
    *,
    relayer: str | None = None,
    treasury: str | None = None,
    confirm_mainnet: bool = False,
    approvers: list[str] | None = None,
    on_tx: Any = None,
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
        params=DeployParams(
            treasury=treasury,
            payout_approvers=list(approvers or []),
            safe_owners=safe_owners(settings),
            safe_threshold=settings.safe_threshold,
            require_safe=True,
        ),
        on_tx=on_tx,
    )
