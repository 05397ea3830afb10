"""Settling confirmed payments: revenue, commissions up the referral tree, holds, refunds, payouts.

Every change of a commission's state posts to the ledger in the same DB transaction as the row
change, and every value-moving step is idempotent under a unique key:

| step | idempotency | ledger (Dr / Cr) |
|---|---|---|
| `settle_payment` | `payment_settlement.payment_ref` (PK); one commission per (payment_ref, level) (unique) | processor_receivable:<rail> / fees:<program>, and per commission commissions:<program> / affiliate:<id>:accrued — one ledger transaction `settle:<payment_ref>` |
| `release_due` (ACCRUED → PAYABLE after the hold) | conditional status update; ledger key `commission:<id>:release` | affiliate:<id>:accrued / affiliate:<id>:payable |
| `reverse_payment` (refund / reversal) | settlement status; ledger key `reverse:<payment_ref>` | ACCRUED: accrued / commissions; PAYABLE: payable / commissions; RESERVED or PAID (clawback): affiliate:<id>:clawback / commissions; revenue: fees / processor_receivable |
| `reserve_payout` (PAYABLE → RESERVED, two-phase) | ledger pending key | affiliate:<id>:payable / payouts_in_flight:<program> |
| `complete_payout` (RESERVED → PAID) | pending resolved once | payouts_in_flight / payout_contract (USDC; other USD assets via equity:conversion) |
| `void_payout` (RESERVED → PAYABLE) | pending resolved once | the reverse of the reservation |

Commission rounding rule (exact, integers only): for a payment of `amount` minor units and a level
rate of `bps` basis points, the level's commission is `floor(amount * bps / 10_000)`. Rounding is
always down, per level, independently; whatever the floors leave over (less than one minor unit per
level), together with the share of any level that has no eligible affiliate (no ancestor that far
up, a suspended affiliate, the payer itself, or a zero commission), stays in fee revenue: revenue is credited the full
amount and commission expense exactly the sum of the floored commissions, so
`platform_net = amount - sum(commissions)` and nothing is lost or created. Levels do not compress:
a suspended or missing affiliate's share is not passed further up the tree.

Modules: `records` (tables, errors, shared helpers), `settlement` (settle, the rounding rule),
`reversal` (refunds, clawbacks), `payouts` (release after the hold, payout reservations), `reads`.
"""

from __future__ import annotations

from models import ledger  # noqa: F401 - kept reachable as `commissions.ledger` (tests patch its post_transaction)
from models.commissions.payouts import (
    ReleaseResult,
    ReleaseSummary,
    complete_payout,
    release_due,
    reserve_payout,
    void_payout,
)
from models.commissions.reads import (
    AffiliateStats,
    CommissionPage,
    affiliate_stats,
    commission_statement,
    payment_commissions,
)
from models.commissions.records import (
    MAX_PAYMENT_REF,
    SETTLEMENT_ASSETS,
    Commission,
    CommissionLine,
    CommissionStatus,
    PaymentSettlement,
    SettlementConflict,
    SettlementError,
)
from models.commissions.reversal import ReversalResult, ReverseRequest, reverse_payment
from models.commissions.settlement import SettlementResult, SkippedLevel, commission_amount, settle_payment

__all__ = [
    "MAX_PAYMENT_REF",
    "SETTLEMENT_ASSETS",
    "AffiliateStats",
    "Commission",
    "CommissionLine",
    "CommissionPage",
    "CommissionStatus",
    "PaymentSettlement",
    "ReleaseResult",
    "ReleaseSummary",
    "ReversalResult",
    "ReverseRequest",
    "SettlementConflict",
    "SettlementError",
    "SettlementResult",
    "SkippedLevel",
    "affiliate_stats",
    "commission_amount",
    "commission_statement",
    "complete_payout",
    "payment_commissions",
    "release_due",
    "reserve_payout",
    "reverse_payment",
    "settle_payment",
    "void_payout",
]
