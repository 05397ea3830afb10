"""The authorization matrix: every operator route (the `/v1/ops` API and the `/ops` pages) × {no key,
disabled key, viewer, approver, admin}.

EXPECTED is the security review's statement of who may do what. The test fails when the operator app
has a route EXPECTED does not classify (a new route must be added here, with its role), when a route
answers a credential other than EXPECTED says, and when a refused request changed anything in the
database. "Allowed" means neither 401 nor 403 (a 404 or 422 for a dummy id or an empty body is fine);
"refused" is 401 (unauthenticated) or 403 (the role). Pages are checked with a bearer key and with the
session cookie of a browser sign-in; a page refuses an unauthenticated browser with a redirect to the
sign-in page instead of a 401.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from enum import StrEnum

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from api.app import OPERATOR_ROUTERS, create_app
from api.sessions import SESSION_COOKIE
from core.db import make_engine, session_scope
from core.settings import Settings
from models.operators import Actor, set_active
from tests.helpers.ledger import make_operator
from tests.security.conftest import UNREACHABLE, surfaces_client


class Need(StrEnum):
    PUBLIC = "public"  # no credentials (the sign-in page itself)
    ANY = "any operator"  # viewer, approver or admin
    APPROVER = "approver"
    ADMIN = "admin"


ALLOWED = {
    Need.ANY: {"viewer", "approver", "admin"},
    Need.APPROVER: {"approver"},
    Need.ADMIN: {"admin"},
}

EXPECTED: dict[tuple[str, str], Need] = {
    ("GET", "/v1/ops/me"): Need.ANY,
    ("GET", "/v1/ops/operators"): Need.ADMIN,
    ("POST", "/v1/ops/operators"): Need.ADMIN,
    ("POST", "/v1/ops/operators/{operator_id}/disable"): Need.ADMIN,
    ("POST", "/v1/ops/operators/{operator_id}/enable"): Need.ADMIN,
    ("GET", "/v1/ops/programs"): Need.ANY,
    ("POST", "/v1/ops/programs"): Need.ADMIN,
    ("GET", "/v1/ops/programs/{slug}"): Need.ANY,
    ("PATCH", "/v1/ops/programs/{slug}"): Need.ADMIN,
    ("DELETE", "/v1/ops/programs/{slug}"): Need.ADMIN,
    ("GET", "/v1/ops/programs/{slug}/affiliates"): Need.ANY,
    ("GET", "/v1/ops/affiliates/{affiliate_id}"): Need.ANY,
    ("GET", "/v1/ops/affiliates/{affiliate_id}/tree"): Need.ANY,
    ("GET", "/v1/ops/affiliates/{affiliate_id}/commissions"): Need.ANY,
    ("POST", "/v1/ops/affiliates/{affiliate_id}/suspend"): Need.ADMIN,
    ("POST", "/v1/ops/affiliates/{affiliate_id}/reinstate"): Need.ADMIN,
    ("GET", "/v1/ops/commissions"): Need.ANY,
    ("GET", "/v1/ops/audit"): Need.ADMIN,
    ("GET", "/v1/ops/flows"): Need.ANY,
    ("GET", "/v1/ops/flows/{flow_id}"): Need.ANY,
    ("POST", "/v1/ops/flows/{flow_id}/terminate"): Need.ADMIN,
    ("POST", "/v1/ops/flows/{flow_id}/retry"): Need.ADMIN,
    ("POST", "/v1/ops/flows/{flow_id}/reset"): Need.ADMIN,
    ("GET", "/v1/ops/payouts"): Need.ANY,
    ("GET", "/v1/ops/payouts/{batch_id}"): Need.ANY,
    ("POST", "/v1/ops/payouts"): Need.ADMIN,
    ("POST", "/v1/ops/payouts/{batch_id}/approve"): Need.APPROVER,
    ("POST", "/v1/ops/payouts/{batch_id}/reject"): Need.APPROVER,
    ("POST", "/v1/ops/payouts/{batch_id}/cancel"): Need.ADMIN,
    ("GET", "/v1/ops/halt"): Need.ANY,
    ("POST", "/v1/ops/halt"): Need.ADMIN,
    ("GET", "/v1/ops/chain-gate"): Need.ANY,
    ("POST", "/v1/ops/chain-gate"): Need.ADMIN,
    ("GET", "/v1/ops/ledger/balances"): Need.ANY,
    ("GET", "/v1/ops/ledger/accounts/{account}/statement"): Need.ANY,
    ("GET", "/v1/ops/ledger/transactions/{tx_id:path}"): Need.ANY,
    ("GET", "/v1/ops/ledger/verify"): Need.ANY,
    ("GET", "/v1/ops/suspense"): Need.ANY,
    ("POST", "/v1/ops/suspense/{item_id}/apply"): Need.ADMIN,
    ("POST", "/v1/ops/suspense/{item_id}/refund"): Need.ADMIN,
    ("POST", "/v1/ops/suspense/{item_id}/write-off"): Need.ADMIN,
    ("POST", "/v1/ops/payments/{payment_key:path}/refund"): Need.ADMIN,
    ("GET", "/v1/ops/reconciliation"): Need.ANY,
    ("GET", "/v1/ops/reconciliation/{report_id}"): Need.ANY,
    ("POST", "/v1/ops/reconciliation/run"): Need.ADMIN,
    ("GET", "/v1/ops/privacy/export"): Need.ADMIN,
    ("GET", "/v1/ops/reports/{kind}"): Need.ANY,
    ("GET", "/v1/ops/reports/{kind}/{day}"): Need.ANY,
    ("GET", "/ops/reports"): Need.ANY,
    ("GET", "/ops/reports/{kind}"): Need.ANY,
    ("GET", "/ops/reports/{kind}/{day}"): Need.ANY,
    ("GET", "/ops/payouts"): Need.ANY,
    ("GET", "/ops/payouts/static/payouts.js"): Need.ANY,
    ("GET", "/ops/payouts/{batch_id}"): Need.ANY,
    ("POST", "/ops/payouts/{batch_id}/approve"): Need.APPROVER,
    ("POST", "/ops/payouts/{batch_id}/reject"): Need.APPROVER,
    ("GET", "/ops/login"): Need.PUBLIC,
    ("POST", "/ops/login"): Need.PUBLIC,
    ("POST", "/ops/logout"): Need.ANY,
    ("GET", "/ops/"): Need.ANY,
}
# Requests that need more than their route: (method, path as sent) → what they need.
VARIANTS: dict[tuple[str, str], Need] = {
    ("GET", "/v1/ops/ledger/verify?fresh=true"): Need.ADMIN,  # a full journal scan on demand
}
OPERATOR_SURFACE = re.compile(r"^/(v1/ops|ops)(/|$)")
DUMMY = {
    "operator_id": "999999",
    "affiliate_id": "999999",
    "item_id": "999999",
    "report_id": "999999",
    "slug": "no-such-program",
    "flow_id": "no-such-flow",
    "batch_id": "payout:no-such-program:no-such-period",
    "account": "no:such:account",
    "tx_id": "no-such-tx",
    "payment_key": "no-such-payment",
    "kind": "daily",
    "day": "2026-01-01",
}
CREDENTIALS = ["none", "disabled", "viewer", "approver", "admin"]


def operator_routes(routes) -> Iterator[tuple[str, str]]:
    """(method, path) of every route on the operator surface, through included routers."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from operator_routes(included.routes)
        elif OPERATOR_SURFACE.match(getattr(route, "path", "")):
            for method in sorted(getattr(route, "methods", None) or ()):
                if method != "HEAD":
                    yield method, route.path


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)(?::path)?\}", lambda m: DUMMY[m.group(1)], path)


