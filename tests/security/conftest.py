"""Both API surfaces in-process, without servers: a migrated SQLite database, settings of their own
(Temporal and RPC unreachable: nothing here needs them), and helpers to sign in and read metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy.engine import Engine

from core.settings import Settings
from tests.helpers.surfaces import SurfaceTransport

UNREACHABLE = {"temporal_address": "127.0.0.1:1", "eth_rpc_urls": ["http://127.0.0.1:1"]}


def auth_failures(surface: str, reason: str) -> float:
    return REGISTRY.get_sample_value("sge_auth_failures_total", {"surface": surface, "reason": reason}) or 0.0


@pytest.fixture
def local_settings(tmp_path, db_url: str) -> Callable[..., Settings]:
    def build(**overrides) -> Settings:
        values = dict(
            _env_file=None, home=tmp_path / "home", environment="test", database_url=db_url, log_format="console"
        )
        return Settings(**{**values, **UNREACHABLE, **overrides})

    return build


async def surfaces_client(
    settings: Settings, engine: Engine, base_url: str = "http://testserver"
) -> AsyncIterator[httpx.AsyncClient]:
    from api.app import create_apps

    public_app, operator_app = create_apps(settings, engine=engine)
    async with public_app.router.lifespan_context(public_app), operator_app.router.lifespan_context(operator_app):
        transport = SurfaceTransport(public_app, operator_app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            client.app = public_app  # type: ignore[attr-defined]
            client.operator_app = operator_app  # type: ignore[attr-defined]
            yield client


@pytest.fixture
async def surfaces(local_settings, db_engine) -> AsyncIterator[httpx.AsyncClient]:
    """A client of both surfaces (operator paths to the operator app, the rest to the public app)."""
    async for client in surfaces_client(local_settings(), db_engine):
        yield client
