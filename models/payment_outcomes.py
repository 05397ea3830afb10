"""What a provider's view of a payment means for the books and for its flow: one pure decision.

The onboarding flow (while it runs) and payment aftercare (once it has ended) both call `decide`
with the provider's *confirmed* view of a charge (`get_charge`, never the webhook body alone), what
the books already hold for that payment (`Held`, kept on the payment row), and where the flow stands
(`FlowView`). The answer is the ledger entries to post and what the flow does next.

Money is booked by difference: the provider reports the *total* received for a charge, the books
hold what was booked so far, and only the difference is booked now. Repeated, reordered, late or
stale events therefore book nothing twice, and every received cent lands exactly once, in one of:

| money | books | flow |
|---|---|---|
| none yet (created, pending, failed, expired) | nothing | pending extends the deadline; failed / expired end it |
| the fee, flow accepting payment | settle (revenue + commissions) | settled → deliver |
| more than the fee, flow accepting | settle + the excess to suspense (overpayment) | settled → deliver |
| less than the fee, flow accepting | suspense (underpayment) | underpaid |
| in an asset the charge does not accept | suspense (wrong_asset) | wrong asset |
| any amount once the flow is settled by another payment | suspense (duplicate_payment) | unchanged |
| more on the payment that settled the flow | suspense (overpayment) | unchanged |
| any amount after the flow ended unpaid | suspense (late_payment) | unchanged (an operator applies or refunds it) |
| refunded / charged back | reverse the settlement (+ SGE loss after delivery); release suspense | refunded |
| received and refunded before anything booked it | into suspense (refunded), released at once | refunded |
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel

from models.ledger import SuspenseReason
from models.payments import PaymentEventKind

USD_UNITS = frozenset({"USD", "USDC", "USDT"})  # 6 decimals each, 1:1 (see models.money)


class Booking(StrEnum):
    SETTLE = "settle"  # the fee: Dr receivable / Cr revenue, plus commissions
    SUSPENSE = "suspense"  # Dr receivable / Cr suspense (with a reason)
    APPLY_SUSPENSE = "apply_suspense"  # Dr suspense / Cr receivable: held money now settles the fee
    RELEASE_SUSPENSE = "release_suspense"  # Dr suspense / Cr receivable: held money went back to the payer
    REVERSE = "reverse"  # a settled payment refunded: revenue reversed, commissions cancelled / clawed back
    SGE_LOSS = "sge_loss"  # ...after delivery: the delivered SGE is booked as a loss


class FlowOutcome(StrEnum):
    NONE = "none"  # nothing changes for the flow
    PENDING = "pending"  # payment seen, not final: wait longer
    SETTLED = "settled"
    UNDERPAID = "underpaid"
    WRONG_ASSET = "wrong_asset"
    FAILED = "failed"
    EXPIRED = "expired"
    REFUNDED = "refunded"


class ProviderView(BaseModel):
    """A charge as the provider confirms it (or as an operator records a refund made outside)."""

    kind: PaymentEventKind | None
    paid_minor: int = 0  # total received for the charge so far, in `paid_currency`
    paid_currency: str | None = None
    refunded: bool = False


class Held(BaseModel):
    """What the books hold for one payment (cumulative; kept on its payment row)."""

    received_minor: int = 0  # booked as received: the settled fee plus everything sent to suspense
    suspense_minor: int = 0  # of which still in suspense
    settled: bool = False
    reversed: bool = False


class FlowView(BaseModel):
    accepting: bool  # the flow runs and is not paid yet: this payment may settle it
    delivered: bool = False  # the claim of the settled payment was delivered
    settled_elsewhere: bool = False  # another payment of this flow settled it


class Entry(BaseModel):
    booking: Booking
    amount_minor: int
    asset: str
    reason: SuspenseReason | None = None


class Decision(BaseModel):
    entries: list[Entry]
    outcome: FlowOutcome
    message: str = ""

    @property
    def received_minor(self) -> int:
        """Money this decision books as newly received (what `Held.received_minor` grows by): held
        money applied to the fee is re-booked by the settlement, so it is counted once."""
        booked = sum(e.amount_minor for e in self.entries if e.booking in (Booking.SETTLE, Booking.SUSPENSE))
        return booked - sum(e.amount_minor for e in self.entries if e.booking == Booking.APPLY_SUSPENSE)


def accepted(charge_currency: str, paid_currency: str | None) -> bool:
    """The asset a charge may be paid in: its own, or any 1:1 USD unit when it is priced in one."""
    if not paid_currency:
        return False
    paid, priced = paid_currency.upper(), charge_currency.upper()
    return paid == priced or (paid in USD_UNITS and priced in USD_UNITS)


def decide(view: ProviderView, fee_minor: int, charge_currency: str, held: Held, flow: FlowView) -> Decision:
    if view.refunded:
        return _refund(view, charge_currency, held, flow)
    asset = (view.paid_currency or charge_currency).upper()
    new = max(0, view.paid_minor) - held.received_minor
    if new <= 0:
        return _no_new_money(view, held, flow)
    if not accepted(charge_currency, view.paid_currency):
        outcome = FlowOutcome.WRONG_ASSET if flow.accepting and not held.settled else FlowOutcome.NONE
        return Decision(
            entries=[_suspense(new, asset, SuspenseReason.WRONG_ASSET)],
            outcome=outcome,
            message=f"paid {new} {asset}, which this charge does not accept",
        )
    if held.settled:
        return Decision(
            entries=[_suspense(new, asset, SuspenseReason.OVERPAYMENT)],
            outcome=FlowOutcome.NONE,
            message=f"{new} {asset} more than the fee arrived on the settled payment",
        )
    if not flow.accepting:
        reason = SuspenseReason.DUPLICATE_PAYMENT if flow.settled_elsewhere else SuspenseReason.LATE_PAYMENT
        return Decision(
            entries=[_suspense(new, asset, reason)],
            outcome=FlowOutcome.NONE,
            message=f"{new} {asset} arrived after the flow {'was paid' if flow.settled_elsewhere else 'ended'}",
        )
    total = held.received_minor + new
    if total < fee_minor:
        return Decision(
            entries=[_suspense(new, asset, SuspenseReason.UNDERPAYMENT)],
            outcome=FlowOutcome.UNDERPAID,
            message=f"paid {total} {asset} of {fee_minor}",
        )
    entries: list[Entry] = []
    if held.suspense_minor:
        entries.append(Entry(booking=Booking.APPLY_SUSPENSE, amount_minor=held.suspense_minor, asset=asset))
    entries.append(Entry(booking=Booking.SETTLE, amount_minor=fee_minor, asset=asset))
    if total > fee_minor:
        entries.append(_suspense(total - fee_minor, asset, SuspenseReason.OVERPAYMENT))
    return Decision(
        entries=entries,
        outcome=FlowOutcome.SETTLED,
        message="" if total == fee_minor else f"overpaid by {total - fee_minor} {asset}",
    )


def _no_new_money(view: ProviderView, held: Held, flow: FlowView) -> Decision:
    if not flow.accepting or held.received_minor:
        return Decision(entries=[], outcome=FlowOutcome.NONE)
    outcome = {
        PaymentEventKind.PENDING: FlowOutcome.PENDING,
        PaymentEventKind.FAILED: FlowOutcome.FAILED,
        PaymentEventKind.EXPIRED: FlowOutcome.EXPIRED,
    }.get(view.kind or PaymentEventKind.OTHER, FlowOutcome.NONE)
    return Decision(entries=[], outcome=outcome)


def _refund(view: ProviderView, charge_currency: str, held: Held, flow: FlowView) -> Decision:
    entries: list[Entry] = []
    new = max(0, view.paid_minor) - held.received_minor
    if new > 0:  # it arrived and went back before any event booked it: the receipt is kept, then released
        entries.append(_suspense(new, (view.paid_currency or charge_currency).upper(), SuspenseReason.REFUNDED))
    if held.settled and not held.reversed:
        entries.append(Entry(booking=Booking.REVERSE, amount_minor=0, asset=""))  # amounts come from the settlement
        if flow.delivered:
            entries.append(Entry(booking=Booking.SGE_LOSS, amount_minor=0, asset="SGE"))
    if held.suspense_minor + max(new, 0):
        entries.append(
            Entry(booking=Booking.RELEASE_SUSPENSE, amount_minor=held.suspense_minor + max(new, 0), asset="")
        )
    touched = (held.settled and not held.reversed) or flow.accepting
    return Decision(
        entries=entries,
        outcome=FlowOutcome.REFUNDED if touched else FlowOutcome.NONE,
        message="refunded after delivery" if flow.delivered and held.settled else "refunded",
    )


def _suspense(amount: int, asset: str, reason: SuspenseReason) -> Entry:
    return Entry(booking=Booking.SUSPENSE, amount_minor=amount, asset=asset, reason=reason)
