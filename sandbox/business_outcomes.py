"""What happens to a Coinbase Business payment link in the sandbox, and the events Business sends for it.

Each method changes the link (status, what it received) and queues the action's events: the link
object as it was at that moment plus `eventType` (Business "webhooks" page). The table of actions is
in `sandbox/checkout.py`.

Shapes: `settlement {totalAmount, feeAmount, netAmount, currency}` is the cumulative amount received
(Business "payment links" reference; `currency` is the sandbox's addition so another asset can be
told apart). Documented statuses: ACTIVE, DEACTIVATED, EXPIRED, COMPLETED, FAILED; documented events:
payment_link.payment.success|failed|expired. Sandbox extensions, said where they are used: a transfer
in another asset, more than one transfer, a payment after expiry, and REFUNDED /
payment_link.payment.refunded.

Layering: `core/` only.
"""

from __future__ import annotations

import secrets

from sandbox.store import SandboxCharge, Transfer, accepts, now
from sandbox.webhooks import WebhookSender

SUCCESS = "payment_link.payment.success"
FAILED = "payment_link.payment.failed"
EXPIRED = "payment_link.payment.expired"
REFUNDED = "payment_link.payment.refunded"  # sandbox extension: Coinbase documents no refund webhook


class BusinessOutcomes:
    def __init__(self, webhooks: WebhookSender):
        self.webhooks = webhooks

    def pay(self, charge: SandboxCharge, transfers: list[Transfer], *, late: bool) -> None:
        """One event per transfer, each with the cumulative settlement: success (COMPLETED) for the
        link's asset (or a 1:1 USD unit) whatever the amount; failed (FAILED, settlement in the asset
        sent) for another asset. `late` (the link had expired or failed) changes nothing in the shape:
        the money arrived, so the link reports it."""
        charge.check_receivable(transfers)
        batch: list[tuple[str, dict]] = []
        for transfer in transfers:
            charge.receive(transfer)
            charge.tx_hash = "0x" + secrets.token_hex(32)
            taken = accepts(charge.currency, transfer.currency)
            self._set(charge, "COMPLETED" if taken else "FAILED")
            batch.append((SUCCESS if taken else FAILED, charge.business_json()))
        self.webhooks.emit_snapshots(charge, batch)

    def finish(self, charge: SandboxCharge, status: str) -> None:
        """FAILED or EXPIRED, each with its own event."""
        self._set(charge, status)
        self.webhooks.emit(charge, [FAILED if status == "FAILED" else EXPIRED])

    def refund(self, charge: SandboxCharge) -> None:
        """The merchant refunds the link's payment (sandbox extension: status REFUNDED and its event).
        The settlement keeps what was received: the status says it went back."""
        self._set(charge, "REFUNDED")
        self.webhooks.emit(charge, [REFUNDED])

    @staticmethod
    def _set(charge: SandboxCharge, status: str) -> None:
        charge.status = status
        charge.updated_at = now()
