"""Process helpers for tests: anvil on a free port, waiting for ports and HTTP."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from eth_account.signers.local import LocalAccount

from core.devchain import anvil_accounts
from ops.devstack.processes import anvil_binary, free_port


@dataclass
class AnvilProcess:
    proc: subprocess.Popen
    port: int
    chain_id: int
    log_path: Path

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def accounts(self) -> tuple[LocalAccount, ...]:
        """anvil's funded dev accounts (10,000 ETH each)."""
        return anvil_accounts()

    def rpc(self, method: str, params: list | None = None):
        body = httpx.post(
            self.rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}
        ).json()
        if "error" in body:
            raise RuntimeError(body["error"])
        return body["result"]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_anvil(
    workdir: Path, *, chain_id: int = 31337, automine: bool = True, block_time: int | None = None
) -> AnvilProcess:
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    cmd = [anvil_binary(), "--host", "127.0.0.1", "--port", str(port), "--chain-id", str(chain_id)]
    if not automine:
        cmd.append("--no-mining")
    elif block_time:
        cmd += ["--block-time", str(block_time)]
    log_path = workdir / "anvil.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    anvil = AnvilProcess(proc, port, chain_id, log_path)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"anvil exited: {log_path.read_text()[-2000:]}")
        try:
            if int(anvil.rpc("eth_chainId"), 16) == chain_id:
                return anvil
        except (httpx.HTTPError, RuntimeError):
            time.sleep(0.05)
    anvil.stop()
    raise TimeoutError(f"anvil did not answer on {anvil.rpc_url}")
