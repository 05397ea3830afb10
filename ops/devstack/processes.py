"""The embedded local stack: Temporal dev server, anvil, worker and API as supervised child processes.

Each child runs in its own process group with PDEATHSIG, so stopping the supervisor (Ctrl-C, SIGTERM,
`sge dev down`, or even SIGKILL) stops every child and its children: nothing is left running.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import httpx
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.types import TxParams

from core.settings import ConfigError, Settings, env_name

PROJECT_ROOT = Path(__file__).resolve().parents[2]
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def anvil_binary() -> str:
    """anvil from the npm lockfile (the platform binary itself, not the node wrapper)."""
    node_modules = PROJECT_ROOT / "node_modules"
    for candidate in sorted((node_modules / "@foundry-rs").glob("anvil-*/bin/anvil")):
        if os.access(candidate, os.X_OK):
            return str(candidate)
    wrapper = node_modules / ".bin" / "anvil"
    if wrapper.exists():
        return str(wrapper)
    raise ConfigError("anvil", f"not installed under {node_modules} (run `npm ci` in {PROJECT_ROOT})")


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Child:
    name: str
    cmd: list[str]
    log_path: Path
    env: dict[str, str]
    proc: subprocess.Popen | None = None
    started_at: float = 0.0

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class ChildExited(RuntimeError):
    def __init__(self, child: Child):
        code = child.proc.returncode if child.proc else None
        super().__init__(f"{child.name} exited with code {code}; last log lines ({child.log_path}):\n{child.tail()}")
        self.child = child


@dataclass
class Supervisor:
    """Starts children, waits for their health, and stops all of them in reverse order."""

    home: Path
    children: list[Child] = field(default_factory=list)

    @property
    def state_file(self) -> Path:
        return self.home / "dev" / "stack.json"

    def start(self, name: str, cmd: list[str], env: dict[str, str] | None = None) -> Child:
        log_dir = self.home / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        child = Child(name, cmd, log_dir / f"{name}.log", {**os.environ, **(env or {})})
        log_file = open(child.log_path, "ab", buffering=0)  # noqa: SIM115 - owned by the child
        log_file.write(f"\n==== {time.strftime('%Y-%m-%dT%H:%M:%S')} starting {name}: {' '.join(cmd)}\n".encode())
        child.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=child.env,
            cwd=str(PROJECT_ROOT),
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        log_file.close()
        child.started_at = time.monotonic()
        self.children.append(child)
        self._write_state()
        return child

    async def wait_healthy(self, child: Child, check: Callable[[], Awaitable[bool]], timeout: float) -> float:
        """Polls `check` until it returns True; fails fast if the child exits. Returns seconds taken."""
        deadline = time.monotonic() + timeout
        last_error = ""
        while time.monotonic() < deadline:
            if not child.alive():
                raise ChildExited(child)
            try:
                if await check():
                    return time.monotonic() - child.started_at
            except Exception as exc:  # noqa: BLE001 - not ready yet
                last_error = f"{type(exc).__name__}: {exc}"
            await asyncio.sleep(0.1)
        raise TimeoutError(f"{child.name} not healthy after {timeout:.0f}s ({last_error}); log: {child.log_path}")

    def stop_all(self, timeout: float = 10.0) -> list[str]:
        """SIGTERM each child's process group (newest first), then SIGKILL what is left."""
        stopped = []
        for child in reversed(self.children):
            if child.proc is None:
                continue
            _signal_group(child.proc.pid, signal.SIGTERM)
            try:
                child.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _signal_group(child.proc.pid, signal.SIGKILL)
                child.proc.wait(timeout=5)
            _signal_group(child.proc.pid, signal.SIGKILL)  # grandchildren that ignored SIGTERM
            stopped.append(child.name)
        self.children.clear()
        self.state_file.unlink(missing_ok=True)
        return stopped

    def _write_state(self) -> None:
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "supervisor_pid": os.getpid(),
            "children": [{"name": c.name, "pid": c.proc.pid} for c in self.children if c.proc],
        }
        self.state_file.write_text(json.dumps(state, indent=2))


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def stop_recorded_stack(home: Path, timeout: float = 15.0) -> list[str]:
    """`sge dev down`: ask the supervisor to stop; kill any recorded child it leaves behind."""
    state_file = home / "dev" / "stack.json"
    if not state_file.exists():
        return []
    state = json.loads(state_file.read_text())
    pid = state.get("supervisor_pid")
    if pid and pid_alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
    names = []
    for child in state.get("children", []):
        if pid_alive(child["pid"]):
            _signal_group(child["pid"], signal.SIGKILL)
        names.append(child["name"])
    state_file.unlink(missing_ok=True)
    return names


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped) is not alive for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


# --- local chain --------------------------------------------------------------------------------------


def send_signed(w3: Web3, account: LocalAccount, to: str, data: str = "0x", value: int = 0) -> str:
    """Sign locally and send one transaction, wait for it, fail if it reverted (dev tooling only:
    platform transactions go through the relayer)."""
    to = Web3.to_checksum_address(to)
    tx: dict[str, Any] = {
        "to": to,
        "data": data,
        "value": value,
        "chainId": w3.eth.chain_id,
        "nonce": w3.eth.get_transaction_count(account.address, "pending"),
        "maxFeePerGas": 2 * w3.eth.get_block("latest")["baseFeePerGas"] + 10**9,
        "maxPriorityFeePerGas": 10**9,
    }
    estimate = cast(TxParams, {"from": account.address, "to": to, "data": data, "value": value})
    tx["gas"] = int(w3.eth.estimate_gas(estimate) * 12 // 10)
    tx_hash = w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
    if w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)["status"] != 1:
        raise RuntimeError(f"transaction to {to} reverted")
    return "0x" + bytes(tx_hash).hex().removeprefix("0x")


# --- health checks ---------------------------------------------------------------------------------


async def rpc_call(url: str, method: str, params: list | None = None, timeout: float = 2.0):
    async with httpx.AsyncClient(timeout=timeout) as http:
        resp = await http.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []})
        resp.raise_for_status()
        body = resp.json()
        if "error" in body:
            raise RuntimeError(body["error"].get("message"))
        return body["result"]


async def http_ok(url: str) -> bool:
    async with httpx.AsyncClient(timeout=2.0) as http:
        return (await http.get(url)).status_code == 200


def python_module_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", *args]


def child_env(settings: Settings, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for platform children: every non-secret setting the supervisor resolved, so a child
    sees exactly the same configuration (secrets travel as files through `extra`)."""
    env: dict[str, str] = {}
    for name, spec in Settings.model_fields.items():
        value = getattr(settings, name)
        if value is None or "SecretStr" in str(spec.annotation):
            continue
        if isinstance(value, list):
            value = ",".join(map(str, value))
        elif isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, Path):
            value = str(value.resolve())
        env[env_name(name)] = str(value)
    env.pop("SGE_DATABASE_URL", None)
    env["DATABASE_URL"] = settings.db_url
    env["SGE_LOG_FORMAT"] = "json"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def probe_workflow_id() -> str:
    return f"probe-{uuid.uuid4().hex[:12]}"
