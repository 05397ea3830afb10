"""Sign-In with Ethereum (EIP-4361): build, strictly parse and verify the message a wallet signs.

The message is a fixed text format (the EIP's ABNF), signed with EIP-191 `personal_sign`. We build it
on the server, so a client never chooses what it agrees to; on the way back the text is parsed
strictly (every line in its place, nothing extra) and rendered again: only a byte-identical message
is accepted. The signature is checked with eth-account (`recover_message` over `encode_defunct`).

The PyPI `siwe` package is not used: it pins web3 < 8 (see the toolchain notes).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import is_checksum_address, to_checksum_address
from pydantic import BaseModel, Field

from core.errors import DomainError

PREAMBLE = " wants you to sign in with your Ethereum account:"
_NONCE = re.compile(r"^[A-Za-z0-9]{8,}$")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s]*$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_STATEMENT = re.compile(r"^[^\n]*$")
_AUTHORITY = re.compile(r"^(?:([a-z][a-z0-9+.-]*)://)?([^\s/?#]+)$")
MAX_MESSAGE_CHARS = 4000


class SiweError(DomainError):
    code = "invalid_siwe_message"
    status = 422


class SiweMessage(BaseModel):
    domain: str  # RFC 3986 authority, optionally with a scheme ("https://app.example.com")
    address: str  # EIP-55
    statement: str | None = None
    uri: str
    version: str = "1"
    chain_id: int
    nonce: str
    issued_at: str  # RFC 3339
    expiration_time: str | None = None
    not_before: str | None = None
    request_id: str | None = None
    resources: list[str] = Field(default_factory=list)

    def render(self) -> str:
        lines = [f"{self.domain}{PREAMBLE}", self.address, ""]
        if self.statement is not None:
            lines.append(self.statement)
        lines += [
            "",
            f"URI: {self.uri}",
            f"Version: {self.version}",
            f"Chain ID: {self.chain_id}",
            f"Nonce: {self.nonce}",
            f"Issued At: {self.issued_at}",
        ]
        if self.expiration_time is not None:
            lines.append(f"Expiration Time: {self.expiration_time}")
        if self.not_before is not None:
            lines.append(f"Not Before: {self.not_before}")
        if self.request_id is not None:
            lines.append(f"Request ID: {self.request_id}")
        if self.resources:
            lines.append("Resources:")
            lines += [f"- {r}" for r in self.resources]
        return "\n".join(lines)


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str) -> datetime:
    if not _DATETIME.match(value):
        raise SiweError(f"not an RFC 3339 date-time: {value!r}")
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def parse(text: str) -> SiweMessage:
    """The message's terms, or SiweError naming the first thing that does not conform."""
    if not isinstance(text, str) or len(text) > MAX_MESSAGE_CHARS:
        raise SiweError("the message is missing or too long")
    lines = text.split("\n")
    pos = 0

    def take(prefix: str, pattern: re.Pattern | None = None, optional: bool = False) -> str | None:
        nonlocal pos
        if pos >= len(lines) or not lines[pos].startswith(prefix):
            if optional:
                return None
            raise SiweError(f"line {pos + 1}: expected {prefix.strip() or 'an empty line'}")
        value = lines[pos][len(prefix) :]
        if pattern is not None and not pattern.match(value):
            raise SiweError(f"line {pos + 1}: malformed {prefix.strip(': ') or 'value'}")
        pos += 1
        return value

    if not lines[0].endswith(PREAMBLE):
        raise SiweError("line 1: not a Sign-In with Ethereum message")
    domain = lines[0][: -len(PREAMBLE)]
    if not _AUTHORITY.match(domain):
        raise SiweError("line 1: malformed domain")
    pos = 1
    address = take("", _ADDRESS)
    assert address is not None
    if address != address.lower() and not is_checksum_address(address):
        raise SiweError("line 2: the address is not EIP-55 checksummed")
    take("", re.compile(r"^$"))
    statement = None
    if pos < len(lines) and lines[pos] != "":
        statement = take("", _STATEMENT)
    take("", re.compile(r"^$"))
    uri = take("URI: ", _URI)
    version = take("Version: ", re.compile(r"^1$"))
    chain_id = take("Chain ID: ", re.compile(r"^[0-9]{1,20}$"))
    nonce = take("Nonce: ", _NONCE)
    issued_at = take("Issued At: ", _DATETIME)
    expiration = take("Expiration Time: ", _DATETIME, optional=True)
    not_before = take("Not Before: ", _DATETIME, optional=True)
    request_id = take("Request ID: ", re.compile(r"^[^\s]*$"), optional=True)
    resources: list[str] = []
    if take("Resources:", re.compile(r"^$"), optional=True) is not None:
        while pos < len(lines):
            resource = take("- ", _URI)
            assert resource is not None
            resources.append(resource)
    if pos != len(lines):
        raise SiweError(f"line {pos + 1}: unexpected text after the message")
    message = SiweMessage(
        domain=domain,
        address=address,
        statement=statement,
        uri=uri or "",
        version=version or "1",
        chain_id=int(chain_id or 0),
        nonce=nonce or "",
        issued_at=issued_at or "",
        expiration_time=expiration,
        not_before=not_before,
        request_id=request_id,
        resources=resources,
    )
    if message.render() != text:
        raise SiweError("the message does not round-trip exactly")
    return message


def recover(text: str, signature: str) -> str:
    """The EIP-55 address whose key made `signature` (EIP-191 personal_sign) over `text`."""
    try:
        raw = bytes.fromhex(signature.removeprefix("0x"))
        if len(raw) != 65:
            raise ValueError("length")
        return to_checksum_address(Account.recover_message(encode_defunct(text=text), signature=raw))
    except Exception:  # noqa: BLE001 - any malformed signature is the same refusal
        raise SiweError("the signature is malformed", code="invalid_signature", status=401) from None


def verify(text: str, signature: str, *, domain: str, chain_id: int, now: datetime) -> SiweMessage:
    """Parse and check a signed message: domain, chain, validity window and signer.

    The nonce is the caller's to check and consume (it lives in the database)."""
    message = parse(text)
    if message.domain != domain:
        raise SiweError(f"the message is for {message.domain!r}, not {domain!r}", code="siwe_wrong_domain")
    if message.chain_id != chain_id:
        raise SiweError(f"the message is for chain {message.chain_id}, not {chain_id}", code="siwe_wrong_chain")
    if message.expiration_time is not None and now >= parse_time(message.expiration_time):
        raise SiweError("the message has expired; ask for a new one", code="siwe_expired", status=401)
    if message.not_before is not None and now < parse_time(message.not_before):
        raise SiweError("the message is not valid yet", code="siwe_not_yet_valid", status=401)
    signer = recover(text, signature)
    if signer.lower() != message.address.lower():
        raise SiweError("the signature is not by the message's address", code="invalid_signature", status=401)
    return message
