"""Ledger vs processor: what each provider says was paid (its list API, every page) against what the
ledger booked for that payment (the gross debits of `asset:processor_receivable:<rail>` naming it:
settlement, suspense, refunds keep both legs), and the reverse (booked money the provider does not list).
Stored `unknown_charge` / `flow_closed` webhook rows are explained (the charge is booked or holds no money)
or listed."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select
from sqlmodel import Session

from core.db import table_of
from models.ledger import LedgerPosting, LedgerTx
from models.payments import Payment, PaymentEventKind, WebhookEvent, WebhookOutcome
from models.recon.checks import CheckResult, Item
from models.recon.snapshot import ProcessorListing

PROCESSOR = "processor"
_TX = table_of(LedgerTx)
_P = table_of(LedgerPosting)
_PAY = table_of(Payment)
_HOOK = table_of(WebhookEvent)


def _booked_by_ref(session: Session, rail: str) -> dict[str, int]:
    """payment ref -> money that arrived on this rail as the ledger booked it (gross receivable debits)."""
    booked: dict[str, int] = defaultdict(int)
    rows = session.connection().execute(
        select(_TX.c.refs, _P.c.amount)
        .select_from(_TX.join(_P, _P.c.tx_id == _TX.c.id))
        .where(_P.c.account == f"asset:processor_receivable:{rail}", _P.c.amount > 0)
    )
    for refs, amount in rows:
        ref = (refs or {}).get("payment_ref")
        if ref:
            booked[str(ref)] += int(amount)
    return booked


def _applied_twice(session: Session, rail: str) -> dict[str, int]:
    """Suspense applied to a fee posts the receivable again (suspense.apply, then payment.settle): that
    second debit is the same money, so it is taken off the gross figure."""
    applied: dict[str, int] = defaultdict(int)
    rows = session.connection().execute(
        select(_TX.c.refs, _P.c.amount)
        .select_from(_TX.join(_P, _P.c.tx_id == _TX.c.id))
        .where(_TX.c.kind == "suspense.apply", _P.c.account == f"asset:processor_receivable:{rail}")
    )
    for refs, amount in rows:
        ref = (refs or {}).get("payment_ref")
        if ref:
            applied[str(ref)] += -int(amount)
    return applied


def processor_checks(session: Session, listings: list[ProcessorListing]) -> list[CheckResult]:
    checks = []
    for listing in listings:
        rail = listing.provider
        booked = _booked_by_ref(session, rail)
        for ref, twice in _applied_twice(session, rail).items():
            booked[ref] -= twice
        items: list[Item] = []
        expected = actual = 0
        listed: set[str] = set()
        for c in sorted(listing.charges, key=lambda c: c.provider_ref):
            ref = f"{rail}:{c.provider_ref}"
            listed.add(ref)
            got = booked.get(ref, 0)
            expected += got
            actual += c.paid_minor
            if c.paid_minor != got:
                pending = c.kind == PaymentEventKind.PENDING.value
                what = (
                    f"{rail} shows {c.paid_minor} {c.paid_currency or ''} paid ({c.kind}), the ledger booked {got}"
                    + (": payment not final yet" if pending else "")
                )
                items.append(Item(ref=ref, what=what, amount=c.paid_minor - got, benign=pending))
        for ref, got in sorted(booked.items()):
            if ref not in listed and got:
                expected += got
                items.append(Item(ref=ref, what=f"booked {got} that {rail} does not list", amount=-got))
        checks.append(
            CheckResult(
                name=f"processor_{rail}", family=PROCESSOR, asset="USD", expected=expected, actual=actual, items=items
            )
        )
    checks.append(_webhook_rows(session, listings))
    return checks


def _webhook_rows(session: Session, listings: list[ProcessorListing]) -> CheckResult:
    """Stored unknown_charge / flow_closed rows: explained when the charge is ours now or holds no money."""
    conn = session.connection()
    paid = {(lst.provider, c.provider_ref): c.paid_minor for lst in listings for c in lst.charges}
    ours = {(p, r) for p, r in conn.execute(select(_PAY.c.provider, _PAY.c.provider_ref)) if r}
    items = []
    rows = conn.execute(
        select(_HOOK.c.provider, _HOOK.c.event_id, _HOOK.c.event_type, _HOOK.c.provider_ref, _HOOK.c.outcome).where(
            _HOOK.c.outcome.in_([WebhookOutcome.UNKNOWN_CHARGE.value, WebhookOutcome.FLOW_CLOSED.value])
        )
    )
    for provider, event_id, event_type, ref, outcome in rows:
        known = (provider, ref) in ours
        money = paid.get((provider, ref or ""), 0)
        if known:
            why = "its charge is ours (the flow or aftercare booked it)"
        elif not money:
            why = "its charge holds no money"
        else:
            why = f"its charge holds {money} and is not ours: see processor_{provider}"
        items.append(
            Item(
                ref=f"{provider}:{event_id}",
                what=f"{outcome} {event_type} {ref}: {why}",
                amount=1,
                benign=known or not money,
            )
        )
    return CheckResult(name="webhook_rows", family=PROCESSOR, expected=0, actual=len(items), items=items)
