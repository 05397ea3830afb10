"""Reconciliation: the books compared with the chain, the payment processor and themselves.

Modules: `tables` (report, checks, cursors), `checks` (the check result type and how a difference is
explained), `chain_balances` (contract and relayer balances vs their accounts), `events` (chain events
since the last run vs what should have caused them), `internal` (ledger verify, commissions vs
liabilities), `report` (one run: persist, halt on an unexplained difference, read back).
"""

from models.recon.tables import ReconciliationCheck, ReconciliationCursor, ReconciliationReport

RUN_RECONCILIATION = "recon.run"  # activity names
HALT_FOR_REPORT = "recon.halt_for_report"

__all__ = [
    "HALT_FOR_REPORT",
    "RUN_RECONCILIATION",
    "ReconciliationCheck",
    "ReconciliationCursor",
    "ReconciliationReport",
]
