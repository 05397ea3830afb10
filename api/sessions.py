"""Operator browser sessions: a signed, short-lived cookie, exchanged for an API key at `/ops/login`.

The cookie holds `payload.mac`: payload = base64url JSON `{"o": operator id, "e": expiry (unix s),
"s": session id}`, mac = HMAC-SHA256(secret, payload + "." + the operator's current key hash). Binding
the key hash means rotating an operator's key ends their sessions at once; disabling the operator does
too (checked on every request). Nothing is stored on the server.

Each session has a CSRF token, HMAC(secret, "csrf:" + session id), put in a hidden field of every form
and checked on every POST. The login form, before any session exists, uses a double-submit token: a
random value in a short-lived cookie that the form must repeat.

The secret is SGE_OPERATOR_SESSION_SECRET (production refuses to start without it). In dev and tests
a random key is kept in `<home>/secrets/operator-session.key` (mode 0600), so sessions survive a
restart and work across API processes. It is a setting and not derived from operators' key hashes:
a copy of the database alone must not be enough to forge a session.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session

from core.settings import Settings
from models.operators import Actor, Operator, Role

SESSION_COOKIE = "sge_ops_session"
LOGIN_CSRF_COOKIE = "sge_ops_login"
COOKIE_PATH = "/ops"
LOGIN_CSRF_SECONDS = 600
_MAX_TOKEN_CHARS = 512


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class OperatorSession:
    """A signed-in operator, as the page guard hands it to a page."""

    actor: Actor
    session_id: str
    expires_at: int
    csrf_token: str
    via: str = "cookie"  # or "bearer" (a script calling a page with its API key; no CSRF then)


class SessionRefused(Exception):
    """Why a session cookie is not accepted: `invalid_session` or `expired_session`."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class SessionSigner:
    def __init__(self, secret: bytes, lifetime_seconds: int):
        self._secret = secret
        self.lifetime_seconds = lifetime_seconds

    def _mac(self, payload: str, key_hash: str) -> str:
        return _b64(hmac.new(self._secret, f"{payload}.{key_hash}".encode(), hashlib.sha256).digest())

    def issue(self, operator_id: int, key_hash: str, *, now: float | None = None) -> str:
        body = {"o": operator_id, "e": int(now or time.time()) + self.lifetime_seconds, "s": secrets.token_hex(16)}
        payload = _b64(json.dumps(body, separators=(",", ":")).encode())
        return f"{payload}.{self._mac(payload, key_hash)}"

    def csrf_token(self, session_id: str) -> str:
        return _b64(hmac.new(self._secret, f"csrf:{session_id}".encode(), hashlib.sha256).digest())

    def load(self, engine: Engine, token: str, *, now: float | None = None) -> OperatorSession:
        """The operator a cookie speaks for, or SessionRefused."""
        payload, dot, mac = token.partition(".")
        if not dot or len(token) > _MAX_TOKEN_CHARS:
            raise SessionRefused("invalid_session")
        try:
            body = json.loads(_unb64(payload))
            operator_id, expires_at, session_id = int(body["o"]), int(body["e"]), str(body["s"])
        except (ValueError, KeyError, TypeError):
            raise SessionRefused("invalid_session") from None
        with Session(engine) as session:
            op = session.get(Operator, operator_id)
        # The MAC is checked against the operator's current key hash: a rotated key ends the session.
        if op is None or not hmac.compare_digest(mac, self._mac(payload, op.key_hash)):
            raise SessionRefused("invalid_session")
        if expires_at <= (now or time.time()):
            raise SessionRefused("expired_session")
        if not op.active:
            raise SessionRefused("invalid_session")
        actor = Actor(name=op.name, operator_id=op.id, roles=[Role(r) for r in op.roles])
        return OperatorSession(actor, session_id, expires_at, self.csrf_token(session_id))


def session_secret(settings: Settings) -> bytes:
    if settings.operator_session_secret is not None:
        return settings.operator_session_secret.get_secret_value().encode()
    return _dev_secret(settings.home / "secrets" / "operator-session.key")


def _dev_secret(path: Path) -> bytes:
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_hex(32).encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process wrote it first
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key


def signer_for(settings: Settings) -> SessionSigner:
    return SessionSigner(session_secret(settings), settings.operator_session_minutes * 60)


def same_token(given: str | None, expected: str | None) -> bool:
    """Constant-time comparison of two CSRF tokens, false when either is missing."""
    return bool(given) and bool(expected) and hmac.compare_digest(str(given), str(expected))
