"""One in-process HTTP client for both API surfaces, the way a deployment splits them by port.

`SurfaceTransport` sends a request to the operator app when its path is on the operator surface
(`/v1/ops`, `/ops`, `/metrics`, `/docs`, `/openapi.json`) and to the public app otherwise, so tests keep
calling `api_client.get("/v1/ops/...")` as before. A test that needs the operator answer on a shared
path (the detailed `/readyz`) uses `api_client.operator`, a client of the operator app alone.

`ServedSurfaces` is the other way: both apps served over real HTTP on their two ports (schemathesis).
"""

from __future__ import annotations

import socket
import threading
import time

import httpx
import uvicorn
from fastapi import FastAPI

OPERATOR_PREFIXES = ("/v1/ops", "/ops", "/metrics", "/docs", "/openapi.json")


def on_operator_surface(path: str) -> bool:
    return any(path == prefix or path.startswith(prefix + "/") for prefix in OPERATOR_PREFIXES)


class SurfaceTransport(httpx.AsyncBaseTransport):
    def __init__(self, public_app: FastAPI, operator_app: FastAPI):
        self.public = httpx.ASGITransport(app=public_app)
        self.operator = httpx.ASGITransport(app=operator_app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        transport = self.operator if on_operator_surface(request.url.path) else self.public
        return await transport.handle_async_request(request)

    async def aclose(self) -> None:
        await self.public.aclose()
        await self.operator.aclose()


class ServedSurfaces:
    """Both surfaces over real HTTP, the way `sge api` serves them: one uvicorn server on two sockets
    (the public and the operator port of `settings`), `SurfaceDispatcher` choosing the app by port, in a
    background thread with its own event loop, until the block ends."""

    def __init__(self, settings, engine=None):
        from api.app import SurfaceDispatcher, create_apps

        public_app, operator_app = create_apps(settings, engine=engine)
        self.public_url = f"http://127.0.0.1:{settings.api_port}"
        self.operator_url = f"http://127.0.0.1:{settings.operator_port}"
        self._sockets = [_listen(settings.api_port), _listen(settings.operator_port)]
        dispatcher = SurfaceDispatcher(public_app, operator_app, settings.operator_port)
        config = uvicorn.Config(dispatcher, log_config=None, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": self._sockets}, daemon=True)

    def __enter__(self) -> ServedSurfaces:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the API did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        for sock in self._sockets:
            sock.close()


def _listen(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock
