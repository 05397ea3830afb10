"""Operator pages in a browser: sign in with an API key for a short-lived session cookie, CSRF on every
form, sign out; and every refused authentication counted and logged with the key's hint and the route
(finding 12, part)."""

from __future__ import annotations

import re
import time

import httpx
import pytest
from sqlmodel import select
from structlog.testing import capture_logs

from api.sessions import LOGIN_CSRF_COOKIE, SESSION_COOKIE, SessionRefused, signer_for
from core.db import session_scope
from models.operators import Actor, Operator, hash_key, rotate_key, set_active
from tests.helpers.ledger import make_operator
from tests.security.conftest import auth_failures, surfaces_client

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def _csrf(page: httpx.Response) -> str:
    match = CSRF_FIELD.search(page.text)
    assert match, page.text
    return match.group(1)


async def _sign_in(client: httpx.AsyncClient, key: str) -> httpx.Response:
    form = await client.get("/ops/login")
    return await client.post("/ops/login", data={"api_key": key, "csrf_token": _csrf(form)})


def _set_cookie_header(resp: httpx.Response, name: str) -> str:
    [header] = [h for h in resp.headers.get_list("set-cookie") if h.startswith(f"{name}=")]
    return header.lower()


async def test_sign_in_shows_who_you_are_and_sign_out_ends_it(surfaces, db_engine):
    key = make_operator(db_engine, "alice", "approver", "viewer")
    form = await surfaces.get("/ops/login")
    assert form.status_code == 200 and "API key" in form.text
    assert (
        form.headers["x-frame-options"] == "DENY"
        and "frame-ancestors 'none'" in form.headers["content-security-policy"]
    )
    signed_in = await surfaces.post("/ops/login", data={"api_key": key, "csrf_token": _csrf(form)})
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/ops/"
    home = await surfaces.get("/ops/")
    assert home.status_code == 200
    assert "Signed in as alice" in home.text and "approver" in home.text and "viewer" in home.text
    assert "/ops/payouts" in home.text and "/ops/reports" in home.text
    assert key not in home.text  # the key itself is never rendered

    out = await surfaces.post("/ops/logout", data={"csrf_token": _csrf(home)})
    assert out.status_code == 303 and out.headers["location"] == "/ops/login"
    assert SESSION_COOKIE not in surfaces.cookies
    after = await surfaces.get("/ops/")
    assert after.status_code == 303 and after.headers["location"] == "/ops/login"


async def test_the_session_cookie_is_httponly_strict_short_lived_and_scoped(surfaces, db_engine):
    key = make_operator(db_engine, "alice", "viewer")
    header = _set_cookie_header(await _sign_in(surfaces, key), SESSION_COOKIE)
    assert "httponly" in header and "samesite=strict" in header and "path=/ops" in header
    assert "max-age=1800" in header  # SGE_OPERATOR_SESSION_MINUTES=30
    assert "secure" not in header  # plain http outside production


async def test_the_cookie_is_secure_in_production(local_settings, db_engine):
    # (The rest of a production configuration does not matter here; model_copy skips the posture rules.)
    settings = local_settings().model_copy(update={"environment": "production", "operator_session_minutes": 5})
    key = make_operator(db_engine, "alice", "viewer")
    async for client in surfaces_client(settings, db_engine, base_url="https://operator.internal"):
        form = await client.get("/ops/login")
        assert "secure" in _set_cookie_header(form, LOGIN_CSRF_COOKIE)
        resp = await client.post("/ops/login", data={"api_key": key, "csrf_token": _csrf(form)})
        header = _set_cookie_header(resp, SESSION_COOKIE)
        assert "secure" in header and "max-age=300" in header


@pytest.mark.parametrize("disabled", [False, True])
async def test_a_wrong_or_disabled_key_is_refused_counted_and_logged(surfaces, db_engine, disabled):
    key = make_operator(db_engine, "mallory", "admin")
    if disabled:
        with session_scope(db_engine) as session:
            set_active(session, Actor(name="cli:test"), "mallory", False)
    else:
        key = key[:-4] + "AAAA"
    before = auth_failures("operator_pages", "invalid_api_key")
    with capture_logs() as logs:
        resp = await _sign_in(surfaces, key)
    assert resp.status_code == 401 and "Unknown or disabled API key" in resp.text
    assert SESSION_COOKIE not in surfaces.cookies
    assert auth_failures("operator_pages", "invalid_api_key") == before + 1
    [line] = [entry for entry in logs if entry["event"] == "auth_failed"]
    assert line["log_level"] == "warning" and line["route"] == "/ops/login" and line["reason"] == "invalid_api_key"
    assert line["key_hint"] == key[:10] and key not in str(line)


async def test_the_login_form_needs_its_csrf_token(surfaces, db_engine):
    key = make_operator(db_engine, "alice", "admin")
    await surfaces.get("/ops/login")  # the CSRF cookie is set ...
    before = auth_failures("operator_pages", "csrf")
    forged = await surfaces.post("/ops/login", data={"api_key": key})  # ... but the form did not come from us
    wrong = await surfaces.post("/ops/login", data={"api_key": key, "csrf_token": "x" * 43})
    assert forged.status_code == 403 and wrong.status_code == 403
    assert SESSION_COOKIE not in surfaces.cookies
    assert auth_failures("operator_pages", "csrf") == before + 2


