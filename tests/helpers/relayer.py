"""Relayer test helpers: settings for a relayer on a given anvil, requests, and the stored rows."""

from __future__ import annotations

from pathlib import Path

from eth_account import Account
from sqlmodel import Session, select

from core.settings import Settings
from models.chain import ChainTx, ChainTxAttempt, ContractCall, SubmitTx
from relayer.engine import Relayer
from tests.helpers.chain import ETH, Chain
from tests.helpers.processes import AnvilProcess

RELAYER_FUNDS = 100 * ETH


def make_settings(home: Path, db_url: str, anvil: AnvilProcess, key_hex: str, **overrides) -> Settings:
    values = dict(
        _env_file=None,
        home=home,
        environment="test",
        database_url=db_url,
        eth_rpc_urls=[anvil.rpc_url],
        chain_id=anvil.chain_id,
        relayer_private_key=key_hex,
        relayer_poll_interval_seconds=0.02,
        relayer_min_balance_wei=10**16,
        log_format="console",
    )
    values.update(overrides)
    return Settings(**values)


def mint(key: str, wallet: str, **kw) -> SubmitTx:
    return SubmitTx(key=key, call=ContractCall(contract="SGEID", function="mint", args=[wallet]), label="mint", **kw)


def new_wallet() -> str:
    return Account.create().address


def chain_nonce(chain: Chain, relayer: Relayer) -> int:
    return chain.w3.eth.get_transaction_count(relayer.address, "latest")


def rows(engine) -> list[ChainTx]:
    with Session(engine) as s:
        return list(s.exec(select(ChainTx).order_by(ChainTx.id)).all())


def attempts(engine) -> list[ChainTxAttempt]:
    with Session(engine) as s:
        return list(s.exec(select(ChainTxAttempt).order_by(ChainTxAttempt.id)).all())
