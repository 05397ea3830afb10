"""Helpers shared by the ledger, affiliate, operator and program tests."""

from __future__ import annotations

from collections import defaultdict

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from core.db import session_scope
from models import affiliates as aff
from models import ledger
from models import programs as prg
from models.commissions import Commission, CommissionStatus
from models.operators import Actor, create_operator

TREASURY = "0x" + "11" * 20
CLI = Actor(name="cli:test")

# Every table this work owns (plus program): "writes nothing" compares their row counts.
TABLES = (
    "program",
    "operator",
    "audit_log",
    "affiliate",
    "affiliate_nonce",
    "attribution",
    "payment_settlement",
    "commission",
    "ledger_tx",
    "ledger_posting",
    "ledger_pending",
)


def make_program(engine: Engine, slug: str = "demo", **fields) -> int:
    with session_scope(engine) as session:
        program = prg.create_program(
            session, CLI, prg.ProgramCreate(slug=slug, name=slug.title(), treasury_address=TREASURY, **fields)
        )
        return program.id


def register(
    engine: Engine, account: LocalAccount | None = None, parent_code: str | None = None, program: str = "demo"
) -> aff.Affiliate:
    """Register an affiliate the way the API does: nonce, wallet signature, register."""
    account = account or Account.create()
    with session_scope(engine) as session:
        issued = aff.issue_nonce(session, program, account.address)
    signature = account.sign_message(encode_defunct(text=issued.message)).signature.hex()
    with session_scope(engine) as session:
        return aff.register_affiliate(session, program, account.address, issued.nonce, signature, parent_code)


def make_operator(engine: Engine, name: str, *roles: str) -> str:
    with session_scope(engine) as session:
        _view, key = create_operator(session, CLI, name, list(roles))
    return key


def row_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(text(f'SELECT COUNT(*) FROM "{t}"')).scalar_one() for t in TABLES}


def balances(engine: Engine) -> dict[tuple[str, str], int]:
    with Session(engine) as session:
        return {(b.account, b.asset.value): b.balance for b in ledger.balances(session)}


def check_ledger_invariants(engine: Engine) -> None:
    """Every transaction balanced, each asset sums to zero, never-negative accounts are not negative,
    and the commission rows agree with the affiliate liability and holding accounts."""
    with Session(engine) as session:
        report = ledger.verify(session)
        assert report.ok, report.problems
        assert all(total == "0" for total in report.asset_totals.values()), report.asset_totals
        rows = ledger.balances(session)
        for b in rows:
            if ledger.account_spec(b.account).non_negative:
                assert b.normal_balance >= 0, f"{b.account} {b.asset} is negative: {b.normal_balance}"
        actual = {(b.account, b.asset.value): b.normal_balance for b in rows}
        expected: dict[tuple[str, str], int] = defaultdict(int)
        program_slugs = dict(session.execute(text("SELECT id, slug FROM program")).all())
        for c in session.execute(select(Commission)).scalars():
            amount = int(c.amount)
            if c.status == CommissionStatus.ACCRUED:
                expected[(ledger.Accounts.affiliate_accrued(c.affiliate_id), c.asset)] += amount
            elif c.status == CommissionStatus.PAYABLE:
                expected[(ledger.Accounts.affiliate_payable(c.affiliate_id), c.asset)] += amount
            elif c.status == CommissionStatus.RESERVED:
                expected[(ledger.Accounts.payouts_in_flight(program_slugs[c.program_id]), c.asset)] += amount
            if c.clawback_tx_id and c.status in (CommissionStatus.RESERVED, CommissionStatus.CLAWED_BACK):
                expected[(ledger.Accounts.affiliate_clawback(c.affiliate_id), c.asset)] += amount
        for key in set(expected) | {
            k
            for k in actual
            if k[0].startswith(("liability:affiliate:", "liability:payouts_in_flight:", "asset:affiliate:"))
        }:
            assert actual.get(key, 0) == expected.get(key, 0), (
                f"{key}: ledger {actual.get(key, 0)} vs commissions {expected.get(key, 0)}"
            )


def count(engine: Engine, table) -> int:
    with Session(engine) as session:
        return session.execute(select(func.count()).select_from(table)).scalar_one()
