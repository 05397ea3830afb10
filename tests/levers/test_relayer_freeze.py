"""`sge relayer freeze` as an operator runs it: halt on, gate closed, audited; the relayer's recent and
open transactions and the flows mid-transaction; the Safe revocation printed as the next step."""

from __future__ import annotations

import json
import uuid

from eth_account import Account
from sqlmodel import Session, select

from core import migrate
from core.db import make_engine, session_scope
from models.audit import AuditLog
from models.chain import ChainTx, TxStatus
from models.chain_gate import chain_gate
from models.halt import halt_state
from models.onboarding import FlowState, Onboarding
from tests.helpers.ledger import make_program
from tests.monitoring.test_relayer_cli import _env, sge


def test_freeze_halts_closes_the_gate_and_reports_flows_mid_transaction(anvil, tmp_path):
    relayer, other = Account.create(), Account.create()
    env = _env(tmp_path, anvil, relayer)
    engine = make_engine(env["SGE_DATABASE_URL"])
    migrate.upgrade(engine)
    program_id = make_program(engine, slug=f"fz-{uuid.uuid4().hex[:6]}")
    with session_scope(engine) as session:
        for flow_id, state in (("flow-minting", FlowState.MINTING), ("flow-done", FlowState.COMPLETED)):
            session.add(
                Onboarding(program_id=program_id, wallet=Account.create().address, flow_id=flow_id, state=state)
            )
        for nonce, (key, status, sender) in enumerate(
            [
                ("flow-done:mint", TxStatus.CONFIRMED, relayer),
                ("flow-minting:mint", TxStatus.BROADCAST, relayer),
                ("payout-batch-7", TxStatus.SIGNED, relayer),
                ("someone-else:mint", TxStatus.BROADCAST, other),  # another relayer's outbox row
            ]
        ):
            session.add(
                ChainTx(
                    key=key,
                    chain_id=anvil.chain_id,
                    from_address=sender.address,
                    to_address=sender.address,
                    data="0x",
                    content_hash=key,
                    status=status.value,
                    nonce=nonce,
                    tx_hash=f"0x{nonce:064x}",
                )
            )

    result = sge("relayer", "freeze", "--reason", "key seen on a paste site", "--json", env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["relayer"] == relayer.address and report["halted"] and not report["chain_gate_open"]
    assert sorted(tx["key"] for tx in report["recent_transactions"]) == [
        "flow-done:mint",
        "flow-minting:mint",
        "payout-batch-7",
    ]
    assert sorted(tx["key"] for tx in report["open_transactions"]) == ["flow-minting:mint", "payout-batch-7"]
    assert [(f["flow_id"], f["state"], f["tx_status"]) for f in report["flows_mid_transaction"]] == [
        ("flow-minting", "minting", "broadcast")
    ]
    assert [tx["key"] for tx in report["other_open_transactions"]] == ["payout-batch-7"]
    assert any(f"sge safe propose revoke-relayer --address {relayer.address}" in s for s in report["next_steps"])

    with Session(engine) as session:
        assert halt_state(session).halted
        assert not chain_gate(session, _settings(env)).open
        actions = sorted(row.action for row in session.exec(select(AuditLog)).all())
    assert actions.count("relayer.freeze") == 1 and "halt.on" in actions and "chain_gate.on" in actions

    human = sge("relayer", "freeze", "--reason", "again", env=env)  # idempotent: already frozen
    assert human.returncode == 0, human.stderr
    assert "halted, chain gate closed" in human.stdout and "flow-minting" in human.stdout


def _settings(env: dict[str, str]):
    from core.settings import Settings

    return Settings(
        _env_file=None,
        home=env["SGE_HOME"],
        database_url=env["SGE_DATABASE_URL"],
        eth_rpc_urls=[env["SGE_ETH_RPC_URLS"]],
        chain_id=int(env["SGE_CHAIN_ID"]),
    )
