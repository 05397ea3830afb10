"""The books as a whole: the journal's own checks (models.ledger.verify) plus every table that posts
to it agreeing with what it posted. `sge ledger verify`, the API and reconciliation use this.

| check | what must hold |
|---|---|
| `settlement` | a settled payment has its settle transaction; a reversed one its reversal |
| `commissions` | per affiliate and asset: accrued balance = Σ ACCRUED commissions, payable = Σ PAYABLE |
| `reservations` | per payouts-in-flight account: balance = what the open (pending) reservations hold |
| `suspense` | per rail and asset: suspense balance = Σ open suspense items |
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select
from sqlmodel import Session

from core.db import table_of
from models import ledger
from models.commissions import Commission, CommissionStatus, PaymentSettlement
from models.ledger import Accounts, LedgerPending, LedgerPosting, LedgerTx, PendingStatus, VerifyProblem, VerifyReport
from models.suspense import SuspenseItem, SuspenseStatus

_C = table_of(Commission)
_S = table_of(PaymentSettlement)
_TX = table_of(LedgerTx)
_P = table_of(LedgerPosting)
_PENDING = table_of(LedgerPending)
_ITEM = table_of(SuspenseItem)


def verify_books(session: Session, *, max_problems: int = 100) -> VerifyReport:
    report = ledger.verify(session, max_problems=max_problems)
    balances = report.balances
    conn = session.connection()
    problems: list[VerifyProblem] = []

    def problem(check: str, detail: str, tx_id: str | None = None) -> None:
        if len(report.problems) + len(problems) < max_problems:
            problems.append(VerifyProblem(check=check, detail=detail, tx_id=tx_id))

    def normal(account: str, asset: str) -> int:
        total = balances.get((account, asset), 0)
        return -total if account.startswith(("liability:", "revenue:", "equity:")) else total

    known = {row[0] for row in conn.execute(select(_TX.c.id))}
    for ref, status, settle_tx, reverse_tx in conn.execute(
        select(_S.c.payment_ref, _S.c.status, _S.c.settle_tx_id, _S.c.reverse_tx_id)
    ):
        if settle_tx not in known:
            problem("settlement", f"payment {ref} is settled without its settle transaction", settle_tx)
        if status == "reversed" and reverse_tx not in known:
            problem("settlement", f"payment {ref} is reversed without its reversal transaction", reverse_tx)

    held: dict[tuple[str, str], int] = defaultdict(int)
    for affiliate_id, asset, status, amount in conn.execute(
        select(_C.c.affiliate_id, _C.c.asset, _C.c.status, _C.c.amount).where(
            _C.c.status.in_([CommissionStatus.ACCRUED.value, CommissionStatus.PAYABLE.value])
        )
    ):
        account = (
            Accounts.affiliate_accrued if status == CommissionStatus.ACCRUED.value else Accounts.affiliate_payable
        )(affiliate_id)
        held[(account, asset)] += int(amount)
    liability = {k for k in balances if k[0].startswith("liability:affiliate:")}
    for account, asset in sorted(set(held) | liability):
        if normal(account, asset) != held.get((account, asset), 0):
            problem(
                "commissions",
                f"{account} holds {normal(account, asset)} {asset}, its commission rows "
                f"{held.get((account, asset), 0)}",
            )

    reserved: dict[tuple[str, str], int] = defaultdict(int)
    open_reserves = select(_PENDING.c.reserve_tx_id).where(_PENDING.c.status == PendingStatus.PENDING.value)
    for account, asset, amount in conn.execute(
        select(_P.c.account, _P.c.asset, func.sum(_P.c.amount))
        .where(_P.c.tx_id.in_(open_reserves), _P.c.account.like("liability:payouts_in_flight:%"))
        .group_by(_P.c.account, _P.c.asset)
    ):
        reserved[(account, asset)] += -int(amount)
    in_flight = {k for k in balances if k[0].startswith("liability:payouts_in_flight:")}
    for account, asset in sorted(set(reserved) | in_flight):
        if normal(account, asset) != reserved.get((account, asset), 0):
            problem(
                "reservations",
                f"{account} holds {normal(account, asset)} {asset}, open reservations "
                f"{reserved.get((account, asset), 0)}",
            )

    parked: dict[tuple[str, str], int] = defaultdict(int)
    for rail, asset, amount in conn.execute(
        select(_ITEM.c.rail, _ITEM.c.asset, _ITEM.c.amount_minor).where(_ITEM.c.status == SuspenseStatus.OPEN.value)
    ):
        parked[(Accounts.suspense(rail), asset)] += int(amount)
    suspense = {k for k in balances if k[0].startswith("liability:suspense:")}
    for account, asset in sorted(set(parked) | suspense):
        if normal(account, asset) != parked.get((account, asset), 0):
            problem(
                "suspense",
                f"{account} holds {normal(account, asset)} {asset}, open suspense items "
                f"{parked.get((account, asset), 0)}",
            )

    report.problems += problems
    report.ok = not report.problems
    return report
