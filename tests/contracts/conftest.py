from __future__ import annotations

import pytest

from tests.helpers.chain import Chain, deploy_chain


@pytest.fixture(scope="module")
def chain(anvil, tmp_path_factory) -> Chain:
    """The full contract set, deployed once per test module on the session's anvil. Tests use fresh
    wallets (`chain.new_account()`), so they do not depend on each other's state."""
    return deploy_chain(anvil, tmp_path_factory.mktemp("deployments"))
