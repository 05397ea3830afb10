"""The treasury Safe as the contracts' admin, on anvil with the settings path `sge` uses: deploy with the
5 generated dev owners (3-of-5), hand every admin role over, prove no key holds one, then the pause lever
as a Safe transaction — 2 signatures are refused, a non-owner is refused, 3 execute; unpause restores."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from eth_account import Account
from sqlmodel import select
from web3.exceptions import ContractLogicError

from cli.safe import SafeRefused, default_sender_key, execute, propose, sign
from contracts.abi import decode_revert, encode_call, program_id, revert_data_from_exception
from contracts.admin import deploy_with_settings, dev_safe_owner_keys
from contracts.roles import ADMIN_ROLES, has_role
from contracts.rpc import connect
from contracts.safe import TREASURY_SAFE, safe_state
from core import migrate
from core.db import session_scope
from core.errors import Conflict
from models.audit import AuditLog


def sge(*args: str, settings, db_url: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "SGE_HOME": str(settings.home),
        "SGE_ETH_RPC_URLS": settings.eth_rpc_urls[0],
        "SGE_CHAIN_ID": str(settings.chain_id),
        "SGE_RELAYER_PRIVATE_KEY": settings.relayer_private_key.get_secret_value(),
        "SGE_DATABASE_URL": db_url,
        "SGE_ENVIRONMENT": "test",
        "SGE_LOG_FORMAT": "console",
    }
    return subprocess.run([sys.executable, "-m", "cli", *args], env=env, capture_output=True, text=True, timeout=120)


def claim_refusal(w3, claim: str) -> str:
    """Why a user's claim is refused right now (simulated)."""
    user = Account.create().address
    data = encode_call("SGEClaim", "claim", program_id("nope"), user, bytes(32))
    try:
        w3.eth.call({"from": user, "to": claim, "data": data})
    except ContractLogicError as exc:
        return decode_revert(revert_data_from_exception(exc))
    return ""


def test_handover_then_pause_needs_three_of_five(settings, db_engine, db_url):
    migrate.upgrade(db_engine)
    manifest = deploy_with_settings(settings).manifest
    w3 = connect(settings.eth_rpc_urls, expected_chain_id=settings.chain_id)
    safe = manifest.address(TREASURY_SAFE)
    owner_keys = [p.read_text().strip() for p in dev_safe_owner_keys(settings)]
    assert sorted(safe_state(w3, safe).owners) == sorted(Account.from_key(k).address for k in owner_keys)
    assert safe_state(w3, safe).threshold == 3

    before = sge("contracts", "roles", "--json", settings=settings, db_url=db_url)
    assert before.returncode == 1 and json.loads(before.stdout)["eoa_admins"] > 0  # the deployer still holds them
    handed = sge("contracts", "handover", "--to-safe", settings=settings, db_url=db_url)
    assert handed.returncode == 0, handed.stderr
    after = sge("contracts", "roles", "--json", settings=settings, db_url=db_url)
    assert after.returncode == 0, after.stdout
    holders = json.loads(after.stdout)["holders"]
    report = json.loads(after.stdout)
    assert {h["account"] for h in holders} == {safe} and report["eoa_admins"] == 0 and report["only_safe"]
    assert (report["safe"], report["safe_threshold"], len(report["safe_owners"])) == (safe, 3, 5)
    assert len(holders) == sum(len(r) for r in ADMIN_ROLES.values())
    assert not has_role(w3, manifest, "SGEClaim", "DEFAULT_ADMIN_ROLE", manifest.deployer)

    proposed = propose(settings, "pause", ["SGEClaim"])
    tx_id = int(proposed["id"])
    with pytest.raises(SafeRefused, match="not an owner"):
        sign(settings, tx_id, Account.create().key.hex())
    for key in owner_keys[:2]:
        sign(settings, tx_id, key)
    sender = default_sender_key(settings, None)
    with pytest.raises(SafeRefused, match="has 2 owner signature"):
        execute(settings, tx_id, sender)
    assert "EnforcedPause" not in claim_refusal(w3, manifest.address("SGEClaim"))
    assert sign(settings, tx_id, owner_keys[4])["signers"] == sorted(
        Account.from_key(k).address for k in (owner_keys[0], owner_keys[1], owner_keys[4])
    )
    done = execute(settings, tx_id, sender)
    assert done["status"] == "executed" and done["executed_tx_hash"]
    assert "EnforcedPause" in claim_refusal(w3, manifest.address("SGEClaim"))
    with pytest.raises(Conflict, match="already executed"):
        execute(settings, tx_id, sender)  # the Safe's nonce has moved on; nothing is sent twice
    with pytest.raises(Conflict, match="no more signatures"):
        sign(settings, tx_id, owner_keys[3])
    with pytest.raises(SafeRefused, match="unknown contract"):
        propose(settings, "pause", ["SGEToken"])  # refused before anything is stored

    lever = sge("contracts", "unpause", "SGEClaim", settings=settings, db_url=db_url)  # the dev owners sign
    assert lever.returncode == 0, lever.stderr
    assert "EnforcedPause" not in claim_refusal(w3, manifest.address("SGEClaim"))
    listed = sge("safe", "list", "--json", settings=settings, db_url=db_url)
    rows = sorted((json.loads(line) for line in listed.stdout.splitlines()), key=lambda r: r["nonce"])
    assert [(r["action"], r["status"], len(r["signers"])) for r in rows] == [
        ("pause", "executed", 3),
        ("unpause", "executed", 3),
    ]
    with session_scope(db_engine) as session:
        actions = sorted(
            a.action for a in session.exec(select(AuditLog)).all() if a.action.startswith(("safe", "contracts"))
        )
    assert actions.count("safe.execute") == 2 and actions.count("safe.sign") == 6
    assert {"safe.propose", "safe.execute.requested", "contracts.handover"} <= set(actions)


def test_dev_up_handover_leaves_no_key_as_admin(tmp_path):
    """`sge dev up --handover`: after deploy and program sync every admin/pauser role is the Safe's."""
    from tests.foundation.test_dev_stack import _stack_env, _wait_gone

    home = tmp_path / "var"
    result = subprocess.run(
        [sys.executable, "-m", "cli", "dev", "up", "--smoke", "--handover"],
        env=_stack_env(home),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # 7 roles (SGEID 2, AffiliateRegistry 1, AffiliatePayout 2, SGEClaim 2): a grant and a renounce each
    assert "handed over (14 transactions; dev owners sign)" in result.stderr
    assert sorted(p.name for p in (home / "dev").glob("safe-owner-*.key")) == [
        f"safe-owner-{i}.key" for i in range(1, 6)
    ]
    assert _wait_gone(home) == []
    again = subprocess.run(  # anvil's persisted state: the deployment is reused, nothing is left to hand over
        [sys.executable, "-m", "cli", "dev", "up", "--smoke"],
        env=_stack_env(home),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert "reused (already on chain)" in again.stderr and "handed over (0 transactions" in again.stderr
    assert _wait_gone(home) == []
