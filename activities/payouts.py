"""Temporal face of payout batches: create (select, reserve, snapshot approvers from the contract and
the DB), record state, check funds, build the relayer's approveBatch / payLines requests, settle lines.

Every activity is idempotent: `create` finds the batch it made before, `settle_lines` pays or voids a
line once, the requests it builds carry the workflow's keys (the relayer sends a key once)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio import activity
from web3 import Web3

from activities.chain_access import ChainAccess
from contracts import payouts as onchain
from contracts.abi import program_id
from contracts.reads import call_view
from core.columns import utcnow
from core.db import session_scope
from core.settings import Settings
from models import approval_policy as policy
from models.affiliates import program_by_slug
from models.chain import SubmitTx
from models.money import Asset
from models.payouts import io
from models.payouts import selection as sel
from models.payouts.approvers import eligible_addresses, operator_addresses
from models.payouts.io import ACTIVE_PROGRAMS
from models.payouts.records import BatchState, LineState, PayoutBatchRow, PayoutError
from models.platform import Program

PAYOUT_CONTRACT = "AffiliatePayout"


class PayoutActivities(ChainAccess):
    def __init__(self, settings: Settings, engine: Engine):
        super().__init__(settings, engine)

    # --- plan ------------------------------------------------------------------------------------
    def _plan_of(self, session: Session, row: PayoutBatchRow) -> io.BatchPlan:
        """The plan of a stored batch (so a retried `create` answers what the first one did)."""
        s = self.settings
        base = io.BatchPlan(
            batch_id=row.id,
            state=row.state,
            reason=row.reason,
            lines_per_tx=s.payout_lines_per_tx,
            halt_poll_s=s.flow_halt_poll_seconds,
            funds_poll_s=s.payout_funds_poll_seconds,
        )
        if row.state in (BatchState.EMPTY.value, BatchState.UNAPPROVABLE.value) or row.deadline is None:
            return base
        lines = sel.batch_lines(session, row.id)
        batch = self._onchain_batch(row, lines)
        return base.model_copy(
            update={
                "total": row.total,
                "lines": [io.LineRef(payout_id=ln.payout_id, to=ln.wallet, amount=ln.amount) for ln in lines],
                "typed_data": onchain.typed_data(batch.batch, chain_id=row.chain_id, contract=row.payout_contract),
                "snapshot": policy.Snapshot(
                    eligible=frozenset(row.eligible),
                    excluded=frozenset(row.excluded),
                    required=row.required_approvals,
                    deadline=row.deadline,
                ),
                "cap_per_tx": int(self._view(PAYOUT_CONTRACT, "capPerTx", row.token)),
            }
        )

    def _onchain_batch(self, row: PayoutBatchRow, lines: list) -> onchain.BatchPlan:
        assert row.deadline is not None
        return onchain.plan_batch(
            row.id,
            program_id(row.id.split(":")[1]),
            row.token,
            [onchain.PayoutLine.of(ln.payout_id, ln.wallet, ln.amount) for ln in lines],
            deadline=int(row.deadline.timestamp()),
        )

    @activity.defn(name=io.CREATE)
    def create(self, inp: io.PayoutInput) -> io.BatchPlan:
        bid = io.batch_id(inp.program, inp.period)
        with session_scope(self.engine) as session:
            existing = session.get(PayoutBatchRow, bid)
            if existing is not None:
                return self._plan_of(session, existing)
            program = program_by_slug(session, inp.program, active=False)
            assert program.id is not None
            row = PayoutBatchRow(id=bid, program_id=program.id, period=inp.period, created_by=inp.created_by)
            drafts, skipped = sel.draft_lines(session, program, min_amount=self.settings.payout_min_amount)
            if skipped:
                activity.logger.info("payout lines skipped: %s", [(x.affiliate_id, x.reason) for x in skipped])
            if not drafts:
                row.state, row.reason = BatchState.EMPTY.value, "no payable commissions above the minimum"
                session.add(row)
                session.flush()
                return self._plan_of(session, row)
            contract = self.manifest.address(PAYOUT_CONTRACT)
            row.token = self._stablecoin("USDC")
            row.asset = Asset.USDC.value
            row.chain_id = self.settings.chain_id
            row.payout_contract = contract
            row.deadline = (utcnow() + timedelta(seconds=self.settings.payout_approval_seconds)).replace(microsecond=0)
            row.total = sum(d.amount for d in drafts)
            row.line_count = len(drafts)
            row.required_approvals = int(self._view(PAYOUT_CONTRACT, "requiredApprovals", row.total))
            registered = eligible_addresses(session)
            row.eligible = sorted(a for a in registered if self._view(PAYOUT_CONTRACT, "isApprover", a))
            row.excluded = sorted(operator_addresses(session, inp.created_by))
            row.state = BatchState.AWAITING_APPROVAL.value
            sel.reserve_lines(session, row, program, drafts)
            plan = self._onchain_batch(row, sel.batch_lines(session, bid))
            row.batch_ref = "0x" + plan.batch.batch_id.hex()
            row.lines_root = "0x" + plan.batch.lines_root.hex()
            row.digest = "0x" + onchain.batch_digest(plan.batch, chain_id=row.chain_id, contract=contract).hex()
            row.typed_data = onchain.typed_data(plan.batch, chain_id=row.chain_id, contract=contract)
            if len(set(row.eligible) - set(row.excluded)) < row.required_approvals:
                row.state = BatchState.UNAPPROVABLE.value
                row.reason = f"{row.required_approvals} approvals needed, fewer eligible approvers registered"
                sel.void_reserved_lines(session, bid, row.reason)
            session.add(row)
            session.flush()
            return self._plan_of(session, row)

    # --- state -------------------------------------------------------------------------------------
    @activity.defn(name=io.RECORD)
    def record(self, req: io.RecordBatch) -> None:
        with session_scope(self.engine) as session:
            if req.void_rest:
                sel.void_reserved_lines(session, req.batch_id, req.reason or req.state)
            sel.set_state(
                session,
                req.batch_id,
                BatchState(req.state),
                req.reason,
                approvals=None if req.decisions is None else [d.model_dump(mode="json") for d in req.decisions],
                approve_tx=req.approve_tx,
            )

    @activity.defn(name=io.FUNDS)
    def funds(self, req: io.FundsNeeded) -> io.Funds:
        with Session(self.engine) as session:
            row = sel.batch_row(session, req.batch_id)
            needed = sum(ln.amount for ln in sel.batch_lines(session, req.batch_id) if ln.state == LineState.RESERVED)
        balance = int(
            call_view(self.w3, "TestUSDC", row.token, "balanceOf", Web3.to_checksum_address(row.payout_contract))[0]
        )
        return io.Funds(balance=balance, needed=needed)

    # --- transactions ------------------------------------------------------------------------------
    @activity.defn(name=io.PREPARE_TX)
    def prepare_tx(self, req: io.PrepareTx) -> SubmitTx:
        with Session(self.engine) as session:
            row = sel.batch_row(session, req.batch_id)
            plan = self._onchain_batch(row, sel.batch_lines(session, req.batch_id))
        if req.kind == "approve":
            ordered = onchain.ordered_signatures(
                plan.batch, req.signatures, chain_id=row.chain_id, contract=row.payout_contract
            )
            data = onchain.approve_batch(plan.batch, ordered)
            label = "approveBatch"
        else:
            wanted = set(req.payout_ids)
            chosen = [ln for ln in plan.lines if "0x" + ln.payout_id.hex() in wanted]
            if len(chosen) != len(wanted):
                raise PayoutError("a payout id is not in the batch", code="payout_line_not_found", status=404)
            data = onchain.pay_lines(plan, chosen)
            label = "payLines"
        return SubmitTx(key=req.key, to=row.payout_contract, data_hex="0x" + data.hex(), label=label)

    @activity.defn(name=io.SETTLE_LINES)
    def settle_lines(self, req: io.SettleLines) -> None:
        with session_scope(self.engine) as session:
            asset = Asset(sel.batch_row(session, req.batch_id).asset)
            for pid in req.paid:
                sel.mark_line_paid(session, pid, req.chain_tx, asset=asset)
            for pid, reason in req.voided.items():
                sel.void_line(session, pid, reason)

    @activity.defn(name=ACTIVE_PROGRAMS)
    def active_programs(self) -> list[str]:
        with Session(self.engine) as session:
            return sorted(session.exec(select(Program.slug).where(col(Program.active))).all())

    def all(self) -> list:
        return [self.create, self.record, self.funds, self.prepare_tx, self.settle_lines, self.active_programs]
