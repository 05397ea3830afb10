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
up, a suspended affiliate, or a zero commission), stays in fee revenue: revenue is credited the full
amount and commission expense exactly the sum of the floored commissions, so
`platform_net = amount - sum(commissions)` and nothing is lost or created. Levels do not compress:
a suspended or missing affiliate's share is not passed further up the tree.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import JSON, Column, ForeignKey, Integer, String, UniqueConstraint, select, update
from sqlmodel import Field, Session, SQLModel

from models import ledger
from models.affiliates import Affiliate, AffiliateError, AffiliateStatus, ancestors, attribution_of, normalize_wallet
from core.columns import UtcDateTime, utcnow
from models.ledger import Accounts, LedgerError, Posting, credit, debit
from core.columns import AmountType
from models.money import Asset
from models.platform import Program

SETTLEMENT_ASSETS = (Asset.USD, Asset.USDC, Asset.USDT)
MAX_PAYMENT_REF = 160


class CommissionStatus(StrEnum):
    ACCRUED = "accrued"
    PAYABLE = "payable"
    RESERVED = "reserved"  # in a payout batch (two-phase ledger entry pending)
    PAID = "paid"
    CANCELLED = "cancelled"
    CLAWED_BACK = "clawed_back"  # paid, then the payment was refunded: the affiliate owes it back


class SettlementError(LedgerError):
    code = "settlement_error"


class SettlementConflict(SettlementError):
    code = "settlement_conflict"


class PaymentSettlement(SQLModel, table=True):
    """One confirmed payment, settled once (its payment_ref is the key)."""

    __tablename__ = "payment_settlement"

    payment_ref: str = Field(primary_key=True, max_length=MAX_PAYMENT_REF)
    program_id: int = Field(sa_column=Column(Integer, ForeignKey("program.id"), nullable=False, index=True))
    wallet: str = Field(max_length=42, index=True)
    amount: int = Field(sa_type=AmountType)
    asset: str = Field(max_length=8)
    rail: str = Field(max_length=32)
    referrer_id: int | None = Field(default=None, sa_column=Column(Integer, ForeignKey("affiliate.id"), nullable=True))
    status: str = Field(default="settled", max_length=16)
    settle_tx_id: str | None = Field(default=None, sa_column=Column(String(200), ForeignKey("ledger_tx.id"), nullable=True))
    skipped: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    reverse_tx_id: str | None = Field(default=None, sa_column=Column(String(200), ForeignKey("ledger_tx.id"), nullable=True))
    reverse_reason: str = Field(default="", max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    reversed_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class Commission(SQLModel, table=True):
    __tablename__ = "commission"
    __table_args__ = (UniqueConstraint("payment_ref", "level", name="uq_commission_payment_level"),)

    id: int | None = Field(default=None, primary_key=True)
    program_id: int = Field(sa_column=Column(Integer, ForeignKey("program.id"), nullable=False, index=True))
    payment_ref: str = Field(
        sa_column=Column(String(MAX_PAYMENT_REF), ForeignKey("payment_settlement.payment_ref"), nullable=False)
    )
    level: int = Field(ge=1)
    affiliate_id: int = Field(sa_column=Column(Integer, ForeignKey("affiliate.id"), nullable=False, index=True))
    base_amount: int = Field(sa_type=AmountType)
    rate_bps: int
    amount: int = Field(sa_type=AmountType)
    asset: str = Field(max_length=8)
    status: str = Field(default=CommissionStatus.ACCRUED.value, max_length=16, index=True)
    payable_at: datetime = Field(sa_type=UtcDateTime, index=True)
    accrue_tx_id: str = Field(sa_column=Column(String(200), ForeignKey("ledger_tx.id"), nullable=False))
    release_tx_id: str | None = Field(default=None, max_length=200)
    released_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    payout_key: str | None = Field(default=None, max_length=200, index=True)
    paid_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    cancel_tx_id: str | None = Field(default=None, max_length=200)
    cancelled_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    clawback_tx_id: str | None = Field(default=None, max_length=200)
    clawed_back_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UtcDateTime)


