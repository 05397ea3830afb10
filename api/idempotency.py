"""`Idempotency-Key` on POST: replay the stored response, 409 on a different body or while in flight.

Pure ASGI so it can buffer the request body (already capped by the size limit), hash it, and capture
the response. Webhooks are excluded: providers deduplicate by their own event ids.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field

from anyio import to_thread

from api.errors import error_body
from models.idempotency import Claim, claim_key, complete_key, release_key

HEADER = b"idempotency-key"
_KEY_RE = re.compile(r"^[\x21-\x7e]{1,200}$")  # visible ASCII, e.g. a UUID
EXCLUDED_PREFIXES = ("/v1/webhooks/",)


@dataclass
class _CapturedResponse:
    """What the app sent, kept to store for replays (a 500 if it sent nothing)."""

    status: int = 500
    content_type: str = "application/json"
    body: bytearray = field(default_factory=bytearray)
    retry_later: bool = False  # the answer carried Retry-After: "not yet", not an outcome to replay


class IdempotencyMiddleware:
    def __init__(self, app, get_engine):
        self.app = app
        self.get_engine = get_engine  # resolved per request: the engine lives in app.state after startup

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"].startswith(EXCLUDED_PREFIXES):
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        raw_key = headers.get(HEADER)
        if raw_key is None:
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
        credentials = headers.get(b"authorization", b"")
        key_scope = hashlib.sha256(b"\0".join([b"POST", scope["path"].encode(), credentials])).hexdigest()
        request_hash = hashlib.sha256(
            b"\0".join([scope.get("query_string", b""), headers.get(b"content-type", b""), bytes(body)])
        ).hexdigest()

        engine = self.get_engine(scope)
        claim = await to_thread.run_sync(claim_key, engine, key_scope, key, request_hash)
        if claim.outcome is Claim.REPLAY:
            return await _send_raw(send, claim.status_code or 200, claim.content_type, claim.body, replayed=True)
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

        response = _CapturedResponse()

        async def capture_send(message):
            if message["type"] == "http.response.start":
                response.status = message["status"]
                for name, value in message.get("headers", []):
                    if name.lower() == b"content-type":
                        response.content_type = value.decode("latin-1")
                    elif name.lower() == b"retry-after":
                        response.retry_later = True
            elif message["type"] == "http.response.body":
                response.body += message.get("body", b"")
            await send(message)

        try:
            await self.app(scope, replay_receive, capture_send)
        except BaseException:
            await to_thread.run_sync(release_key, engine, key_scope, key)
            raise
        if response.status >= 500 or response.retry_later:  # never cache "try again": the client will
            await to_thread.run_sync(release_key, engine, key_scope, key)
        else:
            await to_thread.run_sync(
                complete_key,
                engine,
                key_scope,
                key,
                response.status,
                response.content_type,
                bytes(response.body),
            )


async def _send_raw(send, status: int, content_type: str, body: bytes, *, replayed: bool = False) -> None:
    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    if replayed:
        headers.append((b"idempotent-replayed", b"true"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _send_json(send, status: int, code: str, message: str) -> None:
    await _send_raw(send, status, "application/json", json.dumps(error_body(code, message)).encode())
