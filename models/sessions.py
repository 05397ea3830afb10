"""Wallet sessions: a short-lived token that says "this client proved control of this wallet".

Issued when a signed registration is accepted; required by the wallet-scoped writes (payments, the
on-chain claim rail). The token is `v1.<payload>.<mac>`: the payload is base64url JSON `{"w": wallet
(lower case), "exp": unix seconds}`, the mac is HMAC-SHA256 over `v1.<payload>` with the server's
session secret. Nothing is stored: a token is valid until it expires (keep the lifetime short).
Pure functions; no I/O.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re

from pydantic import BaseModel

from core.errors import DomainError

VERSION = "v1"
MAX_TOKEN_CHARS = 512
_WALLET = re.compile(r"^0x[0-9a-f]{40}$")


class SessionError(DomainError):
    code = "wallet_session_invalid"
    status = 401


class WalletClaims(BaseModel):
    wallet: str  # lower case
    expires_at: int  # unix seconds


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, signed_part: str) -> str:
    return _b64(hmac.new(secret, signed_part.encode("ascii"), hashlib.sha256).digest())


def sign(secret: bytes, wallet: str, expires_at: int) -> str:
    """A token for `wallet`, valid until `expires_at` (unix seconds)."""
    if not secret:
        raise ValueError("an empty session secret")
    body = json.dumps({"exp": int(expires_at), "w": wallet.lower()}, separators=(",", ":"), sort_keys=True)
    signed_part = f"{VERSION}.{_b64(body.encode('utf-8'))}"
    return f"{signed_part}.{_mac(secret, signed_part)}"


def verify(secret: bytes, token: str, now: float) -> WalletClaims:
    """The claims of a genuine, unexpired token, or SessionError."""
    if not secret:
        raise SessionError("wallet sessions are not configured", code="wallet_sessions_unavailable", status=503)
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or token.count(".") != 2:
        raise SessionError("malformed wallet session")
    version, payload, mac = token.split(".")
    if version != VERSION or not hmac.compare_digest(mac, _mac(secret, f"{version}.{payload}")):
        raise SessionError("wallet session not recognised")
    try:
        data = json.loads(_unb64(payload))
        claims = WalletClaims(wallet=str(data["w"]), expires_at=int(data["exp"]))
    except (ValueError, KeyError, TypeError):
        raise SessionError("malformed wallet session") from None
    if not _WALLET.match(claims.wallet):
        raise SessionError("malformed wallet session")
    if now >= claims.expires_at:
        raise SessionError(
            "the wallet session has expired; register again to get a new one", code="wallet_session_expired"
        )
    return claims