_C = Commission.__table__
_S = PaymentSettlement.__table__


# --- payload types ------------------------------------------------------------------------------


class SettleRequest(BaseModel):
    """Input of `ledger.settle_payment`."""

    payment_ref: str  # "<rail>:<id>", e.g. coinbase_commerce:<charge id> or onchain:<tx hash>:<log index>
    program: str
    wallet: str
    amount_minor: int  # the matched fee, in the asset's minor units (6 decimals)
    asset: Asset


class ReverseRequest(BaseModel):
    """Input of `ledger.reverse_payment`."""

    payment_ref: str
    reason: str


class CommissionLine(BaseModel):
    id: int
    level: int
    affiliate_id: int
    affiliate_wallet: str
    rate_bps: int
    base_amount: int
    amount: int
    asset: Asset
    status: CommissionStatus
    payable_at: datetime


class SkippedLevel(BaseModel):
    level: int
    affiliate_id: int | None
    reason: Literal["no_ancestor", "suspended", "zero_amount"]


class SettlementResult(BaseModel):
    payment_ref: str
    program: str
    wallet: str
    amount_minor: int
    asset: Asset
    ledger_tx_id: str
    replayed: bool  # True: this payment was settled before; nothing was written now
    status: Literal["settled", "reversed"]
    referrer_affiliate_id: int | None
    commissions: list[CommissionLine]
    skipped: list[SkippedLevel]
    platform_net_minor: int  # amount - sum(commissions): stays in fee revenue


class ReversalResult(BaseModel):
    payment_ref: str
    ledger_tx_id: str
    replayed: bool
    revenue_reversed_minor: int
    asset: Asset
    cancelled: list[CommissionLine]
    clawed_back: list[CommissionLine]


class ReleaseResult(BaseModel):
    released: int
    more: bool  # more commissions were due than `limit`: call again


class ReleaseSummary(BaseModel):
    """Result of the ReleaseCommissions workflow."""

    released: int
    halted: bool = False  # skipped: the platform is halted
    more: bool = False  # stopped after its batch budget with more due (the next run continues)


# --- the rounding rule --------------------------------------------------------------------------


def commission_amount(amount: int, bps: int) -> int:
    """floor(amount * bps / 10_000): exact integer arithmetic, rounding down (see the module doc)."""
    if amount < 0 or not 0 <= bps <= 10_000:
        raise ValueError("amount must be >= 0 and bps within 0..10000")
    return amount * bps // 10_000


# --- helpers ------------------------------------------------------------------------------------


def _is_pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _insert(session: Session, table):
    from sqlalchemy.dialects import postgresql, sqlite

    return (postgresql.insert if _is_pg(session) else sqlite.insert)(table)


def _line(c: Commission, wallet: str) -> CommissionLine:
    return CommissionLine(
        id=c.id, level=c.level, affiliate_id=c.affiliate_id, affiliate_wallet=wallet, rate_bps=c.rate_bps,
        base_amount=int(c.base_amount), amount=int(c.amount), asset=Asset(c.asset), status=CommissionStatus(c.status),
        payable_at=c.payable_at,
    )


def _commissions(session: Session, payment_ref: str, *, lock: bool = False) -> list[Commission]:
    stmt = select(Commission).where(Commission.payment_ref == payment_ref).order_by(Commission.level)
    if lock and _is_pg(session):
        stmt = stmt.with_for_update()
    return list(session.execute(stmt).scalars())


def _lines(session: Session, rows: list[Commission]) -> list[CommissionLine]:
    wallets: dict[int, str] = {}
    for c in rows:
        if c.affiliate_id not in wallets:
            wallets[c.affiliate_id] = session.get(Affiliate, c.affiliate_id).wallet
    return [_line(c, wallets[c.affiliate_id]) for c in rows]


