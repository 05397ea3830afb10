"""The double-entry ledger: an append-only journal of transactions and their postings.

A ledger transaction's id is its idempotency key. Its postings carry a signed integer amount in the
asset's smallest unit (debit > 0, credit < 0) and must sum to zero per asset. That is checked here
before anything is written and again, on PostgreSQL, by a deferred constraint trigger at commit;
UPDATE and DELETE of journal rows are refused by triggers (PostgreSQL and SQLite).

Posting the same key again with the same content (kind, refs, postings) returns the original and
writes nothing; with other content it raises `LedgerConflict` (the caller's DB transaction is then
rolled back by `session_scope`, so nothing of that unit of work is written).

Personal data: journal rows are never rewritten (not even for erasure), so they never hold an end
user's wallet. A settlement or claim delivery names its user in `refs` as `subject: subject:<id>`;
any other wallet address in a key or a reference value (a gas key built from a flow id, an operator's
note) is stored as its subject ref by `post_transaction`. The `subject` table maps ids to wallets
(`models.subjects`); erasure (a later issue) deletes or blanks that mapping, and every journal row,
its content hash and `sge ledger verify` stay as they were.

Two-phase entries (`create_pending` → `post_pending` | `void_pending`) reserve value in a holding
account (`liability:payouts_in_flight:<program>`) before it moves; an entry is resolved at most once
(a conditional UPDATE on its status, so a concurrent second resolution finds nothing to do).

Chart of accounts (every movement of value has a home, so reconciliation can catch a missing leg):

| code | type | what it holds |
|---|---|---|
| `asset:processor_receivable:<rail>` | asset | money a payment rail collected for us (rail: coinbase_commerce, coinbase_business, onchain) |
| `asset:treasury` | asset | settled funds in the platform treasury |
| `asset:payout_contract` | asset | stablecoin held by the AffiliatePayout contract (never negative) |
| `asset:sge_inventory` | asset | SGE held for claims |
| `asset:relayer_eth` | asset | the relayer's ETH |
| `asset:affiliate:<id>:clawback` | asset | owed back by an affiliate for a refunded, already paid commission (never negative) |
| `liability:affiliate:<id>:accrued` | liability | commissions in their hold period (never negative) |
| `liability:affiliate:<id>:payable` | liability | commissions past the hold, not yet paid (never negative) |
| `liability:payouts_in_flight:<program>` | liability | reserved for a payout batch, not yet paid (never negative) |
| `liability:suspense:<rail>` | liability | money that arrived but cannot be matched (under/over-payment, unknown charge) |
| `revenue:fees:<program>` | revenue | registration fees |
| `expense:commissions:<program>` | expense | affiliate commissions (net of cancellations and clawbacks) |
| `expense:sge_delivered:<program>` | expense | SGE delivered to users by claims |
| `expense:sge_loss:<program>` | expense | SGE delivered for payments that were then refunded or charged back |
| `revenue:suspense_written_off` | revenue | suspense money an operator wrote off (audited) |
| `expense:gas` | expense | relayer gas |
| `equity:capital` | equity | outside funding (relayer ETH, SGE inventory, payout contract funding) |
| `equity:conversion` | equity | 1:1 conversion clearing between USD and the USD stablecoins (same 6-decimal unit) |

"Never negative" means: never past zero against the account's normal side (debit for assets,
credit for liabilities). A posting that would take such an account past zero is refused.

Modules: `chart` (accounts), `journal` (tables, `post_transaction`), `pending` (two-phase entries),
`entries` (suspense, claim delivery, gas), `reading` (balances, statements), `verification` (journal
check), `errors`. Callers use this package's names (`from models import ledger; ledger.post_transaction`).
"""

from __future__ import annotations

from models.ledger.chart import CHART, RAILS, Accounts, AccountSpec, AccountType, account_spec, rail_of
from models.ledger.entries import (
    ClaimDeliveryRequest,
    GasRequest,
    SuspenseReason,
    SuspenseRequest,
    post_claim_delivery,
    post_gas,
    post_sge_loss,
    post_suspense,
    post_suspense_out,
    post_suspense_write_off,
)
from models.ledger.errors import (
    LedgerConflict,
    LedgerError,
    LedgerNegativeBalance,
    LedgerUnbalanced,
    PendingAlreadyResolved,
    PendingNotFound,
    UnknownAccount,
)
from models.ledger.journal import (
    MAX_KEY_LEN,
    LedgerPosting,
    LedgerTx,
    Posting,
    PostResult,
    balance,
    content_hash,
    credit,
    debit,
    post_transaction,
)
from models.ledger.pending import (
    LedgerPending,
    PendingEntry,
    PendingStatus,
    create_pending,
    held_amounts,
    pending_row,
    post_pending,
    void_pending,
)
from models.ledger.reading import AccountBalance, Statement, StatementLine, balances, get_transaction, statement
from models.ledger.verification import VerifyProblem, VerifyReport, verify

# --- activity names (workflows call these by name) ---------------------------------------------
REVERSE_PAYMENT = "ledger.reverse_payment"
POST_SUSPENSE = "ledger.post_suspense"
RELEASE_DUE = "ledger.release_due_commissions"

__all__ = [
    "CHART",
    "MAX_KEY_LEN",
    "POST_SUSPENSE",
    "RAILS",
    "RELEASE_DUE",
    "REVERSE_PAYMENT",
    "AccountBalance",
    "AccountSpec",
    "AccountType",
    "Accounts",
    "ClaimDeliveryRequest",
    "GasRequest",
    "LedgerConflict",
    "LedgerError",
    "LedgerNegativeBalance",
    "LedgerPending",
    "LedgerPosting",
    "LedgerTx",
    "LedgerUnbalanced",
    "PendingAlreadyResolved",
    "PendingEntry",
    "PendingNotFound",
    "PendingStatus",
    "PostResult",
    "Posting",
    "Statement",
    "StatementLine",
    "SuspenseReason",
    "SuspenseRequest",
    "UnknownAccount",
    "VerifyProblem",
    "VerifyReport",
    "account_spec",
    "balance",
    "balances",
    "content_hash",
    "create_pending",
    "credit",
    "debit",
    "get_transaction",
    "held_amounts",
    "pending_row",
    "post_claim_delivery",
    "post_gas",
    "post_pending",
    "post_sge_loss",
    "post_suspense",
    "post_suspense_out",
    "post_suspense_write_off",
    "post_transaction",
    "rail_of",
    "statement",
    "verify",
    "void_pending",
]
