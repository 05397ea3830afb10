"""Local-stack steps on the chain: the dev relayer key and its funding, the contracts (deployed or
reused), each program's on-chain claim config, and the deployment's funding entering the books."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from eth_account import Account
from pydantic import SecretStr
from web3 import Web3

from contracts.admin import deploy_with_settings, deployer_key, dev_safe_owner_keys
from contracts.deploy import _Sender, sync_program
from contracts.manifest import load_manifest
from contracts.roles import handover_to_safe, has_role
from contracts.rpc import connect as connect_rpc
from contracts.safe import TREASURY_SAFE, SafeAdminSender
from core.db import get_engine, session_scope
from core.devchain import anvil_accounts
from core.settings import Settings
from models import ledger
from models.programs import list_programs
from ops.devstack import processes

DEV_RELAYER_FUNDING_WEI = 10 * 10**18


def _dev_relayer_key(settings: Settings) -> Path:
    """A relayer key generated once per app home (0600), so dev never runs on a shared dev key."""
    path = settings.home / "dev" / "relayer.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(Account.create().key.hex())
    return path


def post_funding(settings: Settings, key: str, account: str, asset: str, amount: int, chain_tx: str) -> None:
    """Value put into the platform from outside (capital) enters the books, so the ledger's relayer
    ETH, SGE inventory and payout-contract balances can be reconciled with the chain."""
    with session_scope(get_engine(settings.db_url)) as session:
        ledger.post_transaction(
            session,
            key,
            "funding",
            {"chain_tx": chain_tx},
            [ledger.debit(account, asset, amount), ledger.credit(ledger.Accounts.capital, asset, amount)],
        )


async def opening_balances(_sup: Any, settings: Settings, info: Any) -> None:
    """The deployment's funding transfers, posted once per transaction (a re-used deployment replays)."""
    manifest = load_manifest(settings.deployments_dir, settings.chain_id)
    funded = [
        ("fund SGEClaim inventory", ledger.Accounts.sge_inventory, "SGE", int(manifest.params["claim_inventory"])),
        (
            "fund AffiliatePayout TestUSDC",
            ledger.Accounts.payout_contract,
            "USDC",
            int(manifest.params.get("payout_funding", 0)),
        ),
    ]
    for step, account, asset, amount in funded:
        tx = manifest.role_grants.get(step)
        if tx and tx.startswith("0x") and amount:
            post_funding(settings, f"funding:{account}:{tx}", account, asset, amount, tx)
    info.add("ledger", "opening balances", "deployment funding posted (equity:capital)")


def sync_programs(settings: Settings, slugs: list[str] | None = None) -> dict[str, str]:
    """Local chain: write each program's claim amount, fee (USD = 6-decimal stablecoin units) and
    active flag into the claim contract, as the contracts' admin (the deployer). Only differences are
    sent; returns {step: tx hash}. `slugs` None = every program in the database."""
    manifest = load_manifest(settings.deployments_dir, settings.chain_id)
    w3 = connect_rpc(settings.eth_rpc_urls, expected_chain_id=settings.chain_id)
    admin = Account.from_key(deployer_key(settings))
    with session_scope(get_engine(settings.db_url)) as session:
        programs = [
            (p.slug, p.claim_amount_minor, p.fee_usd_minor, p.active)
            for p in list_programs(session)
            if slugs is None or p.slug in slugs
        ]
    via_safe = _dev_safe_sender(settings, w3, manifest, admin)
    sent: dict[str, str] = {}
    for slug, claim_amount, fee, active in programs:
        sent.update(sync_program(w3, admin, manifest, slug, claim_amount, fee, active=active, admin_sender=via_safe))
    return sent