def _settlement_result(session: Session, s: PaymentSettlement, program: Program, replayed: bool) -> SettlementResult:
    rows = _commissions(session, s.payment_ref)
    lines = _lines(session, rows)
    return SettlementResult(
        payment_ref=s.payment_ref, program=program.slug, wallet=s.wallet, amount_minor=int(s.amount), asset=Asset(s.asset),
        ledger_tx_id=s.settle_tx_id, replayed=replayed, status=s.status, referrer_affiliate_id=s.referrer_id,
        commissions=lines, skipped=[SkippedLevel(**k) for k in s.skipped],
        platform_net_minor=int(s.amount) - sum(line.amount for line in lines),
    )


def _check_ref(payment_ref: str) -> str:
    if not isinstance(payment_ref, str) or not payment_ref or len(payment_ref) > MAX_PAYMENT_REF or payment_ref != payment_ref.strip():
        raise SettlementError(f"payment_ref must be 1..{MAX_PAYMENT_REF} characters without surrounding spaces", code="invalid_payment_ref")
    ledger.rail_of(payment_ref)
    return payment_ref


# --- settle -------------------------------------------------------------------------------------


def settle_payment(
    session: Session, payment_ref: str, program_slug: str, wallet: str, amount_minor: int, asset: Asset | str, *, now: datetime | None = None
) -> SettlementResult:
    """Record a confirmed payment: revenue plus commissions to each eligible ancestor of the wallet's
    attributed referrer, in one ledger transaction, in the caller's DB transaction. Idempotent on
    `payment_ref`: a replay with the same facts returns the original (`replayed=True`); other facts
    under the same ref raise SettlementConflict."""
    _check_ref(payment_ref)
    rail = ledger.rail_of(payment_ref)
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int) or amount_minor <= 0:
        raise SettlementError("amount_minor must be a positive integer", code="invalid_amount")
    try:
        asset = Asset(asset)
    except ValueError:
        raise SettlementError(f"unknown asset {asset!r}", code="invalid_asset") from None
    if asset not in SETTLEMENT_ASSETS:
        raise SettlementError(f"fees settle in USD, USDC or USDT, not {asset.value}", code="invalid_asset")
    try:
        wallet = normalize_wallet(wallet)
    except AffiliateError as exc:
        raise SettlementError(str(exc), code=exc.code) from None
    program = session.execute(select(Program).where(Program.slug == program_slug)).scalars().first()
    if program is None:
        raise SettlementError(f"no program {program_slug!r}", code="program_not_found")
    now = now or utcnow()
    tx_key = f"settle:{payment_ref}"
    conn = session.connection()
    # Claim the payment first: a concurrent settle of the same ref waits here, then sees ours.
    claimed = conn.execute(
        _insert(session, _S)
        .values(
            payment_ref=payment_ref, program_id=program.id, wallet=wallet, amount=amount_minor, asset=asset.value, rail=rail,
            status="settled", settle_tx_id=None, skipped=[], reverse_reason="", created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["payment_ref"])
        .returning(_S.c.payment_ref)
    ).first()
    if claimed is None:
        existing = session.get(PaymentSettlement, payment_ref, populate_existing=True)
        same = (existing.program_id, existing.wallet, int(existing.amount), existing.asset) == (program.id, wallet, amount_minor, asset.value)
        if not same:
            raise SettlementConflict(
                f"payment {payment_ref} was settled with other facts ({existing.wallet}, {existing.amount} {existing.asset})"
            )
        return _settlement_result(session, existing, program, replayed=True)

    attribution = attribution_of(session, program.id, wallet)
    referrer = session.get(Affiliate, attribution.referrer_id) if attribution and attribution.referrer_id else None
    bps_levels = list(program.commission_bps)
    chain = ancestors(session, referrer, len(bps_levels)) if referrer else []
    payable_at = now + timedelta(days=program.hold_days)
    legs: list[Posting] = [
        debit(Accounts.processor_receivable(rail), asset, amount_minor),
        credit(Accounts.fee_revenue(program.slug), asset, amount_minor),
    ]
    planned: list[tuple[int, Affiliate, int, int]] = []
    skipped: list[dict[str, Any]] = []
    for level, bps in enumerate(bps_levels, start=1):
        if level > len(chain):
            skipped.append({"level": level, "affiliate_id": None, "reason": "no_ancestor"})
            continue
        aff = chain[level - 1]
        if aff.status != AffiliateStatus.ACTIVE.value:
            skipped.append({"level": level, "affiliate_id": aff.id, "reason": "suspended"})
            continue
        amount = commission_amount(amount_minor, bps)
        if amount == 0:
            skipped.append({"level": level, "affiliate_id": aff.id, "reason": "zero_amount"})
            continue
        planned.append((level, aff, bps, amount))
        legs.append(debit(Accounts.commission_expense(program.slug), asset, amount))
        legs.append(credit(Accounts.affiliate_accrued(aff.id), asset, amount))
    refs = {"payment_ref": payment_ref, "program": program.slug, "wallet": wallet}
    posted = ledger.post_transaction(session, tx_key, "payment.settle", refs, legs)
    conn.execute(update(_S).where(_S.c.payment_ref == payment_ref).values(
        settle_tx_id=posted.tx_id, referrer_id=referrer.id if referrer else None, skipped=skipped
    ))
    for level, aff, bps, amount in planned:
        session.add(
            Commission(
                program_id=program.id, payment_ref=payment_ref, level=level, affiliate_id=aff.id, base_amount=amount_minor,
                rate_bps=bps, amount=amount, asset=asset.value, status=CommissionStatus.ACCRUED.value, payable_at=payable_at,
                accrue_tx_id=posted.tx_id, created_at=now, updated_at=now,
            )
        )
    session.flush()
    settlement = session.get(PaymentSettlement, payment_ref, populate_existing=True)
    return _settlement_result(session, settlement, program, replayed=False)


