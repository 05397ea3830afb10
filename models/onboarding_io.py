"""Activity names and payloads of the onboarding flow's own activities (activities/onboarding.py) and
of the payment outcomes it and payment aftercare share (activities/payments.py)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from core.errors import Conflict, DomainError
from models.onboarding import FlowState, FlowTiming, OnboardingInput, Paid, Rail
from models.payment_outcomes import FlowOutcome
from models.payments import Charge, PaymentEvent

BEGIN = "onboarding.begin"
RECORD = "onboarding.record"
CHAIN_FACTS = "onboarding.chain_facts"
PREPARE_ONCHAIN = "onboarding.prepare_onchain_claim"
FIND_ONCHAIN_CLAIM = "onboarding.find_onchain_claim"
SETTLE_ONCHAIN = "onboarding.settle_onchain"
CLAIM_DELIVERED = "onboarding.claim_delivered"
UNDELIVERABLE = "onboarding.undeliverable"
APPLY_PAYMENT_EVENT = "payments.apply_event"

AFTERCARE_WORKFLOW = "PaymentAftercare"


class NotYetOnChain(Conflict):
    """The wallet's claim is not on chain (or not final) yet: Temporal's retries are the polling loop."""

    code = "not_yet_on_chain"
    retryable = True


class BadToken(DomainError):
    code = "bad_token"


class OnchainFeeMismatch(Conflict):
    """The claim contract's fee for this program differs from the program's: paying on chain is refused
    until an admin syncs the program's on-chain config."""

    code = "onchain_fee_mismatch"


class UnsupportedCurrency(DomainError):
    code = "unsupported_currency"


class Begin(BaseModel):
    flow_id: str
    run_id: str
    input: OnboardingInput


class ChainClaim(BaseModel):
    """The claim recorded on chain for (program, wallet), if any."""

    ref: str  # bytes32 payment reference, 0x-hex
    tx_hash: str | None = None
    onchain_paid: bool = False  # paid by the user in a stablecoin (False: delivered by the relayer)


class BeginResult(BaseModel):
    """Where the flow stands, from the database and the chain; `error` ends the flow."""

    error: str = ""
    program_key: str = ""  # the program's on-chain id, keccak256(slug), as 0x-hex bytes32
    referrer_wallet: str | None = None
    attribution: str = ""  # new | existing | ignored_later_code | none
    token_id: int | None = None  # SGE-ID already held (an earlier run or program minted it)
    referral_on_chain: bool = False
    timing: FlowTiming = Field(default_factory=FlowTiming)
    payment_seq: int = 0  # the number of this flow's charges so far: the next key is `<flow>:payment:<n>`
    payment_keys: list[str] = Field(default_factory=list)
    open_payment: Charge | None = None  # a charge of this flow still payable: reused, never a second one
    settled: Paid | None = None  # a payment of this flow already settled: delivered, never charged again
    chain_claim: ChainClaim | None = None
    from_block: int = 0  # where to look for this wallet's on-chain claim
    kyc_required: bool = False  # the program's KYC policy asks this wallet to pass KYC before paying


class Record(BaseModel):
    flow_id: str
    state: FlowState
    state_since: datetime
    reason: str = ""
    token_id: int | None = None
    mint_tx: str | None = None
    referral_tx: str | None = None
    rail: Rail | None = None
    payment_ref: str | None = None
    paid_amount_minor: int | None = None
    paid_asset: str | None = None
    claim_tx: str | None = None
    completed: bool = False


class ChainFactsRequest(BaseModel):
    program_key: str
    wallet: str
    payment_ref: str | None = None  # to tell whether the wallet's claim is this payment's delivery


class ChainFacts(BaseModel):
    token_id: int | None = None
    referrer: str | None = None  # in this program's registry
    claim: ChainClaim | None = None
    claim_is_ours: bool = False  # the claim carries `payment_ref`


class OnchainClaimHint(BaseModel):
    """From /v1/claims/prepare (no hash yet) or /v1/claims/record (a hash to verify, never trusted)."""

    tx_hash: str | None = None


class PrepareOnchain(BaseModel):
    program: str
    wallet: str
    token: str  # USDC or USDT
    payment_ref: str  # the flow's payment key: the claim carries keccak256 of it


class TxStep(BaseModel):
    """One unsigned transaction the user's wallet sends."""

    description: str
    to: str
    data: str
    value: int = 0


class OnchainSteps(BaseModel):
    token: str
    token_address: str
    claim_contract: str
    fee_minor: int
    allowance_minor: int
    balance_minor: int
    payment_ref_bytes32: str
    steps: list[TxStep]


class FindOnchainClaim(BaseModel):
    program: str
    wallet: str
    from_block: int
    tx_hash: str | None = None
    payment_keys: list[str] = Field(default_factory=list)  # the refs this flow issued (checked, not required)


class SettleOnchain(BaseModel):
    flow_id: str
    program: str
    wallet: str
    paid: Paid


class Delivered(BaseModel):
    """The claim is done: post the SGE delivery and mark the flow's row completed."""

    flow_id: str
    program: str
    wallet: str
    paid: Paid
    claim_tx: str


class Undeliverable(BaseModel):
    """Paid and settled, but the claim can never be delivered: reverse, park the money in suspense."""

    flow_id: str
    program: str
    wallet: str
    paid: Paid
    reason: str


class ApplyEvent(BaseModel):
    """One provider event (or an operator's record of a refund) for a charge of `flow_id`."""

    flow_id: str
    event: PaymentEvent
    accepting: bool  # the flow runs and is not paid yet: this payment may settle it
    confirm: bool = True  # read the charge from the provider first (False only for operator records)
    expire_if_unpaid: bool = False  # the flow's deadline: no money and nothing pending means expired


class AftercareInput(BaseModel):
    flow_id: str
    payment_key: str


def aftercare_id(payment_key: str) -> str:
    return f"aftercare:{payment_key}"


class Applied(BaseModel):
    outcome: FlowOutcome
    paid: Paid | None = None  # when the outcome is SETTLED
    payment_key: str | None = None
    message: str = ""
    rail: Rail | None = None
