"""`Idempotency-Key` on the writes that name a principal: replay the stored response, 409 on a
different request or while in flight.

Only after authentication, only on matched routes:
- the public wallet-scoped writes (`WALLET_ROUTES`) with a valid wallet session → scope `wallet:<address>`;
- every `POST /v1/ops/...` with the key of an active operator → scope `op:<operator id>`.
Anything else (another path, no credentials, a disabled operator, a forged session) is passed through
untouched and never stored: the route answers for itself (401 for a disabled key), and a replay can
never hand out what an earlier, then-authorised request got.

A response that carries a secret (a new operator's API key, a rotated key) is stored with the secret
redacted: `SECRET_FIELDS` names them per route, or the route names them in an `X-SGE-Secret` response
header (stripped before the client sees it). A replay of it says so: `Idempotent-Redacted: <fields>`.

Pure ASGI so it can buffer the request body (already capped by the size limit), hash it, and capture
the response.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from anyio import to_thread
from sqlmodel import Session
from starlette.requests import HTTPConnection

from api.errors import error_body
from api.wallet import signed_wallet, token_from
from models.idempotency import Claim, claim_key, complete_key, release_key
from models.operators import authenticate

HEADER = b"idempotency-key"
SECRET_HEADER = b"x-sge-secret"
_KEY_RE = re.compile(r"^[\x21-\x7e]{1,200}$")  # visible ASCII, e.g. a UUID
WALLET_ROUTES = frozenset({"/v1/payments", "/v1/claims/prepare", "/v1/claims/record"})
OPERATOR_PREFIX = "/v1/ops/"
SECRET_FIELDS: dict[str, tuple[str, ...]] = {"/v1/ops/operators": ("api_key",)}
_SECRET_PATHS = [(re.compile(r"^/v1/ops/operators/[^/]+/(rotate-key|rotate)$"), ("api_key",))]
REDACTED = "[redacted: shown once, in the original response]"
_UNSTORED = (401, 403)  # "who you are now" answers: never replayed to a later request


@dataclass
class _CapturedResponse:
    """What the app sent, kept to store for replays (a 500 if it sent nothing)."""

    status: int = 500
    content_type: str = "application/json"
    body: bytearray = field(default_factory=bytearray)
    retry_later: bool = False  # the answer carried Retry-After: "not yet", not an outcome to replay
    secret_fields: tuple[str, ...] = ()


def secret_fields_of(path: str) -> tuple[str, ...]:
    if path in SECRET_FIELDS:
        return SECRET_FIELDS[path]
    return next((fields for pattern, fields in _SECRET_PATHS if pattern.match(path)), ())


def redact(body: bytes, fields: tuple[str, ...]) -> tuple[bytes, str]:
    """The JSON body with every value under one of `fields` replaced; and the fields redacted."""
    try:
        data = json.loads(body)
    except ValueError:
        return b"", ",".join(fields)  # not JSON: keep nothing of it
    found: set[str] = set()

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            out = {}
            for name, value in node.items():
                if name in fields:
                    found.add(name)
                    out[name] = REDACTED
                else:
                    out[name] = walk(value)
            return out
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    return json.dumps(walk(data)).encode(), ",".join(sorted(found))


class IdempotencyMiddleware:
    def __init__(self, app, get_engine):
        self.app = app
        self.get_engine = get_engine  # resolved per request: the engine lives in app.state after startup

    async def principal(self, scope) -> str | None:
        """`op:<id>` / `wallet:<address>` for an authenticated request on a matched route, else None."""
        path = scope["path"]
        conn = HTTPConnection(scope)
        if path in WALLET_ROUTES:
            signed = signed_wallet(scope["app"].state.settings, token_from(conn.headers, conn.cookies))
            return f"wallet:{signed.wallet}" if signed is not None else None
        if path.startswith(OPERATOR_PREFIX):
            scheme, _, key = conn.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not key.strip():
                return None
            engine = self.get_engine(scope)

            def lookup() -> int | None:
                with Session(engine) as session:
                    actor = authenticate(session, key.strip())
                return actor.operator_id if actor is not None else None

            operator_id = await to_thread.run_sync(lookup)
            return f"op:{operator_id}" if operator_id is not None else None
        return None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        path = scope["path"]
        raw_key = dict(scope["headers"]).get(HEADER)
        if raw_key is None or not (path in WALLET_ROUTES or path.startswith(OPERATOR_PREFIX)):
            return await self.app(scope, receive, send)
        key_scope = await self.principal(scope)
        if key_scope is None:  # not authenticated: the route answers, nothing is stored
            return await self.app(scope, receive, send)
        key = raw_key.decode("latin-1")
        if not _KEY_RE.match(key):
            return await _send_json(
                send, 400, "invalid_idempotency_key", "Idempotency-Key must be 1-200 visible ASCII characters"
            )

        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
        headers = dict(scope["headers"])
        request_hash = hashlib.sha256(
            b"\0".join(
                [b"POST", path.encode(), scope.get("query_string", b""), headers.get(b"content-type", b""), bytes(body)]
            )
        ).hexdigest()

        engine = self.get_engine(scope)
        claim = await to_thread.run_sync(claim_key, engine, key_scope, key, request_hash)
        if claim.outcome is Claim.REPLAY:
            return await _send_raw(
                send, claim.status_code or 200, claim.content_type, claim.body, replayed=True, redacted=claim.redacted
            )
        if claim.outcome is Claim.BODY_MISMATCH:
            return await _send_json(
                send, 409, "idempotency_key_reused", "this Idempotency-Key was used with a different request"
            )
        if claim.outcome is Claim.IN_FLIGHT:
            return await _send_json(
                send, 409, "idempotency_in_flight", "a request with this Idempotency-Key is still being processed"
            )

        replayed_body = False

        async def replay_receive():
            nonlocal replayed_body
            if not replayed_body:
                replayed_body = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        response = _CapturedResponse(secret_fields=secret_fields_of(path))

        async def capture_send(message):
            if message["type"] == "http.response.start":
                response.status = message["status"]
                kept = []
                for name, value in message.get("headers", []):
                    lower = name.lower()
                    if lower == SECRET_HEADER:  # the route's own mark: used here, never sent
                        marked = tuple(f.strip() for f in value.decode("latin-1").split(",") if f.strip())
                        response.secret_fields = tuple(dict.fromkeys(response.secret_fields + marked))
                        continue
                    if lower == b"content-type":
                        response.content_type = value.decode("latin-1")
                    elif lower == b"retry-after":
                        response.retry_later = True
                    kept.append((name, value))
                message = {**message, "headers": kept}
            elif message["type"] == "http.response.body":
                response.body += message.get("body", b"")
            await send(message)

        try:
            await self.app(scope, replay_receive, capture_send)
        except BaseException:
            await to_thread.run_sync(release_key, engine, key_scope, key)
            raise
        if response.status >= 500 or response.retry_later or response.status in _UNSTORED:
            await to_thread.run_sync(release_key, engine, key_scope, key)  # never cache "try again"
            return
        stored, redacted = bytes(response.body), ""
        if response.secret_fields:
            stored, redacted = redact(stored, response.secret_fields)
        await to_thread.run_sync(
            complete_key, engine, key_scope, key, response.status, response.content_type, stored, redacted
        )


async def _send_raw(
    send, status: int, content_type: str, body: bytes, *, replayed: bool = False, redacted: str = ""
) -> None:
    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    if replayed:
        headers.append((b"idempotent-replayed", b"true"))
    if redacted:
        headers.append((b"idempotent-redacted", redacted.encode("latin-1")))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _send_json(send, status: int, code: str, message: str) -> None:
    await _send_raw(send, status, "application/json", json.dumps(error_body(code, message)).encode())
