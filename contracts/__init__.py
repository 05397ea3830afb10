"""Solidity sources, committed artifacts and the Python helpers around them.

`contracts/` imports nothing else of the platform: deploy code takes plain arguments, so the CLI,
the relayer and tests can all use it. Artifacts are committed so running the platform needs no
compiler; `sge contracts build` regenerates them (node + solc-js).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

CONTRACTS_DIR = Path(__file__).resolve().parent
SRC_DIR = CONTRACTS_DIR / "src"
ARTIFACTS_DIR = CONTRACTS_DIR / "artifacts"

# Deployed on every chain, in deploy order.
CORE_CONTRACTS = ("SGEToken", "SGEID", "AffiliateRegistry", "AffiliatePayout", "SGEClaim")
# Deployed on local chains only.
TEST_TOKENS = ("TestUSDC", "TestUSDT")
ALL_CONTRACTS = CORE_CONTRACTS + TEST_TOKENS


class ArtifactError(Exception):
    """An artifact is missing or malformed."""


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str
    compiler_version: str
    source_hash: str
    raw: dict[str, Any]


@cache
def load_artifact(name: str, artifacts_dir: Path = ARTIFACTS_DIR) -> Artifact:
    path = artifacts_dir / f"{name}.json"
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise ArtifactError(f"no artifact for {name} at {path}; run `sge contracts build`") from None
    try:
        return Artifact(
            name=raw["contractName"],
            abi=raw["abi"],
            bytecode=raw["bytecode"],
            deployed_bytecode=raw["deployedBytecode"],
            compiler_version=raw["compiler"]["version"],
            source_hash=raw["sourceHash"],
            raw=raw,
        )
    except (KeyError, TypeError) as exc:
        raise ArtifactError(f"artifact {path} is malformed: missing {exc}") from None


def abi_of(name: str) -> list[dict[str, Any]]:
    return load_artifact(name).abi
