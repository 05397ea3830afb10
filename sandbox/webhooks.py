"""The payment sandbox's webhook delivery: events built like each provider's, signed like each provider
signs them, delivered in order per charge and retried on failure.

Signing is written here separately from the platform's verification (`payments/commerce.py`,
`payments/business.py`), so the two check each other.

Deliveries: in order per charge, retried on a non-2xx answer or a network error after
`base × 2^(n-1)` seconds capped at `max` (Coinbase: exponential up to 1 h over 3 days; compressed
here, configurable), up to `max_attempts`. Switches: `duplicate` delivers every event twice (same event
id, separate deliveries); `out_of_order` delivers each action's events in reverse order.

Layering: `core/` only.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from core.logs import get_logger
from sandbox.store import COMMERCE, SandboxCharge, SandboxConfig, iso, now

log = get_logger(__name__)


# --- signing (the providers' side) ------------------------------------------------------------------------


def sign_commerce(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def sign_hook0(secret: str, timestamp: int, headers: list[tuple[str, str]], body: bytes) -> str:
    names = " ".join(name for name, _ in headers)
    values = ".".join(value for _, value in headers)
    message = f"{timestamp}.{names}.{values}.".encode() + body
    code = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return f"t={timestamp},h={names},v1={code}"


# --- deliveries ------------------------------------------------------------------------------------------


@dataclass
class Delivery:
    id: str
    provider: str
    event_id: str
    event_type: str
    ref: str
    url: str
    payload: dict
    copy: int = 1
    state: str = "pending"  # pending → delivered | failed
    attempts: list[dict] = field(default_factory=list)
    next_attempt_at: float | None = None

    def summary(self) -> dict:
        return {
            "id": self.id,
            "provider": self.provider,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "ref": self.ref,
            "url": self.url,
            "copy": self.copy,
            "state": self.state,
            "attempts": self.attempts,
            "next_attempt_at": self.next_attempt_at,
        }


class WebhookSender:
    """Queues events per charge and delivers them with worker tasks (started by the app's lifespan)."""

    def __init__(self, config: SandboxConfig):
        self.config = config
        self.deliveries: list[Delivery] = []
        self.queue: asyncio.Queue[Delivery] = asyncio.Queue()
        self.locks: dict[str, asyncio.Lock] = {}
        self.http: httpx.AsyncClient | None = None
        self.tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        self.http = httpx.AsyncClient(timeout=10.0)
        for _ in range(max(1, self.config.delivery_workers)):
            self.tasks.append(asyncio.create_task(self._deliver_forever()))

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.http is not None:
            await self.http.aclose()

    # --- events ----------------------------------------------------------------------------------------
    def emit(self, charge: SandboxCharge, types: list[str]) -> None:
        """Events of these types, each carrying the charge as it is now."""
        snapshot = charge.provider_json()
        self.emit_snapshots(charge, [(t, snapshot) for t in types])

    def emit_snapshots(self, charge: SandboxCharge, batch: list[tuple[str, dict]]) -> None:
        """Events of one action, each with the snapshot taken when it happened."""
        url = self.config.commerce_webhook_url if charge.provider == COMMERCE else self.config.business_webhook_url
        if not url:
            return
        if self.config.out_of_order:
            batch = list(reversed(batch))
        for event_type, snapshot in batch:
            event_id = str(uuid.uuid4())
            if charge.provider == COMMERCE:
                payload = {
                    "id": event_id,
                    "resource": "event",
                    "type": event_type,
                    "api_version": "2018-03-22",
                    "created_at": iso(now()),
                    "data": snapshot,
                }
            else:
                payload = {**snapshot, "eventType": event_type}
            for copy in (1, 2) if self.config.duplicate else (1,):
                delivery = Delivery(
                    id=str(uuid.uuid4()),
                    provider=charge.provider,
                    event_id=event_id,
                    event_type=event_type,
                    ref=charge.ref,
                    url=url,
                    payload=payload,
                    copy=copy,
                )
                self.deliveries.append(delivery)
                self.queue.put_nowait(delivery)

    # --- delivery --------------------------------------------------------------------------------------
    def render(self, delivery: Delivery, attempt: int) -> tuple[bytes, dict[str, str]]:
        """The request as sent on this attempt: a fresh signature (and, for Commerce, attempt number)."""
        if delivery.provider == COMMERCE:
            body = json.dumps(
                {"id": delivery.id, "scheduled_for": iso(now()), "attempt_number": attempt, "event": delivery.payload}
            ).encode()
            headers = {"Content-Type": "application/json"}
            if self.config.commerce_webhook_secret:
                headers["X-CC-Webhook-Signature"] = sign_commerce(self.config.commerce_webhook_secret, body)
            return body, headers
        body = json.dumps(delivery.payload).encode()
        signed = [
            ("content-type", "application/json"),
            ("x-event-id", delivery.event_id),
            ("x-event-type", delivery.event_type),
        ]
        headers = dict(signed)
        if self.config.business_webhook_secret:
            headers["X-Hook0-Signature"] = sign_hook0(
                self.config.business_webhook_secret, int(time.time()), signed, body
            )
        return body, headers

    def retry_delay(self, attempt: int) -> float:
        return min(self.config.retry_base_seconds * 2 ** (attempt - 1), self.config.retry_max_seconds)

    async def _deliver_forever(self) -> None:
        while True:
            delivery = await self.queue.get()
            lock = self.locks.setdefault(delivery.ref, asyncio.Lock())
            async with lock:  # one charge's events go out in order
                await self._attempt(delivery)

    async def _attempt(self, delivery: Delivery) -> None:
        assert self.http is not None
        attempt = len(delivery.attempts) + 1
        body, headers = self.render(delivery, attempt)
        record: dict[str, Any] = {"attempt": attempt, "at": iso(now())}
        started = time.perf_counter()
        try:
            resp = await self.http.post(delivery.url, content=body, headers=headers)
            record["status"] = resp.status_code
            record["answer"] = resp.text[:200]
            ok = 200 <= resp.status_code < 300
        except httpx.HTTPError as exc:
            record["error"] = f"{type(exc).__name__}: {exc}"[:200]
            ok = False
        record["ms"] = round((time.perf_counter() - started) * 1000, 1)
        delivery.attempts.append(record)
        if ok:
            delivery.state, delivery.next_attempt_at = "delivered", None
            return
        if attempt >= self.config.max_attempts:
            delivery.state, delivery.next_attempt_at = "failed", None
            log.warning(
                "sandbox_delivery_gave_up", delivery=delivery.id, event_type=delivery.event_type, attempts=attempt
            )
            return
        delay = self.retry_delay(attempt)
        delivery.next_attempt_at = time.time() + delay
        asyncio.get_running_loop().call_later(delay, self.queue.put_nowait, delivery)
