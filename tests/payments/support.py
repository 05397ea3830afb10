"""Real HTTP servers for the payment tests: the sandbox and a webhook receiver, each uvicorn on a free port."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import httpx
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ops.devstack.processes import free_port


class ServerThread:
    """uvicorn serving `app` in a background thread (its own event loop), until the block ends."""

    def __init__(self, app, port: int | None = None):
        self.app = app
        self.port = port or free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", log_config=None, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"server on port {self.port} did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class ReceiverState:
    requests: list[Received] = field(default_factory=list)
    fail_next: int = 0  # answer 500 to this many requests, then 200
    lock: threading.Lock = field(default_factory=threading.Lock)

    def by_path(self, suffix: str) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.path.endswith(suffix)]


def receiver_app() -> FastAPI:
    """Records every webhook as delivered (raw body and headers); fails on demand."""
    app = FastAPI()
    state = ReceiverState()
    app.state.receiver = state

    @app.post("/{path:path}")
    async def receive(path: str, request: Request):
        body = await request.body()
        headers = {k.decode().lower(): v.decode() for k, v in request.headers.raw}
        with state.lock:
            state.requests.append(Received("/" + path, headers, body))
            if state.fail_next > 0:
                state.fail_next -= 1
                return JSONResponse({"error": "try later"}, status_code=500)
        return {"ok": True}

    return app


def wait_for(predicate, timeout: float = 10.0, what: str = "condition"):
    """Polls a cheap predicate (no fixed sleeps standing in for backoff)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def settled_deliveries(sandbox_url: str, ref: str, count: int, timeout: float = 10.0) -> list[dict]:
    """The charge's deliveries, once `count` of them exist and none is still pending."""

    def ready():
        rows = httpx.get(f"{sandbox_url}/sandbox/deliveries", params={"ref": ref}).json()
        if len(rows) >= count and all(r["state"] != "pending" for r in rows):
            return rows
        return None

    return wait_for(ready, timeout, f"{count} settled deliveries for {ref}")