async def test_a_form_without_the_session_csrf_token_is_refused(surfaces, db_engine):
    key = make_operator(db_engine, "alice", "viewer")
    await _sign_in(surfaces, key)
    home = await surfaces.get("/ops/")
    before = auth_failures("operator_pages", "csrf")
    with capture_logs() as logs:
        missing = await surfaces.post("/ops/logout", data={})
        wrong = await surfaces.post("/ops/logout", data={"csrf_token": "forged"})
    assert missing.status_code == 403 and wrong.status_code == 403 and "CSRF" in missing.text
    assert auth_failures("operator_pages", "csrf") == before + 2
    assert {e["operator"] for e in logs if e["event"] == "auth_failed"} == {"alice"}
    assert (await surfaces.get("/ops/")).status_code == 200  # still signed in: the forged logout did nothing
    ok = await surfaces.post("/ops/logout", data={"csrf_token": _csrf(home)})
    assert ok.status_code == 303


async def test_pages_without_a_session_go_to_sign_in(surfaces):
    before = auth_failures("operator_pages", "missing_session")
    resp = await surfaces.get("/ops/")
    assert resp.status_code == 303 and resp.headers["location"] == "/ops/login"
    assert auth_failures("operator_pages", "missing_session") == before + 1
    surfaces.cookies.set(SESSION_COOKIE, "forged.cookie", path="/ops")
    resp = await surfaces.get("/ops/")
    assert resp.status_code == 303
    assert SESSION_COOKIE in resp.headers.get("set-cookie", "")  # the bad cookie is dropped


async def test_a_session_ends_with_the_operator_key_or_its_lifetime(surfaces, db_engine, local_settings):
    key = make_operator(db_engine, "alice", "viewer")
    await _sign_in(surfaces, key)
    assert (await surfaces.get("/ops/")).status_code == 200
    with session_scope(db_engine) as session:
        rotate_key(session, Actor(name="cli:test"), "alice")
    assert (await surfaces.get("/ops/")).status_code == 303  # the old key's session is void

    key2 = make_operator(db_engine, "bob", "viewer")
    await _sign_in(surfaces, key2)
    with session_scope(db_engine) as session:
        set_active(session, Actor(name="cli:test"), "bob", False)
    assert (await surfaces.get("/ops/")).status_code == 303  # a disabled operator's session is void

    signer = signer_for(local_settings())
    carol_key = make_operator(db_engine, "carol", "viewer")
    with session_scope(db_engine) as session:
        carol = session.exec(select(Operator).where(Operator.name == "carol")).one()
        token = signer.issue(carol.id, hash_key(carol_key), now=time.time() - 3600)
    with pytest.raises(SessionRefused) as refused:
        signer.load(db_engine, token)
    assert refused.value.reason == "expired_session"
    signer.load(db_engine, signer.issue(carol.id, hash_key(carol_key)))  # a fresh one is fine


async def test_a_bearer_key_works_on_pages_and_roles_are_checked(surfaces, db_engine):
    key = make_operator(db_engine, "alice", "viewer")
    resp = await surfaces.get("/ops/", headers={"Authorization": f"Bearer {key}"})
    assert resp.status_code == 200 and "Signed in as alice" in resp.text
    # A form page with a bearer key needs no CSRF token: nothing ambient was sent.
    assert (await surfaces.post("/ops/logout", data={}, headers={"Authorization": f"Bearer {key}"})).status_code == 303

    from fastapi import Depends

    from api.deps import require_page_role

    @surfaces.operator_app.get("/ops/admin-only")
    def admin_only(page=Depends(require_page_role("admin"))):
        return {"ok": page.actor.name}

    before = auth_failures("operator_pages", "insufficient_role")
    await _sign_in(surfaces, key)
    refused = await surfaces.get("/ops/admin-only")
    assert refused.status_code == 403 and "admin" in refused.text
    assert auth_failures("operator_pages", "insufficient_role") == before + 1


@pytest.mark.parametrize(
    ("headers", "reason", "status"),
    [
        ({}, "missing_api_key", 401),
        ({"Authorization": "Bearer sgeop_notARealKeyAtAll00000000000000000000000"}, "invalid_api_key", 401),
        ({"Authorization": "Bearer something-else"}, "invalid_api_key", 401),
        ("viewer", "insufficient_role", 403),
    ],
)
async def test_the_operator_api_counts_and_logs_refusals(surfaces, db_engine, headers, reason, status):
    if headers == "viewer":
        key = make_operator(db_engine, "victor", "viewer")
        headers = {"Authorization": f"Bearer {key}"}
    before = auth_failures("operator_api", reason)
    with capture_logs() as logs:
        resp = await surfaces.get("/v1/ops/operators", headers=headers)
    assert resp.status_code == status and resp.json()["error"]["code"] == reason
    assert auth_failures("operator_api", reason) == before + 1
    [line] = [entry for entry in logs if entry["event"] == "auth_failed"]
    assert line["log_level"] == "warning" and line["route"] == "/v1/ops/operators" and line["method"] == "GET"
    presented = headers.get("Authorization", "").removeprefix("Bearer ")
    if presented.startswith("sgeop_"):
        assert line["key_hint"] == presented[:10] and presented not in str(line)
    elif presented:
        assert line["key_hint"] == "(not an operator key)"
    if reason == "insufficient_role":
        assert line["operator"] == "victor"
