"""The payout batch workflow's contract: its name, signals, update, query and the payloads its
activities take and return (shared by workflows/, activities/, api/ and cli/)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from models.approval_policy import Snapshot

WORKFLOW_NAME = "PayoutBatch"
SIGNAL_APPROVE = "approve"
SIGNAL_REJECT = "reject"
SIGNAL_CANCEL = "cancel"
SIGNAL_FUNDED = "funded"  # the payout contract was topped up: look again now
SIGNAL_RESUME = "resume"  # the halt switch was turned off: look again now
UPDATE_APPROVE = "approve_now"  # the same approval as an Update: an immediate accepted/refused answer
QUERY_STATUS = "status"

CREATE = "payout.create"
RECORD = "payout.record"
FUNDS = "payout.funds"
PREPARE_TX = "payout.prepare_tx"
SETTLE_LINES = "payout.settle_lines"
ACTIVE_PROGRAMS = "payout.active_programs"
WEEKLY_WORKFLOW = "WeeklyPayouts"


def batch_id(program: str, period: str) -> str:
    """The workflow id and the batch's key: one batch per (program, period)."""
    return f"payout:{program}:{period}"


class PayoutInput(BaseModel):
    program: str
    period: str
    created_by: int | None = None  # operator id; None = the weekly schedule


class ApproveSignal(BaseModel):
    signature: str
    operator: str = ""  # who sent it through the API/CLI (display only: the signature decides)


class RejectSignal(BaseModel):
    signature: str
    reason: str
    operator: str = ""


class CancelSignal(BaseModel):
    operator: str
    reason: str = ""


class Decision(BaseModel):
    """One approval or rejection as the workflow judged it."""

    kind: Literal["approve", "reject"]
    outcome: Literal["accepted", "refused"]
    signer: str = ""
    reason: str = ""
    operator: str = ""
    at: datetime


class LineRef(BaseModel):
    payout_id: str
    to: str
    amount: int


class BatchPlan(BaseModel):
    """What the create activity found and reserved (or why there is nothing to approve)."""

    batch_id: str
    state: str  # awaiting_approval | empty | unapprovable (see models.payouts.records.BatchState)
    reason: str = ""
    total: int = 0
    lines: list[LineRef] = []
    typed_data: dict[str, Any] = {}  # the EIP-712 PayoutBatch approvers sign
    snapshot: Snapshot | None = None
    cap_per_tx: int = 0
    lines_per_tx: int = 50
    halt_poll_s: float = 30.0
    funds_poll_s: float = 600.0


class RecordBatch(BaseModel):
    batch_id: str
    state: str
    reason: str = ""
    decisions: list[Decision] | None = None
    approve_tx: str | None = None
    void_rest: bool = False  # void every line still reserved (rejected, expired, cancelled)


class FundsNeeded(BaseModel):
    batch_id: str


class Funds(BaseModel):
    balance: int
    needed: int  # unpaid lines' total

    @property
    def enough(self) -> bool:
        return self.balance >= self.needed


class PrepareTx(BaseModel):
    """Build the relayer request for approveBatch (signatures) or payLines (payout ids)."""

    batch_id: str
    key: str
    kind: Literal["approve", "pay"]
    signatures: list[str] = []
    payout_ids: list[str] = []


class SettleLines(BaseModel):
    batch_id: str
    paid: list[str] = []
    chain_tx: str = ""
    voided: dict[str, str] = {}  # payout id -> reason


class PayoutStatus(BaseModel):
    batch_id: str
    program: str
    period: str
    state: str
    reason: str = ""
    state_since: datetime | None = None
    total: int = 0
    line_count: int = 0
    required: int = 0
    approvals: list[str] = []  # accepted signers
    decisions: list[Decision] = []
    deadline: datetime | None = None
    paid: list[str] = []
    voided: dict[str, str] = {}
