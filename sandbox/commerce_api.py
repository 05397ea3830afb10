"""The payment sandbox's Coinbase Commerce API: what `payments.commerce.CommerceClient` calls.

    POST /charges, GET /charges, GET /charges/{id|code}      `X-CC-Api-Key`, `X-CC-Version`

A new charge sends charge:created (timeline NEW). Layering: `core/` only.
"""

from __future__ import annotations

import hmac
import json
import secrets
import uuid
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request

from sandbox.store import COMMERCE, ChargeStore, SandboxCharge, SandboxConfig, SandboxError, decimal_amount, iso, now
from sandbox.webhooks import WebhookSender


class CommerceApi:
    def __init__(self, config: SandboxConfig, store: ChargeStore, webhooks: WebhookSender):
        self.config = config
        self.store = store
        self.webhooks = webhooks

    def check_key(self, request: Request) -> None:
        given = request.headers.get("x-cc-api-key", "")
        expected = self.config.commerce_api_key
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            raise SandboxError(401, "invalid or missing X-CC-Api-Key")
        if not request.headers.get("x-cc-version"):
            raise SandboxError(400, "missing X-CC-Version header")

    def create(self, body: Any) -> SandboxCharge:
        if not isinstance(body, dict):
            raise SandboxError(400, "body must be a JSON object")
        if body.get("pricing_type") != "fixed_price":
            raise SandboxError(400, "pricing_type must be fixed_price")
        local = body.get("local_price") or {}
        amount = decimal_amount(local.get("amount")) if isinstance(local, dict) else None
        if amount is None or not isinstance(local.get("currency"), str):
            raise SandboxError(400, "local_price needs a positive decimal-string amount and a currency")
        if not isinstance(body.get("name"), str) or not body["name"]:
            raise SandboxError(400, "name is required")
        metadata = body.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise SandboxError(400, "metadata must be an object")
        ref = str(uuid.uuid4())
        code = "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(8))
        created = now()
        charge = SandboxCharge(
            provider=COMMERCE,
            ref=ref,
            code=code,
            amount=amount,
            currency=local["currency"].upper(),
            name=body["name"],
            description=str(body.get("description") or ""),
            metadata=metadata,
            hosted_url=f"{self.config.public_url}/pay/{code}",
            created_at=created,
            expires_at=created + timedelta(seconds=self.config.charge_ttl_seconds),
            redirect_url=body.get("redirect_url"),
            status="NEW",
            timeline=[{"status": "NEW", "time": iso(created)}],
        )
        self.store.add(charge)
        self.webhooks.emit(charge, ["charge:created"])
        return charge

    def list(self, limit: int, starting_after: str | None) -> dict:
        refs = [c.ref for c in self.store.newest_first(COMMERCE)]
        if starting_after:
            refs = refs[refs.index(starting_after) + 1 :] if starting_after in refs else []
        page = refs[: max(1, min(limit, 100))]
        more = len(refs) > len(page)
        next_uri = (
            f"{self.config.public_url}/charges?limit={limit}&starting_after={page[-1]}" if more and page else None
        )
        return {
            "pagination": {"order": "desc", "limit": limit, "yielded": len(page), "next_uri": next_uri},
            "data": [self.store.charges[r].commerce_json() for r in page],
        }


def commerce_router(api: CommerceApi) -> APIRouter:
    router = APIRouter()

    @router.post("/charges", status_code=201)
    async def commerce_create(request: Request):
        api.check_key(request)
        try:
            body = json.loads(await request.body())
        except ValueError:
            raise SandboxError(400, "body is not JSON") from None
        return {"data": api.create(body).commerce_json()}

    @router.get("/charges")
    async def commerce_list(request: Request, limit: int = 25, starting_after: str | None = None):
        api.check_key(request)
        return api.list(limit, starting_after)

    @router.get("/charges/{ref}")
    async def commerce_get(request: Request, ref: str):
        api.check_key(request)
        charge = api.store.get(ref)
        if charge.provider != COMMERCE:
            raise SandboxError(404, f"no charge {ref!r}")
        return {"data": charge.commerce_json()}

    return router
