"""Wallet session tokens (pure HMAC, nothing stored) and the default terms document."""

from __future__ import annotations

import pytest

from models import sessions
from models.platform import Program
from models.terms import default_terms, fee_text, parse_resource

KEY = b"k" * 32
WALLET = "0x52908400098527886E0F7030069857D2E4169EE7"


def test_a_token_names_its_wallet_until_it_expires():
    token = sessions.sign(KEY, WALLET, 2_000)
    claims = sessions.verify(KEY, token, 1_999)
    assert claims.wallet == WALLET.lower() and claims.expires_at == 2_000
    with pytest.raises(sessions.SessionError) as expired:
        sessions.verify(KEY, token, 2_000)
    assert expired.value.code == "wallet_session_expired" and expired.value.status == 401


@pytest.mark.parametrize(
    "mutate",
    [
        lambda t: t.replace("v1.", "v2.", 1),
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # the mac
        lambda t: (
            t.split(".")[0]
            + "."
            + sessions._b64(b'{"exp":9999999999,"w":"0x' + b"0" * 40 + b'"}')
            + "."
            + t.split(".")[2]
        ),
        lambda t: t + ".x",
        lambda t: "",
    ],
)
def test_a_changed_token_is_refused(mutate):
    with pytest.raises(sessions.SessionError) as err:
        sessions.verify(KEY, mutate(sessions.sign(KEY, WALLET, 2_000)), 1_000)
    assert err.value.code == "wallet_session_invalid"


def test_another_secret_does_not_verify():
    with pytest.raises(sessions.SessionError):
        sessions.verify(b"x" * 32, sessions.sign(KEY, WALLET, 2_000), 1_000)


def test_default_terms_depend_on_the_slug_only():
    one = Program(slug="alpha", name="A", treasury_address="0x" + "11" * 20, fee_usd_minor=1, claim_amount_minor=1)
    renamed = one.model_copy(update={"name": "B", "fee_usd_minor": 5})
    assert default_terms(one) == default_terms(renamed) and default_terms(one).version == "1"
    assert parse_resource(default_terms(one).resource) == ("1", default_terms(one).sha256)
    assert parse_resource("urn:sge:terms:1:short") is None


@pytest.mark.parametrize(("minor", "text"), [(100_000_000, "100.00 USD"), (1_500_000, "1.50 USD"), (1, "0.000001 USD")])
def test_fee_text(minor, text):
    program = Program(slug="a", name="A", treasury_address="0x" + "11" * 20, fee_usd_minor=minor, claim_amount_minor=1)
    assert fee_text(program) == text
