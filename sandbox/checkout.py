"""The payment sandbox's payer and merchant actions on a charge, with the events each provider sends for
them; charges that outlive their expiry expire by themselves.

    GET  /pay/{ref}                              hosted page: a button or form per action (sandbox/hosted_page.py)
    POST /sandbox/charges/{ref}/{action}         query (or form) parameters below; `page=true` → back to the page
        pay       amount=X (default: the price)  currency=C (default: the charge's)  legacy=true (late Commerce)
        underpay  amount=X (default: half the price, must be below it)  currency=C
        multiple  amounts=X,Y[,...] (two or more transfers in one go)  currency=C
        fail | expire | refund | resolve

A transfer in the charge's currency or any 1:1 USD unit (USD, USDC, USDT) counts as the charge's
currency; any other (e.g. `currency=ETH`) is a wrong-asset payment. One received asset per charge
(409 otherwise): the platform's snapshot carries one paid currency. Every snapshot (`GET /charges/{id}`,
`GET /api/v1/payment-links/{id}`, the listings, each event) carries the cumulative amount received:
Commerce `payments[]` (`value.local` in the charge's currency, `value.crypto` in the asset sent),
Business `settlement.totalAmount` + `settlement.currency`.

Commerce (after Coinbase's documentation; shapes in sandbox/commerce_outcomes.py)
| action                       | allowed when    | events, in order                  | timeline ends                   |
|------------------------------|-----------------|-----------------------------------|---------------------------------|
| pay (the price)              | NEW             | charge:pending, charge:confirmed  | COMPLETED                       |
| pay amount > price           | NEW             | charge:pending, charge:confirmed  | COMPLETED; UNRESOLVED OVERPAID  |
| pay amount < price; underpay | NEW             | charge:pending, charge:failed     | UNRESOLVED UNDERPAID            |
| pay currency=ETH             | NEW             | charge:pending, charge:failed     | UNRESOLVED OTHER (*)            |
| multiple amounts=X,Y         | NEW             | charge:pending ×2, charge:failed  | UNRESOLVED MULTIPLE             |
| pay / underpay (late)        | EXPIRED, FAILED | charge:failed (legacy: delayed)   | UNRESOLVED DELAYED              |
| fail                         | NEW             | charge:failed                     | FAILED                          |
| expire (or at expires_at)    | NEW             | charge:failed                     | EXPIRED                         |
| resolve (merchant)           | UNRESOLVED      | charge:resolved                   | RESOLVED (money unchanged)      |
| refund (merchant)            | money received  | charge:refunded (*)               | REFUNDED                        |

Business (after Coinbase's documentation; shapes in sandbox/business_outcomes.py)
| action                       | allowed when    | events (payment_link.payment.*)   | status, settlement              |
|------------------------------|-----------------|-----------------------------------|---------------------------------|
| pay, any amount (**)         | ACTIVE          | success                           | COMPLETED, total = paid         |
| pay currency=ETH (*)         | ACTIVE          | failed                            | FAILED, total in ETH            |
| multiple amounts=X,Y (*)     | ACTIVE          | success ×2                        | COMPLETED, totals X, X+Y        |
| pay / underpay (late) (*)    | EXPIRED, FAILED | success                           | COMPLETED, total = paid         |
| fail                         | ACTIVE          | failed                            | FAILED                          |
| expire (or at expiresAt)     | ACTIVE          | expired                           | EXPIRED                         |
| refund (merchant) (*)        | money received  | refunded                          | REFUNDED, settlement kept       |
| resolve                      | never (409)     |                                   |                                 |

(*) sandbox extensions: Coinbase documents no such event or shape; the sandbox produces one so every
outcome reaches the platform, which confirms each event by reading the charge. (**) below or above the
amount: Coinbase documents no such event either; sent to exercise the flow's amount check.
A refund keeps what was received in the snapshot (`payments[]`, `settlement`): the status says it went back.
Any other action on a charge not in the "allowed when" state answers 409; unknown actions 404.

Layering: `core/` only.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from decimal import ROUND_DOWN, Decimal
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from core.logs import get_logger
from sandbox.business_outcomes import BusinessOutcomes
from sandbox.commerce_outcomes import CommerceOutcomes
from sandbox.hosted_page import hosted_page_html
from sandbox.store import (
    CENT,
    COMMERCE,
    MAX_DECIMALS,
    USD_UNITS,
    ChargeStore,
    SandboxCharge,
    SandboxError,
    Transfer,
    accepts,
    decimal_amount,
    now,
)
from sandbox.webhooks import WebhookSender

log = get_logger(__name__)

ACTIONS = ("pay", "underpay", "multiple", "fail", "expire", "refund", "resolve")
LATE = frozenset({"EXPIRED", "FAILED"})  # a payment to a charge in these states is a late payment
_CURRENCY = re.compile(r"^[A-Z0-9]{2,10}$")


def allowed(charge: SandboxCharge, action: str) -> bool:
    """Whether `action` may happen to the charge as it is now (the tables above)."""
    if action in ("pay", "underpay"):
        return charge.open or charge.status in LATE
    if action in ("multiple", "fail", "expire"):
        return charge.open
    if action == "refund":
        return charge.received_currency is not None and charge.status != "REFUNDED"
    if action == "resolve":
        return charge.provider == COMMERCE and charge.status == "UNRESOLVED"
    return False


class Checkout:
    """What a payer, a merchant (or the clock) does to a charge, and the events that follow."""

    def __init__(self, store: ChargeStore, webhooks: WebhookSender):
        self.store = store
        self.commerce = CommerceOutcomes(webhooks)
        self.business = BusinessOutcomes(webhooks)

    def act(self, ref: str, action: str, params: Mapping[str, str] | None = None) -> SandboxCharge:
        params = params or {}
        if action not in ACTIONS:
            raise SandboxError(404, f"unknown action {action!r}")
        charge = self.store.get(ref)
        if charge.open and charge.expires_at <= now() and action != "expire":
            self._finish(charge, "EXPIRED")  # the clock got there first; a payment now is a late one
        if not allowed(charge, action):
            raise SandboxError(409, f"cannot {action} a charge that is {charge.status}")
        late = not charge.open
        if action in ("pay", "underpay", "multiple"):
            transfers = self._transfers(charge, action, params)
            if charge.provider == COMMERCE:
                self.commerce.pay(charge, transfers, late=late, legacy=_flag(params.get("legacy")))
            else:
                self.business.pay(charge, transfers, late=late)
        elif action == "fail":
            self._finish(charge, "FAILED")
        elif action == "expire":
            self._finish(charge, "EXPIRED")
        elif action == "refund":
            (self.commerce if charge.provider == COMMERCE else self.business).refund(charge)
        else:
            self.commerce.resolve(charge)
        charge.updated_at = now()
        log.info("sandbox_charge_action", ref=charge.ref, action=action, status=charge.status, late=late)
        return charge

    def _finish(self, charge: SandboxCharge, status: str) -> None:
        (self.commerce if charge.provider == COMMERCE else self.business).finish(charge, status)
        charge.updated_at = now()

    def _transfers(self, charge: SandboxCharge, action: str, params: Mapping[str, str]) -> list[Transfer]:
        currency = (params.get("currency") or charge.currency).strip().upper()
        if not _CURRENCY.match(currency):
            raise SandboxError(400, "currency must be an asset code such as USDC or ETH")
        if action == "multiple":
            texts = [t for t in (params.get("amounts") or "").split(",") if t.strip()]
            if len(texts) < 2:
                raise SandboxError(400, "multiple needs amounts=X,Y (two or more transfers)")
            return [Transfer(_amount(t.strip(), currency), currency) for t in texts]
        text = params.get("amount")
        if action == "pay":
            amount = _amount(text, currency) if text else charge.amount
        else:
            amount = _amount(text, currency) if text else (charge.amount / 2).quantize(CENT, rounding=ROUND_DOWN)
            if accepts(charge.currency, currency) and amount >= charge.amount:
                raise SandboxError(400, "an underpayment must be less than the price")
        return [Transfer(amount, currency)]

    async def expire_forever(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            moment = now()
            for charge in list(self.store.charges.values()):
                if charge.open and charge.expires_at <= moment:
                    self.act(charge.ref, "expire")


def _amount(text: str, currency: str) -> Decimal:
    amount = decimal_amount(text)
    if amount is None:
        raise SandboxError(400, "amount must be a positive decimal string")
    if currency in USD_UNITS:
        amount = amount.quantize(CENT)  # USD-like amounts are shown in cents
    elif amount.as_tuple().exponent < -MAX_DECIMALS:  # type: ignore[operator]
        raise SandboxError(400, f"amount has more than {MAX_DECIMALS} decimals")
    if amount <= 0:
        raise SandboxError(400, "amount must be at least a cent")
    return amount


def _flag(text: str | None) -> bool:
    return (text or "").strip().lower() in ("1", "true", "yes", "on")


def checkout_router(checkout: Checkout) -> APIRouter:
    router = APIRouter()

    @router.post("/sandbox/charges/{ref}/{action}")
    async def act(request: Request, ref: str, action: str):
        params = dict(request.query_params)
        if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            # The hosted page's forms post their fields in the body (no multipart dependency needed).
            params.update((k, v) for k, v in parse_qsl((await request.body()).decode()) if v)
        charge = checkout.act(ref, action, params)
        if _flag(params.get("page")):
            return RedirectResponse(f"/pay/{charge.code or charge.ref}", status_code=303)
        return charge.summary()

    @router.get("/pay/{ref}", response_class=HTMLResponse)
    async def hosted_page(ref: str):
        charge = checkout.store.get(ref)
        return hosted_page_html(charge, [a for a in ACTIONS if allowed(charge, a)])

    return router
