"""`sge safe`: admin actions as treasury-Safe transactions — propose, sign (one owner at a time),
execute once the Safe's threshold of owners has signed, list. Every step is on the audit log.

Execution is sent directly by a funded account (`--sender-key-file`; on a local chain the dev
deployer account by default), not through the relayer outbox: the outbox serialises the relayer
key's nonces for workflow intents, and a Safe execution needs no relayer role — any account may
submit it, and the Safe's own nonce makes a second submission revert instead of acting twice.
"""

from __future__ import annotations

import asyncio
import getpass
import json
from pathlib import Path
from typing import Any

import typer
from eth_account import Account
from web3 import Web3

from cli.common import fail, fail_domain, out, settings_and_logs
from core.errors import Conflict, DomainError
from core.settings import Settings

app = typer.Typer(help="Treasury Safe transactions: propose, sign, execute, list.", no_args_is_help=True)

AUDIT_TARGET = "safe_tx"


class SafeRefused(DomainError):
    code = "safe_refused"
    status = 422


def _actor() -> Any:
    from models.operators import Actor

    return Actor(name=f"cli:{getpass.getuser()}")


def _chain(settings: Settings) -> tuple[Web3, Any, str]:
    from contracts.manifest import load_manifest
    from contracts.rpc import connect
    from contracts.safe import TREASURY_SAFE

    manifest = load_manifest(settings.deployments_dir, settings.chain_id)
    if TREASURY_SAFE not in manifest.contracts:
        raise SafeRefused("the deployment has no treasury Safe (it predates it): deploy into a fresh app home or chain")
    return (
        connect(settings.eth_rpc_urls, expected_chain_id=settings.chain_id),
        manifest,
        manifest.address(TREASURY_SAFE),
    )


def propose(settings: Settings, action: str, args: list[str]) -> dict[str, Any]:
    from contracts.safe import SafeTx, safe_state, safe_tx_hash
    from contracts.safe_actions import ActionError, build_safe_call
    from core.db import get_engine, session_scope
    from models.audit import audit
    from models.safe_txs import SafeTxRow, next_nonce

    w3, manifest, safe = _chain(settings)
    try:
        call = build_safe_call(manifest, action, args)
    except ActionError as exc:
        raise SafeRefused(str(exc)) from None
    with session_scope(get_engine(settings.db_url)) as session:
        nonce = next_nonce(session, safe, safe_state(w3, safe).nonce)
        tx = SafeTx(to=call.to, value=call.value, data=call.data, operation=0, nonce=nonce)
        row = SafeTxRow(
            chain_id=settings.chain_id,
            safe=safe,
            action=call.action,
            description=call.description,
            to_address=call.to,
            value=call.value,
            data="0x" + call.data.hex(),
            nonce=nonce,
            safe_tx_hash="0x" + safe_tx_hash(settings.chain_id, safe, tx).hex(),
            typed_data=json.dumps(tx.typed_data(settings.chain_id, safe)),
            proposed_by=_actor().name,
        )
        session.add(row)
        session.flush()
        audit(session, _actor(), "safe.propose", AUDIT_TARGET, str(row.id), None, row.summary())
        return row.summary()


def _safe_tx(row: Any) -> Any:
    from contracts.safe import SafeTx

    return SafeTx(to=row.to_address, value=int(row.value), data=bytes.fromhex(row.data[2:]), operation=row.operation,
                  nonce=row.nonce)  # fmt: skip


def sign(settings: Settings, tx_id: int, owner_key: str) -> dict[str, Any]:
    """Add the owner's signature; a key that is not an owner of the Safe is refused."""
    from contracts.safe import safe_state, safe_tx_hash, sign_safe_tx
    from core.db import get_engine, session_scope
    from models.audit import audit
    from models.safe_txs import add_signature, get_safe_tx

    w3, _, safe = _chain(settings)
    owner = Account.from_key(owner_key)
    if owner.address not in safe_state(w3, safe).owners:
        raise SafeRefused(f"{owner.address} is not an owner of the Safe {safe}")
    with session_scope(get_engine(settings.db_url)) as session:
        row = get_safe_tx(session, tx_id)
        tx_hash = safe_tx_hash(row.chain_id, row.safe, _safe_tx(row))
        if "0x" + tx_hash.hex() != row.safe_tx_hash:
            raise SafeRefused(f"Safe transaction {tx_id}: stored fields do not match its hash")
        before = row.summary()
        if add_signature(session, row, owner.address, "0x" + sign_safe_tx(owner, tx_hash).hex()):
            audit(session, _actor(), "safe.sign", AUDIT_TARGET, str(tx_id), before, row.summary())
        return row.summary()


