"""Privacy export: every row that holds the wallet (or its subject ref) is in the export. The tables are
derived from the metadata, so a new table with a wallet column is checked without editing this test."""

from __future__ import annotations

import uuid

import pytest
from eth_account import Account
from sqlalchemy import func, select
from sqlmodel import Session, SQLModel

from core.columns import utcnow
from core.db import session_scope
from core.settings.wallet_auth import siwe_domain
from models.audit import AuditLog
from models.privacy import export_person, holds_text
from models.signed_registration import register_signed
from models.siwe import verify
from tests.helpers.ledger import make_operator, make_program, register
from tests.helpers.wallets import sign


def wallet_columns() -> list[tuple]:
    """(table, column) of every string column whose name says it holds a wallet."""
    return [(t, c) for t in SQLModel.metadata.sorted_tables for c in t.columns if "wallet" in c.name and holds_text(c)]


@pytest.fixture
def slug(db_engine) -> str:
    slug = f"x-{uuid.uuid4().hex[:6]}"
    make_program(db_engine, slug=slug)
    return slug


async def registered(client, settings, db_engine, slug: str, account, code: str | None = None) -> None:
    body = {"program": slug, "wallet": account.address} | ({"referral_code": code} if code else {})
    issued = await client.post("/v1/auth/nonce", json=body)
    assert issued.status_code == 201, issued.text
    text = issued.json()["message"]
    signature = sign(account, text)
    now = utcnow()
    message = verify(text, signature, domain=siwe_domain(settings), chain_id=settings.chain_id, now=now)
    with session_scope(db_engine) as session:
        register_signed(session, message, text, signature, now)


async def test_export_holds_every_row_with_the_wallet(compliance_settings, public_client, db_engine, slug):
    settings = compliance_settings()
    account = Account.create()
    affiliate = register(db_engine, account=account, program=slug)  # the person is also an affiliate
    other = Account.create()
    async with public_client(settings) as client:
        await registered(client, settings, db_engine, slug, account)
        await registered(client, settings, db_engine, slug, other, code=affiliate.code)  # refers someone

    with Session(db_engine) as session:
        document = export_person(session, account.address)
    tables = document["tables"]
    checked = 0
    with db_engine.connect() as conn:
        for table, column in wallet_columns():
            hits = conn.execute(select(table).where(func.lower(column) == account.address.lower())).mappings().all()
            exported_ids = {r.get("id") for r in tables.get(table.name, [])}
            for hit in hits:
                assert hit.get("id") in exported_ids, (table.name, column.name)
                checked += 1
        # Immutable rows name the person by subject ref only (once something immutable mentions them).
        if document["subject"] is not None:
            ref = f"subject:{document['subject']['id']}"
            audits = [r for r in conn.execute(select(AuditLog.__table__)).mappings() if ref in str(dict(r))]
            assert {r["id"] for r in audits} <= {r["id"] for r in tables.get("audit_log", [])}
    assert checked >= 5  # affiliate, affiliate nonce, auth nonce, consent, onboarding, attribution
    assert {"onboarding", "wallet_consent", "auth_nonce", "affiliate", "attribution"} <= set(tables)
    # The other person's rows name this one only as referrer: theirs are not all exported.
    with Session(db_engine) as session:
        theirs = export_person(session, other.address)["tables"]
    assert not any(r.get("wallet") == account.address for r in theirs.get("wallet_consent", []))


async def test_export_endpoint_is_admin_only_and_audited(compliance_settings, public_client, db_engine, slug):
    from tests.security.conftest import surfaces_client

    account = Account.create()
    register(db_engine, account=account, program=slug)
    admin = make_operator(db_engine, f"admin-{uuid.uuid4().hex[:4]}", "admin")
    viewer = make_operator(db_engine, f"viewer-{uuid.uuid4().hex[:4]}", "viewer")
    async for client in surfaces_client(compliance_settings(), db_engine):
        url = "/v1/ops/privacy/export"
        resp = await client.get(url, params={"wallet": account.address}, headers={"Authorization": f"Bearer {viewer}"})
        assert resp.status_code == 403, resp.text
        resp = await client.get(url, params={"wallet": "nope"}, headers={"Authorization": f"Bearer {admin}"})
        assert resp.status_code == 422, resp.text
        resp = await client.get(url, params={"wallet": account.address}, headers={"Authorization": f"Bearer {admin}"})
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["tables"]["affiliate"][0]["wallet"] == account.address
        assert body["workflows"] is None and "Temporal" in body["workflows_note"]  # unreachable here
    with Session(db_engine) as session:
        rows = session.exec(select(AuditLog).where(AuditLog.action == "privacy.export")).scalars().all()
    subject = body["subject"]
    assert any(r.target_id == (f"subject:{subject['id']}" if subject else "unknown-subject") for r in rows)
