"""The payment sandbox's Coinbase Business payment-link API: what `payments.business.BusinessClient` calls.

    POST /api/v1/payment-links, GET /api/v1/payment-links[/{id}]   bearer CDP JWT, `X-Idempotency-Key`

Requests are authenticated like the real service: the JWT is verified with the API key's public half
(`kid`, `sub`, `iss`, `nbf`, `exp`, lifetime and `uris` checked). The same idempotency key with the same
body answers the link already made (200); with another body it is refused (422).

Listing (Business "List Payment Links" reference): `GET /api/v1/payment-links?pageSize=&pageToken=&status=`,
`pageSize` 1..100 (default 20), `status` one of the link statuses; the answer is `{"paymentLinks": [...],
"nextPageToken": "..."}`, the token omitted on the last page and opaque to the caller. The order is not
documented; the sandbox lists newest first and its token names the last link of the page, so links made
while paging do not shift the pages. An unknown token is refused (400).

Layering: `core/` and `payments.cdp_jwt` (the key format) only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
from datetime import datetime, timedelta

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from payments.cdp_jwt import jwt_algorithm, load_cdp_private_key
from sandbox.store import BUSINESS, ChargeStore, SandboxCharge, SandboxConfig, SandboxError, decimal_amount, now


class BusinessApi:
    def __init__(self, config: SandboxConfig, store: ChargeStore):
        self.config = config
        self.store = store
        self._public_key = None
        self._alg = None
        if config.business_key_secret:
            private = load_cdp_private_key(config.business_key_secret)
            self._public_key = private.public_key()
            self._alg = jwt_algorithm(private)

    def check_jwt(self, request: Request) -> None:
        import jwt

        if self._public_key is None or self._alg is None or not self.config.business_key_id:
            raise SandboxError(401, "no API key is configured in the sandbox")
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            raise SandboxError(401, "missing bearer token")
        token = auth.removeprefix("Bearer ").strip()
        try:
            header = jwt.get_unverified_header(token)
            if header.get("kid") != self.config.business_key_id:
                raise SandboxError(401, "unknown key id")
            claims = jwt.decode(
                token,
                self._public_key,
                algorithms=[self._alg],
                options={"require": ["exp", "nbf", "sub", "iss"], "verify_aud": False},
                leeway=5,
            )
        except jwt.PyJWTError as exc:
            raise SandboxError(401, f"invalid token: {exc}") from None
        if claims.get("iss") != "cdp" or claims.get("sub") != self.config.business_key_id:
            raise SandboxError(401, "token issuer or subject is wrong")
        if claims["exp"] - claims["nbf"] > 300:
            raise SandboxError(401, "token lives longer than allowed")
        uri = f"{request.method} {request.headers.get('host', '')}{request.url.path}"
        if uri not in (claims.get("uris") or [claims.get("uri")]):
            raise SandboxError(401, f"token is not for {uri!r}")

    def create(self, raw: bytes, idempotency_key: str | None) -> tuple[SandboxCharge, bool]:
        """The new link, or (replayed=True) the one an earlier request with this key made."""
        digest = hashlib.sha256(raw).hexdigest()
        if idempotency_key and idempotency_key in self.store.idempotency:
            seen_digest, ref = self.store.idempotency[idempotency_key]
            if seen_digest != digest:
                raise SandboxError(422, "X-Idempotency-Key was used with a different request body")
            return self.store.charges[ref], True
        try:
            body = json.loads(raw)
        except ValueError:
            raise SandboxError(400, "body is not JSON") from None
        if not isinstance(body, dict):
            raise SandboxError(400, "body must be a JSON object")
        amount = decimal_amount(body.get("amount"))
        if amount is None:
            raise SandboxError(400, "amount must be a positive decimal string")
        currency = str(body.get("currency") or "")
        if currency != "USDC":
            raise SandboxError(400, "currency must be USDC")
        metadata = body.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise SandboxError(400, "metadata must be an object")
        created = now()
        expires_at = created + timedelta(seconds=self.config.charge_ttl_seconds)
        if body.get("expiresAt"):
            try:
                expires_at = datetime.fromisoformat(body["expiresAt"])
            except (TypeError, ValueError):
                raise SandboxError(400, "expiresAt is not an ISO timestamp") from None
            if expires_at <= created:
                raise SandboxError(400, "expiresAt is in the past")
        ref = secrets.token_hex(12)  # 24 hex characters, like Coinbase's ids
        charge = SandboxCharge(
            provider=BUSINESS,
            ref=ref,
            code=None,
            amount=amount,
            currency=currency,
            description=str(body.get("description") or ""),
            metadata=metadata,
            hosted_url=f"{self.config.public_url}/pay/{ref}",
            created_at=created,
            expires_at=expires_at,
            network=str(body.get("network") or "base"),
            status="ACTIVE",
            redirect_url=body.get("successRedirectUrl"),
        )
        self.store.add(charge)
        if idempotency_key:
            self.store.idempotency[idempotency_key] = (digest, ref)
        return charge, False

    def list(self, page_size: int, page_token: str | None, status: str | None) -> dict:
        if not 1 <= page_size <= 100:
            raise SandboxError(400, "pageSize must be between 1 and 100")
        links = [c for c in self.store.newest_first(BUSINESS) if status is None or c.status == status.upper()]
        start = 0
        if page_token:
            try:
                after = base64.urlsafe_b64decode(page_token.encode()).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise SandboxError(400, "pageToken is not one this API issued") from None
            refs = [c.ref for c in links]
            if after not in refs:
                raise SandboxError(400, "pageToken is not one this API issued")
            start = refs.index(after) + 1
        page = links[start : start + page_size]
        body: dict = {"paymentLinks": [c.business_json() for c in page]}
        if page and start + len(page) < len(links):
            body["nextPageToken"] = base64.urlsafe_b64encode(page[-1].ref.encode()).decode()
        return body


def business_router(api: BusinessApi) -> APIRouter:
    router = APIRouter()

    @router.post("/api/v1/payment-links")
    async def business_create(request: Request):
        api.check_jwt(request)
        charge, replayed = api.create(await request.body(), request.headers.get("x-idempotency-key"))
        return JSONResponse(charge.business_json(), status_code=200 if replayed else 201)

    @router.get("/api/v1/payment-links")
    async def business_list(
        request: Request,
        page_size: int = Query(20, alias="pageSize"),
        page_token: str | None = Query(None, alias="pageToken"),
        status: str | None = None,
    ):
        api.check_jwt(request)
        return api.list(page_size, page_token, status)

    @router.get("/api/v1/payment-links/{ref}")
    async def business_get(request: Request, ref: str):
        api.check_jwt(request)
        charge = api.store.get(ref)
        if charge.provider != BUSINESS:
            raise SandboxError(404, f"no payment link {ref!r}")
        return charge.business_json()

    return router