# --- release ------------------------------------------------------------------------------------


def release_due(session: Session, *, now: datetime | None = None, limit: int = 200) -> ReleaseResult:
    """ACCRUED → PAYABLE for commissions whose hold has passed (suspended affiliates' stay accrued)."""
    now = now or utcnow()
    stmt = (
        select(_C.c.id, _C.c.affiliate_id, _C.c.amount, _C.c.asset, _C.c.payment_ref)
        .join(Affiliate.__table__, Affiliate.__table__.c.id == _C.c.affiliate_id)
        .where(_C.c.status == CommissionStatus.ACCRUED.value, _C.c.payable_at <= now,
               Affiliate.__table__.c.status == AffiliateStatus.ACTIVE.value)
        .order_by(_C.c.id)
        .limit(limit + 1)
    )
    if _is_pg(session):
        stmt = stmt.with_for_update(of=_C, skip_locked=True)  # parallel runs take disjoint rows
    rows = session.connection().execute(stmt).all()
    more = len(rows) > limit
    released = 0
    for row in rows[:limit]:
        done = session.connection().execute(
            update(_C).where(_C.c.id == row.id, _C.c.status == CommissionStatus.ACCRUED.value).values(
                status=CommissionStatus.PAYABLE.value, release_tx_id=f"commission:{row.id}:release", released_at=now, updated_at=now
            )
        )
        if done.rowcount != 1:
            continue  # cancelled or released meanwhile
        asset = Asset(row.asset)
        amount = int(row.amount)
        ledger.post_transaction(
            session, f"commission:{row.id}:release", "commission.release",
            {"commission_id": row.id, "payment_ref": row.payment_ref},
            [debit(Accounts.affiliate_accrued(row.affiliate_id), asset, amount),
             credit(Accounts.affiliate_payable(row.affiliate_id), asset, amount)],
        )
        released += 1
    return ReleaseResult(released=released, more=more)


# --- reverse ------------------------------------------------------------------------------------