MATRIX = [(method, path, need) for (method, path), need in EXPECTED.items() if need is not Need.PUBLIC] + [
    (method, path, need) for (method, path), need in VARIANTS.items()
]


def test_every_operator_route_is_classified(tmp_path):
    settings = Settings(_env_file=None, home=tmp_path, environment="test", **UNREACHABLE)  # type: ignore[arg-type]
    app = create_app(settings, surface="operator")
    served = set(operator_routes(app.routes))
    assert served == set(operator_routes(r for router in OPERATOR_ROUTERS for r in router.routes))
    unclassified = served - EXPECTED.keys()
    assert not unclassified, f"add these routes to EXPECTED with the role they need: {sorted(unclassified)}"
    assert not EXPECTED.keys() - served, f"EXPECTED names routes that do not exist: {EXPECTED.keys() - served}"


# --- one database and one pair of apps for the whole matrix (the refusals are what is tested) ----------


class Operators:
    def __init__(self, engine: Engine):
        self.keys = {role: make_operator(engine, f"matrix-{role}", role) for role in ("viewer", "approver", "admin")}
        self.keys["disabled"] = make_operator(engine, "matrix-disabled", "admin")
        self.cookies: dict[str, str] = {}

    def disable(self, engine: Engine) -> None:
        with session_scope(engine) as session:
            set_active(session, Actor(name="cli:matrix"), "matrix-disabled", False)


@pytest.fixture(scope="module")
def matrix_engine(test_database) -> Iterator[Engine]:
    engine = make_engine(test_database.fresh_url(), pool_size=5)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
