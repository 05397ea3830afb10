"""What happens to a Coinbase Commerce charge in the sandbox, and the events Commerce sends for it.

Each method changes the charge (timeline, `payments[]`) and queues the action's events, each carrying
the charge as it was when that event happened. The table of actions is in `sandbox/checkout.py`.

Shapes (Commerce "payment status", "FAQ", "webhooks fields" pages):
- A transfer is a `payments[]` entry `{payment_id, network, transaction_id, status, detected_at,
  value: {local: {amount, currency}, crypto: {amount, currency}}}`: `local` in the charge's pricing
  currency, `crypto` in the asset sent (USDC when the payer sent "the charge's currency").
- A transfer in an asset the charge does not take (e.g. ETH on a USD charge): Coinbase documents no
  shape for it. The sandbox attaches it with `value.crypto` only (no `local`: Coinbase did not price
  it in the charge's currency) and marks the charge UNRESOLVED with context OTHER ("unknown payment
  issue", the documented catch-all).
- UNRESOLVED contexts: UNDERPAID, OVERPAID, DELAYED (paid after expiry), MULTIPLE (more than one
  payment), OTHER. RESOLVED: the merchant marked it resolved. REFUNDED: a refund was made.

Layering: `core/` only.
"""

from __future__ import annotations

import secrets

from sandbox.store import SandboxCharge, Transfer, accepts, iso, money_text, now
from sandbox.webhooks import WebhookSender


class CommerceOutcomes:
    def __init__(self, webhooks: WebhookSender):
        self.webhooks = webhooks

    def pay(self, charge: SandboxCharge, transfers: list[Transfer], *, late: bool, legacy: bool = False) -> None:
        """On time: charge:pending per transfer, then the verdict (confirmed, or failed when unresolved).
        Late (the charge had expired or failed): one charge:failed, UNRESOLVED DELAYED (`legacy`: the old
        charge:delayed type instead)."""
        charge.check_receivable(transfers)
        at = iso(now())
        batch: list[tuple[str, dict]] = []
        entries = []
        for transfer in transfers:
            entry = self._payment(charge, transfer, at)
            charge.payments.append(entry)
            entries.append(entry)
            if not late:
                if charge.status != "PENDING":
                    self._mark(charge, "PENDING", at)
                batch.append(("charge:pending", charge.commerce_json()))
        for entry in entries:
            entry["status"] = "confirmed"  # the transfers are final on chain: the verdict follows
        context = self._unresolved_context(charge, transfers, late)
        if context is None or context == "OVERPAID":
            # Coinbase completes an overpaid charge (charge:confirmed), then flags it UNRESOLVED OVERPAID.
            self._mark(charge, "COMPLETED", at)
            if context:
                self._mark(charge, "UNRESOLVED", at, context)
            event_type = "charge:confirmed"
        else:
            self._mark(charge, "UNRESOLVED", at, context)
            event_type = "charge:delayed" if late and legacy else "charge:failed"
        batch.append((event_type, charge.commerce_json()))
        self.webhooks.emit_snapshots(charge, batch)

    def finish(self, charge: SandboxCharge, status: str) -> None:
        """FAILED or EXPIRED: Commerce reports both as charge:failed (the timeline says which)."""
        self._mark(charge, status, iso(now()))
        self.webhooks.emit(charge, ["charge:failed"])

    def resolve(self, charge: SandboxCharge) -> None:
        """The merchant resolves an unresolved charge in the dashboard; the money stays as it is."""
        self._mark(charge, "RESOLVED", iso(now()))
        self.webhooks.emit(charge, ["charge:resolved"])

    def refund(self, charge: SandboxCharge) -> None:
        """The merchant refunds the charge in the dashboard. Commerce documents no refund webhook;
        `charge:refunded` is a sandbox extension so the platform's provider-confirmed path is exercised.
        `payments[]` keeps what was received: the REFUNDED status says it went back."""
        self._mark(charge, "REFUNDED", iso(now()))
        self.webhooks.emit(charge, ["charge:refunded"])

    # --- shapes ----------------------------------------------------------------------------------------
    @staticmethod
    def _mark(charge: SandboxCharge, status: str, at: str, context: str | None = None) -> None:
        entry = {"status": status, "time": at}
        if context:
            entry["context"] = context
        charge.timeline.append(entry)
        charge.status = status

    @staticmethod
    def _payment(charge: SandboxCharge, transfer: Transfer, at: str) -> dict:
        charge.receive(transfer)
        tx = "0x" + secrets.token_hex(32)
        charge.tx_hash = tx
        amount = money_text(transfer.amount, transfer.currency)
        if accepts(charge.currency, transfer.currency):
            crypto = transfer.currency if transfer.currency != charge.currency else "USDC"
            value = {
                "local": {"amount": money_text(transfer.amount, charge.currency), "currency": charge.currency},
                "crypto": {"amount": amount, "currency": crypto},
            }
        else:
            value = {"crypto": {"amount": amount, "currency": transfer.currency}}
        return {
            "payment_id": tx,
            "network": charge.network,
            "transaction_id": tx,
            "status": "pending",
            "detected_at": at,
            "value": value,
        }

    @staticmethod
    def _unresolved_context(charge: SandboxCharge, transfers: list[Transfer], late: bool) -> str | None:
        if late:
            return "DELAYED"
        if len(transfers) > 1:
            return "MULTIPLE"
        if not accepts(charge.currency, transfers[0].currency):
            return "OTHER"
        if charge.received < charge.amount:
            return "UNDERPAID"
        if charge.received > charge.amount:
            return "OVERPAID"
        return None