def reverse_payment(session: Session, payment_ref: str, reason: str, *, now: datetime | None = None) -> ReversalResult:
    """A refunded or reversed payment: cancel its unpaid commissions, claw back paid (or reserved)
    ones, reverse the revenue; one ledger transaction `reverse:<payment_ref>`. Idempotent."""
    _check_ref(payment_ref)
    now = now or utcnow()
    stmt = select(PaymentSettlement).where(PaymentSettlement.payment_ref == payment_ref)
    if _is_pg(session):
        stmt = stmt.with_for_update()
    s = session.execute(stmt.execution_options(populate_existing=True)).scalars().first()
    if s is None:
        raise SettlementError(f"payment {payment_ref} was never settled: nothing to reverse", code="payment_not_settled")
    program = session.get(Program, s.program_id)
    tx_key = f"reverse:{payment_ref}"
    if s.status == "reversed":
        rows = _commissions(session, payment_ref)
        lines = _lines(session, rows)
        return ReversalResult(
            payment_ref=payment_ref, ledger_tx_id=s.reverse_tx_id, replayed=True, revenue_reversed_minor=int(s.amount), asset=Asset(s.asset),
            cancelled=[line for line, c in zip(lines, rows) if c.cancel_tx_id == tx_key],
            clawed_back=[line for line, c in zip(lines, rows) if c.clawback_tx_id == tx_key],
        )
    asset = Asset(s.asset)
    amount = int(s.amount)
    legs: list[Posting] = [
        debit(Accounts.fee_revenue(program.slug), asset, amount),
        credit(Accounts.processor_receivable(s.rail), asset, amount),
    ]
    cancelled: list[Commission] = []
    clawed: list[Commission] = []
    expense = Accounts.commission_expense(program.slug)
    for c in _commissions(session, payment_ref, lock=True):
        c_amount = int(c.amount)
        if c.status == CommissionStatus.ACCRUED.value:
            legs += [debit(Accounts.affiliate_accrued(c.affiliate_id), asset, c_amount), credit(expense, asset, c_amount)]
            c.status, c.cancel_tx_id, c.cancelled_at = CommissionStatus.CANCELLED.value, tx_key, now
            cancelled.append(c)
        elif c.status == CommissionStatus.PAYABLE.value:
            legs += [debit(Accounts.affiliate_payable(c.affiliate_id), asset, c_amount), credit(expense, asset, c_amount)]
            c.status, c.cancel_tx_id, c.cancelled_at = CommissionStatus.CANCELLED.value, tx_key, now
            cancelled.append(c)
        elif c.status in (CommissionStatus.RESERVED.value, CommissionStatus.PAID.value) and c.clawback_tx_id is None:
            # The money is (or may be) out: the affiliate owes it back. A reserved one stays in its
            # batch; if the batch is voided the clawback is settled against the payable (void_payout).
            legs += [debit(Accounts.affiliate_clawback(c.affiliate_id), asset, c_amount), credit(expense, asset, c_amount)]
            if c.status == CommissionStatus.PAID.value:
                c.status = CommissionStatus.CLAWED_BACK.value
            c.clawback_tx_id, c.clawed_back_at = tx_key, now
            clawed.append(c)
        else:
            continue
        c.updated_at = now
        session.add(c)
    posted = ledger.post_transaction(session, tx_key, "payment.reverse", {"payment_ref": payment_ref, "reason": (reason or "")[:200]}, legs)
    done = session.connection().execute(
        update(_S).where(_S.c.payment_ref == payment_ref, _S.c.status == "settled").values(
            status="reversed", reverse_tx_id=tx_key, reverse_reason=(reason or "")[:200], reversed_at=now
        )
    )
    if done.rowcount != 1:  # pragma: no cover - the row lock (PG) / write lock (SQLite) prevents this
        raise SettlementError(f"payment {payment_ref} was reversed concurrently", code="concurrent_reversal")
    session.flush()
    return ReversalResult(
        payment_ref=payment_ref, ledger_tx_id=posted.tx_id, replayed=False, revenue_reversed_minor=amount, asset=asset,
        cancelled=_lines(session, cancelled), clawed_back=_lines(session, clawed),
    )


