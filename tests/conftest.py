"""Fixtures that start the real parts a test needs, and the test tiers.

- `db_engine`: a migrated database, empty for each test. SQLite temp file by default; PostgreSQL when
  SGE_TEST_DATABASE_URL is set (this run gets its own schema, dropped at the end).
- `temporal_ts`: the time-skipping test server (search attributes registered), for small serial
  workflow tests. `temporal_dev`: a real dev server, for concurrency and integration tests.
- `anvil`: one anvil for the session; `anvil_factory` starts a private one (e.g. automine off).
- `settings`, `api_client`: settings pointing at those parts and an HTTP client for the API.
- `browser`, `browser_context`, `wallet`, `page`, `open_wallet`: headless Chromium with an injected
  EIP-1193 test wallet (tests/helpers/browser, registered below through `pytest_plugins`).

Tiers (markers registered in pyproject.toml):
- `integration`: the test needs a server or a process. Given automatically (at collection) to every
  test that uses, directly or through other fixtures, one of SERVER_FIXTURES below, or that is marked
  `postgres` or `redis`; a test that starts servers or subprocesses itself (the `sge` CLI, the dev
  stack, a benchmark's worker processes) is marked `@pytest.mark.integration` explicitly.
- fast: everything else (SQLite files, in-process code only): `pytest -m "not integration and not slow"`
  (`make test-fast`), under a minute.
- `slow`: soak-like checks, marked explicitly; deselected by default (pyproject's addopts), so
  `pytest` alone (`make test`) runs fast + integration; `make test-slow` runs them under a time cap.
- `postgres` (`redis`): needs that server; deselected, not skipped, when SGE_TEST_DATABASE_URL
  (SGE_TEST_REDIS_URL, or a Redis on 127.0.0.1:6379) is not there, with one line saying so.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from sqlalchemy.engine import Engine
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from core.db import make_engine
from core.settings import Settings
from models.flow import SEARCH_ATTRIBUTES
from temporal.devserver import dynamic_config_args, temporal_binary, test_server_binary
from temporal.search_attributes import ensure_search_attributes
from tests.helpers.database import PG_URL, REDIS_URL, TestDatabase
from tests.helpers.processes import AnvilProcess, start_anvil
from tests.helpers.surfaces import SurfaceTransport

pytest_plugins = ["tests.helpers.browser"]

# --- tiers ------------------------------------------------------------------------------------------

# Fixtures that start a server or a process (anvil, Temporal, the API's stack, uvicorn threads, Chromium).
SERVER_FIXTURES = frozenset(
    {
        "anvil",
        "anvil_factory",
        "temporal_ts",
        "temporal_dev",
        "settings",
        "api_client",
        "receiver",
        "sandbox",
        "browser",
    }
)
# marker -> (is its server there?, why the tests are deselected when it is not)
NEEDS_SERVER = {
    "postgres": (PG_URL is not None, "PostgreSQL-only, SGE_TEST_DATABASE_URL is not set"),
    "redis": (REDIS_URL is not None, "SGE_TEST_REDIS_URL is not set and no Redis answers on 127.0.0.1:6379"),
}
_DESELECTED = pytest.StashKey[list[str]]()


@pytest.hookimpl(tryfirst=True)  # before `-m` selects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    keep: list[pytest.Item] = []
    reports: list[str] = []
    absent: dict[str, list[pytest.Item]] = {}
    for item in items:
        needs = [name for name in NEEDS_SERVER if item.get_closest_marker(name)]
        missing = [name for name in needs if not NEEDS_SERVER[name][0]]
        if missing:
            absent.setdefault(missing[0], []).append(item)
            continue
        if needs or SERVER_FIXTURES.intersection(item.fixturenames):
            item.add_marker(pytest.mark.integration)
        keep.append(item)
    for name, dropped in absent.items():
        config.hook.pytest_deselected(items=dropped)
        reports.append(f"deselected {len(dropped)} test(s) marked {name}: {NEEDS_SERVER[name][1]}")
    items[:] = keep
    config.stash[_DESELECTED] = reports


def pytest_report_collectionfinish(config: pytest.Config) -> list[str]:
    return config.stash.get(_DESELECTED, [])


# --- database ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def test_database(tmp_path_factory) -> Iterator[TestDatabase]:
    database = TestDatabase(tmp_path_factory.mktemp("db"))
    yield database
    database.close()


@pytest.fixture
def db_url(test_database: TestDatabase) -> str:
    return test_database.fresh_url()


@pytest.fixture
def db_engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url, pool_size=20)
    yield engine
    engine.dispose()


# --- chain ------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def anvil(tmp_path_factory) -> Iterator[AnvilProcess]:
    proc = start_anvil(tmp_path_factory.mktemp("anvil"))
    yield proc
    proc.stop()


@pytest.fixture
def anvil_factory(tmp_path) -> Iterator:
    """Start private anvils: `anvil_factory(automine=False)`; all stopped after the test."""
    started: list[AnvilProcess] = []

    def factory(**kwargs) -> AnvilProcess:
        proc = start_anvil(tmp_path / f"anvil-{len(started)}", **kwargs)
        started.append(proc)
        return proc

    yield factory
    for proc in started:
        proc.stop()


# --- temporal ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
async def temporal_ts() -> AsyncIterator[WorkflowEnvironment]:
    """Time-skipping server: small, serial workflow tests only (it misbehaves under concurrency)."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=test_server_binary(), data_converter=pydantic_data_converter
    )
    await ensure_search_attributes(env.client)
    yield env
    await env.shutdown()


