"""The operator report pages behind the operator browser login (in-process surfaces, SQLite), and the
refusal counters the reports read, fed by the real refusal paths (public registration, operator auth)."""

from __future__ import annotations

import re

import httpx
from eth_account import Account
from sqlmodel import Session, select

from activities.reports import build_report
from core.columns import utcnow
from models.reports.store import ReportRequest
from models.reports.tables import SecurityEventCount
from tests.helpers.ledger import make_operator, register
from tests.helpers.wallets import nonce, sign
from tests.reports.seed import DAY, seed
from tests.reports.test_content import _settings

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


async def _sign_in(client: httpx.AsyncClient, key: str) -> None:
    form = await client.get("/ops/login")
    match = CSRF_FIELD.search(form.text)
    assert match
    signed = await client.post("/ops/login", data={"api_key": key, "csrf_token": match.group(1)})
    assert signed.status_code == 303, signed.text


def _counts(engine) -> dict[tuple[str, str], int]:
    with Session(engine) as s:
        return {(r.kind, r.code): r.count for r in s.exec(select(SecurityEventCount)).all()}


async def test_report_pages_render_behind_the_login_with_svg_charts(surfaces, db_engine, db_url, tmp_path):
    seed(db_engine)
    build_report(db_engine, _settings(db_url, tmp_path), ReportRequest(kind="daily", day=DAY))
    build_report(db_engine, _settings(db_url, tmp_path), ReportRequest(kind="weekly", day=DAY))

    anonymous = await surfaces.get("/ops/reports/daily/2026-11-25")
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/ops/login"
    assert (await surfaces.get("/ops/reports")).status_code == 303

    await _sign_in(surfaces, make_operator(db_engine, "reader", "viewer"))
    index = await surfaces.get("/ops/reports")
    assert index.status_code == 200 and "/ops/reports/daily/2026-11-25" in index.text
    assert "/ops/reports/weekly/2026-11-23" in index.text

    page = await surfaces.get("/ops/reports/daily/2026-11-25")
    assert page.status_code == 200, page.text
    assert "script-src" not in page.headers["content-security-policy"] and "<script" not in page.text
    assert page.text.count("<svg") >= 2 and "<rect" in page.text  # server-drawn bar charts
    assert "Daily report 2026-11-25" in page.text and "success rate" in page.text
    assert "50.0 %" in page.text and "p50 20.0 s" in page.text
    slow = "not available on SQLite" if db_engine.dialect.name == "sqlite" else "pg_stat_statements"
    assert slow in page.text
    newest = await surfaces.get("/ops/reports/weekly")
    assert newest.status_code == 200 and "Weekly report 2026-11-23" in newest.text

    assert (await surfaces.get("/ops/reports/monthly")).status_code == 404
    missing = await surfaces.get("/ops/reports/daily/2020-01-01")
    assert missing.status_code == 404 and "no daily report" in missing.text
    assert (await surfaces.get("/ops/reports/daily/yesterday")).status_code == 422


async def test_refusals_are_counted_for_the_reports(api_client, db_engine, db_url, tmp_path):
    from tests.helpers.ledger import make_program

    make_program(db_engine, slug="gamma")
    affiliate = register(db_engine, program="gamma")
    own = await nonce(api_client, "gamma", affiliate.wallet, affiliate.code)
    assert own.status_code == 422 and own.json()["error"]["code"] == "self_referral"

    user, stranger = Account.create(), Account.create()
    message = (await nonce(api_client, "gamma", user.address, None)).json()["message"]
    forged = await api_client.post("/v1/register", json={"message": message, "signature": sign(stranger, message)})
    assert forged.status_code == 401 and forged.json()["error"]["code"] == "invalid_signature"

    bad_key = await api_client.get("/v1/ops/reconciliation", headers={"Authorization": "Bearer sge_nope"})
    assert bad_key.status_code == 401
    assert (await api_client.get("/v1/ops/reconciliation")).status_code == 401

    counts = _counts(db_engine)
    assert counts[("attribution", "self_referral")] == 1
    assert counts[("siwe", "invalid_signature")] == 1
    assert counts[("operator_auth", "operator_api:invalid_api_key")] == 1
    assert counts[("operator_auth", "operator_api:missing_api_key")] == 1

    build_report(db_engine, _settings(db_url, tmp_path), ReportRequest(kind="daily", day=utcnow().date()))
    from models.reports.store import find_report

    with Session(db_engine) as s:
        found = find_report(s, "daily", utcnow().date())
        assert found is not None
        body = found.body
    assert body["fraud"]["self_referral_attempts"] == 1 and body["fraud"]["failed_signature_attempts"] == 1
    assert body["auth"]["failed_authentications"] == 2
    assert body["activity"]["new_affiliates"] == 1 and body["period"]["complete"] is False


async def test_reports_as_json_for_a_bearer_key(surfaces, db_engine, db_url, tmp_path):
    seed(db_engine)
    build_report(db_engine, _settings(db_url, tmp_path), ReportRequest(kind="daily", day=DAY))
    headers = {"Authorization": f"Bearer {make_operator(db_engine, 'script', 'viewer')}"}
    listed = await surfaces.get("/v1/ops/reports/daily", headers=headers)
    assert listed.status_code == 200 and [r["period_start"] for r in listed.json()] == ["2026-11-25"]
    one = await surfaces.get("/v1/ops/reports/daily/2026-11-25", headers=headers)
    assert one.status_code == 200 and one.json()["body"]["intents"]["completed"] == 2
    missing = await surfaces.get("/v1/ops/reports/weekly/2026-11-25", headers=headers)
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "operator_report_not_found")
    unknown = await surfaces.get("/v1/ops/reports/monthly", headers=headers)
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (
        422,
        "validation_error",
    )  # the schema lists the kinds
    assert (await surfaces.get("/v1/ops/reports/daily")).status_code == 401