def execute(settings: Settings, tx_id: int, sender_key: str) -> dict[str, Any]:
    """Submit `execTransaction` once the Safe's threshold of owners has signed (refused before)."""
    from contracts.deploy import _Sender
    from contracts.safe import exec_transaction_data, safe_state
    from core.db import get_engine, session_scope
    from models.audit import audited_call
    from models.safe_txs import SafeTxStatus, get_safe_tx, mark_executed

    w3, _, safe = _chain(settings)
    engine = get_engine(settings.db_url)
    with session_scope(engine) as session:
        row = get_safe_tx(session, tx_id)
        summary, signatures, tx = row.summary(), row.signature_map(), _safe_tx(row)
    if summary["status"] != SafeTxStatus.PENDING.value:
        raise Conflict(f"Safe transaction {tx_id} is already {summary['status']}")
    state = safe_state(w3, safe)
    valid = {o: bytes.fromhex(s[2:]) for o, s in signatures.items() if o in state.owners}
    if len(valid) < state.threshold:
        raise SafeRefused(
            f"Safe transaction {tx_id} has {len(valid)} owner signature(s); the Safe needs {state.threshold}"
        )
    if tx.nonce != state.nonce:
        raise SafeRefused(f"Safe transaction {tx_id} has nonce {tx.nonce}; the Safe is at nonce {state.nonce}")

    async def submit() -> str:
        sender = _Sender(w3, Account.from_key(sender_key), settings.chain_id, None)
        receipt = await asyncio.to_thread(
            sender.send, f"execute Safe tx {tx_id}", safe, exec_transaction_data(tx, valid)
        )
        return "0x" + bytes(receipt["transactionHash"]).hex()

    chain_tx = asyncio.run(
        audited_call(
            engine, _actor(), "safe.execute", AUDIT_TARGET, str(tx_id), summary, {"signers": sorted(valid)}, submit
        )
    )
    with session_scope(engine) as session:
        row = get_safe_tx(session, tx_id)
        mark_executed(session, row, chain_tx)
        return row.summary()


def default_sender_key(settings: Settings, key_file: Path | None) -> str:
    if key_file is not None:
        return key_file.read_text().strip()
    if settings.is_local_chain:
        from contracts.admin import deployer_key

        return deployer_key(settings)  # anvil's funded dev account: only on a local chain
    raise SafeRefused("--sender-key-file is required on a non-local chain (a funded account pays the gas)")


def _print(summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary), flush=True)
        return
    out.print(
        f"#{summary['id']} {summary['status']} nonce {summary['nonce']}: {summary['description']} "
        f"signed by {len(summary['signers'])} ({', '.join(summary['signers'])}) {summary['executed_tx_hash'] or ''}"
    )


_AS_JSON = typer.Option(False, "--json", help="Print JSON.")


@app.command("propose")
def propose_cmd(
    action: str = typer.Argument(..., help="pause | unpause | grant-role | revoke-role | transfer-eth"),
    args: list[str] = typer.Argument(None, help="The action's arguments (see `sge safe actions`)."),
    as_json: bool = _AS_JSON,
) -> None:
    """Store a pending Safe transaction for ACTION (with its EIP-712 typed data)."""
    settings = settings_and_logs("cli", fmt="console")
    try:
        _print(propose(settings, action, list(args or [])), as_json)
    except DomainError as exc:
        fail_domain(exc)


@app.command("sign")
def sign_cmd(
    tx_id: int = typer.Argument(..., help="The pending transaction's id."),
    key_file: Path = typer.Option(..., "--key-file", help="The owner's private key file (hex)."),
    as_json: bool = _AS_JSON,
) -> None:
    """Add an owner's EIP-712 signature (refuses a key that is not an owner)."""
    settings = settings_and_logs("cli", fmt="console")
    try:
        _print(sign(settings, tx_id, key_file.read_text().strip()), as_json)
    except DomainError as exc:
        fail_domain(exc)


@app.command("execute")
def execute_cmd(
    tx_id: int = typer.Argument(..., help="The pending transaction's id."),
    sender_key_file: Path = typer.Option(None, "--sender-key-file", help="Funded account that pays the gas."),
    as_json: bool = _AS_JSON,
) -> None:
    """Submit the transaction once the Safe's threshold of owners has signed."""
    from contracts.deploy import DeployError

    settings = settings_and_logs("cli", fmt="console")
    try:
        _print(execute(settings, tx_id, default_sender_key(settings, sender_key_file)), as_json)
    except DomainError as exc:
        fail_domain(exc)
    except DeployError as exc:
        fail(str(exc), code=1)


@app.command("list")
def list_cmd(pending: bool = typer.Option(False, "--pending", help="Only pending."), as_json: bool = _AS_JSON) -> None:
    """Safe transactions, by nonce."""
    from core.db import get_engine, session_scope
    from models.safe_txs import list_safe_txs

    settings = settings_and_logs("cli", fmt="console")
    with session_scope(get_engine(settings.db_url)) as session:
        rows = [r.summary() for r in list_safe_txs(session, pending_only=pending)]
    for row in rows:
        _print(row, as_json)


@app.command("actions")
def actions_cmd() -> None:
    """The actions `propose` knows."""
    from contracts.safe_actions import ACTIONS

    for name, usage in ACTIONS.items():
        out.print(f"{name:<14} {usage}")


def dev_sign_and_execute(settings: Settings, tx_id: int) -> dict[str, Any]:
    """Local stack only: the dev owners (`<home>/dev/safe-owner-*.key`) sign up to the threshold,
    then the transaction is executed — the demo's stand-in for owners signing in their wallets."""
    from contracts.admin import dev_safe_owner_keys
    from contracts.safe import safe_state

    if not settings.is_local_chain:
        raise SafeRefused("owners sign themselves on a non-local chain: `sge safe sign TX --key-file F`")
    w3, _, safe = _chain(settings)
    threshold = safe_state(w3, safe).threshold
    for path in dev_safe_owner_keys(settings)[:threshold]:
        sign(settings, tx_id, path.read_text().strip())
    return execute(settings, tx_id, default_sender_key(settings, None))
