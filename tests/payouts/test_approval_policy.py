"""The two-person approval rule (models.approval_policy), pure: no chain, no DB, no Temporal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from eth_account import Account

from contracts.abi import program_id
from contracts.payouts import PayoutLine, plan_batch, sign_batch, typed_data
from models import approval_policy as policy

CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
TOKEN = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
KEYS = [Account.create() for _ in range(5)]
CREATOR, A1, A2, A3, OUTSIDER = KEYS


def _typed(lines: int = 2, amount: int = 1_000_000) -> dict:
    plan = plan_batch(
        "payout:demo:2026-W48",
        program_id("demo"),
        TOKEN,
        [PayoutLine.of(f"line-{i}", Account.create().address, amount) for i in range(lines)],
        deadline=int((NOW + timedelta(days=1)).timestamp()),
    )
    return typed_data(plan.batch, chain_id=31337, contract=CONTRACT)


def _snapshot(required: int = 2) -> policy.Snapshot:
    return policy.Snapshot(
        eligible={a.address.lower() for a in (CREATOR, A1, A2, A3)},
        excluded={CREATOR.address},
        required=required,
        deadline=NOW + timedelta(days=1),
    )


def _sign(account, typed: dict) -> str:
    return policy.sign_typed(account.key, typed)


def test_an_eligible_approver_is_accepted_and_identified_by_recovery():
    typed = _typed()
    decision = policy.check_approval(_snapshot(), typed, _sign(A1, typed), [], NOW)
    assert decision.accepted and decision.signer == A1.address


def test_the_signature_is_the_same_as_contracts_sign_batch():
    typed = _typed()
    from contracts.payouts import PayoutBatch

    m = typed["message"]
    batch = PayoutBatch(
        bytes.fromhex(m["batchId"][2:]),
        bytes.fromhex(m["program"][2:]),
        m["token"],
        bytes.fromhex(m["linesRoot"][2:]),
        int(m["lineCount"]),
        int(m["total"]),
        int(m["deadline"]),
    )
    raw = sign_batch(A2.key, batch, chain_id=31337, contract=CONTRACT)
    assert policy.check_approval(_snapshot(), typed, raw, [], NOW).signer == A2.address


def test_the_creator_cannot_approve_their_own_batch():
    typed = _typed()
    decision = policy.check_approval(_snapshot(), typed, _sign(CREATOR, typed), [], NOW)
    assert decision.outcome == "refused" and decision.reason == policy.CREATOR


def test_the_same_approver_counts_once():
    typed = _typed()
    decision = policy.check_approval(_snapshot(), typed, _sign(A1, typed), [A1.address.lower()], NOW)
    assert decision.reason == policy.ALREADY and decision.signer == A1.address


def test_an_address_outside_the_set_is_refused():
    typed = _typed()
    assert policy.check_approval(_snapshot(), typed, _sign(OUTSIDER, typed), [], NOW).reason == policy.NOT_ELIGIBLE


def test_a_signature_over_other_lines_recovers_someone_else():
    typed, other = _typed(), _typed(lines=3)
    decision = policy.check_approval(_snapshot(), typed, _sign(A1, other), [], NOW)
    assert decision.reason == policy.NOT_ELIGIBLE and decision.signer != A1.address


def test_past_the_deadline_nothing_counts():
    typed = _typed()
    later = NOW + timedelta(days=1, seconds=1)
    assert policy.check_approval(_snapshot(), typed, _sign(A1, typed), [], later).reason == policy.EXPIRED


@pytest.mark.parametrize("signature", ["0x", "0x1234", "zz", "0x" + "00" * 65, b"\x01" * 64])
def test_garbage_is_a_bad_signature(signature):
    assert policy.check_approval(_snapshot(), _typed(), signature, [], NOW).reason == policy.BAD_SIGNATURE


def test_a_rejection_is_signed_by_an_approver_with_a_reason():
    typed = _typed()
    rejection = policy.rejection_typed_data(typed, "line 2 goes to a wrong wallet")
    assert rejection["domain"] == typed["domain"] and rejection["message"]["batchId"] == typed["message"]["batchId"]
    assert policy.check_rejection(_snapshot(), rejection, _sign(A3, rejection), NOW).accepted
    # An approval signature does not double as a rejection, and outsiders and the creator cannot reject.
    assert policy.check_rejection(_snapshot(), rejection, _sign(A3, typed), NOW).reason == policy.NOT_ELIGIBLE
    assert policy.check_rejection(_snapshot(), rejection, _sign(OUTSIDER, rejection), NOW).reason == policy.NOT_ELIGIBLE
    assert policy.check_rejection(_snapshot(), rejection, _sign(CREATOR, rejection), NOW).reason == policy.CREATOR
    empty = policy.rejection_typed_data(typed, "  ")
    assert policy.check_rejection(_snapshot(), empty, _sign(A3, empty), NOW).reason == policy.NO_REASON


def test_required_count_follows_the_contract_rule_and_never_drops_below_two():
    assert policy.required_approvals(999, base=2, high=3, high_value_total=1000) == 2
    assert policy.required_approvals(1000, base=2, high=3, high_value_total=1000) == 3
    with pytest.raises(ValueError):
        policy.Snapshot(eligible=set(), required=1, deadline=NOW)


def test_reachable_counts_only_approvers_other_than_the_creator():
    snap = _snapshot(required=3)
    assert snap.approvers == {A1.address, A2.address, A3.address} and snap.reachable()
    assert not _snapshot(required=4).reachable()
