"""The app's pages without a browser: what the landing page says, its headers (no inline script, only
same-origin sources), the 404 page, the static files, `GET /v1/me`, and that every error code the public
API answers with has a message in the page's script."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from sqlmodel import Session

from core.db import session_scope
from models.platform import PaymentProvider, Program
from models.terms import terms_for
from tests.app.conftest import surfaces_client
from tests.helpers.payments import make_program
from tests.helpers.wallets import session_header

API = Path(__file__).resolve().parents[2] / "api"
# What the app's requests can run into: its endpoints and the code they call.
APP_SOURCES = [
    "api/public.py",
    "api/registration.py",
    "api/claims.py",
    "api/account.py",
    "api/wallet.py",
    "api/errors.py",
    "api/ratelimit.py",
    "api/idempotency.py",
    "api/middleware.py",
    "models/siwe.py",
    "models/auth_nonces.py",
    "models/signed_registration.py",
    "models/sessions.py",
    "models/affiliates/attribution.py",
    "models/affiliates/records.py",
    "models/subjects.py",
    "workflows/onboarding.py",
]
WALLET = "0x52908400098527886E0F7030069857D2E4169EE7"


@pytest.fixture
async def client(local_settings, db_engine):
    settings = local_settings(session_secret=os.urandom(32).hex())
    async for c in surfaces_client(settings, db_engine):
        c.settings = settings  # type: ignore[attr-defined]
        yield c


async def test_landing_page_shows_offer_terms_and_risks(client, db_engine):
    program = make_program(db_engine, PaymentProvider.COINBASE_COMMERCE)
    page = await client.get(f"/app/{program.slug}?ref=ABCD1234")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    text = page.text
    assert "100.00 USD" in text and "1000 SGE" in text and "SGE-ID" in text
    with Session(db_engine) as session:
        terms = terms_for(session.get(Program, program.id))
    assert f"Terms (version {terms.version})" in text and terms.sha256 in text
    assert "Risks" in text and "can fall to zero" in text
    assert 'id="connect"' in text and '<meta name="viewport"' in text and 'lang="en"' in text
    # Scripts: the page's own file, and the JSON config the browser never runs.
    scripts = re.findall(r"<script([^>]*)>", text)
    assert scripts == [
        ' type="application/json" id="app-config"',
        ' src="/app/static/app-text.js" defer',
        ' src="/app/static/app.js" defer',
    ]
    config = json.loads(re.search(r'id="app-config">(.*?)</script>', text, re.S).group(1))
    assert config["program"] == program.slug and config["chainId"] == hex(client.settings.chain_id)
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp and "unsafe-inline" not in csp
    assert page.headers["x-frame-options"] == "DENY" and page.headers["referrer-policy"] == "no-referrer"


async def test_unknown_program_is_a_404_page_and_a_closed_one_says_so(client, db_engine):
    missing = await client.get("/app/no-such-program")
    assert missing.status_code == 404 and "There is no program" in missing.text
    assert missing.headers["content-type"].startswith("text/html")
    program = make_program(db_engine, PaymentProvider.COINBASE_COMMERCE)
    with session_scope(db_engine) as session:
        row = session.get(Program, program.id)
        assert row is not None
        row.active = False
    closed = await client.get(f"/app/{program.slug}")
    assert closed.status_code == 200 and "not open for registration" in closed.text
    assert re.search(r'id="connect"\s+disabled', closed.text)


async def test_static_files(client):
    script = await client.get("/app/static/app.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert "personal_sign" in script.text and "eth_sendTransaction" in script.text
    words = await client.get("/app/static/app-text.js")
    assert words.status_code == 200 and "wallet_session_expired" in words.text
    style = await client.get("/app/static/app.css")
    assert style.status_code == 200 and style.headers["content-type"].startswith("text/css")
    assert (await client.get("/app/static/secret.py")).status_code == 404
    assert (await client.get("/app/static/..%2Fapp_pages.py")).status_code == 404


async def test_me_needs_the_wallet_session(client, db_engine):
    program = make_program(db_engine, PaymentProvider.COINBASE_COMMERCE)
    refused = await client.get("/v1/me", params={"program": program.slug})
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "wallet_session_required"
    headers = session_header(client.settings, WALLET.lower())
    mine = await client.get("/v1/me", params={"program": program.slug}, headers=headers)
    assert mine.status_code == 200, mine.text
    assert mine.json() == {
        "wallet": WALLET,
        "program": program.slug,
        "registered": False,
        "state": None,
        "token_id": None,
        "sge_balance_minor": None,
        "balance_error": None,
        "affiliate_code": None,
    }
    unknown = await client.get("/v1/me", params={"program": "nope"}, headers=headers)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_program"


def test_every_public_error_code_has_a_message_in_the_page():
    script = (API / "static" / "app-text.js").read_text()
    known = set(re.findall(r"^\s{4}(\w+): ", script.split("const API_ERRORS")[1].split("};")[0], re.M))
    raised: set[str] = set()
    for path in APP_SOURCES:
        source = (API.parent / path).read_text()
        raised |= set(re.findall(r'ApiError\(\s*\d+,\s*"(\w+)"', source))
        raised |= set(re.findall(r'code\s*=\s*"(\w+)"', source))
        raised |= set(re.findall(r'type="(\w+)"', source))
        raised |= set(re.findall(r'error_body\(\s*"(\w+)"', source))
        raised |= set(re.findall(r'send, \d+, "(\w+)"', source))
    public = raised - {"wallet_taken"}  # operators' programs only
    missing = sorted(public - known)
    assert not missing, f"app.js has no message for {missing}"


def test_balance_call_is_the_erc20_balance_of():
    from api.account import BALANCE_OF
    from contracts.abi import encode_call

    assert BALANCE_OF + WALLET.lower()[2:].rjust(64, "0") == "0x" + encode_call("SGEToken", "balanceOf", WALLET).hex()


async def test_explorer_links_follow_the_setting(local_settings, db_engine):
    program = make_program(db_engine, PaymentProvider.COINBASE_COMMERCE)
    settings = local_settings(explorer_url="https://sepolia.etherscan.io/")
    async for c in surfaces_client(settings, db_engine):
        page = await c.get(f"/app/{program.slug}")
    config = json.loads(re.search(r'id="app-config">(.*?)</script>', page.text, re.S).group(1))
    assert config["explorerUrl"] == "https://sepolia.etherscan.io"  # the script appends /tx/<hash>
