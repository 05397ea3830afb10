"""The payment sandbox's payer side: the hosted checkout page per charge and what its buttons do
(pay, underpay, fail, expire), with the events each provider sends for them; charges that outlive
their expiry expire by themselves.

    GET  /pay/{ref}                                  hosted page with the four buttons
    POST /sandbox/charges/{ref}/pay|underpay|fail|expire
        `?amount=12.34` for pay/underpay, `?page=true` → back to the page

Event sequences (after Coinbase's documentation; see `payments/commerce.py`, `payments/business.py`):
    Commerce pay      charge:pending (payment detected) → charge:confirmed (COMPLETED; paid more than the
                      price: still charge:confirmed, timeline UNRESOLVED with context OVERPAID)
             underpay charge:pending (payment of less) → charge:failed (timeline UNRESOLVED, context UNDERPAID)
             fail     charge:failed (timeline FAILED)
             expire   charge:failed (timeline EXPIRED) — also sent by itself when a charge outlives expires_at
    Business pay      payment_link.payment.success (status COMPLETED, settlement.totalAmount = paid)
             underpay payment_link.payment.success with settlement.totalAmount below the amount. Coinbase does
                      not document such an event; the sandbox sends it to exercise the flow's amount check.
             fail     payment_link.payment.failed;  expire  payment_link.payment.expired (or at expiresAt)

Layering: `core/` only.
"""

from __future__ import annotations

import asyncio
import html
import secrets
from decimal import ROUND_DOWN, Decimal

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse

from core.logs import get_logger
from sandbox.store import (
    BUSINESS,
    CENT,
    COMMERCE,
    ChargeStore,
    SandboxCharge,
    SandboxError,
    cents,
    decimal_amount,
    iso,
    now,
)
from sandbox.webhooks import WebhookSender

log = get_logger(__name__)


class Checkout:
    """What a payer (or the clock) does to a charge, and the events that follow."""

    def __init__(self, store: ChargeStore, webhooks: WebhookSender):
        self.store = store
        self.webhooks = webhooks

    def act(self, ref: str, action: str, amount_text: str | None = None) -> SandboxCharge:
        charge = self.store.get(ref)
        if not charge.open:
            raise SandboxError(409, f"charge is {charge.status}, not open")
        if charge.expires_at <= now() and action != "expire":
            self.act(charge.ref, "expire")
            raise SandboxError(409, "charge has expired")
        amount = None
        if amount_text is not None:
            amount = decimal_amount(amount_text)
            if amount is None:
                raise SandboxError(400, "amount must be a positive decimal string")
        if action == "pay":
            self._pay(charge, amount or charge.amount)
        elif action == "underpay":
            paid = amount or (charge.amount / 2).quantize(CENT, rounding=ROUND_DOWN)
            if paid >= charge.amount:
                raise SandboxError(400, "an underpayment must be less than the price")
            self._pay(charge, paid)
        elif action == "fail":
            self._finish(charge, "FAILED")
        elif action == "expire":
            self._finish(charge, "EXPIRED")
        else:
            raise SandboxError(404, f"unknown action {action!r}")
        charge.updated_at = now()
        log.info("sandbox_charge_action", ref=charge.ref, action=action, status=charge.status)
        return charge

    def _pay(self, charge: SandboxCharge, paid: Decimal) -> None:
        charge.tx_hash = "0x" + secrets.token_hex(32)
        at = iso(now())
        if charge.provider == BUSINESS:
            fee = (paid / 100).quantize(CENT)
            charge.status = "COMPLETED"
            charge.settlement = {
                "totalAmount": cents(paid),
                "feeAmount": cents(fee),
                "netAmount": cents(paid - fee),
                "currency": charge.currency,
            }
            self.webhooks.emit(charge, ["payment_link.payment.success"])
            return
        payment = {
            "payment_id": charge.tx_hash,
            "network": "base",
            "transaction_id": charge.tx_hash,
            "status": "pending",
            "detected_at": at,
            "value": {
                "local": {"amount": cents(paid), "currency": charge.currency},
                "crypto": {"amount": cents(paid), "currency": "USDC"},
            },
        }
        charge.payments.append(payment)
        charge.status = "PENDING"
        charge.timeline.append({"status": "PENDING", "time": at})
        batch = [("charge:pending", charge.commerce_json())]
        if paid < charge.amount:
            charge.status = "UNRESOLVED"
            charge.timeline.append({"status": "UNRESOLVED", "time": at, "context": "UNDERPAID"})
            batch.append(("charge:failed", charge.commerce_json()))
        else:
            payment["status"] = "confirmed"
            charge.status = "COMPLETED"
            charge.timeline.append({"status": "COMPLETED", "time": at})
            if paid > charge.amount:
                charge.status = "UNRESOLVED"
                charge.timeline.append({"status": "UNRESOLVED", "time": at, "context": "OVERPAID"})
            batch.append(("charge:confirmed", charge.commerce_json()))
        self.webhooks.emit_snapshots(charge, batch)

    def _finish(self, charge: SandboxCharge, status: str) -> None:
        charge.status = status
        if charge.provider == BUSINESS:
            self.webhooks.emit(
                charge, ["payment_link.payment.failed" if status == "FAILED" else "payment_link.payment.expired"]
            )
            return
        charge.timeline.append({"status": status, "time": iso(now())})
        self.webhooks.emit(charge, ["charge:failed"])

    async def expire_forever(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            moment = now()
            for charge in list(self.store.charges.values()):
                if charge.open and charge.expires_at <= moment:
                    self.act(charge.ref, "expire")


def checkout_router(checkout: Checkout) -> APIRouter:
    router = APIRouter()

    @router.post("/sandbox/charges/{ref}/{action}")
    async def act(ref: str, action: str, amount: str | None = None, page: bool = False):
        charge = checkout.act(ref, action, amount)
        if page:
            return RedirectResponse(f"/pay/{charge.code or charge.ref}", status_code=303)
        return charge.summary()

    @router.get("/pay/{ref}", response_class=HTMLResponse)
    async def hosted_page(ref: str):
        return hosted_page_html(checkout.store.get(ref))

    return router


def hosted_page_html(charge: SandboxCharge) -> str:
    e = html.escape
    ref = e(charge.code or charge.ref)
    buttons = "".join(
        f'<form method="post" action="/sandbox/charges/{ref}/{action}?page=true">'
        f"<button {'' if charge.open else 'disabled'}>{label}</button></form>"
        for action, label in (("pay", "Pay"), ("underpay", "Underpay (half)"), ("fail", "Fail"), ("expire", "Expire"))
    )
    provider = "Coinbase Commerce charge" if charge.provider == COMMERCE else "Coinbase Business payment link"
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Sandbox payment {ref}</title>
<style>body{{font-family:sans-serif;max-width:36em;margin:3em auto}}form{{display:inline;margin-right:.5em}}
button{{font-size:1.1em;padding:.4em 1em}}</style></head><body>
<h1>{e(cents(charge.amount))} {e(charge.currency)}</h1>
<p>{e(provider)} <code>{e(charge.ref)}</code> — {e(charge.description)}</p>
<p>Status: <strong>{e(charge.status)}</strong>; expires {e(iso(charge.expires_at))}</p>
<p>{buttons}</p><p><small>SGE payment sandbox: no real money moves.</small></p></body></html>"""
