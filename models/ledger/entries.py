"""Domain postings of the flows other than settlement: suspense (in, applied, refunded, written off),
claim deliveries, SGE lost to refunds, and gas. A claim delivery names its user by subject ref, never by
wallet (the journal is never rewritten; see models/subjects.py)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel
from sqlmodel import Session

from models.ledger.chart import Accounts, rail_of
from models.ledger.errors import LedgerError
from models.ledger.journal import PostResult, credit, debit, post_transaction
from models.money import Asset
from models.subjects import subject_ref


class SuspenseRequest(BaseModel):
    key: str
    payment_ref: str
    amount_minor: int
    asset: Asset
    reason: str


class ClaimDeliveryRequest(BaseModel):
    """SGE delivered to a user: Dr expense:sge_delivered:<program> / Cr asset:sge_inventory. The journal
    names the user by the wallet's subject ref."""

    key: str
    program: str
    wallet: str
    amount_minor: int  # SGE, 18 decimals
    payment_ref: str = ""
    chain_tx: str = ""


class GasRequest(BaseModel):
    """Gas paid by the relayer: Dr expense:gas / Cr asset:relayer_eth (wei)."""

    key: str
    fee_wei: int
    chain_tx: str
    purpose: str = ""


class SuspenseReason(StrEnum):
    UNDERPAYMENT = "underpayment"
    OVERPAYMENT = "overpayment"
    UNKNOWN_CHARGE = "unknown_charge"
    WRONG_ASSET = "wrong_asset"
    LATE_PAYMENT = "late_payment"
    DUPLICATE_PAYMENT = "duplicate_payment"  # a flow already paid by another payment
    UNDELIVERABLE = "undeliverable"  # paid, settled, then reversed: the claim can never be delivered
    REFUNDED = "refunded"  # arrived and went back before it was booked: both legs are kept
    OTHER = "other"


def post_suspense(
    session: Session, key: str, payment_ref: str, amount_minor: int, asset: Asset | str, reason: str
) -> PostResult:
    """Money that arrived but cannot be matched: Dr processor_receivable:<rail> / Cr suspense:<rail>.

    `reason` is one of SuspenseReason (underpayment, overpayment = the excess, unknown_charge, ...).
    """
    rail = rail_of(payment_ref)
    try:
        why = SuspenseReason(reason)
    except ValueError:
        raise LedgerError(f"unknown suspense reason {reason!r}", code="invalid_reason") from None
    if amount_minor <= 0:
        raise LedgerError("suspense amount must be positive", code="invalid_amount")
    asset = Asset(asset)
    return post_transaction(
        session,
        key,
        "suspense",
        {"payment_ref": payment_ref, "reason": why.value},
        [
            debit(Accounts.processor_receivable(rail), asset, amount_minor),
            credit(Accounts.suspense(rail), asset, amount_minor),
        ],
    )


def post_claim_delivery(session: Session, req: ClaimDeliveryRequest) -> PostResult:
    if req.amount_minor <= 0:
        raise LedgerError("claim amount must be positive", code="invalid_amount")
    subject = subject_ref(session, req.wallet)
    refs = {"program": req.program, "subject": subject, "payment_ref": req.payment_ref, "chain_tx": req.chain_tx}
    earlier = refs | {"subject": "", "wallet": req.wallet}  # how deliveries were posted before revision 0007
    return post_transaction(
        session,
        req.key,
        "claim.delivery",
        {k: v for k, v in refs.items() if v},
        [
            debit(Accounts.sge_delivered(req.program), Asset.SGE, req.amount_minor),
            credit(Accounts.sge_inventory, Asset.SGE, req.amount_minor),
        ],
        earlier_refs={k: v for k, v in earlier.items() if v},
    )


def post_gas(session: Session, req: GasRequest) -> PostResult:
    if req.fee_wei <= 0:
        raise LedgerError("gas fee must be positive", code="invalid_amount")
    refs = {"chain_tx": req.chain_tx, "purpose": req.purpose}
    return post_transaction(
        session,
        req.key,
        "gas",
        {k: v for k, v in refs.items() if v},
        [debit(Accounts.gas, Asset.ETH, req.fee_wei), credit(Accounts.relayer_eth, Asset.ETH, req.fee_wei)],
    )


def post_suspense_out(
    session: Session, key: str, payment_ref: str, amount_minor: int, asset: Asset | str, why: str
) -> PostResult:
    """Money leaves suspense: Dr suspense:<rail> / Cr processor_receivable:<rail>. `why` is `apply` (it
    now settles a fee, which posts the receivable again) or `refund` (it went back to the payer)."""
    if why not in ("apply", "refund"):
        raise LedgerError(f"suspense leaves by apply or refund, not {why!r}", code="invalid_reason")
    if amount_minor <= 0:
        raise LedgerError("suspense amount must be positive", code="invalid_amount")
    rail = rail_of(payment_ref)
    asset = Asset(asset)
    return post_transaction(
        session,
        key,
        f"suspense.{why}",
        {"payment_ref": payment_ref},
        [
            debit(Accounts.suspense(rail), asset, amount_minor),
            credit(Accounts.processor_receivable(rail), asset, amount_minor),
        ],
    )


def post_suspense_write_off(
    session: Session, key: str, payment_ref: str, amount_minor: int, asset: Asset | str, note: str
) -> PostResult:
    """An operator keeps unclaimable suspense money: Dr suspense:<rail> / Cr revenue:suspense_written_off."""
    if amount_minor <= 0:
        raise LedgerError("suspense amount must be positive", code="invalid_amount")
    rail = rail_of(payment_ref)
    asset = Asset(asset)
    return post_transaction(
        session,
        key,
        "suspense.write_off",
        {"payment_ref": payment_ref, "note": note[:200]},
        [
            debit(Accounts.suspense(rail), asset, amount_minor),
            credit(Accounts.suspense_written_off, asset, amount_minor),
        ],
    )


def post_sge_loss(session: Session, key: str, program: str, payment_ref: str, amount_minor: int) -> PostResult:
    """The SGE delivered for a payment that was then refunded is lost: it moves from delivered to lost
    (Dr expense:sge_loss / Cr expense:sge_delivered); the delivery itself stays in the journal."""
    if amount_minor <= 0:
        raise LedgerError("SGE amount must be positive", code="invalid_amount")
    return post_transaction(
        session,
        key,
        "claim.loss",
        {"payment_ref": payment_ref, "program": program},
        [
            debit(Accounts.sge_loss(program), Asset.SGE, amount_minor),
            credit(Accounts.sge_delivered(program), Asset.SGE, amount_minor),
        ],
    )
