"""`sge dev up` as a user runs it: real processes, real ports, and nothing left behind."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ops.devstack.processes import free_port

pytestmark = pytest.mark.integration  # runs `sge dev up` as a process


def _stack_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SGE_") and k != "DATABASE_URL"}
    env.update(
        SGE_HOME=str(home),
        SGE_TEMPORAL_ADDRESS=f"127.0.0.1:{free_port()}",
        SGE_TEMPORAL_UI_PORT=str(free_port()),
        SGE_ETH_RPC_URLS=f"http://127.0.0.1:{free_port()}",
        SGE_API_PORT=str(free_port()),
        SGE_OPERATOR_PORT=str(free_port()),
        SGE_SANDBOX_PORT=str(free_port()),
        SGE_KYC_SANDBOX_PORT=str(free_port()),
    )
    return env


def _processes_of(home: Path) -> list[int]:
    """Processes whose environment points at this stack's app home (the stack and its children)."""
    marker = f"SGE_HOME={home}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                stat = (entry / "stat").read_text()
                if stat.split(") ", 1)[1][0] != "Z":
                    pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def _wait_gone(home: Path, timeout: float = 15) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := _processes_of(home)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def test_smoke_mode_starts_everything_and_leaves_nothing(tmp_path):
    home = tmp_path / "var"
    result = subprocess.run(
        [sys.executable, "-m", "cli", "dev", "up", "--smoke"],
        env=_stack_env(home),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for component in (
        "Temporal",
        "Temporal Web UI",
        "anvil (RPC)",
        "worker",
        "API",
        "API docs",
        "the app",
        "stack ready",
    ):
        assert component in result.stderr
    assert (home / "temporal.db").exists() and (home / "sge.db").exists()
    assert (home / "logs" / "worker.log").exists()
    assert _wait_gone(home) == []


def test_ctrl_c_stops_every_child_and_readyz_names_what_is_down(tmp_path):
    home = tmp_path / "var"
    env = _stack_env(home)
    api = f"http://127.0.0.1:{env['SGE_API_PORT']}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "dev", "up"],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        lines = []
        for line in proc.stderr:  # type: ignore[union-attr]
            lines.append(line)
            if "stack ready" in line:
                break
        assert "stack ready" in "".join(lines), "".join(lines)[-3000:]

        ready = httpx.get(f"{api}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
        ui = httpx.get(f"http://127.0.0.1:{env['SGE_TEMPORAL_UI_PORT']}", timeout=10)
        assert ui.status_code == 200

        children = {c["name"]: c["pid"] for c in json.loads((home / "dev" / "stack.json").read_text())["children"]}
        assert set(children) == {"temporal", "anvil", "sandbox", "kyc-sandbox", "worker", "api"}

        os.killpg(children["anvil"], signal.SIGKILL)
        time.sleep(0.5)
        down = httpx.get(f"{api}/readyz", timeout=10)
        assert down.status_code == 503
        assert down.json()["failing"] == ["rpc", "relayer"]  # the relayer's balance is read over the RPC

        os.killpg(children["temporal"], signal.SIGKILL)
        time.sleep(0.5)
        down = httpx.get(f"{api}/readyz", timeout=10)
        assert down.status_code == 503
        assert set(down.json()["failing"]) == {"rpc", "relayer", "temporal"}

        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _wait_gone(home) == []
    assert not (home / "dev" / "stack.json").exists()


def test_dev_down_from_another_terminal(tmp_path):
    home = tmp_path / "var"
    env = _stack_env(home)
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "dev", "up"],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        for line in proc.stderr:  # type: ignore[union-attr]
            if "stack ready" in line:
                break
        down = subprocess.run(
            [sys.executable, "-m", "cli", "dev", "down"], env=env, capture_output=True, text=True, timeout=60
        )
        assert down.returncode == 0, down.stderr
        assert "stopped" in down.stdout
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _wait_gone(home) == []
