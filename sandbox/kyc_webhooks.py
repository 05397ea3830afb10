"""The KYC sandbox's webhook delivery: Sumsub-like applicant events with an `X-Payload-Digest` HMAC,
in order per applicant, retried on a non-2xx answer or a network error after `base × 2^(n-1)` seconds
capped at `max` (Sumsub retries a review webhook after 30 s, 30 s, 1 min, 5 min; compressed and
configurable here), up to `max_attempts`.

Signing is written here separately from the platform's verification (`payments/kyc/sumsub.py`).

Layering: `core/` only.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from core.logs import get_logger
from sandbox.kyc_store import Applicant, KycSandboxConfig, created_at_ms
from sandbox.store import iso, now

log = get_logger(__name__)


def payload_digest(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class KycDelivery:
    id: str
    applicant_id: str
    event_type: str
    url: str
    body: bytes
    state: str = "pending"  # pending → delivered | failed
    attempts: list[dict] = field(default_factory=list)

    def summary(self) -> dict:
        return {
            "id": self.id,
            "applicant_id": self.applicant_id,
            "event_type": self.event_type,
            "url": self.url,
            "state": self.state,
            "attempts": self.attempts,
            "payload": json.loads(self.body),
        }


class KycWebhookSender:
    def __init__(self, config: KycSandboxConfig):
        self.config = config
        self.deliveries: list[KycDelivery] = []
        self.queue: asyncio.Queue[KycDelivery] = asyncio.Queue()
        self.locks: dict[str, asyncio.Lock] = {}
        self.http: httpx.AsyncClient | None = None
        self.tasks: list[asyncio.Task] = []

    async def start(self, workers: int = 4) -> None:
        self.http = httpx.AsyncClient(timeout=10.0)
        self.tasks = [asyncio.create_task(self._deliver_forever()) for _ in range(workers)]

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.http is not None:
            await self.http.aclose()

    def emit(self, applicant: Applicant, event_type: str) -> None:
        if not self.config.webhook_url:
            return
        review = applicant.review
        payload: dict[str, Any] = {
            "applicantId": applicant.id,
            "inspectionId": applicant.id[::-1],
            "correlationId": uuid.uuid4().hex,
            "externalUserId": applicant.external_user_id,
            "levelName": applicant.level_name,
            "type": event_type,
            "sandboxMode": True,
            "reviewStatus": review.get("reviewStatus"),
            "createdAtMs": created_at_ms(),
        }
        if "reviewResult" in review:
            payload["reviewResult"] = review["reviewResult"]
        delivery = KycDelivery(
            id=str(uuid.uuid4()),
            applicant_id=applicant.id,
            event_type=event_type,
            url=self.config.webhook_url,
            body=json.dumps(payload).encode(),  # fixed: a retry is the same body, as Sumsub's are
        )
        self.deliveries.append(delivery)
        self.queue.put_nowait(delivery)

    def headers(self, delivery: KycDelivery) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.config.webhook_secret:
            headers["X-Payload-Digest"] = payload_digest(self.config.webhook_secret, delivery.body)
            headers["X-Payload-Digest-Alg"] = "HMAC_SHA256_HEX"
        return headers

    def retry_delay(self, attempt: int) -> float:
        return min(self.config.retry_base_seconds * 2 ** (attempt - 1), self.config.retry_max_seconds)

    async def _deliver_forever(self) -> None:
        while True:
            delivery = await self.queue.get()
            async with self.locks.setdefault(delivery.applicant_id, asyncio.Lock()):
                await self._attempt(delivery)

    async def _attempt(self, delivery: KycDelivery) -> None:
        assert self.http is not None
        attempt = len(delivery.attempts) + 1
        record: dict[str, Any] = {"attempt": attempt, "at": iso(now())}
        try:
            resp = await self.http.post(delivery.url, content=delivery.body, headers=self.headers(delivery))
            record["status"], record["answer"] = resp.status_code, resp.text[:200]
            ok = 200 <= resp.status_code < 300
        except httpx.HTTPError as exc:
            record["error"] = f"{type(exc).__name__}: {exc}"[:200]
            ok = False
        delivery.attempts.append(record)
        if ok:
            delivery.state = "delivered"
            return
        if attempt >= self.config.max_attempts:
            delivery.state = "failed"
            log.warning("kyc_sandbox_delivery_gave_up", delivery=delivery.id, attempts=attempt)
            return
        asyncio.get_running_loop().call_later(self.retry_delay(attempt), self.queue.put_nowait, delivery)
