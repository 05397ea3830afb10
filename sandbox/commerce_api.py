"""The payment sandbox's Coinbase Commerce API: what `payments.commerce.CommerceClient` calls.

    POST /charges, GET /charges, GET /charges/{id|code}      `X-CC-Api-Key`, `X-CC-Version`

A new charge sends charge:created (timeline NEW). Every answer is the charge as it is now.

Listing (Commerce "pagination" page): `limit` 1..100 (default 25; 0 is taken as the default), `order`
desc (newest first, default) or asc, cursor `starting_after` / `ending_before` = a charge id; the
answer's `pagination {order, starting_after, ending_before, total, yielded, limit, previous_uri,
next_uri, cursor_range}`; `next_uri` is null on the last page. An unknown cursor is refused (400),
never answered with an empty page that would look like the end.

Layering: `core/` only.
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

    def list(
        self, limit: int, order: str = "desc", starting_after: str | None = None, ending_before: str | None = None
    ) -> dict:
        if order not in ("asc", "desc"):
            raise SandboxError(400, "order must be asc or desc")
        if not 0 <= limit <= 100:
            raise SandboxError(400, "limit must be between 0 and 100")
        limit = limit or 25
        refs = [c.ref for c in self.store.newest_first(COMMERCE)]
        if order == "asc":
            refs.reverse()
        total = len(refs)
        for cursor in (starting_after, ending_before):
            if cursor is not None and cursor not in refs:
                raise SandboxError(400, f"no charge {cursor!r} to page from")
        if starting_after is not None:
            start = refs.index(starting_after) + 1
        elif ending_before is not None:
            start = max(0, refs.index(ending_before) - limit)
        else:
            start = 0
        stop = refs.index(ending_before) if ending_before is not None and starting_after is None else start + limit
        page = refs[start : min(stop, start + limit)]
        base = f"{self.config.public_url}/charges?limit={limit}&order={order}"
        return {
            "pagination": {
                "order": order,
                "starting_after": starting_after,
                "ending_before": ending_before,
                "total": total,
                "yielded": len(page),
                "limit": limit,
                "previous_uri": f"{base}&ending_before={page[0]}" if page and start > 0 else None,
                "next_uri": f"{base}&starting_after={page[-1]}" if page and start + len(page) < total else None,
                "cursor_range": [page[0], page[-1]] if page else [],
            },
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
    async def commerce_list(
        request: Request,
        limit: int = 25,
        order: str = "desc",
        starting_after: str | None = None,
        ending_before: str | None = None,
    ):
        api.check_key(request)
        return api.list(limit, order, starting_after, ending_before)

    @router.get("/charges/{ref}")
    async def commerce_get(request: Request, ref: str):
        api.check_key(request)
        charge = api.store.get(ref)
        if charge.provider != COMMERCE:
            raise SandboxError(404, f"no charge {ref!r}")
        return {"data": charge.commerce_json()}

    return router