# The server fires timers on a 1 s grid by default: a workflow's 0.1 s sleep takes a second. Tests run
# flows with timings in fractions of a second (tests/onboarding/test_workflow.py), so timers fire on time.
PRECISE_TIMERS = ["--dynamic-config-value", 'history.timerProcessorMaxTimeShift="10ms"']


@pytest.fixture(scope="session")
async def temporal_dev() -> AsyncIterator[WorkflowEnvironment]:
    """A real dev server (in-memory), with the platform's search attributes and dynamic config."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        search_attributes=SEARCH_ATTRIBUTES,
        data_converter=pydantic_data_converter,
        dev_server_extra_args=dynamic_config_args() + PRECISE_TIMERS,
    )
    yield env
    await env.shutdown()


# --- settings and API -------------------------------------------------------------------------------


@pytest.fixture
def settings(tmp_path, db_url: str, anvil: AnvilProcess) -> Settings:
    """Settings for a test: its own app home and database, the session's anvil, a throwaway relayer key."""
    return Settings(
        _env_file=None,
        home=tmp_path / "home",
        environment="test",
        database_url=db_url,
        eth_rpc_urls=[anvil.rpc_url],
        chain_id=anvil.chain_id,
        relayer_private_key="0x" + os.urandom(32).hex(),
        session_secret=os.urandom(32).hex(),
        log_format="console",
    )


@pytest.fixture
async def api_client(
    settings: Settings, db_engine: Engine, temporal_dev: WorkflowEnvironment
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for both API surfaces (run in-process through their lifespans): operator paths
    go to the operator app, the rest to the public app (tests/helpers/surfaces.py). `.app` is the
    public app, `.operator_app` the operator app, `.operator` a client of the operator app alone."""
    from api.app import create_apps

    public_app, operator_app = create_apps(settings, temporal_client=temporal_dev.client, engine=db_engine)
    async with public_app.router.lifespan_context(public_app), operator_app.router.lifespan_context(operator_app):
        transport = SurfaceTransport(public_app, operator_app)
        operator_transport = httpx.ASGITransport(app=operator_app)
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
            httpx.AsyncClient(transport=operator_transport, base_url="http://operator") as operator,
        ):
            client.app = public_app  # type: ignore[attr-defined]
            client.operator_app = operator_app  # type: ignore[attr-defined]
            client.operator = operator  # type: ignore[attr-defined]
            yield client
