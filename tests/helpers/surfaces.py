"""One in-process HTTP client for both API surfaces, the way a deployment splits them by port.

`SurfaceTransport` sends a request to the operator app when its path is on the operator surface
(`/v1/ops`, `/ops`, `/metrics`, `/docs`, `/openapi.json`) and to the public app otherwise, so tests keep
calling `api_client.get("/v1/ops/...")` as before. A test that needs the operator answer on a shared
path (the detailed `/readyz`) uses `api_client.operator`, a client of the operator app alone.
"""

from __future__ import annotations

import httpx
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