# --- payouts (two-phase): building blocks for the payout batch workflow ------------------------


def reserve_payout(session: Session, key: str, program_slug: str, commission_ids: list[int]) -> ledger.PendingEntry:
    """Reserve PAYABLE commissions for a payout: PAYABLE → RESERVED and a pending ledger entry
    (payable → payouts_in_flight). Idempotent on `key`; any commission not PAYABLE refuses the lot."""
    ids = sorted(set(commission_ids))
    if not ids:
        raise SettlementError("a payout needs at least one commission", code="empty_payout")
    program = session.execute(select(Program).where(Program.slug == program_slug)).scalars().first()
    if program is None:
        raise SettlementError(f"no program {program_slug!r}", code="program_not_found")
    rows = session.connection().execute(
        select(_C.c.id, _C.c.program_id, _C.c.affiliate_id, _C.c.amount, _C.c.asset, _C.c.status, _C.c.payout_key).where(_C.c.id.in_(ids))
    ).all()
    if len(rows) != len(ids) or any(r.program_id != program.id for r in rows):
        raise SettlementError("unknown commission, or one of another program", code="invalid_commissions")
    # A clear refusal up front (the conditional update below is what makes it atomic).
    if any(r.status != CommissionStatus.PAYABLE.value and r.payout_key != key for r in rows):
        raise SettlementError("some commissions are not payable (held, reserved, paid or cancelled)", code="commissions_not_payable")
    per: dict[tuple[int, str], int] = defaultdict(int)
    for r in rows:
        per[(r.affiliate_id, r.asset)] += int(r.amount)
    legs: list[Posting] = []
    for (aff, asset), amount in sorted(per.items()):
        legs += [debit(Accounts.affiliate_payable(aff), asset, amount), credit(Accounts.payouts_in_flight(program.slug), asset, amount)]
    refs = {"program": program.slug, "commissions": ",".join(map(str, ids))}
    before = ledger._pending_row(session, key)
    entry = ledger.create_pending(session, key, "payout.reserve", refs, legs)
    if before is not None:
        return entry  # a replay with the same content (create_pending checked it)
    done = session.connection().execute(
        update(_C).where(_C.c.id.in_(ids), _C.c.status == CommissionStatus.PAYABLE.value).values(
            status=CommissionStatus.RESERVED.value, payout_key=key, updated_at=utcnow()
        )
    )
    if done.rowcount != len(ids):
        raise SettlementError("some commissions are no longer payable", code="commissions_not_payable")
    return entry


def complete_payout(session: Session, key: str, *, payout_asset: Asset = Asset.USDC, chain_ref: str = "") -> ledger.PendingEntry:
    """The payout went out: RESERVED → PAID (clawed-back ones → CLAWED_BACK) and the pending entry
    posted (payouts_in_flight → payout_contract in `payout_asset`, via equity:conversion when the
    commissions are in another USD unit)."""
    pending = ledger._pending_row(session, key)
    if pending is None:
        raise ledger.PendingNotFound(f"no payout reservation {key!r}")
    holds = ledger._holds(session, pending.reserve_tx_id)
    legs: list[Posting] = []
    for (account, asset), held in sorted(holds.items()):
        amount = -held
        legs.append(debit(account, asset, amount))
        if Asset(asset) == payout_asset:
            legs.append(credit(Accounts.payout_contract, payout_asset, amount))
        else:  # 1:1 USD-unit conversion (same 6-decimal scale)
            legs += [credit(Accounts.conversion, asset, amount), debit(Accounts.conversion, payout_asset, amount),
                     credit(Accounts.payout_contract, payout_asset, amount)]
    entry = ledger.post_pending(session, key, legs, {"chain_tx": chain_ref} if chain_ref else None)
    now = utcnow()
    conn = session.connection()
    conn.execute(update(_C).where(_C.c.payout_key == key, _C.c.status == CommissionStatus.RESERVED.value, _C.c.clawback_tx_id.is_(None))
                 .values(status=CommissionStatus.PAID.value, paid_at=now, updated_at=now))
    conn.execute(update(_C).where(_C.c.payout_key == key, _C.c.status == CommissionStatus.RESERVED.value, _C.c.clawback_tx_id.is_not(None))
                 .values(status=CommissionStatus.CLAWED_BACK.value, paid_at=now, updated_at=now))
    return entry


