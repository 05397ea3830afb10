"""Operator-visible flow state: the custom search attributes every workflow keeps current.

Workflows upsert these; the Temporal Web UI and `sge flows list` query them, e.g.
`SgeFlowState = "claiming" AND SgeStateSince < "2026-01-01T00:00:00Z"`.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

FLOW_STATE = SearchAttributeKey.for_keyword("SgeFlowState")
WALLET = SearchAttributeKey.for_keyword("SgeWallet")
PROGRAM = SearchAttributeKey.for_keyword("SgeProgram")
STATE_SINCE = SearchAttributeKey.for_datetime("SgeStateSince")
# Payout batches: approvals so far and the batch total (stablecoin units), next to state and program.
PAYOUT_APPROVALS = SearchAttributeKey.for_int("SgePayoutApprovals")
PAYOUT_TOTAL = SearchAttributeKey.for_int("SgePayoutTotal")

SEARCH_ATTRIBUTES: tuple[SearchAttributeKey, ...] = (
    FLOW_STATE,
    WALLET,
    PROGRAM,
    STATE_SINCE,
    PAYOUT_APPROVALS,
    PAYOUT_TOTAL,
)
