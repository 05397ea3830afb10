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
from tests.helpers.chain import Chain, deploy_chain
from tests.helpers.processes import AnvilProcess
from tests.helpers.relayer import RELAYER_FUNDS, make_settings


@pytest.fixture(scope="module")
def relayer_account():
    return Account.from_key("0x" + os.urandom(32).hex())


@pytest.fixture(scope="module")
def chain(anvil: AnvilProcess, tmp_path_factory, relayer_account) -> Chain:
    """Contracts deployed once per module, with this module's relayer key holding the roles."""
    return deploy_chain(anvil, tmp_path_factory.mktemp("deployments"), relayer=relayer_account)


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
