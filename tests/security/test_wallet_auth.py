"""Wallet-signed registration and wallet sessions (findings 2, 5, 6 and the nonce caps of 7).

2: registration needed no proof of control of the wallet, so anyone could fix a wallet's referrer.
5: POST /v1/payments had no per-IP or per-wallet limit.
6: per-wallet limits were spent before validation: junk locked a chosen wallet out.
7: outstanding registration messages are capped per wallet and per client network.
"""

from __future__ import annotations

import time
import uuid
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from eth_account import Account
from sqlmodel import Session, select
from starlette.responses import Response

from api.app import create_app
from api.wallet import COOKIE, grant
from core.settings.wallet_auth import siwe_domain
from models import sessions
from models.affiliates import Attribution
from models.auth_nonces import AuthNonce, WalletConsent
from models.onboarding import Onboarding
from models.platform import Program
from models.siwe import parse, rfc3339
from models.terms import terms_for
from tests.helpers.ledger import make_program, register
from tests.helpers.wallets import nonce, session_header, sign, signed_register

N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141  # secp256k1 order


@pytest.fixture
def slug(db_engine) -> str:
    slug = f"p-{uuid.uuid4().hex[:6]}"
    make_program(db_engine, slug=slug)
    return slug


@asynccontextmanager
async def client_for(settings, db_engine, temporal_dev, peer: str = "203.0.113.7", **overrides):
    """The API with `overrides` applied, reached from `peer` (rate limits and caps are per client IP)."""
    app = create_app(settings.model_copy(update=overrides), temporal_client=temporal_dev.client, engine=db_engine)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(peer, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


def _count(engine, table) -> int:
    with Session(engine) as session:
        return len(session.exec(select(table)).all())


def _malleated(signature: str) -> str:
    """The same signature with s → n - s (also valid for the same signer): another signature."""
    raw = bytes.fromhex(signature.removeprefix("0x"))
    r, s, v = raw[:32], int.from_bytes(raw[32:64], "big"), raw[64]
    return "0x" + (r + (N - s).to_bytes(32, "big") + bytes([55 - v])).hex()


async def test_finding_2_the_message_is_built_by_the_server(api_client, settings, db_engine, slug):
    affiliate = register(db_engine, program=slug)
    wallet = Account.create().address
    resp = await nonce(api_client, slug, wallet, affiliate.code.lower())
    assert resp.status_code == 201, resp.text
    issued = resp.json()
    msg = parse(issued["message"])
    with Session(db_engine) as session:
        program = session.exec(select(Program).where(Program.slug == slug)).one()
    terms = terms_for(program)
    assert msg.domain == siwe_domain(settings) == "127.0.0.1:8000"
    assert msg.address == wallet and msg.version == "1" and msg.chain_id == settings.chain_id
    assert msg.uri == f"{settings.api_base_url}/app/{slug}" and msg.nonce == issued["nonce"]
    assert slug in (msg.statement or "") and "100.00 USD" in (msg.statement or "")
    assert msg.resources == [f"urn:sge:program:{slug}", f"urn:sge:referral:{affiliate.code}", terms.resource]
    assert terms.resource == f"urn:sge:terms:1:{terms.sha256}" and slug in terms.text
    issued_at = datetime.fromisoformat(msg.issued_at.replace("Z", "+00:00"))
    assert msg.expiration_time == rfc3339(issued_at + timedelta(minutes=10))


async def test_finding_2_registration_needs_the_wallets_own_signature(api_client, settings, db_engine, slug):
    affiliate = register(db_engine, program=slug)
    victim, attacker = Account.create(), Account.create()
    old = await api_client.post(
        "/v1/register", json={"program": slug, "wallet": victim.address, "referral_code": affiliate.code}
    )
    assert old.status_code == 422 and old.json()["error"]["code"] == "validation_error"  # the unsigned body is gone

    message = (await nonce(api_client, slug, victim.address, affiliate.code)).json()["message"]
    forged = parse(message).model_copy(update={"address": attacker.address, "nonce": "forged0000000000"}).render()
    expired = message.replace(parse(message).expiration_time or "", rfc3339(datetime.now(UTC) - timedelta(seconds=1)))
    attempts = [
        ({"message": message, "signature": sign(attacker, message)}, 401, "invalid_signature"),
        ({"message": message, "signature": "0x" + "00" * 65}, 401, "invalid_signature"),
        (
            {"message": message.replace(affiliate.code, "FFFFFFFF"), "signature": sign(victim, message)},
            401,
            "invalid_signature",
        ),
        ({"message": forged, "signature": sign(attacker, forged)}, 401, "unknown_nonce"),
        ({"message": "hello", "signature": sign(attacker, "hello")}, 422, "invalid_siwe_message"),
        ({"message": expired, "signature": sign(victim, expired)}, 401, "siwe_expired"),
    ]
    other_domain = message.replace(siwe_domain(settings), "evil.example", 1)
    attempts.append(({"message": other_domain, "signature": sign(victim, other_domain)}, 422, "siwe_wrong_domain"))
    other_chain = message.replace(f"Chain ID: {settings.chain_id}", "Chain ID: 1")
    attempts.append(({"message": other_chain, "signature": sign(victim, other_chain)}, 422, "siwe_wrong_chain"))
    for body, status, code in attempts:
        resp = await api_client.post("/v1/register", json=body)
        assert (resp.status_code, resp.json()["error"]["code"]) == (status, code), (code, resp.text)
    # Nothing was fixed for the victim: no referrer, no flow, no consent, the message still unused.
    assert _count(db_engine, Attribution) == _count(db_engine, Onboarding) == _count(db_engine, WalletConsent) == 0
    with Session(db_engine) as session:
        assert session.exec(select(AuthNonce)).one().used_at is None


async def test_finding_2_an_accepted_registration_locks_the_referrer_with_its_evidence(
    api_client, db_engine, temporal_dev, slug
):
    affiliate = register(db_engine, program=slug)
    user = Account.create()
    message = (await nonce(api_client, slug, user.address, affiliate.code)).json()["message"]
    signature = sign(user, message)
    resp = await api_client.post("/v1/register", json={"message": message, "signature": signature})
    assert resp.status_code == 202, resp.text
    assert resp.json()["referral"] == {"status": "new", "code": affiliate.code}
    with Session(db_engine) as session:
        att = session.exec(select(Attribution)).one()
        consent = session.exec(select(WalletConsent)).one()
        program = session.exec(select(Program).where(Program.slug == slug)).one()
    assert att.wallet == user.address and att.referrer_id == affiliate.id and att.code == affiliate.code
    assert (consent.wallet, consent.message, consent.signature) == (user.address, message, signature)
    assert (consent.terms_version, consent.terms_sha256) == ("1", terms_for(program).sha256)
    assert consent.flow_id == resp.json()["flow_id"]
    # The same message: the original answer to the same signature, a refusal to any other.
    again = await api_client.post("/v1/register", json={"message": message, "signature": signature})
    assert again.status_code == 202 and again.json()["flow_id"] == resp.json()["flow_id"]
    other = await api_client.post("/v1/register", json={"message": message, "signature": _malleated(signature)})
    assert other.status_code == 409 and other.json()["error"]["code"] == "nonce_used"
    assert _count(db_engine, WalletConsent) == 1
    # A later signed registration with another code keeps the first referrer.
    second = register(db_engine, program=slug)
    later, _ = await signed_register(api_client, slug, user, second.code)
    assert later.status_code == 202 and later.json()["referral"]["status"] == "ignored"
    with Session(db_engine) as session:
        assert session.exec(select(Attribution)).one().referrer_id == affiliate.id
    await temporal_dev.client.get_workflow_handle(resp.json()["flow_id"]).terminate("test over")


async def test_finding_2_wallet_writes_need_the_wallets_session(api_client, settings, db_engine, temporal_dev, slug):
    registered, user = await signed_register(api_client, slug)
    token = registered.json()["session"]["token"]
    cookie = registered.headers["set-cookie"]
    assert f"{COOKIE}={token}" in cookie and "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    assert "secure" not in cookie.lower()  # the API's public URL is http here
    assert registered.json()["session"]["expires_at"] == pytest.approx(time.time() + 3600, abs=5)
    api_client.cookies.clear()
    record = {"program": slug, "wallet": user.address, "tx_hash": "0x" + "ab" * 32}
    for path, body in [
        ("/v1/payments", {"program": slug, "wallet": user.address}),
        ("/v1/claims/prepare", {"program": slug, "wallet": user.address, "token": "USDC"}),
        ("/v1/claims/record", record),
    ]:
        resp = await api_client.post(path, json=body)
        assert resp.status_code == 401 and resp.json()["error"]["code"] == "wallet_session_required", path
    other, _ = await signed_register(api_client, slug)  # another wallet's session (also in the cookie jar now)
    api_client.cookies.clear()
    mismatch = await api_client.post(
        "/v1/claims/record", json=record, headers={"Authorization": f"Wallet {other.json()['session']['token']}"}
    )
    assert mismatch.status_code == 403 and mismatch.json()["error"]["code"] == "wallet_mismatch"
    key = settings.session_secret.get_secret_value().encode()
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    stale = sessions.sign(key, user.address, int(time.time()) - 1)
    for bad, code in [(tampered, "wallet_session_invalid"), (stale, "wallet_session_expired")]:
        resp = await api_client.post("/v1/claims/record", json=record, headers={"Authorization": f"Wallet {bad}"})
        assert resp.status_code == 401 and resp.json()["error"]["code"] == code
    api_client.cookies.set(COOKIE, token)  # what a browser sends back
    by_cookie = await api_client.post("/v1/claims/record", json=record)
    assert by_cookie.status_code == 202, by_cookie.text
    status = await api_client.get("/v1/status", params={"program": slug, "wallet": user.address})
    assert status.status_code == 200  # reads stay public
    for flow in (registered, other):
        await temporal_dev.client.get_workflow_handle(flow.json()["flow_id"]).terminate("test over")


def test_finding_2_the_session_cookie_is_secure_behind_https(settings):
    response = Response()
    grant(settings.model_copy(update={"api_public_url": "https://api.sge.example"}), response, "0x" + "ab" * 20)
    assert "secure" in response.headers["set-cookie"].lower()


async def test_finding_2_registration_refuses_without_a_session_secret(settings, db_engine, temporal_dev, slug):
    async with client_for(settings, db_engine, temporal_dev, session_secret=None) as client:
        resp, _ = await signed_register(client, slug)
    assert resp.status_code == 503 and resp.json()["error"]["code"] == "wallet_sessions_unavailable"
    assert _count(db_engine, Onboarding) == 0


async def test_finding_5_payments_are_limited_per_ip_and_per_wallet(settings, db_engine, temporal_dev, slug):
    a, b, c = (Account.create().address for _ in range(3))
    limits = {"rate_limit_payments_wallet": "2/hour", "rate_limit_payments_ip": "4/hour"}
    async with client_for(settings, db_engine, temporal_dev, **limits) as client:

        async def pay(wallet: str) -> tuple[int, str]:
            resp = await client.post(
                "/v1/payments", json={"program": slug, "wallet": wallet}, headers=session_header(settings, wallet)
            )
            return resp.status_code, resp.json()["error"]["code"]

        assert [await pay(a), await pay(a)] == [(404, "not_registered")] * 2
        assert await pay(a) == (429, "rate_limited")  # the wallet's budget
        assert await pay(b) == (404, "not_registered")
        assert await pay(b) == (429, "rate_limited")  # the IP's budget (4 per hour, the refused one counted)
    async with client_for(settings, db_engine, temporal_dev, peer="198.51.100.4", **limits) as elsewhere:
        resp = await elsewhere.post(
            "/v1/payments", json={"program": slug, "wallet": c}, headers=session_header(settings, c)
        )
        assert resp.status_code == 404


async def test_finding_6_junk_never_spends_a_wallets_budget(settings, db_engine, temporal_dev, slug):
    victim, attacker = Account.create(), Account.create()
    limits = {
        "rate_limit_register_wallet": "1/day",
        "rate_limit_register_ip": "2/hour",
        "rate_limit_nonce_wallet": "2/hour",
        "rate_limit_claims_wallet": "1/hour",
    }
    async with client_for(settings, db_engine, temporal_dev, **limits) as client:
        for _ in range(10):  # junk naming the victim: refused before any budget is counted
            for body in (
                {"program": "no-such-program", "wallet": victim.address},
                {"program": slug, "wallet": victim.address, "referral_code": "bad code"},
                {"program": slug, "wallet": victim.address, "referral_code": "ABCDEF12"},
                {"program": slug, "wallet": victim.address, "surprise": 1},
            ):
                assert (await client.post("/v1/auth/nonce", json=body)).status_code in (404, 422)
        message = (await nonce(client, slug, victim.address)).json()["message"]
        for _ in range(10):
            for body in (
                {"message": message, "signature": sign(attacker, message)},
                {"message": message, "signature": "0xjunk"},
                {"message": message + "\n", "signature": sign(victim, message)},
            ):
                assert (await client.post("/v1/register", json=body)).status_code in (401, 422)
        resp = await client.post("/v1/register", json={"message": message, "signature": sign(victim, message)})
        assert resp.status_code == 202, resp.text
        session = {"Authorization": f"Wallet {resp.json()['session']['token']}"}
        junk = {"program": slug, "wallet": victim.address, "tx_hash": "0xnothash"}
        for _ in range(5):
            bad = await client.post("/v1/claims/record", json=junk, headers=session)
            assert bad.status_code == 422
        good = await client.post("/v1/claims/record", json={**junk, "tx_hash": "0x" + "ab" * 32}, headers=session)
        assert good.status_code == 202, good.text
    await temporal_dev.client.get_workflow_handle(resp.json()["flow_id"]).terminate("test over")


async def test_finding_7_outstanding_nonces_are_capped_per_wallet_and_per_network(
    settings, db_engine, temporal_dev, slug
):
    user = Account.create()
    async with client_for(settings, db_engine, temporal_dev, peer="2001:db8:0:1::1", siwe_max_nonces_per_ip=7) as c:
        issued = [await nonce(c, slug, user.address) for _ in range(5)]
        assert all(r.status_code == 201 for r in issued)
        refused = await nonce(c, slug, user.address)
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "too_many_nonces"
        assert 0 < int(refused.headers["Retry-After"]) <= 600
        message = issued[0].json()["message"]
        used = await c.post("/v1/register", json={"message": message, "signature": sign(user, message)})
        assert used.status_code == 202, used.text
        assert (await nonce(c, slug, user.address)).status_code == 201  # using one frees a place
        for _ in range(2):
            assert (await nonce(c, slug, Account.create().address)).status_code == 201
    # The network now holds 7 outstanding messages (IPv6: counted per /64, whichever address asks).
    async with client_for(settings, db_engine, temporal_dev, peer="2001:db8:0:1::beef", siwe_max_nonces_per_ip=7) as c:
        refused = await nonce(c, slug, Account.create().address)
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "too_many_nonces"
    async with client_for(settings, db_engine, temporal_dev, peer="2001:db8:0:2::1", siwe_max_nonces_per_ip=7) as c:
        assert (await nonce(c, slug, Account.create().address)).status_code == 201
    with Session(db_engine) as session:
        assert {n.client_ip for n in session.exec(select(AuthNonce))} == {"2001:db8:0:1::/64", "2001:db8:0:2::/64"}
    await temporal_dev.client.get_workflow_handle(used.json()["flow_id"]).terminate("test over")
