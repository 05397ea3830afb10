"""The payment sandbox: a local stand-in for Coinbase Commerce and Coinbase Business (`sge payments-sandbox`).

It speaks the subset of both providers' HTTP APIs the platform's adapters use, authenticates them like
the real services (Commerce: `X-CC-Api-Key`; Business: a CDP JWT verified with the API key's public
key, `kid`/`sub`/`iss`/`nbf`/`exp`/`uris` checked), keeps charges in memory, shows a hosted payment page
per charge, and delivers **signed** webhooks to the API with Coinbase-like retries. Its signing code is
written separately from the platform's verification (`models/coinbase.py`), so the two check each other.

Provider API (what the adapters call)
    POST /charges, GET /charges, GET /charges/{id|code}          Commerce (`X-CC-Api-Key`, `X-CC-Version`)
    POST /api/v1/payment-links, GET /api/v1/payment-links/{id}   Business (bearer JWT, `X-Idempotency-Key`)
Payer / operator surface
    GET  /pay/{ref}                                               hosted page with the four buttons
    POST /sandbox/charges/{ref}/pay|underpay|fail|expire          `?amount=12.34` for pay/underpay
    GET  /sandbox/charges[/{ref}], GET /sandbox/deliveries[?ref=]
    GET|POST /sandbox/switches   {"duplicate": bool, "out_of_order": bool}
    GET  /healthz

Event sequences (what the sandbox sends, after Coinbase's documentation; see `models/coinbase.py`):
    Commerce create   charge:created (timeline NEW)
             pay      charge:pending (payment detected) → charge:confirmed (COMPLETED; paid more than the
                      price: still charge:confirmed, timeline UNRESOLVED with context OVERPAID)
             underpay charge:pending (payment of less) → charge:failed (timeline UNRESOLVED, context UNDERPAID)
             fail     charge:failed (timeline FAILED)
             expire   charge:failed (timeline EXPIRED) — also sent by itself when a charge outlives expires_at
    Business pay      payment_link.payment.success (status COMPLETED, settlement.totalAmount = paid)
             underpay payment_link.payment.success with settlement.totalAmount below the amount. Coinbase does
                      not document such an event; the sandbox sends it to exercise the flow's amount check.
             fail     payment_link.payment.failed;  expire  payment_link.payment.expired (or at expiresAt)
Deliveries: in order per charge, retried on a non-2xx answer or a network error after
`base × 2^(n-1)` seconds capped at `max` (Coinbase: exponential up to 1 h over 3 days; compressed
here, configurable), up to `max_attempts`. Switches: `duplicate` delivers every event twice (same event
id, separate deliveries); `out_of_order` delivers each action's events in reverse order.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from core.logs import get_logger

log = get_logger("sandbox.payments")

COMMERCE = "coinbase_commerce"
BUSINESS = "coinbase_business"
_CENT = Decimal("0.01")


@dataclass
class SandboxConfig:
    public_url: str
    commerce_api_key: str | None = None
    commerce_webhook_secret: str | None = None
    commerce_webhook_url: str | None = None
    business_key_id: str | None = None
    business_key_secret: str | None = None  # the CDP key secret; only its public half is used here
    business_webhook_secret: str | None = None
    business_webhook_url: str | None = None
    charge_ttl_seconds: int = 3600
    retry_base_seconds: float = 1.0
    retry_max_seconds: float = 60.0
    max_attempts: int = 12
    delivery_workers: int = 8
    duplicate: bool = False
    out_of_order: bool = False

    @classmethod
    def from_settings(cls, settings) -> SandboxConfig:
        def secret(value):
            return value.get_secret_value() if value is not None else None

        api = settings.api_base_url.rstrip("/")
        return cls(
            public_url=settings.sandbox_base_url.rstrip("/"),
            commerce_api_key=secret(settings.coinbase_commerce_api_key),
            commerce_webhook_secret=secret(settings.coinbase_commerce_webhook_secret),
            commerce_webhook_url=f"{api}/v1/webhooks/coinbase-commerce",
            business_key_id=settings.coinbase_business_api_key_id or None,
            business_key_secret=secret(settings.coinbase_business_api_key),
            business_webhook_secret=secret(settings.coinbase_business_webhook_secret),
            business_webhook_url=f"{api}/v1/webhooks/coinbase-business",
            charge_ttl_seconds=settings.payment_expiry_seconds,
            retry_base_seconds=settings.sandbox_retry_base_seconds,
            retry_max_seconds=settings.sandbox_retry_max_seconds,
            max_attempts=settings.sandbox_retry_max_attempts,
        )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _now() -> datetime:
    return datetime.now(UTC)


def _decimal(text: Any) -> Decimal | None:
    if not isinstance(text, str):
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() and value > 0 else None


def _text(value: Decimal) -> str:
    return str(value.quantize(_CENT))


# --- state -----------------------------------------------------------------------------------------------


@dataclass
class SandboxCharge:
    provider: str
    ref: str
    code: str | None
    amount: Decimal
    currency: str
    description: str
    metadata: dict
    hosted_url: str
    created_at: datetime
    expires_at: datetime
    name: str = ""
    network: str = "base"
    status: str = "NEW"  # Commerce: last timeline status; Business: link status
    timeline: list[dict] = field(default_factory=list)
    payments: list[dict] = field(default_factory=list)
    settlement: dict | None = None
    tx_hash: str | None = None
    redirect_url: str | None = None
    updated_at: datetime = field(default_factory=_now)

    @property
    def open(self) -> bool:
        return self.status in ("NEW", "ACTIVE")

    def commerce_json(self) -> dict:
        return {
            "id": self.ref,
            "resource": "charge",
            "code": self.code,
            "name": self.name,
            "description": self.description,
            "hosted_url": self.hosted_url,
            "created_at": _iso(self.created_at),
            "expires_at": _iso(self.expires_at),
            "pricing_type": "fixed_price",
            "pricing": {"local": {"amount": _text(self.amount), "currency": self.currency}},
            "metadata": self.metadata,
            "timeline": list(self.timeline),
            "payments": [dict(p) for p in self.payments],
            "redirect_url": self.redirect_url,
        }

    def business_json(self) -> dict:
        body = {
            "id": self.ref,
            "url": self.hosted_url,
            "status": self.status,
            "amount": _text(self.amount),
            "currency": self.currency,
            "network": self.network,
            "address": "0x" + hashlib.sha256(self.ref.encode()).hexdigest()[:40],
            "description": self.description,
            "expiresAt": _iso(self.expires_at),
            "metadata": self.metadata,
            "createdAt": _iso(self.created_at),
            "updatedAt": _iso(self.updated_at),
        }
        if self.settlement is not None:
            body["settlement"] = dict(self.settlement)
        if self.tx_hash:
            body["transactionHash"] = self.tx_hash
        return body


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


class SandboxError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


# --- signing (the providers' side) ------------------------------------------------------------------------


def sign_commerce(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def sign_hook0(secret: str, timestamp: int, headers: list[tuple[str, str]], body: bytes) -> str:
    names = " ".join(name for name, _ in headers)
    values = ".".join(value for _, value in headers)
    message = f"{timestamp}.{names}.{values}.".encode() + body
    code = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return f"t={timestamp},h={names},v1={code}"


# --- the sandbox ---------------------------------------------------------------------------------------------


class PaymentSandbox:
    def __init__(self, config: SandboxConfig):
        self.config = config
        self.charges: dict[str, SandboxCharge] = {}
        self.codes: dict[str, str] = {}  # Commerce code → id
        self.order: list[str] = []  # creation order (newest last)
        self.idempotency: dict[str, tuple[str, str]] = {}  # key → (body digest, link id)
        self.deliveries: list[Delivery] = []
        self.queue: asyncio.Queue[Delivery] = asyncio.Queue()
        self.locks: dict[str, asyncio.Lock] = {}
        self.http: httpx.AsyncClient | None = None
        self.tasks: list[asyncio.Task] = []
        self._business_public_key = None
        self._business_alg = None
        if config.business_key_secret:
            from payments.cdp_jwt import jwt_algorithm, load_cdp_private_key

            private = load_cdp_private_key(config.business_key_secret)
            self._business_public_key = private.public_key()
            self._business_alg = jwt_algorithm(private)

    # --- lifecycle ---------------------------------------------------------------------------------------
    async def start(self) -> None:
        self.http = httpx.AsyncClient(timeout=10.0)
        for _ in range(max(1, self.config.delivery_workers)):
            self.tasks.append(asyncio.create_task(self._deliver_forever()))
        self.tasks.append(asyncio.create_task(self._expire_forever()))

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.http is not None:
            await self.http.aclose()

    # --- lookup ------------------------------------------------------------------------------------------
    def charge(self, ref: str) -> SandboxCharge:
        charge = self.charges.get(ref) or self.charges.get(self.codes.get(ref, ""))
        if charge is None:
            raise SandboxError(404, f"no charge {ref!r}")
        return charge

    # --- authentication ---------------------------------------------------------------------------------
    def check_commerce_key(self, request: Request) -> None:
        given = request.headers.get("x-cc-api-key", "")
        expected = self.config.commerce_api_key
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            raise SandboxError(401, "invalid or missing X-CC-Api-Key")
        if not request.headers.get("x-cc-version"):
            raise SandboxError(400, "missing X-CC-Version header")

    def check_business_jwt(self, request: Request) -> None:
        import jwt

        if self._business_public_key is None or not self.config.business_key_id:
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
                self._business_public_key,
                algorithms=[self._business_alg],
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

    # --- provider API ------------------------------------------------------------------------------------
    def create_commerce_charge(self, body: Any) -> SandboxCharge:
        if not isinstance(body, dict):
            raise SandboxError(400, "body must be a JSON object")
        if body.get("pricing_type") != "fixed_price":
            raise SandboxError(400, "pricing_type must be fixed_price")
        local = body.get("local_price") or {}
        amount = _decimal(local.get("amount")) if isinstance(local, dict) else None
        if amount is None or not isinstance(local.get("currency"), str):
            raise SandboxError(400, "local_price needs a positive decimal-string amount and a currency")
        if not isinstance(body.get("name"), str) or not body["name"]:
            raise SandboxError(400, "name is required")
        metadata = body.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise SandboxError(400, "metadata must be an object")
        ref = str(uuid.uuid4())
        code = "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(8))
        now = _now()
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
            created_at=now,
            expires_at=now + timedelta(seconds=self.config.charge_ttl_seconds),
            redirect_url=body.get("redirect_url"),
            status="NEW",
            timeline=[{"status": "NEW", "time": _iso(now)}],
        )
        self._add(charge)
        self._emit(charge, ["charge:created"])
        return charge

    def list_commerce_charges(self, limit: int, starting_after: str | None) -> dict:
        refs = [r for r in reversed(self.order) if self.charges[r].provider == COMMERCE]
        if starting_after:
            refs = refs[refs.index(starting_after) + 1 :] if starting_after in refs else []
        page = refs[: max(1, min(limit, 100))]
        more = len(refs) > len(page)
        next_uri = f"{self.config.public_url}/charges?limit={limit}&starting_after={page[-1]}" if more and page else None
        return {
            "pagination": {"order": "desc", "limit": limit, "yielded": len(page), "next_uri": next_uri},
            "data": [self.charges[r].commerce_json() for r in page],
        }

    def create_business_link(self, raw: bytes, idempotency_key: str | None) -> tuple[SandboxCharge, bool]:
        digest = hashlib.sha256(raw).hexdigest()
        if idempotency_key and idempotency_key in self.idempotency:
            seen_digest, ref = self.idempotency[idempotency_key]
            if seen_digest != digest:
                raise SandboxError(422, "X-Idempotency-Key was used with a different request body")
            return self.charges[ref], True
        try:
            body = json.loads(raw)
        except ValueError:
            raise SandboxError(400, "body is not JSON") from None
        if not isinstance(body, dict):
            raise SandboxError(400, "body must be a JSON object")
        amount = _decimal(body.get("amount"))
        if amount is None:
            raise SandboxError(400, "amount must be a positive decimal string")
        currency = str(body.get("currency") or "")
        if currency != "USDC":
            raise SandboxError(400, "currency must be USDC")
        metadata = body.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise SandboxError(400, "metadata must be an object")
        now = _now()
        expires_at = now + timedelta(seconds=self.config.charge_ttl_seconds)
        if body.get("expiresAt"):
            try:
                expires_at = datetime.fromisoformat(body["expiresAt"])
            except (TypeError, ValueError):
                raise SandboxError(400, "expiresAt is not an ISO timestamp") from None
            if expires_at <= now:
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
            created_at=now,
            expires_at=expires_at,
            network=str(body.get("network") or "base"),
            status="ACTIVE",
            redirect_url=body.get("successRedirectUrl"),
        )
        self._add(charge)
        if idempotency_key:
            self.idempotency[idempotency_key] = (digest, ref)
        return charge, False

    def _add(self, charge: SandboxCharge) -> None:
        self.charges[charge.ref] = charge
        if charge.code:
            self.codes[charge.code] = charge.ref
        self.order.append(charge.ref)
        log.info("sandbox_charge_created", provider=charge.provider, ref=charge.ref, amount=str(charge.amount))

    # --- payer actions -----------------------------------------------------------------------------------
    def act(self, ref: str, action: str, amount_text: str | None = None) -> SandboxCharge:
        charge = self.charge(ref)
        if not charge.open:
            raise SandboxError(409, f"charge is {charge.status}, not open")
        if charge.expires_at <= _now() and action != "expire":
            self.act(charge.ref, "expire")
            raise SandboxError(409, "charge has expired")
        amount = None
        if amount_text is not None:
            amount = _decimal(amount_text)
            if amount is None:
                raise SandboxError(400, "amount must be a positive decimal string")
        if action == "pay":
            self._pay(charge, amount or charge.amount)
        elif action == "underpay":
            paid = amount or (charge.amount / 2).quantize(_CENT, rounding=ROUND_DOWN)
            if paid >= charge.amount:
                raise SandboxError(400, "an underpayment must be less than the price")
            self._pay(charge, paid)
        elif action == "fail":
            self._finish(charge, "FAILED")
        elif action == "expire":
            self._finish(charge, "EXPIRED")
        else:
            raise SandboxError(404, f"unknown action {action!r}")
        charge.updated_at = _now()
        log.info("sandbox_charge_action", ref=charge.ref, action=action, status=charge.status)
        return charge

    def _pay(self, charge: SandboxCharge, paid: Decimal) -> None:
        charge.tx_hash = "0x" + secrets.token_hex(32)
        now = _iso(_now())
        if charge.provider == BUSINESS:
            fee = (paid / 100).quantize(_CENT)
            charge.status = "COMPLETED"
            charge.settlement = {
                "totalAmount": _text(paid),
                "feeAmount": _text(fee),
                "netAmount": _text(paid - fee),
                "currency": charge.currency,
            }
            self._emit(charge, ["payment_link.payment.success"])
            return
        payment = {
            "payment_id": charge.tx_hash,
            "network": "base",
            "transaction_id": charge.tx_hash,
            "status": "pending",
            "detected_at": now,
            "value": {"local": {"amount": _text(paid), "currency": charge.currency}, "crypto": {"amount": _text(paid), "currency": "USDC"}},
        }
        charge.payments.append(payment)
        charge.status = "PENDING"
        charge.timeline.append({"status": "PENDING", "time": now})
        batch = [("charge:pending", charge.commerce_json())]
        if paid < charge.amount:
            charge.status = "UNRESOLVED"
            charge.timeline.append({"status": "UNRESOLVED", "time": now, "context": "UNDERPAID"})
            batch.append(("charge:failed", charge.commerce_json()))
        else:
            payment["status"] = "confirmed"
            charge.status = "COMPLETED"
            charge.timeline.append({"status": "COMPLETED", "time": now})
            if paid > charge.amount:
                charge.status = "UNRESOLVED"
                charge.timeline.append({"status": "UNRESOLVED", "time": now, "context": "OVERPAID"})
            batch.append(("charge:confirmed", charge.commerce_json()))
        self._emit_snapshots(charge, batch)

    def _finish(self, charge: SandboxCharge, status: str) -> None:
        charge.status = status
        if charge.provider == BUSINESS:
            self._emit(charge, ["payment_link.payment.failed" if status == "FAILED" else "payment_link.payment.expired"])
            return
        charge.timeline.append({"status": status, "time": _iso(_now())})
        self._emit(charge, ["charge:failed"])

    # --- webhooks ----------------------------------------------------------------------------------------
    def _emit(self, charge: SandboxCharge, types: list[str]) -> None:
        snapshot = charge.commerce_json() if charge.provider == COMMERCE else charge.business_json()
        self._emit_snapshots(charge, [(t, snapshot) for t in types])

    def _emit_snapshots(self, charge: SandboxCharge, batch: list[tuple[str, dict]]) -> None:
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
                    "created_at": _iso(_now()),
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

    def render(self, delivery: Delivery, attempt: int) -> tuple[bytes, dict[str, str]]:
        """The request as sent on this attempt: a fresh signature (and, for Commerce, attempt number)."""
        if delivery.provider == COMMERCE:
            body = json.dumps(
                {"id": delivery.id, "scheduled_for": _iso(_now()), "attempt_number": attempt, "event": delivery.payload}
            ).encode()
            headers = {"Content-Type": "application/json"}
            if self.config.commerce_webhook_secret:
                headers["X-CC-Webhook-Signature"] = sign_commerce(self.config.commerce_webhook_secret, body)
            return body, headers
        body = json.dumps(delivery.payload).encode()
        signed = [("content-type", "application/json"), ("x-event-id", delivery.event_id), ("x-event-type", delivery.event_type)]
        headers = dict(signed)
        if self.config.business_webhook_secret:
            headers["X-Hook0-Signature"] = sign_hook0(self.config.business_webhook_secret, int(time.time()), signed, body)
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
        record: dict[str, Any] = {"attempt": attempt, "at": _iso(_now())}
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
            log.warning("sandbox_delivery_gave_up", delivery=delivery.id, event_type=delivery.event_type, attempts=attempt)
            return
        delay = self.retry_delay(attempt)
        delivery.next_attempt_at = time.time() + delay
        asyncio.get_running_loop().call_later(delay, self.queue.put_nowait, delivery)

    async def _expire_forever(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            now = _now()
            for charge in list(self.charges.values()):
                if charge.open and charge.expires_at <= now:
                    self.act(charge.ref, "expire")


# --- HTTP --------------------------------------------------------------------------------------------------


def create_sandbox_app(config: SandboxConfig) -> FastAPI:
    from contextlib import asynccontextmanager

    sandbox = PaymentSandbox(config)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        await sandbox.start()
        try:
            yield
        finally:
            await sandbox.stop()

    app = FastAPI(title="SGE payment sandbox", summary="Coinbase Commerce + Business stand-in", lifespan=lifespan)
    app.state.sandbox = sandbox

    @app.exception_handler(SandboxError)
    async def _error(request: Request, exc: SandboxError):
        if request.url.path.startswith("/api/v1/"):
            return JSONResponse({"errorType": "invalid_request", "errorMessage": exc.message}, status_code=exc.status)
        return JSONResponse({"error": {"type": "invalid_request", "message": exc.message}}, status_code=exc.status)

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok", "charges": len(sandbox.charges), "queued": sandbox.queue.qsize()}

    # Commerce
    @app.post("/charges", status_code=201)
    async def commerce_create(request: Request):
        sandbox.check_commerce_key(request)
        try:
            body = json.loads(await request.body())
        except ValueError:
            raise SandboxError(400, "body is not JSON") from None
        return {"data": sandbox.create_commerce_charge(body).commerce_json()}

    @app.get("/charges")
    async def commerce_list(request: Request, limit: int = 25, starting_after: str | None = None):
        sandbox.check_commerce_key(request)
        return sandbox.list_commerce_charges(limit, starting_after)

    @app.get("/charges/{ref}")
    async def commerce_get(request: Request, ref: str):
        sandbox.check_commerce_key(request)
        charge = sandbox.charge(ref)
        if charge.provider != COMMERCE:
            raise SandboxError(404, f"no charge {ref!r}")
        return {"data": charge.commerce_json()}

    # Business
    @app.post("/api/v1/payment-links")
    async def business_create(request: Request):
        sandbox.check_business_jwt(request)
        charge, replayed = sandbox.create_business_link(await request.body(), request.headers.get("x-idempotency-key"))
        return JSONResponse(charge.business_json(), status_code=200 if replayed else 201)

    @app.get("/api/v1/payment-links/{ref}")
    async def business_get(request: Request, ref: str):
        sandbox.check_business_jwt(request)
        charge = sandbox.charge(ref)
        if charge.provider != BUSINESS:
            raise SandboxError(404, f"no payment link {ref!r}")
        return charge.business_json()

    # Payer and operator surface
    @app.post("/sandbox/charges/{ref}/{action}")
    async def act(ref: str, action: str, amount: str | None = None, page: bool = False):
        charge = sandbox.act(ref, action, amount)
        if page:
            return RedirectResponse(f"/pay/{charge.code or charge.ref}", status_code=303)
        return _describe(charge)

    @app.get("/sandbox/charges")
    async def charges():
        return [_describe(sandbox.charges[r]) for r in reversed(sandbox.order)]

    @app.get("/sandbox/charges/{ref}")
    async def one_charge(ref: str):
        return _describe(sandbox.charge(ref))

    @app.get("/sandbox/deliveries")
    async def deliveries(ref: str | None = None):
        return [d.summary() for d in sandbox.deliveries if ref is None or d.ref == sandbox.charge(ref).ref]

    @app.get("/sandbox/switches")
    async def get_switches():
        return {"duplicate": config.duplicate, "out_of_order": config.out_of_order}

    @app.post("/sandbox/switches")
    async def set_switches(request: Request):
        body = await request.json()
        for name in ("duplicate", "out_of_order"):
            if name in body:
                setattr(config, name, bool(body[name]))
        return {"duplicate": config.duplicate, "out_of_order": config.out_of_order}

    @app.get("/pay/{ref}", response_class=HTMLResponse)
    async def hosted_page(ref: str):
        return _page(sandbox.charge(ref))

    return app


def _describe(charge: SandboxCharge) -> dict:
    return {
        "provider": charge.provider,
        "ref": charge.ref,
        "code": charge.code,
        "status": charge.status,
        "amount": _text(charge.amount),
        "currency": charge.currency,
        "hosted_url": charge.hosted_url,
        "expires_at": _iso(charge.expires_at),
        "metadata": charge.metadata,
    }


def _page(charge: SandboxCharge) -> str:
    e = html.escape
    ref = e(charge.code or charge.ref)
    buttons = "".join(
        f'<form method="post" action="/sandbox/charges/{ref}/{action}?page=true"><button {"" if charge.open else "disabled"}>{label}</button></form>'
        for action, label in (("pay", "Pay"), ("underpay", "Underpay (half)"), ("fail", "Fail"), ("expire", "Expire"))
    )
    provider = "Coinbase Commerce charge" if charge.provider == COMMERCE else "Coinbase Business payment link"
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Sandbox payment {ref}</title>
<style>body{{font-family:sans-serif;max-width:36em;margin:3em auto}}form{{display:inline;margin-right:.5em}}
button{{font-size:1.1em;padding:.4em 1em}}</style></head><body>
<h1>{e(_text(charge.amount))} {e(charge.currency)}</h1>
<p>{e(provider)} <code>{e(charge.ref)}</code> — {e(charge.description)}</p>
<p>Status: <strong>{e(charge.status)}</strong>; expires {e(_iso(charge.expires_at))}</p>
<p>{buttons}</p><p><small>SGE payment sandbox: no real money moves.</small></p></body></html>"""
