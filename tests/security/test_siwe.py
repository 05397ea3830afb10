"""EIP-4361 messages: built, parsed strictly and verified; the EIP's own examples parse."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from models.siwe import SiweError, SiweMessage, parse, rfc3339, verify

EIP_EXAMPLE = """service.org wants you to sign in with your Ethereum account:
0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2

I accept the ServiceOrg Terms of Service: https://service.org/tos

URI: https://service.org/login
Version: 1
Chain ID: 1
Nonce: 32891756
Issued At: 2021-09-30T16:25:24Z
Resources:
- ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/
- https://example.com/my-web2-claim.json"""

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _message(account, **over) -> SiweMessage:
    fields = dict(
        domain="app.sge.test",
        address=account.address,
        statement="Register with SGE.",
        uri="https://app.sge.test/app/alpha",
        chain_id=31337,
        nonce="abcDEF123456",
        issued_at=rfc3339(NOW),
        expiration_time=rfc3339(NOW + timedelta(minutes=10)),
        resources=["urn:sge:program:alpha", "urn:sge:terms:1:" + "a" * 64],
    )
    fields.update(over)
    return SiweMessage(**fields)


def _sign(account, text: str) -> str:
    return "0x" + account.sign_message(encode_defunct(text=text)).signature.hex().removeprefix("0x")


def test_the_eips_example_parses_and_round_trips():
    msg = parse(EIP_EXAMPLE)
    assert msg.domain == "service.org" and msg.chain_id == 1 and msg.nonce == "32891756"
    assert msg.statement == "I accept the ServiceOrg Terms of Service: https://service.org/tos"
    assert msg.resources[1] == "https://example.com/my-web2-claim.json"
    assert msg.render() == EIP_EXAMPLE


def test_example_without_statement_and_optional_fields():
    text = EIP_EXAMPLE.replace(
        "I accept the ServiceOrg Terms of Service: https://service.org/tos\n", ""
    )  # two blank lines
    text = text.replace(
        "Issued At: 2021-09-30T16:25:24Z",
        "Issued At: 2021-09-30T16:25:24Z\nExpiration Time: "
        "2021-10-01T16:25:24Z\nNot Before: 2021-09-30T16:25:24Z\nRequest ID: req-1",
    )
    msg = parse(text)
    assert msg.statement is None and msg.request_id == "req-1" and msg.render() == text


@pytest.mark.parametrize(
    "mutate",
    [
        lambda t: t.replace("Version: 1", "Version: 2"),
        lambda t: t.replace("Nonce: 32891756", "Nonce: 1234"),  # shorter than 8
        lambda t: t.replace("0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2", "0xC02AAA39b223FE8D0A0e5C4F27eAD9083C756Cc2"),
        lambda t: t + "\nextra",
        lambda t: t.replace("Chain ID: 1\n", ""),
        lambda t: t.replace("Issued At: 2021-09-30T16:25:24Z", "Issued At: yesterday"),
        lambda t: t.replace("\n\nURI", "\nURI"),  # the blank line before URI is required
    ],
)
def test_malformed_messages_are_refused(mutate):
    with pytest.raises(SiweError):
        parse(mutate(EIP_EXAMPLE))


def test_verify_checks_domain_chain_expiry_and_signer():
    account, other = Account.create(), Account.create()
    text = _message(account).render()
    sig = _sign(account, text)
    assert verify(text, sig, domain="app.sge.test", chain_id=31337, now=NOW).address == account.address
    with pytest.raises(SiweError, match="not 'other"):
        verify(text, sig, domain="other.test", chain_id=31337, now=NOW)
    with pytest.raises(SiweError) as wrong_chain:
        verify(text, sig, domain="app.sge.test", chain_id=1, now=NOW)
    assert wrong_chain.value.code == "siwe_wrong_chain"
    with pytest.raises(SiweError) as expired:
        verify(text, sig, domain="app.sge.test", chain_id=31337, now=NOW + timedelta(minutes=11))
    assert expired.value.code == "siwe_expired" and expired.value.status == 401
    with pytest.raises(SiweError) as forged:
        verify(text, _sign(other, text), domain="app.sge.test", chain_id=31337, now=NOW)
    assert forged.value.code == "invalid_signature"
    with pytest.raises(SiweError):
        verify(text, "0x1234", domain="app.sge.test", chain_id=31337, now=NOW)
