"""The static checkers of ops/deploy (hadolint, checkov, kubernetes-validate) in their own virtualenv.

They come from ops/deploy/requirements-checks.lock (hashed), not requirements.lock: checkov pins
packaging<24 while pytest>=9.2 needs packaging>=24. The virtualenv lives in `.venv/deploy-checks`
(removed with `make clean`) and is (re)built when the lock changes, like `make setup` does for `.venv`.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "ops" / "deploy" / "requirements-checks.lock"
VENV = ROOT / ".venv" / "deploy-checks"


def checks_bin() -> Path:
    """The bin directory holding `hadolint`, `checkov` and `kubernetes-validate`, installed if needed."""
    stamp = VENV / ".lock-sha256"
    digest = hashlib.sha256(LOCK.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest and (VENV / "bin" / "checkov").exists():
        return VENV / "bin"
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
    subprocess.run(
        [str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "--require-hashes", "-r", str(LOCK)],
        check=True,
    )
    stamp.write_text(digest)
    return VENV / "bin"
