"""Every committed workflow history replays against the current workflow code.

The histories under tests/histories/ were recorded from real runs of every onboarding branch and of
payment aftercare (`SGE_RECORD_HISTORIES=1 make test PYTEST_ARGS=tests/onboarding/test_outcomes.py`).
A change that alters the commands an existing history recorded — and so would break flows already
running, which wait an hour or more for payment — fails here. Such a change must be guarded with
`workflow.patched(...)` (old branch for old histories) or shipped as a new worker deployment version;
see the README's "Changing a workflow".
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from temporal import registry

HISTORIES = sorted((Path(__file__).resolve().parents[1] / "histories").glob("*.json"))


def test_there_are_histories_of_every_branch():
    names = {p.stem.rsplit("-", 1)[0] if p.stem[-1].isdigit() else p.stem for p in HISTORIES}
    expected = {
        "onboarding-coinbase",
        "onboarding-onchain",
        "onboarding-overpaid",
        "onboarding-underpaid-applied",
        "onboarding-wrong-asset",
        "onboarding-failed-with-money",
        "onboarding-failed",
        "onboarding-expired-late-applied",
        "onboarding-refunded-before-delivery",
        "onboarding-refunded-after-delivery",
        "onboarding-operator-refund",
        "onboarding-paused-contract",
        "onboarding-older-charge",
        "onboarding-undeliverable-onchain",
        "onboarding-long-halt",
        "onboarding-delivery-blocked",
    }
    assert expected <= names, sorted(expected - names)
    assert any(n.startswith("aftercare-") for n in names)
    assert {"treasury-movement", "reconciliation-clean", "reconciliation-halt", "operator-report"} <= names
    # Payout batches (tests/payouts/test_workflow.py records them).
    assert {"payout-paid", "payout-rejected", "payout-expired", "payout-cancelled", "payout-partially-paid"} <= names


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_history_replays(path: Path):
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replayer = Replayer(workflows=registry.WORKFLOWS, data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure}"