def _dev_safe_sender(settings: Settings, w3: Web3, manifest: Any, admin: Any) -> SafeAdminSender | None:
    """After `sge contracts handover --to-safe` the deployer is no admin: the dev owners sign instead."""
    if TREASURY_SAFE not in manifest.contracts or has_role(
        w3, manifest, "SGEClaim", "DEFAULT_ADMIN_ROLE", admin.address
    ):
        return None
    owners = [Account.from_key(p.read_text().strip()) for p in dev_safe_owner_keys(settings)]
    executor = _Sender(w3, admin, manifest.chain_id, None)  # the deployer still pays the gas on dev
    return SafeAdminSender(w3, manifest.address(TREASURY_SAFE), owners, executor.send)


async def sync_programs_step(_sup: Any, settings: Settings, info: Any) -> None:
    """Programs already in the database get their on-chain claim config (a fresh chain has none)."""
    sent = await asyncio.to_thread(sync_programs, settings)
    info.add("programs", "claim contract", f"on-chain config synced ({len(sent)} transactions)")


async def fund_relayer(_sup: Any, settings: Settings, info: Any) -> None:
    """Dev only: the deployer (anvil's funded account) tops the relayer up with a real transfer."""
    key_file = _dev_relayer_key(settings)
    info.env["SGE_RELAYER_PRIVATE_KEY_FILE"] = str(key_file.resolve())
    # anvil's first dev account deploys and funds; it is refused on any non-local chain.
    deployer_key = anvil_accounts()[0].key.hex()
    info.env.setdefault("SGE_DEPLOYER_PRIVATE_KEY", deployer_key)
    relayer = Account.from_key(key_file.read_text().strip()).address
    url = settings.eth_rpc_urls[0]
    balance = int(await processes.rpc_call(url, "eth_getBalance", [relayer, "latest"]), 16)
    if balance < DEV_RELAYER_FUNDING_WEI // 2:
        top_up = DEV_RELAYER_FUNDING_WEI - balance
        w3 = Web3(Web3.HTTPProvider(url))
        tx = await asyncio.to_thread(processes.send_signed, w3, Account.from_key(deployer_key), relayer, "0x", top_up)
        post_funding(
            settings, f"funding:{ledger.Accounts.relayer_eth}:{tx}", ledger.Accounts.relayer_eth, "ETH", top_up, tx
        )
        balance = DEV_RELAYER_FUNDING_WEI
    info.add("relayer", relayer, f"{balance // 10**18} ETH, dev key {key_file}")


async def dev_deploy_step(_sup: Any, settings: Settings, info: Any) -> None:
    """`sge dev up` step (after anvil is up and the relayer funded): deploy, or reuse what the
    manifest names when anvil's persisted state still has it."""
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


def dev_topup_relayer(settings: Settings, relayer: str, amount: int) -> str:
    """Local chain only: send `amount` wei to the relayer from anvil's funded dev account (the
    deployer) and book it as capital, as the stack's own funding is. Returns the transaction hash."""
    if not settings.is_local_chain:
        raise ValueError(f"chain {settings.chain_id} is not a local dev chain: the dev funding account is refused")
    w3 = connect_rpc(settings.eth_rpc_urls, expected_chain_id=settings.chain_id)
    tx = processes.send_signed(w3, anvil_accounts()[0], relayer, "0x", amount)
    post_funding(
        settings, f"funding:{ledger.Accounts.relayer_eth}:{tx}", ledger.Accounts.relayer_eth, "ETH", amount, tx
    )
    return tx


def dev_handover(settings: Settings) -> dict[str, str]:
    """`sge dev up --handover`: every admin/pauser role to the treasury Safe (resumable: only what is
    left is sent). Program syncs afterwards go through the Safe, signed by the dev owners."""
    manifest = load_manifest(settings.deployments_dir, settings.chain_id)
    if TREASURY_SAFE not in manifest.contracts:
        return {}  # a deployment from before the Safe (reused from anvil's persisted state): `--fresh` adds it
    w3 = connect_rpc(settings.eth_rpc_urls, expected_chain_id=settings.chain_id)
    admin = Account.from_key(deployer_key(settings))
    return handover_to_safe(w3, admin, manifest, manifest.address(TREASURY_SAFE))
