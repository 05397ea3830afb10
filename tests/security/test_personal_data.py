"""Issue 10: personal data never in immutable rows.

The journal and the audit log name an end user only as `subject:<id>`; erasing the subject's wallet
(what GDPR erasure will do) leaves every journal and audit row, their hashes and the verifiers intact.
"""

from __future__ import annotations

import json

import pytest
from eth_account import Account
from sqlalchemy import text
from sqlmodel import Session

from core.columns import utcnow
from core.db import session_scope
from models import affiliates as aff
from models import commissions as com
from models import ledger
from models.audit import audit_entries, verify_audit_chain
from models.books import verify_books
from models.ledger import Accounts
from models.onboarding import flow_id
from models.operators import Actor, audit
from models.subjects import Subject, SubjectError, find_subject_ref, pseudonymize_text, subject_ref, wallet_of
from tests.helpers.ledger import TREASURY, make_program, register

FEE = 100_000_000


def _immutable_text(engine) -> str:
    """Everything the append-only tables hold, as one lower-cased string."""
    with engine.connect() as conn:
        rows = [
            json.dumps([str(v) for v in row])
            for table in ("ledger_tx", "ledger_posting", "audit_log")
            for row in conn.execute(text(f"SELECT * FROM {table}"))
        ]
    return "\n".join(rows).lower()


@pytest.fixture
def payer(db_engine) -> str:
    make_program(db_engine)
    root = register(db_engine)
    wallet = Account.create().address
    with session_scope(db_engine) as s:
        aff.attribute(s, "demo", wallet, root.code, "test")
    return wallet


def test_subject_refs_are_stable_per_wallet_and_only_for_wallets(db_engine):
    wallet = Account.create().address
    with session_scope(db_engine) as s:
        assert find_subject_ref(s, wallet) is None
        ref = subject_ref(s, wallet)
        assert ref == subject_ref(s, wallet.lower()) == find_subject_ref(s, wallet.upper().replace("0X", "0x"))
        assert wallet_of(s, ref) == wallet.lower()
        tx_hash = "0x" + "ab" * 32  # a transaction hash is not a wallet
        assert pseudonymize_text(s, f"{wallet}/{tx_hash}") == f"{ref}/{tx_hash}"
        with pytest.raises(SubjectError):
            subject_ref(s, "0xabc")


def test_the_journal_and_the_audit_log_hold_subjects_not_wallets(db_engine, payer):
    fid = flow_id("demo", payer)
    with session_scope(db_engine) as s:
        settled = com.settle_payment(s, "coinbase_commerce:CH-1", "demo", payer, FEE, "USD")
        ledger.post_claim_delivery(
            s,
            ledger.ClaimDeliveryRequest(
                key="delivery:coinbase_commerce:CH-1",
                program="demo",
                wallet=payer,
                amount_minor=10**21,
                payment_ref="coinbase_commerce:CH-1",
                chain_tx="0x" + "cd" * 32,
            ),
        )
        # A relayer key is built from the flow id: the gas entry's key must not carry the wallet.
        gas = ledger.post_gas(
            s, ledger.GasRequest(key=f"gas:{fid}:mint", fee_wei=21_000, chain_tx="0x" + "ef" * 32, purpose="mint")
        )
        audit(
            s,
            Actor(name="alice", operator_id=1),
            "flow.retry",
            "flow",
            fid,
            {"state": "failed", "wallet": payer},
            {"reason": f"customer {payer} asked", "result": "run-1"},
        )
        audit(s, Actor(name="alice"), "program.update", "program", "demo", {"treasury_address": TREASURY}, None)
        subject = find_subject_ref(s, payer)
    assert subject is not None and settled.wallet == payer  # the settlement row (mutable) keeps the wallet
    with Session(db_engine) as s:
        settle_tx, _ = ledger.get_transaction(s, settled.ledger_tx_id) or (None, None)
        delivery, _ = ledger.get_transaction(s, "delivery:coinbase_commerce:CH-1") or (None, None)
        gas_tx, _ = ledger.get_transaction(s, f"gas:{fid}:mint") or (None, None)  # found by its subject form
        flow_audit = audit_entries(s, target_type="flow", target_id=fid)  # asked for with the wallet
    assert settle_tx is not None and settle_tx.refs["subject"] == subject and "wallet" not in settle_tx.refs
    assert delivery is not None and delivery.refs["subject"] == subject and "wallet" not in delivery.refs
    assert gas_tx is not None and gas.tx_id == gas_tx.id == f"gas:onboarding:demo:{subject}:mint"
    assert [e.target_id for e in flow_audit] == [f"onboarding:demo:{subject}"]
    assert flow_audit[0].before == {"state": "failed", "wallet": subject}
    assert flow_audit[0].after == {"reason": f"customer {subject} asked", "result": "run-1"}
    dump = _immutable_text(db_engine)
    assert payer.lower() not in dump and payer.lower()[2:] not in dump
    assert TREASURY.lower() in dump  # the platform's own address is not personal data

    # Erasure: the mapping is blanked; nothing immutable changes and everything still verifies.
    with session_scope(db_engine) as s:
        row = s.get(Subject, int(subject.split(":")[1]))
        assert row is not None
        row.wallet_lower, row.erased_at = None, utcnow()
        s.add(row)
    with Session(db_engine) as s:
        assert wallet_of(s, subject) is None
        assert verify_books(s).ok and ledger.verify(s).ok and verify_audit_chain(s).ok
    assert _immutable_text(db_engine) == dump


