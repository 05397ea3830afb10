"""The public API in-process (migrated SQLite, Temporal and RPC unreachable: refusals need neither),
reached from a chosen socket peer so trusted-proxy headers can be tested."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
import pytest

from tests.security.conftest import local_settings  # noqa: F401  (re-exported fixture)

PROXY = "10.0.0.5"


@pytest.fixture
def compliance_settings(local_settings):  # noqa: F811
    def build(**overrides):
        values = dict(
            session_secret=os.urandom(32).hex(), trusted_proxies=[f"{PROXY}/32"], country_header="CF-IPCountry"
        )
        return local_settings(**{**values, **overrides})

    return build


@pytest.fixture
def public_client(db_engine) -> Callable:
    @asynccontextmanager
    async def open_client(settings, peer: str = PROXY) -> AsyncIterator[httpx.AsyncClient]:
        from api.app import create_app

        app = create_app(settings, engine=db_engine)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=(peer, 40000))
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                yield client

    return open_client