def void_payout(session: Session, key: str) -> ledger.PendingEntry:
    """The payout will not happen: the reservation is reversed, RESERVED → PAYABLE; a commission
    clawed back while reserved is cancelled instead (its clawback settled against the payable)."""
    pending = ledger._pending_row(session, key)
    if pending is None:
        raise ledger.PendingNotFound(f"no payout reservation {key!r}")
    already = pending.status == ledger.PendingStatus.VOIDED.value
    entry = ledger.void_pending(session, key)
    if already:
        return entry
    now = utcnow()
    rows = session.execute(select(Commission).where(Commission.payout_key == key, Commission.status == CommissionStatus.RESERVED.value)).scalars().all()
    settle_legs: list[Posting] = []
    for c in rows:
        if c.clawback_tx_id is not None:
            amount = int(c.amount)
            settle_legs += [debit(Accounts.affiliate_payable(c.affiliate_id), c.asset, amount),
                            credit(Accounts.affiliate_clawback(c.affiliate_id), c.asset, amount)]
            c.status, c.cancel_tx_id, c.cancelled_at = CommissionStatus.CANCELLED.value, f"{key}:void:clawbacks", now
        else:
            c.status = CommissionStatus.PAYABLE.value
        c.payout_key = None
        c.updated_at = now
        session.add(c)
    if settle_legs:
        ledger.post_transaction(session, f"{key}:void:clawbacks", "payout.void.clawbacks", {"payout": key}, settle_legs)
    session.flush()
    return entry


# --- reads --------------------------------------------------------------------------------------


class AffiliateStats(BaseModel):
    affiliate_id: int
    direct_referrals: int  # affiliates directly below
    attributed_users: int  # users who registered with this affiliate's code
    totals: dict[str, dict[str, str]]  # asset → status → amount (minor units, as strings)


def affiliate_stats(session: Session, affiliate_id: int) -> AffiliateStats:
    from sqlalchemy import func

    from models.affiliates import Attribution

    direct = session.execute(select(func.count()).select_from(Affiliate).where(Affiliate.parent_id == affiliate_id)).scalar_one()
    users = session.execute(select(func.count()).select_from(Attribution).where(Attribution.referrer_id == affiliate_id)).scalar_one()
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for asset, status, amount in session.connection().execute(
        select(_C.c.asset, _C.c.status, _C.c.amount).where(_C.c.affiliate_id == affiliate_id)
    ):
        totals[asset][status] += int(amount)  # summed in Python: exact on SQLite too
    return AffiliateStats(
        affiliate_id=affiliate_id, direct_referrals=direct, attributed_users=users,
        totals={a: {s: str(v) for s, v in sorted(by.items())} for a, by in sorted(totals.items())},
    )


def payment_commissions(session: Session, payment_ref: str) -> list[CommissionLine]:
    """The commissions of one payment, by level."""
    return _lines(session, _commissions(session, payment_ref))


class CommissionPage(BaseModel):
    lines: list[CommissionLine]
    next_cursor: int | None


def commission_statement(session: Session, affiliate_id: int, *, after: int | None = None, limit: int = 100) -> CommissionPage:
    """An affiliate's commissions, oldest first, paged by commission id."""
    limit = max(1, min(limit, 500))
    rows = list(
        session.execute(
            select(Commission).where(Commission.affiliate_id == affiliate_id, Commission.id > (after or 0)).order_by(Commission.id).limit(limit + 1)
        ).scalars()
    )
    more = len(rows) > limit
    lines = _lines(session, rows[:limit])
    return CommissionPage(lines=lines, next_cursor=lines[-1].id if more and lines else None)
