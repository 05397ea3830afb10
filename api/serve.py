"""`sge api`: one uvicorn server on two sockets — the public port and the operator port.

Both sockets are bound here, before any worker starts (a port in use fails at once, naming its
setting). With one process the server runs in this process; with SGE_API_PROCESSES (`--workers`) > 1
uvicorn's own supervisor runs that many workers on the same two sockets (the kernel spreads
connections), restarting a worker that dies. In every process `api.app.create_served_app` builds both
apps and dispatches each connection by the port it arrived on.
"""

from __future__ import annotations

import socket

import uvicorn
from uvicorn.supervisors import Multiprocess

from core.settings import ConfigError, Settings


def _bind(host: str, port: int, setting: str) -> socket.socket:
    config = uvicorn.Config("api.app:create_served_app", host=host, port=port, log_config=None)
    try:
        return config.bind_socket()
    except SystemExit:  # uvicorn logs the OSError and exits; say which setting to change
        raise ConfigError(setting, f"cannot listen on {host}:{port} (in use, or not an address here)") from None


def serve(settings: Settings) -> None:
    config = uvicorn.Config(
        "api.app:create_served_app",
        factory=True,
        workers=settings.api_processes,
        log_config=None,
        proxy_headers=False,  # forwarded headers are trusted only from SGE_TRUSTED_PROXIES (api layer)
        server_header=False,
    )
    sockets = [
        _bind(settings.api_host, settings.api_port, "SGE_API_PORT"),
        _bind(settings.operator_host, settings.operator_port, "SGE_OPERATOR_PORT"),
    ]
    try:
        if settings.api_processes > 1:
            Multiprocess(config, sockets=sockets).run()
        else:
            uvicorn.Server(config).run(sockets=sockets)
    finally:
        for sock in sockets:
            sock.close()
