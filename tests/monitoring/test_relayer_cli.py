"""`sge relayer topup` and `sge relayer txs --stuck` as an operator runs them (subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta

from eth_account import Account
from sqlmodel import Session, select

from core import migrate
from core.columns import utcnow
from core.db import make_engine, session_scope
from models.chain import ChainTx, TxStatus
from models.ledger import LedgerTx

ETH = 10**18


def sge(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli", *args], env=env, capture_output=True, text=True, timeout=120)


def _env(tmp_path, node, relayer) -> dict[str, str]:
    return {
        **os.environ,
        "SGE_HOME": str(tmp_path / "home"),
        "SGE_ETH_RPC_URLS": node.rpc_url,
        "SGE_CHAIN_ID": str(node.chain_id),
        "SGE_RELAYER_PRIVATE_KEY": relayer.key.hex(),
        "SGE_DATABASE_URL": f"sqlite:///{tmp_path / 'sge.db'}",
        "SGE_LOG_FORMAT": "console",
    }


def test_topup_brings_the_relayer_to_the_target_on_the_local_chain(anvil_factory, tmp_path):
    node = anvil_factory()
    relayer = Account.create()
    env = _env(tmp_path, node, relayer)
    engine = make_engine(env["SGE_DATABASE_URL"])
    migrate.upgrade(engine)
    node.rpc("anvil_setBalance", [relayer.address, hex(ETH // 10)])

    planned = sge("relayer", "topup", "--dry-run", "--json", env=env)
    assert planned.returncode == 0, planned.stderr
    plan = json.loads(planned.stdout)
    assert plan == plan | {"amount_wei": 4 * ETH // 10, "level": "topup", "tx_hash": None}

    sent = json.loads(sge("relayer", "topup", "--json", env=env).stdout)
    assert sent["amount_wei"] == 4 * ETH // 10 and sent["tx_hash"].startswith("0x")
    assert int(node.rpc("eth_getBalance", [relayer.address, "latest"]), 16) == ETH // 2
    with Session(engine) as session:  # booked, keyed by the transaction hash
        assert session.get(LedgerTx, f"funding:asset:relayer_eth:{sent['tx_hash']}") is not None

    again = json.loads(sge("relayer", "topup", "--json", env=env).stdout)
    assert again["amount_wei"] == 0 and again["tx_hash"] is None


def test_topup_elsewhere_prints_the_transfer_and_sends_nothing(anvil_factory, tmp_path):
    node = anvil_factory(chain_id=5)
    relayer = Account.create()
    env = _env(tmp_path, node, relayer)
    migrate.upgrade(make_engine(env["SGE_DATABASE_URL"]))
    node.rpc("anvil_setBalance", [relayer.address, hex(ETH // 5)])
    result = sge("relayer", "topup", env=env)
    assert result.returncode == 0, result.stderr
    assert f"transfer {3 * ETH // 10} wei" in result.stdout and relayer.address in result.stdout
    assert int(node.rpc("eth_getBalance", [relayer.address, "latest"]), 16) == ETH // 5


def test_txs_stuck_lists_only_transactions_past_the_replacement_window(anvil, tmp_path):
    relayer = Account.create()
    env = _env(tmp_path, anvil, relayer)
    engine = make_engine(env["SGE_DATABASE_URL"])
    migrate.upgrade(engine)
    now = utcnow()
    with session_scope(engine) as session:
        for nonce, (key, status, at) in enumerate(
            [
                ("late-one", TxStatus.BROADCAST, now - timedelta(minutes=5)),
                ("fresh-one", TxStatus.BROADCAST, now),
                ("done-one", TxStatus.CONFIRMED, now - timedelta(minutes=5)),
            ]
        ):
            session.add(
                ChainTx(
                    key=key,
                    chain_id=anvil.chain_id,
                    from_address=relayer.address,
                    to_address=relayer.address,
                    data="0x",
                    content_hash=key,
                    status=status.value,
                    nonce=nonce,
                    broadcast_at=at,
                )
            )
    result = sge("relayer", "txs", "--stuck", env=env)
    assert result.returncode == 0, result.stderr
    assert "late-one" in result.stdout and "fresh-one" not in result.stdout and "done-one" not in result.stdout
    with Session(engine) as session:
        assert len(session.exec(select(ChainTx)).all()) == 3
