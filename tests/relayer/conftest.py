from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from eth_account import Account
from sqlalchemy.engine import Engine

from contracts.manifest import manifest_path
from core.settings import Settings
from relayer.engine import Relayer
from tests.contracts.kit import ETH, Chain, deploy_chain
from tests.support import AnvilProcess

RELAYER_FUNDS = 100 * ETH


@pytest.fixture(scope="module")
def relayer_account():
    return Account.from_key("0x" + os.urandom(32).hex())


@pytest.fixture(scope="module")
def chain(anvil: AnvilProcess, tmp_path_factory, relayer_account) -> Chain:
    """Contracts deployed once per module, with this module's relayer key holding the roles."""
    return deploy_chain(anvil, tmp_path_factory.mktemp("deployments"), relayer=relayer_account)


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


@pytest.fixture
def relayer_settings(tmp_path, db_url: str, anvil: AnvilProcess, chain: Chain, relayer_account) -> Settings:
    settings = make_settings(tmp_path / "home", db_url, anvil, relayer_account.key.hex())
    target = manifest_path(settings.deployments_dir, anvil.chain_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(manifest_path(Path(chain.manifest_dir), anvil.chain_id), target)
    anvil.rpc("anvil_setBalance", [relayer_account.address, hex(RELAYER_FUNDS)])
    return settings


@pytest.fixture
def make_relayer(relayer_settings: Settings, db_engine: Engine) -> Iterator[Callable[..., Relayer]]:
    """A new Relayer (a fresh 'process': no in-memory state), optionally with other settings."""

    def factory(**overrides) -> Relayer:
        settings = relayer_settings.model_copy(update=overrides) if overrides else relayer_settings
        return Relayer(settings, db_engine)

    yield factory


@pytest.fixture
def relayer(make_relayer) -> Relayer:
    return make_relayer()
