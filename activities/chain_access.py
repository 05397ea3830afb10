"""Chain access shared by the onboarding activities: one lean web3 client and the deployment manifest
per worker, created on first use (the worker starts even while the node is down)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Engine
from web3 import Web3

from contracts.manifest import Manifest, load_manifest
from contracts.reads import call_view
from contracts.rpc import connect, lean
from core.settings import Settings
from models.onboarding_io import BadToken

ZERO_ADDRESS = "0x" + "00" * 20


class ChainAccess:
    def __init__(self, settings: Settings, engine: Engine):
        self.settings = settings
        self.engine = engine
        self._w3: Web3 | None = None
        self._manifest: Manifest | None = None

    # --- chain access (lazy: the worker starts even while the node is down) -----------------------
    @property
    def w3(self) -> Web3:
        if self._w3 is None:
            # lean: we pass plain addresses and check the chain id once, so the per-call middleware
            # (ENS, validation) is pure overhead on a path every flow takes.
            self._w3 = lean(connect(self.settings.eth_rpc_urls, expected_chain_id=self.settings.chain_id))
        return self._w3

    @property
    def manifest(self) -> Manifest:
        if self._manifest is None:
            self._manifest = load_manifest(self.settings.deployments_dir, self.settings.chain_id)
        return self._manifest

    def _view(self, contract: str, fn: str, *args: Any) -> Any:
        return call_view(self.w3, contract, self.manifest.address(contract), fn, *args)[0]

    def _stablecoin(self, symbol: str) -> str:
        address = self.manifest.params.get(f"stablecoin.{symbol}")
        if not address:
            raise BadToken(f"{symbol} is not accepted on chain {self.settings.chain_id}")
        return Web3.to_checksum_address(address)

    def _symbol_of(self, token: str) -> str | None:
        for key, address in self.manifest.params.items():
            if key.startswith("stablecoin.") and address.lower() == token.lower():
                return key.removeprefix("stablecoin.")
        return None

    # --- where the flow stands ---------------------------------------------------------------------
