"""Versioned terms, privacy notice and risk disclosures: published by operators, served publicly, shown
in the app, named in registration messages; a new terms version needs a new signature before paying."""

from __future__ import annotations

import uuid

import pytest
from eth_account import Account
from sqlmodel import Session, select

from core.columns import utcnow
from core.db import session_scope
from core.settings.wallet_auth import siwe_domain
from models import programs as prg
from models.auth_nonces import WalletConsent
from models.documents import DocumentKind, digest, set_document
from models.signed_registration import register_signed
from models.siwe import verify
from models.terms import DEFAULT_RISK, terms_for
from tests.helpers.ledger import CLI, make_program
from tests.helpers.wallets import session_header, sign


@pytest.fixture
def slug(db_engine) -> str:
    slug = f"d-{uuid.uuid4().hex[:6]}"
    make_program(db_engine, slug=slug)
    return slug


def publish(engine, slug: str, kind: DocumentKind, text: str) -> str:
    with session_scope(engine) as session:
        return set_document(session, CLI, prg.require_program(session, slug), kind, text).version


def test_versions_count_on_from_the_default(db_engine, slug):
    with Session(db_engine) as session:
        assert terms_for(prg.require_program(session, slug), session).version == "1"
    assert publish(db_engine, slug, DocumentKind.TERMS, "Terms v2") == "2"
    assert publish(db_engine, slug, DocumentKind.TERMS, "Terms v2") == "2"  # same text: no new version
    assert publish(db_engine, slug, DocumentKind.TERMS, "Terms v3") == "3"
    assert publish(db_engine, slug, DocumentKind.RISK, "Risky") == "2"
    with Session(db_engine) as session:
        terms = terms_for(prg.require_program(session, slug), session)
    assert (terms.version, terms.text, terms.sha256) == ("3", "Terms v3", digest("Terms v3"))


async def test_served_publicly_and_shown_in_the_app(compliance_settings, public_client, db_engine, slug):
    async with public_client(compliance_settings()) as client:
        resp = await client.get(f"/v1/programs/{slug}/documents/risk")
        assert resp.status_code == 200 and resp.json()["text"] == DEFAULT_RISK and resp.json()["version"] == "1"
        page = await client.get(f"/app/{slug}")
        assert "Its value can fall to zero" in page.text

        publish(db_engine, slug, DocumentKind.RISK, "Everything may be lost.\n")
        resp = await client.get(f"/v1/programs/{slug}/documents/risk", params={"format": "text"})
        assert resp.text == "Everything may be lost.\n"
        assert resp.headers["x-content-sha256"] == digest("Everything may be lost.\n")
        page = await client.get(f"/app/{slug}")
        assert "Everything may be lost." in page.text and "Its value can fall to zero" not in page.text
        assert (await client.get("/v1/programs/nope/documents/terms")).status_code == 404
        assert (await client.get(f"/v1/programs/{slug}/documents/cookies")).status_code == 422


async def test_new_terms_need_a_new_signature_before_payment(compliance_settings, public_client, db_engine, slug):
    settings = compliance_settings()
    account = Account.create()

    async def sign_registration(client) -> None:
        issued = await client.post("/v1/auth/nonce", json={"program": slug, "wallet": account.address})
        assert issued.status_code == 201, issued.text
        text = issued.json()["message"]
        signature = sign(account, text)
        now = utcnow()
        message = verify(text, signature, domain=siwe_domain(settings), chain_id=settings.chain_id, now=now)
        with session_scope(db_engine) as session:  # what POST /v1/register does before starting the flow
            register_signed(session, message, text, signature, now)

    body = {"program": slug, "wallet": account.address}
    auth = session_header(settings, account.address)
    async with public_client(settings) as client:
        await sign_registration(client)
        publish(db_engine, slug, DocumentKind.TERMS, "New terms.\n")
        resp = await client.post("/v1/payments", json=body, headers=auth)
        assert resp.status_code == 409, resp.text
        error = resp.json()["error"]
        assert error["code"] == "terms_acceptance_required"
        assert error["details"]["version"] == "2" and error["details"]["sha256"] == digest("New terms.\n")

        await sign_registration(client)  # the new message names version 2: accepted, the check passes
        with Session(db_engine) as session:
            rows = session.exec(select(WalletConsent).where(WalletConsent.wallet == account.address)).all()
        assert sorted(r.terms_version for r in rows) == ["1", "2"]
        resp = await client.post("/v1/payments", json=body, headers=auth)
        assert resp.json()["error"]["code"] == "payment_not_ready", resp.text  # no flow running here
