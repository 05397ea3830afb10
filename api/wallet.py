"""Wallet sessions in the API: issued by a signed registration, required by wallet-scoped writes.

A handler that writes for a wallet declares `signed: WalletSession` and checks the body's wallet with
`same_wallet(signed, body.wallet)`: no session → 401 `wallet_session_required`, a forged or expired
one → 401 `wallet_session_invalid` / `wallet_session_expired`, another wallet → 403 `wallet_mismatch`.

The token travels as an HttpOnly, SameSite=Lax cookie (the app in a browser; `Secure` when the public
URL is https) or as `Authorization: Wallet <token>` (other clients). Lax keeps the cookie off
cross-site POSTs, and those endpoints take only `application/json`, which a cross-site form cannot send.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Depends, Request, Response
from pydantic import BaseModel
from starlette.datastructures import Headers

from api.deps import SettingsDep
from api.errors import ApiError
from core.settings import Settings
from models import sessions
from models.affiliates import AffiliateError, normalize_wallet

COOKIE = "sge_wallet_session"
SCHEME = "wallet"
_CHALLENGE = {"WWW-Authenticate": 'Wallet realm="sge"'}


class SignedWallet(BaseModel):
    """The wallet this client proved it controls (lower case), and until when."""

    wallet: str
    expires_at: int


class SessionGrant(BaseModel):
    token: str
    expires_at: int  # unix seconds


def session_key(settings: Settings) -> bytes | None:
    secret = settings.session_secret
    return secret.get_secret_value().encode("utf-8") if secret is not None else None


def token_from(headers: Headers, cookies: dict[str, str]) -> str | None:
    """The session token of a request: `Authorization: Wallet <token>`, else the cookie."""
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() == SCHEME and value.strip():
        return value.strip()
    return cookies.get(COOKIE) or None


def signed_wallet(settings: Settings, token: str | None, now: float | None = None) -> SignedWallet | None:
    """The session's wallet, or None when there is no valid session (never raises)."""
    key = session_key(settings)
    if not token or not key:
        return None
    try:
        claims = sessions.verify(key, token, time.time() if now is None else now)
    except sessions.SessionError:
        return None
    return SignedWallet(wallet=claims.wallet, expires_at=claims.expires_at)


def require_wallet_session(request: Request, settings: SettingsDep) -> SignedWallet:
    token = token_from(request.headers, request.cookies)
    if not token:
        raise ApiError(
            401,
            "wallet_session_required",
            "sign in first: POST /v1/register answers with a wallet session (cookie, or Authorization: Wallet <token>)",
            headers=_CHALLENGE,
        )
    key = session_key(settings)
    if key is None:
        raise ApiError(503, "wallet_sessions_unavailable", "wallet sessions are not configured (SGE_SESSION_SECRET)")
    try:
        claims = sessions.verify(key, token, time.time())
    except sessions.SessionError as exc:
        raise ApiError(exc.status, exc.code, exc.message, headers=_CHALLENGE) from None
    return SignedWallet(wallet=claims.wallet, expires_at=claims.expires_at)


WalletSession = Annotated[SignedWallet, Depends(require_wallet_session)]


def same_wallet(signed: SignedWallet, wallet: str) -> str:
    """The body's wallet (EIP-55) when it is the session's; 422 when malformed, 403 when another."""
    try:
        checked = normalize_wallet(wallet)
    except AffiliateError as exc:
        raise ApiError(422, exc.code, exc.message) from None
    if checked.lower() != signed.wallet:
        raise ApiError(403, "wallet_mismatch", "the wallet session is for another wallet")
    return checked


def grant(settings: Settings, response: Response, wallet: str) -> SessionGrant:
    """A new session for `wallet`, set as a cookie on `response` and returned for the body."""
    key = session_key(settings)
    if key is None:
        raise ApiError(503, "wallet_sessions_unavailable", "wallet sessions are not configured (SGE_SESSION_SECRET)")
    expires_at = int(time.time()) + settings.session_ttl_seconds
    token = sessions.sign(key, wallet, expires_at)
    response.set_cookie(
        COOKIE,
        token,
        max_age=settings.session_ttl_seconds,
        path="/",
        httponly=True,
        samesite="lax",
        secure=settings.api_base_url.startswith("https://"),
    )
    return SessionGrant(token=token, expires_at=expires_at)
