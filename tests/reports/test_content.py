"""The operator report's sections computed from seeded rows (SQLite, no Temporal): by program, in the
period only, nothing personal in the body; re-running a period replaces its report."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlmodel import Session, select

from activities.reports import build_report
from core.settings import Settings
from models.reports.content import network_label, percentile
from models.reports.store import ReportRequest, find_report, last_complete_period, period_of
from models.reports.tables import OperatorReport
from tests.reports.seed import DAY, NOON, seed


def _settings(db_url: str, tmp_path) -> Settings:
    return Settings(
        _env_file=None,
        home=tmp_path / "home",
        database_url=db_url,
        report_burst_per_network=3,
        report_burst_per_referrer=3,
    )


def _body(engine, kind: str) -> dict:
    with Session(engine) as s:
        found = find_report(s, kind, DAY)
        assert found is not None
        return found.body


def test_daily_report_sections_from_seeded_rows(db_engine, db_url, tmp_path):
    seeded = seed(db_engine)
    ref = build_report(db_engine, _settings(db_url, tmp_path), ReportRequest(kind="daily", day=DAY))
    assert (ref.period_start, ref.period_end) == (DAY, DAY + timedelta(days=1))
    b = _body(db_engine, "daily")

    act = b["activity"]
    assert (act["new_affiliates"], act["registrations"], act["payments"]) == (3, 5, 2)
    assert act["by_program"]["alpha"] == {
        "new_affiliates": 2,
        "registrations": 4,
        "payments": 2,
        "paid": {"USDC": "200000000"},
    }
    assert act["by_program"]["beta"]["registrations"] == 1 and act["by_program"]["beta"]["payments"] == 0
    assert len(act["series"]["registrations"]) == 24 and act["series"]["registrations"][12] == 5

    intents = b["intents"]
    assert (intents["ended"], intents["completed"], intents["success_rate"]) == (4, 2, 0.5)
    assert intents["by_reason"] == {"completed": 2, "expired: not paid in time": 1, "failed: payment failed": 1}

    assert b["settlement_latency"] == {"count": 2, "p50_seconds": 20.0, "p95_seconds": 30.0, "max_seconds": 30.0}

    fraud = b["fraud"]
    assert fraud["registration_bursts_per_network"] == [
        {"network": network_label("10.0.0.1"), "registration_messages": 3}
    ]
    assert fraud["registration_bursts_per_referrer"] == [{"affiliate_id": seeded.root_id, "referred": 3}]
    assert (fraud["self_referral_attempts"], fraud["tree_cycle_attempts"], fraud["failed_signature_attempts"]) == (
        1,
        0,
        2,
    )
    assert fraud["wallets_per_payer"]["available"] is False

    assert b["auth"] == {"failed_authentications": 5, "by_reason": {"operator_api:invalid_api_key": 5}}
    gas = b["gas"]
    assert (gas["transactions"], gas["reverted"], gas["fee_wei"], gas["gas_used"]) == (
        2,
        1,
        str(63_000 * 10**9),
        42_000,
    )
    assert set(gas["by_label"]) == {"claim", "mint"}
    if db_engine.dialect.name == "sqlite":
        assert b["slow_queries"] == {"available": False, "why": "not available on SQLite"}
    elif not b["slow_queries"]["available"]:  # PostgreSQL without the extension: said so, nothing else
        assert "pg_stat_statements is not enabled" in b["slow_queries"]["why"]

    text = json.dumps(b).lower()  # nothing personal: no raw IP, no wallet
    assert "10.0.0.1" not in text and "2001:db8" not in text and "0x" + "11" * 20 not in text
    with Session(db_engine) as s:
        from models.onboarding import Onboarding

        for flow in s.exec(select(Onboarding)).all():
            assert flow.wallet.lower() not in text


def test_weekly_report_covers_the_iso_week_and_a_rerun_replaces_it(db_engine, db_url, tmp_path):
    seed(db_engine)
    settings = _settings(db_url, tmp_path)
    build_report(db_engine, settings, ReportRequest(kind="weekly", day=DAY))
    b = _body(db_engine, "weekly")
    assert b["period"]["start"] == "2026-11-23" and b["period"]["end"] == "2026-11-30"
    assert b["activity"]["registrations"] == 6 and b["activity"]["series"]["registrations"] == [0, 1, 5, 0, 0, 0, 0]
    assert b["intents"]["ended"] == 5 and b["gas"]["transactions"] == 3
    assert b["auth"]["failed_authentications"] == 6

    again = build_report(db_engine, settings, ReportRequest(kind="weekly", day=DAY + timedelta(days=2)))
    with Session(db_engine) as s:
        rows = s.exec(select(OperatorReport)).all()
    assert len(rows) == 1 and rows[0].id == again.id  # same period: replaced, not a second report


def test_periods():
    assert period_of("weekly", DAY) == (DAY - timedelta(days=2), DAY + timedelta(days=5))
    assert last_complete_period("daily", NOON) == (DAY - timedelta(days=1), DAY)
    assert last_complete_period("weekly", NOON)[0].isoformat() == "2026-11-16"
    assert percentile([], 50) is None
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 50) == 3.0 and percentile([1.0, 2.0], 95) == 2.0
