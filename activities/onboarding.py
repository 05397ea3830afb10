"""The onboarding flow's own activities: where the flow stands (database and chain), its DB row, the
on-chain rail, and the ledger postings of a delivery (each keyed by the payment, so a retry posts
nothing twice). Thin shells: the rules live in models/, the chain reads in contracts/.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlmodel import Session, col, select
from temporalio import activity

from activities.chain_access import ZERO_ADDRESS, ChainAccess
from activities.flow_metrics import SETTLEMENT_LATENCY, settlement_latency
from contracts.abi import hexstr, program_id, ref_to_bytes32
from contracts.reads import claim_ref_of, find_claims
from core.columns import utcnow
from core.db import session_scope
from core.settings import Settings
from models import affiliates, commissions, ledger
from models.kyc import KycPolicyError, kyc_policy, kyc_required
from models.ledger import SuspenseReason
from models.onboarding import FlowState, FlowTiming, Onboarding, Paid, Rail
from models.onboarding_io import (
    BEGIN,
    CHAIN_FACTS,
    CLAIM_DELIVERED,
    RECORD,
    UNDELIVERABLE,
    Begin,
    BeginResult,
    ChainClaim,
    ChainFacts,
    ChainFactsRequest,
    Delivered,
    Record,
    Undeliverable,
)
from models.payments import Payment, PaymentStatus
from models.programs import get_program
from models.suspense import open_item
from payments.charges import charge_of

OPEN_STATUSES = (PaymentStatus.CREATING.value, PaymentStatus.OPEN.value, PaymentStatus.PENDING.value)


def timing_from(settings: Settings) -> FlowTiming:
    return FlowTiming(
        payment_window_s=float(settings.payment_expiry_seconds),
        expiry_grace_s=settings.flow_expiry_grace_seconds,
        pending_grace_s=settings.flow_pending_grace_seconds,
        pending_max_s=settings.flow_pending_max_seconds,
        onchain_window_s=settings.flow_onchain_window_seconds,
        halt_poll_s=settings.flow_halt_poll_seconds,
        retry_initial_s=settings.flow_retry_initial_seconds,
        retry_max_s=settings.flow_retry_max_seconds,
        history_limit=settings.flow_history_limit,
        kyc_wait_s=float(settings.kyc_wait_seconds),
    )


class OnboardingActivities(ChainAccess):
    @activity.defn(name=BEGIN)
    def begin(self, req: Begin) -> BeginResult:
        """Program, locked attribution, this flow's payments and the wallet's chain facts; creates or
        refreshes the flow's row. A settled payment or a still-payable charge is handed back, so a
        new run, a retry or a reset never charges twice."""
        inp = req.input
        with session_scope(self.engine) as session:
            program = get_program(session, inp.program)
            if program is None or not program.active:
                return BeginResult(error=f"program {inp.program!r} is not open for registration")
            att = affiliates.attribute(session, inp.program, inp.wallet, inp.referral_code, inp.source)
            if att.status == "refused":
                return BeginResult(error=f"{att.error_code}: {att.message}")
            row = session.exec(select(Onboarding).where(col(Onboarding.flow_id) == req.flow_id)).first()
            if row is None:
                assert program.id is not None
                row = Onboarding(
                    program_id=program.id, wallet=inp.wallet, flow_id=req.flow_id, state=FlowState.REGISTERING
                )
            row.referrer_wallet = att.referrer_wallet
            row.updated_at = utcnow()
            session.add(row)
            payments = self._flow_payments(session, req.flow_id)
            settled = self._settled(session, payments, row)
            try:
                needs_kyc = kyc_required(session, kyc_policy(program.flags), inp.wallet, program.fee_usd_minor)
            except KycPolicyError as exc:
                return BeginResult(error=f"{exc.code}: {exc.message}")
        key = program_id(inp.program)
        facts = self._chain_facts(key, inp.wallet)
        grace = timedelta(seconds=self.settings.flow_expiry_grace_seconds)
        open_payment = next(
            (
                p
                for p in payments
                if p.status in OPEN_STATUSES
                and not p.settled
                and (p.expires_at is None or p.expires_at + grace > utcnow())
            ),
            None,
        )
        return BeginResult(
            program_key=hexstr(key),
            referrer_wallet=att.referrer_wallet,
            attribution=att.status if not att.ignored_code else "ignored_later_code",
            token_id=facts.token_id,
            referral_on_chain=facts.referrer is not None,
            timing=timing_from(self.settings),
            payment_seq=len(payments),
            payment_keys=[p.key for p in payments],
            open_payment=charge_of(open_payment) if open_payment is not None and open_payment.provider_ref else None,
            settled=settled,
            chain_claim=facts.claim,
            from_block=self.w3.eth.block_number,
            kyc_required=needs_kyc,
        )

    @staticmethod
    def _flow_payments(session: Session, flow: str) -> list[Payment]:
        return list(session.exec(select(Payment).where(col(Payment.flow_id) == flow).order_by(col(Payment.id))).all())

    @staticmethod
    def _settled(session: Session, payments: list[Payment], row: Onboarding) -> Paid | None:
        for p in payments:
            if p.settled and not p.reversed:
                settlement = session.get(commissions.PaymentSettlement, p.ledger_ref)
                assert settlement is not None, f"payment {p.key} is marked settled without a settlement"
                return Paid(
                    rail=Rail(p.provider),
                    payment_ref=p.ledger_ref,
                    amount_minor=int(settlement.amount),
                    asset=settlement.asset,
                )
        if row.rail == Rail.ONCHAIN and row.payment_ref and row.paid_amount_minor is not None:
            return Paid(
                rail=Rail.ONCHAIN,
                payment_ref=row.payment_ref,
                amount_minor=int(row.paid_amount_minor),
                asset=row.paid_asset or "",
                onchain_tx=row.claim_tx,
                sge_amount_minor=row.sge_amount_minor,
            )
        return None

    @activity.defn(name=CHAIN_FACTS)
    def chain_facts(self, req: ChainFactsRequest) -> ChainFacts:
        facts = self._chain_facts(bytes.fromhex(req.program_key.removeprefix("0x")), req.wallet)
        if req.payment_ref and facts.claim is not None:
            facts.claim_is_ours = facts.claim.ref == hexstr(ref_to_bytes32(req.payment_ref))
        return facts

    def _chain_facts(self, key: bytes, wallet: str) -> ChainFacts:
        token_id = int(self._view("SGEID", "tokenOf", wallet)) or None
        referrer = self._view("AffiliateRegistry", "referrerOf", key, wallet)
        claim_address = self.manifest.address("SGEClaim")
        ref = claim_ref_of(self.w3, claim_address, key, wallet)
        claim = None
        if ref is not None:
            events = find_claims(
                self.w3, claim_address, wallet, program_id=key, payment_ref=ref, from_block=self.manifest.deploy_block
            )
            found = events[0] if events else None
            claim = ChainClaim(
                ref=ref,
                tx_hash=found.tx_hash if found else None,
                onchain_paid=bool(found and found.token.lower() != ZERO_ADDRESS),
            )
        return ChainFacts(token_id=token_id, referrer=None if referrer == ZERO_ADDRESS else referrer, claim=claim)

    @activity.defn(name=RECORD)
    def record(self, req: Record) -> None:
        """Mirror the flow's state into its row (what GET /v1/status answers from)."""
        fields = req.model_dump(exclude={"flow_id", "completed"}, exclude_none=True)
        latency = None
        with session_scope(self.engine) as session:
            row = session.exec(select(Onboarding).where(col(Onboarding.flow_id) == req.flow_id)).first()
            if row is None:
                return  # begin() creates it; a record before that has nothing to update
            for name, value in fields.items():
                setattr(row, name, value)
            row.updated_at = utcnow()
            if req.completed:
                if row.completed_at is None:  # observed once per flow, not per retry
                    latency = settlement_latency(session, row.payment_ref, row.updated_at)
                row.completed_at = row.updated_at
            session.add(row)
        if latency is not None:  # after the commit: a failed write observes nothing
            SETTLEMENT_LATENCY.observe(latency)

    # --- on-chain rail -----------------------------------------------------------------------------
    @activity.defn(name=CLAIM_DELIVERED)
    def claim_delivered(self, req: Delivered) -> None:
        """SGE left the claim contract's inventory for this wallet: post it and complete the row."""
        with session_scope(self.engine) as session:
            program = get_program(session, req.program)
            assert program is not None
            amount = req.paid.sge_amount_minor or int(program.claim_amount_minor)
            ledger.post_claim_delivery(
                session,
                ledger.ClaimDeliveryRequest(
                    key=f"delivery:{req.paid.payment_ref}",
                    program=req.program,
                    wallet=req.wallet,
                    amount_minor=amount,
                    payment_ref=req.paid.payment_ref,
                    chain_tx=req.claim_tx,
                ),
            )
            update_row(
                session,
                req.flow_id,
                rail=req.paid.rail,
                payment_ref=req.paid.payment_ref,
                paid_amount_minor=req.paid.amount_minor,
                paid_asset=req.paid.asset,
                claim_tx=req.claim_tx,
                sge_amount_minor=amount,
            )

    @activity.defn(name=UNDELIVERABLE)
    def undeliverable(self, req: Undeliverable) -> None:
        """Paid and settled, but the claim can never be delivered: the settlement is reversed (revenue,
        commissions) and the money parked in suspense for an operator to refund — in one transaction."""
        paid = req.paid
        with session_scope(self.engine) as session:
            commissions.reverse_payment(session, paid.payment_ref, req.reason)
            payment = session.exec(
                select(Payment).where(col(Payment.flow_id) == req.flow_id, col(Payment.settled).is_(True))
            ).first()
            open_item(
                session,
                f"suspense:{paid.payment_ref}:undeliverable",
                paid.payment_ref,
                paid.amount_minor,
                paid.asset,
                SuspenseReason.UNDELIVERABLE,
                payment_key=payment.key if payment else None,
                flow_id=req.flow_id,
                note=req.reason,
            )
            if payment is not None:
                payment.reversed = True
                payment.suspense_minor = int(payment.suspense_minor) + paid.amount_minor
                payment.status = PaymentStatus.IN_SUSPENSE.value
                session.add(payment)

    def all(self) -> list[Callable]:
        return [self.begin, self.chain_facts, self.record, self.claim_delivered, self.undeliverable]


def update_row(session: Session, flow_id: str, **fields: Any) -> None:
    row = session.exec(select(Onboarding).where(col(Onboarding.flow_id) == flow_id)).first()
    if row is None:
        return
    for name, value in fields.items():
        setattr(row, name, value)
    row.updated_at = utcnow()
    session.add(row)