def test_free_text_in_journal_refs_is_pseudonymized_too(db_engine):
    wallet = Account.create().address
    with session_scope(db_engine) as s:
        ledger.post_suspense(s, "susp:1", "coinbase_commerce:CH-9", 5, "USD", "unknown_charge")
        ledger.post_suspense_write_off(s, "susp:1:w", "coinbase_commerce:CH-9", 5, "USD", f"payer {wallet} gone")
        ref = find_subject_ref(s, wallet)
    with Session(db_engine) as s:
        tx, _ = ledger.get_transaction(s, "susp:1:w") or (None, None)
    assert tx is not None and tx.refs["note"] == f"payer {ref} gone"
    assert wallet.lower() not in _immutable_text(db_engine)


def _legacy_insert(engine, key: str, kind: str, refs: dict, legs: list[tuple[str, str, int]]) -> None:
    """A transaction as written before revision 0007 (wallets in the key and refs)."""
    digest = ledger.content_hash(kind, refs, legs)
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(
            ledger.journal._TX.insert().values(id=key, kind=kind, refs=refs, content_hash=digest, created_at=now)
        )
        conn.execute(
            ledger.journal._POSTING.insert(),
            [{"tx_id": key, "account": a, "asset": s, "amount": n, "created_at": now} for a, s, n in legs],
        )


def test_entries_written_with_wallets_before_0007_replay_instead_of_posting_twice(db_engine):
    """An activity retried across the upgrade finds what it posted before, under the old form."""
    wallet = Account.create().address
    fid = flow_id("demo", wallet)
    _legacy_insert(
        db_engine,
        f"gas:{fid}:mint",
        "gas",
        {"chain_tx": "0x01", "purpose": "mint"},
        [(Accounts.gas, "ETH", 21_000), (Accounts.relayer_eth, "ETH", -21_000)],
    )
    _legacy_insert(
        db_engine,
        "delivery:onchain:0x02:0",
        "claim.delivery",
        {"program": "demo", "wallet": wallet, "payment_ref": "onchain:0x02:0"},
        [(Accounts.sge_delivered("demo"), "SGE", 10**21), (Accounts.sge_inventory, "SGE", -(10**21))],
    )
    with session_scope(db_engine) as s:
        gas = ledger.post_gas(
            s, ledger.GasRequest(key=f"gas:{fid}:mint", fee_wei=21_000, chain_tx="0x01", purpose="mint")
        )
        delivery = ledger.post_claim_delivery(
            s,
            ledger.ClaimDeliveryRequest(
                key="delivery:onchain:0x02:0",
                program="demo",
                wallet=wallet,
                amount_minor=10**21,
                payment_ref="onchain:0x02:0",
            ),
        )
    assert (gas.created, gas.tx_id, delivery.created) == (False, f"gas:{fid}:mint", False)
    with Session(db_engine) as s:
        assert ledger.balance(s, Accounts.gas, "ETH") == 21_000  # once, not twice
        assert ledger.verify(s).ok
    with pytest.raises(ledger.LedgerConflict):  # other content under the same key is still a conflict
        with session_scope(db_engine) as s:
            ledger.post_claim_delivery(
                s,
                ledger.ClaimDeliveryRequest(
                    key="delivery:onchain:0x02:0",
                    program="demo",
                    wallet=Account.create().address,
                    amount_minor=10**21,
                    payment_ref="onchain:0x02:0",
                ),
            )
