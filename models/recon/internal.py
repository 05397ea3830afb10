"""The books against themselves: `sge ledger verify` (journal + the tables that post to it), split by
check so each has its own line in the report, and the reverse of the settlement check: every
`payment.settle` journal entry still has its settlement row (a deleted row shows here)."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select
from sqlmodel import Session

from core.db import table_of
from models.books import verify_books
from models.commissions import PaymentSettlement
from models.ledger import LedgerTx
from models.recon.checks import CheckResult, Item

INTERNAL = "internal"
# verify_books check name -> report check name; everything else is the journal's own
_GROUPS = {
    "settlement": "settlements",
    "commissions": "commissions_vs_liabilities",
    "reservations": "reservations",
    "suspense": "suspense_vs_items",
}
_S = table_of(PaymentSettlement)
_TX = table_of(LedgerTx)


def internal_checks(session: Session) -> list[CheckResult]:
    report = verify_books(session, max_problems=1000)
    grouped: dict[str, list[Item]] = defaultdict(list)
    for p in report.problems:
        grouped[_GROUPS.get(p.check, "ledger_journal")].append(
            Item(ref=p.tx_id or p.check, what=f"{p.check}: {p.detail}", amount=1)
        )
    grouped["settlements"] += _settle_entries_without_rows(session)
    names = ["ledger_journal", *_GROUPS.values()]
    return [
        CheckResult(name=name, family=INTERNAL, expected=0, actual=len(grouped[name]), items=grouped[name])
        for name in names
    ]


def _settle_entries_without_rows(session: Session) -> list[Item]:
    conn = session.connection()
    rows = {tx for (tx,) in conn.execute(select(_S.c.settle_tx_id)) if tx}
    items = []
    for key, refs in conn.execute(select(_TX.c.id, _TX.c.refs).where(_TX.c.kind == "payment.settle")):
        if key not in rows:
            ref = (refs or {}).get("payment_ref", "?")
            items.append(
                Item(ref=key, what=f"journal entry settles payment {ref} but no settlement row names it", amount=1)
            )
    return items
