"""Compile the contracts with the pinned solc-js (`contracts/build.mjs`) and compare artifacts.

`build()` regenerates `contracts/artifacts/`; `check()` compiles into a temp dir and lists every
artifact that differs from the committed one (a stale artifact means someone edited a source and
forgot to rebuild, or the toolchain drifted).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from contracts import ARTIFACTS_DIR, CONTRACTS_DIR

BUILD_SCRIPT = CONTRACTS_DIR / "build.mjs"
REPO_ROOT = CONTRACTS_DIR.parent
# Fields that must match between a fresh compile and the committed artifact.
COMPARED_FIELDS = ("abi", "bytecode", "deployedBytecode", "sourceHash", "compiler")


class BuildError(Exception):
    pass


def node_binary() -> str | None:
    return shutil.which("node")


def toolchain_available() -> bool:
    """node on PATH and the npm packages (solc, OpenZeppelin) installed."""
    modules = REPO_ROOT / "node_modules"
    return (
        node_binary() is not None
        and (modules / "solc" / "package.json").exists()
        and (modules / "@openzeppelin" / "contracts" / "package.json").exists()
    )


def build(out_dir: Path = ARTIFACTS_DIR, *, timeout: float = 300) -> list[str]:
    """Compile every source into `out_dir`; returns the contract names written."""
    node = node_binary()
    if node is None:
        raise BuildError("node is not on PATH (needed to run solc-js); install Node.js >= 18")
    if not toolchain_available():
        raise BuildError(f"npm packages missing; run `npm ci` in {REPO_ROOT}")
    proc = subprocess.run(
        [node, str(BUILD_SCRIPT), "--out", str(out_dir)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise BuildError(f"solc failed:\n{proc.stderr.strip() or proc.stdout.strip()}")
    return json.loads(proc.stdout.strip().splitlines()[-1])["contracts"]


def check(artifacts_dir: Path = ARTIFACTS_DIR) -> list[str]:
    """Problems found comparing a fresh compile with `artifacts_dir` (empty = up to date)."""
    with tempfile.TemporaryDirectory(prefix="sge-artifacts-") as tmp:
        fresh_dir = Path(tmp)
        names = build(fresh_dir)
        problems = []
        for name in names:
            committed_path = artifacts_dir / f"{name}.json"
            if not committed_path.exists():
                problems.append(f"{name}: no committed artifact")
                continue
            fresh = json.loads((fresh_dir / f"{name}.json").read_text())
            committed = json.loads(committed_path.read_text())
            for field in COMPARED_FIELDS:
                if fresh.get(field) != committed.get(field):
                    problems.append(f"{name}: {field} differs from a fresh compile")
        fresh_names = set(names)
        for path in artifacts_dir.glob("*.json"):
            if path.stem not in fresh_names:
                problems.append(f"{path.stem}: artifact has no source")
        return problems


if __name__ == "__main__":  # `python -m contracts.build`
    print(json.dumps({"contracts": build()}))  # noqa: T201 - a command-line entry point