async def matrix(matrix_engine, tmp_path_factory) -> AsyncIterator[tuple[httpx.AsyncClient, Operators]]:
    settings = Settings(
        _env_file=None,
        home=tmp_path_factory.mktemp("matrix"),
        environment="test",
        database_url=str(matrix_engine.url.render_as_string(hide_password=False)),
        log_format="console",
        **UNREACHABLE,  # type: ignore[arg-type]
    )
    operators = Operators(matrix_engine)
    async for client in surfaces_client(settings, matrix_engine):
        for who in ("viewer", "approver", "admin", "disabled"):
            operators.cookies[who] = await _sign_in(client, operators.keys[who])
        operators.disable(matrix_engine)  # after sign-in: its key and its session are both void now
        yield client, operators


async def _sign_in(client: httpx.AsyncClient, key: str) -> str:
    client.cookies.clear()
    form = await client.get("/ops/login")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert csrf, form.text
    resp = await client.post("/ops/login", data={"api_key": key, "csrf_token": csrf.group(1)})
    assert resp.status_code == 303, resp.text
    cookie = client.cookies.get(SESSION_COOKIE)
    client.cookies.clear()
    assert cookie
    return cookie


def auth_failures() -> float:
    """All refused authentications and authorizations counted so far (sge_auth_failures_total)."""
    return sum(
        sample.value
        for metric in REGISTRY.collect()
        if metric.name == "sge_auth_failures"
        for sample in metric.samples
        if sample.name == "sge_auth_failures_total"
    )


# A refusal is counted (per day, kind and code) for the operator reports: the one write it may make.
REFUSAL_COUNTERS = {"security_event_count"}


def snapshot(engine: Engine) -> dict[str, list[str]]:
    """Every row of every table but the refusal counters, as text, sorted: what a refused request
    must leave as it was."""
    with engine.connect() as conn:
        return {
            name: sorted(repr(tuple(row)) for row in conn.execute(text(f'SELECT * FROM "{name}"')))
            for name in SQLModel.metadata.tables
            if name not in REFUSAL_COUNTERS
        }


async def _request(
    client: httpx.AsyncClient, method: str, path: str, *, key: str | None = None, cookie: str | None = None
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    client.cookies.clear()
    if cookie:
        client.cookies.set(SESSION_COOKIE, cookie, path="/ops")
    kwargs: dict = {}
    if path.startswith("/ops/") and method == "POST":
        kwargs["data"] = {"csrf_token": await _page_csrf(client) if cookie else ""}
    elif method in ("POST", "PATCH", "PUT"):
        kwargs["json"] = {}  # refusals come before the body is read; an allowed request gets a 422
    resp = await client.request(method, concrete(path), headers=headers, **kwargs)
    client.cookies.clear()
    return resp


async def _page_csrf(client: httpx.AsyncClient) -> str:
    home = await client.get("/ops/")
    found = re.search(r'name="csrf_token" value="([^"]+)"', home.text)
    return found.group(1) if found else ""


def _refused_unauthenticated(path: str, resp: httpx.Response) -> bool:
    if path.startswith("/ops/"):  # a browser is sent to sign in; a bearer key gets the 401 page
        return resp.status_code == 401 or (resp.status_code == 303 and resp.headers["location"] == "/ops/login")
    return resp.status_code == 401


@pytest.mark.parametrize(("method", "path", "need"), MATRIX, ids=[f"{m} {p}" for m, p, _ in MATRIX])
async def test_each_credential_gets_what_the_route_allows(matrix, matrix_engine, method, path, need):
    client, operators = matrix
    page = path.startswith("/ops/")
    ways = ["bearer", "cookie"] if page else ["bearer"]
    problems: list[str] = []
    for who in CREDENTIALS:
        for way in ways:
            key = operators.keys.get(who) if way == "bearer" else None
            cookie = operators.cookies.get(who) if way == "cookie" else None
            before, failures = snapshot(matrix_engine), auth_failures()
            resp = await _request(client, method, path, key=key, cookie=cookie)
            counted = auth_failures() > failures  # every refusal is counted (and logged)
            seen = f"{who} ({way}): {resp.status_code} {resp.text[:160]}"
            if who in ("none", "disabled"):
                if not (_refused_unauthenticated(path, resp) and counted):
                    problems.append(f"{seen} — expected a refusal as unauthenticated")
            elif who in ALLOWED[need]:
                if resp.status_code in (401, 403) or counted:
                    problems.append(f"{seen} — expected allowed")
                continue
            elif resp.status_code != 403 or not counted or (not page and "insufficient_role" not in resp.text):
                problems.append(f"{seen} — expected 403 insufficient_role")
            if snapshot(matrix_engine) != before:
                problems.append(f"{seen} — a refused request changed the database")
    assert not problems, f"{method} {path} needs {need.value}:\n" + "\n".join(problems)
