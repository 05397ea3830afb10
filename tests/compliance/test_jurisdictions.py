"""Jurisdictions: a program's blocked/allowed countries refuse new registrations and payment hand-outs
with `403 jurisdiction_blocked`, before any nonce is consumed or flow started; the country header is
believed only from a trusted proxy."""

from __future__ import annotations

import uuid

import pytest
from eth_account import Account
from prometheus_client import REGISTRY
from sqlmodel import Session, select

from core.db import session_scope
from models import programs as prg
from models.auth_nonces import AuthNonce
from models.jurisdictions import is_blocked, parse_countries
from models.onboarding import Onboarding
from models.platform import Program
from tests.compliance.conftest import PROXY
from tests.helpers.ledger import CLI, make_program
from tests.helpers.wallets import session_header, sign


def blocked_count(slug: str, action: str) -> float:
    labels = {"program": slug, "action": action}
    return REGISTRY.get_sample_value("sge_jurisdiction_blocked_total", labels) or 0.0


@pytest.fixture
def slug(db_engine) -> str:
    slug = f"j-{uuid.uuid4().hex[:6]}"
    make_program(db_engine, slug=slug)
    with session_scope(db_engine) as session:
        prg.update_program(session, CLI, slug, prg.ProgramUpdate(blocked_countries=["de", "US"]))
    return slug


def test_country_rules():
    assert parse_countries("de, us,DE") == ["DE", "US"]
    with pytest.raises(ValueError):
        parse_countries("Germany")
    program = Program(slug="x", flags={"blocked_countries": ["DE"]})
    assert is_blocked(program, "de") and not is_blocked(program, "FR") and not is_blocked(program, None)
    only = Program(slug="x", flags={"allowed_countries": ["FR"]})
    assert not is_blocked(only, "FR") and is_blocked(only, "DE") and is_blocked(only, None)


def test_country_options_layer_on_the_flags(db_engine, slug):
    with session_scope(db_engine) as session:
        prg.update_program(session, CLI, slug, prg.ProgramUpdate(allowed_countries=["fr"]))
    with Session(db_engine) as session:
        assert prg.require_program(session, slug).flags == {
            "blocked_countries": ["DE", "US"],
            "allowed_countries": ["FR"],
        }
    with session_scope(db_engine) as session:  # `flags` replaces them all; the country options then apply
        prg.update_program(session, CLI, slug, prg.ProgramUpdate(flags={"x": 1}, blocked_countries=[]))
    with Session(db_engine) as session:
        assert prg.require_program(session, slug).flags == {"x": 1, "blocked_countries": []}


async def test_nonce_register_and_payment_refused_from_blocked_country(
    compliance_settings, public_client, db_engine, slug
):
    settings = compliance_settings()
    account = Account.create()
    async with public_client(settings) as client:
        before = blocked_count(slug, "nonce")
        resp = await client.post(
            "/v1/auth/nonce", json={"program": slug, "wallet": account.address}, headers={"CF-IPCountry": "DE"}
        )
        assert resp.status_code == 403 and resp.json()["error"]["code"] == "jurisdiction_blocked", resp.text
        assert blocked_count(slug, "nonce") == before + 1

        # A message issued while in France, sent back from the US: refused, its nonce left unused.
        issued = await client.post(
            "/v1/auth/nonce", json={"program": slug, "wallet": account.address}, headers={"CF-IPCountry": "FR"}
        )
        assert issued.status_code == 201, issued.text
        message = issued.json()["message"]
        resp = await client.post(
            "/v1/register",
            json={"message": message, "signature": sign(account, message)},
            headers={"CF-IPCountry": "us"},
        )
        assert resp.status_code == 403 and resp.json()["error"]["code"] == "jurisdiction_blocked", resp.text
        assert blocked_count(slug, "register") >= 1
        with Session(db_engine) as session:
            used = session.exec(select(AuthNonce.used_at).where(AuthNonce.nonce == issued.json()["nonce"])).one()
            assert used is None
            assert session.exec(select(Onboarding).where(Onboarding.wallet == account.address)).first() is None

        body = {"program": slug, "wallet": account.address}
        auth = session_header(settings, account.address)
        resp = await client.post("/v1/payments", json=body, headers={**auth, "CF-IPCountry": "DE"})
        assert resp.status_code == 403 and resp.json()["error"]["code"] == "jurisdiction_blocked", resp.text
        resp = await client.post("/v1/payments", json=body, headers={**auth, "CF-IPCountry": "FR"})
        assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_registered", resp.text


async def test_country_header_ignored_from_untrusted_peer(compliance_settings, public_client, slug):
    settings = compliance_settings()
    body = {"program": slug, "wallet": Account.create().address}
    async with public_client(settings, peer="198.51.100.9") as client:
        resp = await client.post("/v1/auth/nonce", json=body, headers={"CF-IPCountry": "DE"})
        assert resp.status_code == 201, resp.text
    async with public_client(settings, peer=PROXY) as client:
        resp = await client.post("/v1/auth/nonce", json=body, headers={"CF-IPCountry": "DE"})
        assert resp.status_code == 403, resp.text
