"""Deployment manifests: `<home>/deployments/<chain_id>.json`, the one place addresses come from."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from pydantic import BaseModel, Field
from web3 import Web3


class ManifestError(Exception):
    pass


class DeployedContract(BaseModel):
    address: str
    tx_hash: str
    block_number: int


class Manifest(BaseModel):
    chain_id: int
    deployer: str
    relayer: str
    treasury: str
    deploy_block: int = Field(description="First block of the deployment (log scans start here).")
    contracts: dict[str, DeployedContract]
    role_grants: dict[str, str] = Field(default_factory=dict, description="Setup step → tx hash (roles, funding).")
    params: dict[str, str] = Field(default_factory=dict, description="Constructor/setup parameters, ints as strings.")
    created_at: str = ""

    def address(self, name: str) -> str:
        try:
            return self.contracts[name].address
        except KeyError:
            raise ManifestError(f"contract {name} is not in the manifest for chain {self.chain_id}") from None

    @property
    def addresses(self) -> dict[str, str]:
        return {name: c.address for name, c in self.contracts.items()}


def manifest_path(deployments_dir: Path, chain_id: int) -> Path:
    return Path(deployments_dir) / f"{chain_id}.json"


def load_manifest(deployments_dir: Path, chain_id: int) -> Manifest:
    path = manifest_path(deployments_dir, chain_id)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ManifestError(f"no deployment manifest at {path}; run `sge contracts deploy`") from None
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{path} is not valid JSON: {exc}") from None
    manifest = Manifest.model_validate(data)
    if manifest.chain_id != chain_id:
        raise ManifestError(f"{path} is for chain {manifest.chain_id}, expected {chain_id}")
    for c in manifest.contracts.values():
        c.address = Web3.to_checksum_address(c.address)
    return manifest


def save_manifest(deployments_dir: Path, manifest: Manifest) -> Path:
    """Write atomically (temp file + rename) so a reader never sees half a manifest."""
    path = manifest_path(deployments_dir, manifest.chain_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as fh:
        fh.write(manifest.model_dump_json(indent=2) + "\n")
    os.replace(tmp, path)
    return path
