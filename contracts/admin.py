"""The contracts' admin key and deployment from the platform settings (used by `sge contracts deploy`
and the local stack). On a non-local chain the admin key must be configured and may not be a
published anvil key."""

from __future__ import annotations

from typing import Any

from eth_account import Account

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
        params=DeployParams(treasury=treasury, payout_approvers=list(approvers or [])),
        on_tx=on_tx,
    )
